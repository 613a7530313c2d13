"""The ONNX graph of the ``guided-policy`` network, written op by op (not traced).

The network's blur strengths are fractions of each image's short side, so the pooling
factor, the Gaussian kernels and the upsampling grid of every blur level follow the input
size. A traced graph freezes them at the example's size; this graph computes them from the
input's shape at run time, with the same arithmetic as
:func:`~veil.anonymizers.networks.fast_blur_tensor` (float64 for the kernel and its
sizes, as :func:`~veil.anonymizers.networks.gaussian_kernel1d` does), so any height and
width run. It also does less work than the PyTorch module, with the same output:

- the blur levels and the compositing run only inside the bounding box of the pixels
  whose level ``t`` is above 0 (outside it the output is the input, exactly as in
  PyTorch: the hat weight of the unblurred image is 1 there);
- a level is computed only when some pixel of that box needs it (``k - 1 < t < k + 1``,
  where its hat weight is not 0): levels above the largest ``t`` present cost nothing;
- each level reads only the pixels its box needs: the box grown by the kernel's reach, on
  the level's pooling grid (aligned to the whole image, so the pooled values are those of
  the full-image blur), then pooled, blurred and bilinearly upsampled with the full
  image's source coordinates.

Inputs ``image`` (N, 3, H, W) and ``extra`` (N, C + 1, H, W) (the guide's maps); outputs
``protected`` (N, 3, H, W) and ``mask`` (N, 1, H, W), the level as a fraction of L (the
network's ``last_mask``).
"""

from __future__ import annotations

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
        self._count[0] += 1
        return f"{hint}_{self._count[0]}"

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self.fresh("n"), **attrs))
        return out

    def const(self, value: Any, dtype: Any) -> str:
        from onnx import helper, numpy_helper

        out = self.fresh("c")
        arr = np.asarray(value, dtype=dtype)
        self.nodes.append(helper.make_node("Constant", [], [out], value=numpy_helper.from_array(arr, out)))
        return out

    def i64(self, *values: int) -> str:
        """A 1-D int64 constant."""
        return self.const(list(values), np.int64)

    def f32(self, value: float) -> str:
        return self.const(value, np.float32)

    def f64(self, value: float) -> str:
        return self.const(value, np.float64)

    def sub(self) -> _Graph:
        return _Graph(self._count)

    def graph(self, name: str, outputs: list[tuple[str, int]], inputs: list[Any] | None = None) -> onnx.GraphProto:
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


def _level_sizes(g: _Graph, h: str, w: str, fraction: float) -> dict[str, str]:
    """Pooling factor, kernel radius and separable kernels of one level, from H and W ((1,) int64).

    The arithmetic of ``fast_blur_tensor`` and ``gaussian_kernel1d``: sigma and the
    kernel in float64, the kernel cast to float32 at the end.
    """
    from onnx import TensorProto as T

    short = g.op("Cast", g.op("Min", h, w), to=T.DOUBLE)
    sigma = g.op("Max", g.f64(0.3), g.op("Mul", g.f64(fraction), short))
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


def _axis_plan(g: _Graph, lo: str, hi: str, n: str, f: str, r: str) -> dict[str, str]:
    """Bilinear source rows (or columns) of outputs ``lo..hi-1`` on the ``f``-pooled grid of an
    axis of ``n`` pixels (``F.interpolate(..., align_corners=False)``: float32, clamped at 0),
    and the pooled window the blur needs around them."""
    from onnx import TensorProto as T

    one = g.i64(1)
    ns = g.op("Div", g.op("Sub", g.op("Add", n, f), one), f)  # ceil(n / f): the pooled size
    last = g.op("Sub", ns, one)
    ratio = g.op("Div", g.op("Cast", ns, to=T.FLOAT), g.op("Cast", n, to=T.FLOAT))
    dst = g.op("Cast", g.op("Range", g.op("Squeeze", lo), g.op("Squeeze", hi), g.const(1, np.int64)), to=T.FLOAT)
    src = g.op("Max", g.op("Sub", g.op("Mul", ratio, g.op("Add", dst, g.f32(0.5))), g.f32(0.5)), g.f32(0.0))
    i0 = g.op("Min", g.op("Cast", g.op("Floor", src), to=T.INT64), last)
    lam1 = g.op("Min", g.op("Max", g.op("Sub", src, g.op("Cast", i0, to=T.FLOAT)), g.f32(0.0)), g.f32(1.0))
    lam0 = g.op("Sub", g.f32(1.0), lam1)
    i1 = g.op("Min", g.op("Add", i0, one), last)
    s0 = g.op("ReduceMin", i0, keepdims=1)
    s1 = g.op("ReduceMax", i1, keepdims=1)
    p0 = g.op("Max", g.op("Sub", s0, r), g.i64(0))
    p1 = g.op("Min", g.op("Add", s1, r), last)
    count = g.op("Add", g.op("Sub", p1, p0), one)  # pooled cells in the window
    a = g.op("Mul", p0, f)
    b = g.op("Min", g.op("Mul", g.op("Add", p1, one), f), n)
    pad = g.op("Sub", g.op("Mul", count, f), g.op("Sub", b, a))  # a partial last cell: zeros, divided out
    cells = g.op("Add", g.op("Squeeze", p0), g.op("Range", g.const(0, np.int64), g.op("Squeeze", count),
                                                   g.const(1, np.int64)))
    div = g.op("Cast", g.op("Min", f, g.op("Sub", n, g.op("Mul", cells, f))), to=T.FLOAT)
    return {"i0": g.op("Sub", i0, s0), "i1": g.op("Sub", i1, s0), "lam0": lam0, "lam1": lam1, "s0": g.op("Sub", s0, p0),
            "s1": g.op("Add", g.op("Sub", s1, p0), one), "a": a, "b": b, "pad": pad, "count": count, "div": div}


def _pooled(g: _Graph, image: str, box: dict[str, str], lv: dict[str, str]) -> str:
    """Level with pooling by f: average-pool the window, blur it, upsample the box bilinearly."""
    f, r = lv["f"], lv["r"]
    ry = _axis_plan(g, box["y0"], box["y1"], box["h"], f, r)
    rx = _axis_plan(g, box["x0"], box["x1"], box["w"], f, r)
    win = g.op("Slice", image, g.op("Concat", ry["a"], rx["a"], axis=0), g.op("Concat", ry["b"], rx["b"], axis=0),
               g.i64(2, 3))
    z6 = g.i64(0, 0, 0, 0, 0, 0)
    win = g.op("Pad", win, g.op("Concat", z6, ry["pad"], rx["pad"], axis=0))
    shape = g.op("Concat", g.i64(0, 3), ry["count"], f, rx["count"], f, axis=0)
    sums = g.op("ReduceSum", g.op("Reshape", win, shape), g.i64(5), keepdims=0)  # along rows first: faster
    sums = g.op("ReduceSum", sums, g.i64(3), keepdims=0)
    div = g.op("Mul", g.op("Unsqueeze", ry["div"], g.i64(1)), g.op("Unsqueeze", rx["div"], g.i64(0)))
    small = _blur(g, g.op("Div", sums, div), lv)
    small = g.op("Slice", small, g.op("Concat", ry["s0"], rx["s0"], axis=0), g.op("Concat", ry["s1"], rx["s1"], axis=0),
                 g.i64(2, 3))  # the source cells only
    # columns first (as PyTorch), on the transposed cells: gathering whole rows is faster
    small = g.op("Transpose", small, perm=[0, 1, 3, 2])
    m0 = g.op("Unsqueeze", rx["lam0"], g.i64(1))
    m1 = g.op("Unsqueeze", rx["lam1"], g.i64(1))
    cols = g.op("Add", g.op("Mul", g.op("Gather", small, rx["i0"], axis=2), m0),
                g.op("Mul", g.op("Gather", small, rx["i1"], axis=2), m1))
    cols = g.op("Transpose", cols, perm=[0, 1, 3, 2])
    l0 = g.op("Unsqueeze", ry["lam0"], g.i64(1))
    l1 = g.op("Unsqueeze", ry["lam1"], g.i64(1))
    return g.op("Add", g.op("Mul", g.op("Gather", cols, ry["i0"], axis=2), l0),
                g.op("Mul", g.op("Gather", cols, ry["i1"], axis=2), l1))


def _first_last(g: _Graph, profile: str) -> tuple[str, str]:
    """First index and one past the last index where a 1-D profile is above 0 ((1,) int64 each)."""
    from onnx import TensorProto as T

    hit = g.op("Cast", g.op("Greater", profile, g.f32(0.0)), to=T.FLOAT)
    first = g.op("ArgMax", hit, axis=0, keepdims=1)
    last = g.op("ArgMax", hit, axis=0, keepdims=1, select_last_index=1)
    return first, g.op("Add", last, g.i64(1))


def policy_model(net: GuidedPolicyObfuscation, opset: int) -> onnx.ModelProto:
    """The ONNX model of a ``guided-policy`` network (no metadata): inputs ``image`` and
    ``extra``, outputs ``protected`` and ``mask``; any batch size, height and width."""
    import torch
    from onnx import TensorProto as T
    from onnx import helper

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
    gains = np.append(gains, np.float32(0.0)).reshape(1, c + 1, 1, 1)  # the height map: no level of its own
    t = g.op("ReduceMax", g.op("Mul", extra, g.const(gains, np.float32)), axes=[1], keepdims=1)
    height = g.op("Slice", extra, g.i64(c), g.i64(c + 1), g.i64(1))
    for i in np.flatnonzero(sized > 0).tolist():
        logit = g.op("Add", g.f32(float(strength[i])), g.op("Mul", height, g.f32(hw)))
        m = g.op("Slice", extra, g.i64(i), g.i64(i + 1), g.i64(1))
        t = g.op("Max", t, g.op("Mul", g.op("Mul", m, g.f32(float(n_levels))), g.op("Sigmoid", logit)))
    if net.floor_categories:
        idx = [net.categories.index(k) for k in net.floor_categories]
        hit = g.op("Greater", g.op("ReduceMax", g.op("Gather", extra, g.i64(*idx), axis=1), axes=[1], keepdims=1),
                   g.f32(net.floor_threshold))
        t = g.op("Where", hit, g.op("Max", t, g.f32(net.floor_level)), t)
    t = g.op("Identity", t, hint="t")
    mask = g.op("Div", t, g.f32(float(n_levels)), hint="mask")
    levels = [_level_sizes(g, h, w, s) for s in net.levels]

    # the box of t > 0; no box: the image as it is
    then = g.sub()
    y0, y1 = _first_last(then, then.op("ReduceMax", t, axes=[0, 1, 3], keepdims=0))
    x0, x1 = _first_last(then, then.op("ReduceMax", t, axes=[0, 1, 2], keepdims=0))
    box = {"y0": y0, "y1": y1, "x0": x0, "x1": x1, "h": h, "w": w}
    starts, ends = then.op("Concat", y0, x0, axis=0), then.op("Concat", y1, x1, axis=0)
    axes = then.i64(2, 3)
    x_box = then.op("Slice", image, starts, ends, axes)
    t_box = then.op("Slice", t, starts, ends, axes)
    one = then.f32(1.0)
    acc = then.op("Mul", then.op("Relu", then.op("Sub", one, then.op("Abs", t_box))), x_box)
    for k, lv in enumerate(levels, start=1):
        band = then.op("And", then.op("Greater", t_box, then.f32(k - 1.0)), then.op("Less", t_box, then.f32(k + 1.0)))
        needed = then.op("Greater", then.op("ReduceMax", then.op("Cast", band, to=T.FLOAT), keepdims=0),
                         then.f32(0.0))
        use = then.sub()
        direct, pooled = use.sub(), use.sub()
        s_direct = _direct(direct, image, box, lv)
        s_pooled = _pooled(pooled, image, box, lv)
        (s,) = use.if_(lv["is_direct"], direct, [s_direct], pooled, [s_pooled], [T.FLOAT], hint=f"level{k}")
        weight = use.op("Relu", use.op("Sub", one, use.op("Abs", use.op("Sub", t_box, use.f32(float(k))))))
        added = use.op("Add", acc, use.op("Mul", weight, s))
        skip = then.sub()
        kept = skip.op("Identity", acc)
        (acc,) = then.if_(needed, use, [added], skip, [kept], [T.FLOAT], hint=f"acc{k}")
    out_box = then.op("Clip", acc, then.f32(0.0), one)
    zero = then.i64(0)
    big = then.i64(2**62)
    top = then.op("Slice", image, zero, y0, then.i64(2))
    bottom = then.op("Slice", image, y1, big, then.i64(2))
    rows = then.op("Slice", image, y0, y1, then.i64(2))
    left = then.op("Slice", rows, zero, x0, then.i64(3))
    right = then.op("Slice", rows, x1, big, then.i64(3))
    middle = then.op("Concat", left, out_box, right, axis=3)
    protected = then.op("Concat", top, middle, bottom, axis=2)
    other = g.sub()
    same = other.op("Identity", image)
    anything = g.op("Greater", g.op("ReduceMax", t, keepdims=0), g.f32(0.0))
    (out,) = g.if_(anything, then, [protected], other, [same], [T.FLOAT], hint="protected_box")
    g.nodes.append(helper.make_node("Identity", [out], ["protected"], name=g.fresh("n")))
    g.nodes.append(helper.make_node("Identity", [mask], ["mask"], name=g.fresh("n")))
    inputs = [helper.make_tensor_value_info("image", T.FLOAT, ["batch", 3, "height", "width"]),
              helper.make_tensor_value_info("extra", T.FLOAT, ["batch", c + 1, "height", "width"])]
    outputs = [helper.make_tensor_value_info("protected", T.FLOAT, ["batch", 3, "height", "width"]),
               helper.make_tensor_value_info("mask", T.FLOAT, ["batch", 1, "height", "width"])]
    graph = helper.make_graph(g.nodes, "veil_guided_policy", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
