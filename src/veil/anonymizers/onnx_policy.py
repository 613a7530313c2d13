"""The ONNX graph of the ``guided-policy`` network, written op by op (not traced).

The network's blur strengths are fractions of each image's short side, so the pooling
factor, the Gaussian kernels and the upsampling grid of every blur level follow the input
size. A traced graph freezes them at the example's size; this graph computes them from the
input's shape at run time, with the same arithmetic as
:func:`~veil.anonymizers.networks.fast_blur_tensor` (float64 for the kernel and its
sizes, as :func:`~veil.anonymizers.networks.gaussian_kernel1d` does), so any height and
width run. It also does less work than the PyTorch module, with the same output:

- the blur levels and the compositing run only where the level ``t`` is above 0 (elsewhere
  the output is the input, exactly as in PyTorch: the hat weight of the unblurred image is
  1 there), piece by piece: detections farther apart than 2 x :data:`GAP` pixels are
  composited apart, so two faces in opposite corners do not cost the whole frame;
- a level is computed only when some pixel of the piece needs it (``k - 1 < t < k + 1``,
  where its hat weight is not 0): levels above the largest ``t`` present cost nothing;
- each level reads only the pixels it needs: a piece grown by the kernel's reach, or, for
  the levels blurred at a lower resolution, the cells of the level's pooling grid (aligned
  to the whole image, so they hold the values of the full-image blur) around the union of
  the pieces, pooled and blurred once and upsampled per piece with the full image's
  bilinear source coordinates.

Inputs ``image`` (N, 3, H, W) and ``extra`` (N, C + 1, H, W) (the guide's maps); outputs
``protected`` (N, 3, H, W) and ``mask`` (N, 1, H, W), the level as a fraction of L (the
network's ``last_mask``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

    from veil.anonymizers.networks import GuidedPolicyObfuscation

__all__ = ["policy_model"]


class _Graph:
    """Nodes of one graph or subgraph; value names are unique across the whole model."""

    def __init__(self, counter: list[int] | None = None) -> None:
        self.nodes: list[Any] = []
        self._count = counter if counter is not None else [0]

    def fresh(self, hint: str) -> str:
        """A new value name."""
        self._count[0] += 1
        return f"{hint}_{self._count[0]}"

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        """Add a one-output node; returns the output's name."""
        from onnx import helper

        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self.fresh("n"), **attrs))
        return out

    def const(self, value: Any, dtype: Any) -> str:
        """A ``Constant`` node (usable inside subgraphs)."""
        from onnx import helper, numpy_helper

        out = self.fresh("c")
        arr = np.asarray(value, dtype=dtype)
        self.nodes.append(helper.make_node("Constant", [], [out], value=numpy_helper.from_array(arr, out)))
        return out

    def i64(self, *values: int) -> str:
        """A 1-D int64 constant."""
        return self.const(list(values), np.int64)

    def f32(self, value: float) -> str:
        """A float32 scalar constant."""
        return self.const(value, np.float32)

    def f64(self, value: float) -> str:
        """A float64 scalar constant."""
        return self.const(value, np.float64)

    def sub(self) -> _Graph:
        """An empty subgraph sharing the name counter."""
        return _Graph(self._count)

    def graph(self, name: str, outputs: list[tuple[str, int]], inputs: list[Any] | None = None) -> onnx.GraphProto:
        """The nodes as a GraphProto with the given (name, element type) outputs."""
        from onnx import helper

        outs = [helper.make_tensor_value_info(n, t, None) for n, t in outputs]
        return helper.make_graph(self.nodes, name, inputs or [], outs)

    def if_(self, cond: str, then: _Graph, then_out: list[str], other: _Graph, other_out: list[str],
            elem: list[int], hint: str = "if") -> list[str]:
        """An ``If`` node; both branches give values of the element types ``elem``."""
        from onnx import helper

        outs = [self.fresh(hint) for _ in elem]
        g_then = then.graph(self.fresh("then"), list(zip(then_out, elem, strict=True)))
        g_else = other.graph(self.fresh("else"), list(zip(other_out, elem, strict=True)))
        self.nodes.append(helper.make_node("If", [cond], outs, name=self.fresh("n"), then_branch=g_then,
                                           else_branch=g_else))
        return outs


def _reference_length(g: _Graph, extra: str, h: str, w: str, net: GuidedPolicyObfuscation) -> str:
    """The length blur strengths are fractions of ((1,) float64), as
    :meth:`GuidedPolicyObfuscation.reference_length`: the short side, or the face map's
    extent / ``face_ref`` when longer (the largest face-map area of the batch, as a disc)."""
    from onnx import TensorProto as T

    short = g.op("Cast", g.op("Min", h, w), to=T.DOUBLE, hint="short")
    if net.face_ref <= 0 or "face" not in net.categories:
        return short
    i = net.categories.index("face")
    plane = g.op("Slice", extra, g.i64(i), g.i64(i + 1), g.i64(1))
    area = g.op("ReduceMax", g.op("ReduceSum", plane, g.i64(1, 2, 3), keepdims=0), axes=[0], keepdims=1)
    area = g.op("Max", g.op("Cast", area, to=T.DOUBLE), g.f64(0.0))
    extent = g.op("Sqrt", g.op("Mul", g.f64(4.0 / math.pi), area))
    return g.op("Max", short, g.op("Div", extent, g.f64(net.face_ref)), hint="reference")


def _level_sizes(g: _Graph, h: str, w: str, fraction: float, reference: str) -> dict[str, str]:
    """Pooling factor, kernel radius and separable kernels of one level, from H and W ((1,) int64)
    and the reference length the level's sigma is a fraction of ((1,) float64).

    The arithmetic of ``fast_blur_tensor`` and ``gaussian_kernel1d``: sigma and the
    kernel in float64, the kernel cast to float32 at the end.
    """
    from onnx import TensorProto as T

    sigma = g.op("Max", g.f64(0.3), g.op("Mul", g.f64(fraction), reference))
    one = g.i64(1)
    four = g.i64(4)
    half = g.op("Cast", g.op("Floor", g.op("Div", sigma, g.f64(2.0))), to=T.INT64)
    f = g.op("Max", one, g.op("Min", half, g.op("Max", g.op("Div", h, four), one),
                              g.op("Max", g.op("Div", w, four), one)), hint="f")
    fd = g.op("Cast", f, to=T.DOUBLE)
    q = g.op("Div", sigma, fd)
    var = g.op("Sub", g.op("Mul", q, q),
               g.op("Div", g.op("Sub", g.op("Mul", fd, fd), g.f64(1.0)), g.op("Mul", g.op("Mul", g.f64(12.0), fd), fd)))
    inner = g.op("Sqrt", g.op("Max", g.f64(0.25), var))
    s = g.op("Where", g.op("LessOrEqual", sigma, g.f64(3.0)), sigma, inner)
    r = g.op("Max", one, g.op("Cast", g.op("Ceil", g.op("Mul", g.f64(3.0), s)), to=T.INT64), hint="r")
    r0 = g.op("Squeeze", r)
    taps = g.op("Cast", g.op("Range", g.op("Neg", r0), g.op("Add", r0, g.const(1, np.int64)), g.const(1, np.int64)),
                to=T.DOUBLE)
    z = g.op("Div", taps, s)
    k = g.op("Exp", g.op("Mul", g.f64(-0.5), g.op("Mul", z, z)))
    k = g.op("Cast", g.op("Div", k, g.op("ReduceSum", k, keepdims=1)), to=T.FLOAT)
    kh = g.op("Tile", g.op("Reshape", k, g.i64(1, 1, 1, -1)), g.i64(3, 1, 1, 1), hint="kh")
    kv = g.op("Tile", g.op("Reshape", k, g.i64(1, 1, -1, 1)), g.i64(3, 1, 1, 1), hint="kv")
    return {"f": f, "r": r, "kh": kh, "kv": kv, "is_direct": g.op("Equal", f, one)}


def _blur(g: _Graph, x: str, lv: dict[str, str]) -> str:
    """Separable Gaussian with replicate borders (as ``blur_tensor``), size kept."""
    r = lv["r"]
    z2 = g.i64(0, 0)
    pads = g.op("Concat", z2, r, r, z2, r, r, axis=0)  # rows and columns at once: equal to one after the other
    x = g.op("Pad", x, pads, mode="edge")
    return g.op("Conv", g.op("Conv", x, lv["kh"], group=3), lv["kv"], group=3)


def _direct(g: _Graph, image: str, box: dict[str, str], lv: dict[str, str]) -> str:
    """Level without pooling: the box grown by the kernel radius, blurred, cropped to the box."""
    r, zero = lv["r"], g.i64(0)
    p0 = g.op("Max", g.op("Sub", box["y0"], r), zero)
    q0 = g.op("Max", g.op("Sub", box["x0"], r), zero)
    p1 = g.op("Min", g.op("Add", box["y1"], r), box["h"])
    q1 = g.op("Min", g.op("Add", box["x1"], r), box["w"])
    win = g.op("Slice", image, g.op("Concat", p0, q0, axis=0), g.op("Concat", p1, q1, axis=0), g.i64(2, 3))
    out = _blur(g, win, lv)
    starts = g.op("Concat", g.op("Sub", box["y0"], p0), g.op("Sub", box["x0"], q0), axis=0)
    ends = g.op("Concat", g.op("Sub", box["y1"], p0), g.op("Sub", box["x1"], q0), axis=0)
    return g.op("Slice", out, starts, ends, g.i64(2, 3))


def _source(g: _Graph, lo: str, hi: str, n: str, f: str) -> dict[str, str]:
    """Bilinear source cells of outputs ``lo..hi-1`` on the ``f``-pooled grid of an axis of
    ``n`` pixels, as ``F.interpolate(..., align_corners=False)`` computes them (float32,
    clamped at 0): the two cells ``i0``, ``i1`` and weights ``lam0``, ``lam1`` of each output,
    the pooled size ``ns`` and the first and last cells used (``s0``, ``s1``, (1,) each)."""
    from onnx import TensorProto as T

    one = g.i64(1)
    ns = g.op("Div", g.op("Sub", g.op("Add", n, f), one), f)  # ceil(n / f): the pooled size
    last = g.op("Sub", ns, one)
    ratio = g.op("Div", g.op("Cast", ns, to=T.FLOAT), g.op("Cast", n, to=T.FLOAT))
    dst = g.op("Cast", g.op("Range", g.op("Squeeze", lo), g.op("Squeeze", hi), g.const(1, np.int64)), to=T.FLOAT)
    src = g.op("Max", g.op("Sub", g.op("Mul", ratio, g.op("Add", dst, g.f32(0.5))), g.f32(0.5)), g.f32(0.0))
    i0 = g.op("Min", g.op("Cast", g.op("Floor", src), to=T.INT64), last)
    lam1 = g.op("Min", g.op("Max", g.op("Sub", src, g.op("Cast", i0, to=T.FLOAT)), g.f32(0.0)), g.f32(1.0))
    i1 = g.op("Min", g.op("Add", i0, one), last)
    return {"i0": i0, "i1": i1, "lam0": g.op("Sub", g.f32(1.0), lam1), "lam1": lam1, "ns": ns,
            "s0": g.op("ReduceMin", i0, keepdims=1), "s1": g.op("ReduceMax", i1, keepdims=1)}


def _window(g: _Graph, src: dict[str, str], n: str, f: str, r: str) -> dict[str, str]:
    """The pooled cells the blur of cells ``s0..s1`` reads (``p0..p1``, clipped to the grid),
    the pixels ``a..b`` they pool, the zero padding of a partial last cell, and each cell's
    pixel count (the divisor of the average)."""
    from onnx import TensorProto as T

    one = g.i64(1)
    p0 = g.op("Max", g.op("Sub", src["s0"], r), g.i64(0))
    p1 = g.op("Min", g.op("Add", src["s1"], r), g.op("Sub", src["ns"], one))
    count = g.op("Add", g.op("Sub", p1, p0), one)
    a = g.op("Mul", p0, f)
    b = g.op("Min", g.op("Mul", g.op("Add", p1, one), f), n)
    pad = g.op("Sub", g.op("Mul", count, f), g.op("Sub", b, a))
    cells = g.op("Add", g.op("Squeeze", p0), g.op("Range", g.const(0, np.int64), g.op("Squeeze", count),
                                                   g.const(1, np.int64)))
    div = g.op("Cast", g.op("Min", f, g.op("Sub", n, g.op("Mul", cells, f))), to=T.FLOAT)
    return {"p0": p0, "a": a, "b": b, "pad": pad, "count": count, "div": div}


def _pooled_cells(g: _Graph, image: str, box: dict[str, str], lv: dict[str, str]) -> list[str]:
    """The blurred pooled cells of one level that a box's pixels interpolate from: average
    pooling by f on the whole image's grid (of only the window the blur reads), the blur, the
    cells the box uses. Returns the cells transposed (N, 3, columns, rows) and the first
    cell's row and column ((1,) each)."""
    f, r = lv["f"], lv["r"]
    sy = _source(g, box["y0"], box["y1"], box["h"], f)
    sx = _source(g, box["x0"], box["x1"], box["w"], f)
    wy, wx = _window(g, sy, box["h"], f, r), _window(g, sx, box["w"], f, r)
    win = g.op("Slice", image, g.op("Concat", wy["a"], wx["a"], axis=0), g.op("Concat", wy["b"], wx["b"], axis=0),
               g.i64(2, 3))
    win = g.op("Pad", win, g.op("Concat", g.i64(0, 0, 0, 0, 0, 0), wy["pad"], wx["pad"], axis=0))
    shape = g.op("Concat", g.i64(0, 3), wy["count"], f, wx["count"], f, axis=0)
    sums = g.op("ReduceSum", g.op("Reshape", win, shape), g.i64(5), keepdims=0)  # along rows first: faster
    sums = g.op("ReduceSum", sums, g.i64(3), keepdims=0)
    div = g.op("Mul", g.op("Unsqueeze", wy["div"], g.i64(1)), g.op("Unsqueeze", wx["div"], g.i64(0)))
    small = _blur(g, g.op("Div", sums, div), lv)
    one = g.i64(1)
    starts = g.op("Concat", g.op("Sub", sy["s0"], wy["p0"]), g.op("Sub", sx["s0"], wx["p0"]), axis=0)
    ends = g.op("Concat", g.op("Add", g.op("Sub", sy["s1"], wy["p0"]), one),
                g.op("Add", g.op("Sub", sx["s1"], wx["p0"]), one), axis=0)
    small = g.op("Slice", small, starts, ends, g.i64(2, 3))
    # transposed: the column interpolation then gathers whole rows, which is faster
    return [g.op("Transpose", small, perm=[0, 1, 3, 2]), g.op("Identity", sy["s0"]), g.op("Identity", sx["s0"])]


def _upsample(g: _Graph, cells: list[str], box: dict[str, str], lv: dict[str, str]) -> str:
    """Bilinear upsampling of a level's pooled cells (:func:`_pooled_cells` of a box holding
    this one) at this box's pixels: columns first, then rows, as PyTorch."""
    small_t, c0y, c0x = cells
    sy = _source(g, box["y0"], box["y1"], box["h"], lv["f"])
    sx = _source(g, box["x0"], box["x1"], box["w"], lv["f"])
    rows = g.op("Slice", small_t, g.op("Sub", sy["s0"], c0y), g.op("Add", g.op("Sub", sy["s1"], c0y), g.i64(1)),
                g.i64(3))  # only this box's source rows
    m0, m1 = g.op("Unsqueeze", sx["lam0"], g.i64(1)), g.op("Unsqueeze", sx["lam1"], g.i64(1))
    cols = g.op("Add", g.op("Mul", g.op("Gather", rows, g.op("Sub", sx["i0"], c0x), axis=2), m0),
                g.op("Mul", g.op("Gather", rows, g.op("Sub", sx["i1"], c0x), axis=2), m1))
    cols = g.op("Transpose", cols, perm=[0, 1, 3, 2])
    l0, l1 = g.op("Unsqueeze", sy["lam0"], g.i64(1)), g.op("Unsqueeze", sy["lam1"], g.i64(1))
    return g.op("Add", g.op("Mul", g.op("Gather", cols, g.op("Sub", sy["i0"], sy["s0"]), axis=2), l0),
                g.op("Mul", g.op("Gather", cols, g.op("Sub", sy["i1"], sy["s0"]), axis=2), l1))


def _first_last(g: _Graph, profile: str) -> tuple[str, str]:
    """First index and one past the last index where a 1-D profile is above 0 ((1,) int64 each)."""
    from onnx import TensorProto as T

    hit = g.op("Cast", g.op("Greater", profile, g.f32(0.0)), to=T.FLOAT)
    first = g.op("ArgMax", hit, axis=0, keepdims=1)
    last = g.op("ArgMax", hit, axis=0, keepdims=1, select_last_index=1)
    return first, g.op("Add", last, g.i64(1))


#: Detections closer than twice this (pixels) share a piece; farther ones are composited apart.
GAP = 24


def _runs(g: _Graph, profile: str) -> tuple[str, str, str]:
    """Runs of a 1-D profile's positive entries, each grown by :data:`GAP` on both sides (runs
    that then touch merge): their starts and ends ((K,) int64) and their count (a scalar)."""
    from onnx import TensorProto as T

    hit = g.op("Cast", g.op("Greater", profile, g.f32(0.0)), to=T.FLOAT)
    grown = g.op("MaxPool", g.op("Unsqueeze", hit, g.i64(0, 1)), kernel_shape=[2 * GAP + 1], pads=[GAP, GAP],
                 strides=[1])
    edged = g.op("Concat", g.const([0.0], np.float32), g.op("Reshape", grown, g.i64(-1)), g.const([0.0], np.float32),
                 axis=0)
    step = g.op("Sub", g.op("Slice", edged, g.i64(1), g.i64(2**62)), g.op("Slice", edged, g.i64(0), g.i64(-1)))
    starts = g.op("Reshape", g.op("NonZero", g.op("Greater", step, g.f32(0.0))), g.i64(-1))
    ends = g.op("Reshape", g.op("NonZero", g.op("Less", step, g.f32(0.0))), g.i64(-1))
    return starts, ends, g.op("Size", starts)


def _paste(g: _Graph, base: str, patch: str, y0: str, y1: str, x0: str, x1: str) -> str:
    """``base`` (N, C, H, W) with rows y0..y1-1 and columns x0..x1-1 replaced by ``patch``."""
    zero, big = g.i64(0), g.i64(2**62)
    rows = g.op("Slice", base, y0, y1, g.i64(2))
    middle = g.op("Concat", g.op("Slice", rows, zero, x0, g.i64(3)), patch, g.op("Slice", rows, x1, big, g.i64(3)),
                  axis=3)
    return g.op("Concat", g.op("Slice", base, zero, y0, g.i64(2)), middle, g.op("Slice", base, y1, big, g.i64(2)),
                axis=2)


def _loop(g: _Graph, count: str, carried: str, body_fn: Any, hint: str) -> str:
    """``for i in range(count): carried = body_fn(body_graph, i)`` as an ONNX Loop (i: (1,) int64)."""
    from onnx import TensorProto as T
    from onnx import helper

    body = g.sub()
    it, cond_in, carried_in = body.fresh("i"), body.fresh("cond"), body.fresh(hint)
    out = body_fn(body, body.op("Unsqueeze", it, body.i64(0)), carried_in)
    cond_out = body.op("Identity", cond_in)
    inputs = [helper.make_tensor_value_info(it, T.INT64, []), helper.make_tensor_value_info(cond_in, T.BOOL, []),
              helper.make_tensor_value_info(carried_in, T.FLOAT, None)]
    graph = body.graph(g.fresh("body"), [(cond_out, T.BOOL), (out, T.FLOAT)], inputs)
    res = g.fresh(hint)
    g.nodes.append(helper.make_node("Loop", [count, "", carried], [res], name=g.fresh("n"), body=graph))
    return res


def _composite_piece(g: _Graph, image: str, t: str, box: dict[str, str], levels: list[dict[str, str]],
                     cells: list[list[str]]) -> str:
    """The network's output on one box: hat-weighted blur levels, only those some pixel needs."""
    from onnx import TensorProto as T

    starts = g.op("Concat", box["y0"], box["x0"], axis=0)
    ends = g.op("Concat", box["y1"], box["x1"], axis=0)
    axes = g.i64(2, 3)
    x_box, t_box = g.op("Slice", image, starts, ends, axes), g.op("Slice", t, starts, ends, axes)
    one = g.f32(1.0)
    acc = g.op("Mul", g.op("Relu", g.op("Sub", one, g.op("Abs", t_box))), x_box)
    for k, (lv, cell) in enumerate(zip(levels, cells, strict=True), start=1):
        band = g.op("And", g.op("Greater", t_box, g.f32(k - 1.0)), g.op("Less", t_box, g.f32(k + 1.0)))
        needed = g.op("Greater", g.op("ReduceMax", g.op("Cast", band, to=T.FLOAT), keepdims=0), g.f32(0.0))
        use = g.sub()
        direct, pooled = use.sub(), use.sub()
        s_direct = _direct(direct, image, box, lv)
        s_pooled = _upsample(pooled, cell, box, lv)
        (s,) = use.if_(lv["is_direct"], direct, [s_direct], pooled, [s_pooled], [T.FLOAT], hint=f"level{k}")
        weight = use.op("Relu", use.op("Sub", one, use.op("Abs", use.op("Sub", t_box, use.f32(float(k))))))
        added = use.op("Add", acc, use.op("Mul", weight, s))
        skip = g.sub()
        kept = skip.op("Identity", acc)
        (acc,) = g.if_(needed, use, [added], skip, [kept], [T.FLOAT], hint=f"acc{k}")
    return g.op("Clip", acc, g.f32(0.0), one)


def _tighten(g: _Graph, t: str, y0: str, y1: str, x0: str, x1: str) -> tuple[str, str, str, str]:
    """The box of the pixels with t > 0 inside rows y0..y1-1 and columns x0..x1-1 (some must be)."""
    inside = g.op("Slice", t, g.op("Concat", y0, x0, axis=0), g.op("Concat", y1, x1, axis=0), g.i64(2, 3))
    r0, r1 = _first_last(g, g.op("ReduceMax", inside, axes=[0, 1, 3], keepdims=0))
    c0, c1 = _first_last(g, g.op("ReduceMax", inside, axes=[0, 1, 2], keepdims=0))
    return g.op("Add", y0, r0), g.op("Add", y0, r1), g.op("Add", x0, c0), g.op("Add", x0, c1)


def _protect(g: _Graph, image: str, t: str, h: str, w: str, levels: list[dict[str, str]]) -> str:
    """The protected batch when some t > 0: detections far apart are composited apart.

    The union box U of t > 0 is cut into pieces: runs of rows with t > 0 (closer than
    2 x :data:`GAP` merge), then in each run the runs of columns, each piece shrunk to its
    pixels with t > 0. Every pixel with t > 0 lies in exactly one piece, and each piece is
    computed from the input image, so the order and the cut do not change the output. The
    pooled levels are pooled and blurred once, for U.
    """
    from onnx import TensorProto as T

    rows = g.op("ReduceMax", t, axes=[0, 1, 3], keepdims=0)
    y0, y1 = _first_last(g, rows)
    x0, x1 = _first_last(g, g.op("ReduceMax", t, axes=[0, 1, 2], keepdims=0))
    union = {"y0": y0, "y1": y1, "x0": x0, "x1": x1, "h": h, "w": w}
    starts, ends = g.op("Concat", y0, x0, axis=0), g.op("Concat", y1, x1, axis=0)
    t_union = g.op("Slice", t, starts, ends, g.i64(2, 3))
    cells = []
    for k, lv in enumerate(levels, start=1):  # pooled levels some pixel of U needs: pooled and blurred once
        band = g.op("And", g.op("Greater", t_union, g.f32(k - 1.0)), g.op("Less", t_union, g.f32(k + 1.0)))
        needed = g.op("Greater", g.op("ReduceMax", g.op("Cast", band, to=T.FLOAT), keepdims=0), g.f32(0.0))
        pool = g.sub()
        made = _pooled_cells(pool, image, union, lv)
        none = g.sub()
        dummy = [none.const(np.zeros((1, 1, 1, 1), np.float32), np.float32), none.i64(0), none.i64(0)]
        cells.append(g.if_(g.op("And", needed, g.op("Not", lv["is_direct"])), pool, made, none, dummy,
                           [T.FLOAT, T.INT64, T.INT64], hint=f"cells{k}"))
    row_starts, row_ends, n_rows = _runs(g, rows)

    def band_body(b: _Graph, i: str, out: str) -> str:
        r0, r1 = b.op("Gather", row_starts, i), b.op("Gather", row_ends, i)
        band_t = b.op("Slice", t, r0, r1, b.i64(2))
        col_starts, col_ends, n_cols = _runs(b, b.op("ReduceMax", band_t, axes=[0, 1, 2], keepdims=0))

        def piece_body(pb: _Graph, j: str, out_j: str) -> str:
            c0, c1 = pb.op("Gather", col_starts, j), pb.op("Gather", col_ends, j)
            py0, py1, px0, px1 = _tighten(pb, t, r0, r1, c0, c1)
            box = {"y0": py0, "y1": py1, "x0": px0, "x1": px1, "h": h, "w": w}
            patch = _composite_piece(pb, image, t, box, levels, cells)
            return _paste(pb, out_j, patch, pb.op("Sub", py0, y0), pb.op("Sub", py1, y0), pb.op("Sub", px0, x0),
                          pb.op("Sub", px1, x0))

        return _loop(b, n_cols, out, piece_body, "cols")

    x_union = g.op("Slice", image, starts, ends, g.i64(2, 3))
    out_union = _loop(g, n_rows, x_union, band_body, "rows")
    return _paste(g, image, out_union, y0, y1, x0, x1)


def policy_model(net: GuidedPolicyObfuscation, opset: int) -> onnx.ModelProto:
    """The ONNX model of a ``guided-policy`` network (no metadata): inputs ``image`` and
    ``extra``, outputs ``protected`` and ``mask``; any batch size, height and width."""
    import torch
    from onnx import TensorProto as T
    from onnx import helper

    from veil.anonymizers.networks import TEXT_HEIGHT_SCALE

    g = _Graph()
    c = len(net.categories)
    n_levels = len(net.levels)
    sized = net._sized()
    with torch.no_grad():
        strength = net.strength[net._route].double().numpy()
        const_gain = (n_levels * torch.sigmoid(net.strength[net._route])).numpy()  # constant for unsized categories
        hw = float(net.height_weight)
    image, extra = "image", "extra"
    shape = g.op("Shape", image)
    h = g.op("Gather", shape, g.i64(2), axis=0, hint="H")
    w = g.op("Gather", shape, g.i64(3), axis=0, hint="W")

    # level map t = max_c m_c * L * sigmoid(l_c + w_h * height * sized_c), then the floor; the
    # categories whose strength does not move with the height have a constant gain
    gains = np.where(sized > 0, 0.0, const_gain).astype(np.float32)
    fixed = np.asarray(net.fixed_levels(), np.float32)  # after the height map, which has no level of its own
    channels = c + 1 + len(fixed)
    gains = np.concatenate([gains, [np.float32(0.0)], fixed]).astype(np.float32).reshape(1, channels, 1, 1)
    t = g.op("ReduceMax", g.op("Mul", extra, g.const(gains, np.float32)), axes=[1], keepdims=1)
    height = g.op("Slice", extra, g.i64(c), g.i64(c + 1), g.i64(1))
    learned_height = g.op("Min", height, g.f32(1.0))  # the strengths see it clipped to 1 (networks.py)
    for i in np.flatnonzero(sized > 0).tolist():
        logit = g.op("Add", g.f32(float(strength[i])), g.op("Mul", learned_height, g.f32(hw)))
        m = g.op("Slice", extra, g.i64(i), g.i64(i + 1), g.i64(1))
        t = g.op("Max", t, g.op("Mul", g.op("Mul", m, g.f32(float(n_levels))), g.op("Sigmoid", logit)))
    if net.floor_categories:
        idx = [net.categories.index(k) for k in net.floor_categories]
        hit = g.op("Greater", g.op("ReduceMax", g.op("Gather", extra, g.i64(*idx), axis=1), axes=[1], keepdims=1),
                   g.f32(net.floor_threshold))
        t = g.op("Where", hit, g.op("Max", t, g.f32(net.floor_level)), t)
    rows = net.text_floor_rows() if net.text_floor > 0 else []
    if rows:  # the smallest whole level whose blur is text_floor x the line height (networks.py)
        hit = g.op("And", g.op("Greater", g.op("ReduceMax", g.op("Gather", extra, g.i64(*rows), axis=1), axes=[1],
                                                keepdims=1), g.f32(net.floor_threshold)),
                   g.op("Greater", height, g.f32(0.0)))
        need = g.op("Mul", height, g.f32(net.text_floor * TEXT_HEIGHT_SCALE))
        t_min = g.op("Mul", height, g.f32(0.0))
        t_min = g.op("Add", t_min, g.f32(1.0))
        for lv in net.levels[:-1]:
            t_min = g.op("Add", t_min, g.op("Cast", g.op("Greater", need, g.f32(float(lv))), to=T.FLOAT))
        t = g.op("Where", hit, g.op("Max", t, t_min), t)
    t = g.op("Identity", t, hint="t")
    mask = g.op("Div", t, g.f32(float(n_levels)), hint="mask")
    reference = _reference_length(g, extra, h, w, net)
    levels = [_level_sizes(g, h, w, s, reference) for s in net.levels]

    # where t > 0 the blur levels; elsewhere (and everywhere when no t > 0) the image as it is
    then = g.sub()
    protected = _protect(then, image, t, h, w, levels)
    other = g.sub()
    same = other.op("Identity", image)
    anything = g.op("Greater", g.op("ReduceMax", t, keepdims=0), g.f32(0.0))
    (out,) = g.if_(anything, then, [protected], other, [same], [T.FLOAT], hint="protected_box")
    g.nodes.append(helper.make_node("Identity", [out], ["protected"], name=g.fresh("n")))
    g.nodes.append(helper.make_node("Identity", [mask], ["mask"], name=g.fresh("n")))
    inputs = [helper.make_tensor_value_info("image", T.FLOAT, ["batch", 3, "height", "width"]),
              helper.make_tensor_value_info("extra", T.FLOAT, ["batch", channels, "height", "width"])]
    outputs = [helper.make_tensor_value_info("protected", T.FLOAT, ["batch", 3, "height", "width"]),
               helper.make_tensor_value_info("mask", T.FLOAT, ["batch", 1, "height", "width"])]
    graph = helper.make_graph(g.nodes, "veil_guided_policy", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
