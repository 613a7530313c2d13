"""ONNX export of learned anonymizers, and an onnxruntime-backed Anonymizer.

:func:`export_onnx` turns a saved model folder (``model.safetensors`` + ``config.json``)
into one self-describing ``.onnx`` file that runs without PyTorch or Veil:

- input ``image``: float32 (N, 3, H, W), RGB in [0, 1]; N, H and W are dynamic (any size:
  the graph pads to the network's side multiple and crops back, as PyTorch does);
- input ``privacy``: float32 (N,) in [0, 1], the privacy dial (``film-unet`` only);
- input ``extra``: float32 (N, C, H, W) detector maps (networks built with ``extra_channels``);
- output ``protected``: float32 (N, 3, H, W) in [0, 1]; ``masked`` and ``guided-policy``
  networks also output ``mask``: float32 (N, 1, H, W) in [0, 1] (for ``guided-policy``, the
  blur level as a fraction of the strongest).

Traced networks keep the traced graph. ``guided-policy`` (the default of ``veil train``)
sizes its blurs from each image's short side, so its graph is written op by op
(:mod:`veil.anonymizers.onnx_policy`) and computes the blur sizes from the input's shape;
its ``extra`` maps come from the detector guide named in the metadata (``faces+textcls``),
which :class:`OnnxAnonymizer` builds and runs (CenterFace and the OCR run with onnxruntime).

The model's ``config.json`` (network, its keywords, the default privacy dial, temporal
smoothing, training metadata) is stored under the ``metadata_props`` key ``veil.config``,
next to ``veil.format`` (``veil.onnx/1``), ``veil.inputs`` and ``veil.outputs``. Every
export is checked before it is written: onnxruntime and PyTorch run the same random batch
at a size that is not a multiple of the network's side multiple (for ``guided-policy``:
maps that fire in a few rectangles, at a size with pooled blur levels), and the file is
refused when they differ by more than :data:`FLOAT_TOLERANCE`.

:class:`OnnxAnonymizer` runs such a file with onnxruntime behind the Anonymizer interface;
``create_anonymizer("model.onnx")``, ``veil.load_anonymizer("model.onnx:privacy=0.8")`` and
``veil protect --anonymizer model.onnx`` all use it.

Example:
    >>> export_onnx("runs/train/model", "model.onnx")  # doctest: +SKIP
    >>> OnnxAnonymizer("model.onnx")(image)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from veil.anonymizers.base import Anonymizer, check_image
from veil.anonymizers.learned import LOAD_OVERRIDES, UprightDial, dial_suffix, saved_dials
from veil.errors import ConfigError, MediaError, ModelError
from veil.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    import torch

    from veil.anonymizers.learned import LearnedAnonymizer

__all__ = [
    "DEFAULT_OPSET",
    "FLOAT_TOLERANCE",
    "FORMAT",
    "KNOWN_UNEXPORTABLE",
    "UINT8_TOLERANCE",
    "OnnxAnonymizer",
    "OnnxExport",
    "export_onnx",
    "export_onnx_bytes",
    "read_onnx_config",
]

#: Format tag stored under the ``veil.format`` metadata key.
FORMAT = "veil.onnx/1"
#: ONNX opset of exported graphs (onnxruntime 1.32 runs 7-23).
DEFAULT_OPSET = 17
#: Largest absolute difference from PyTorch allowed on the float output (checked at export).
FLOAT_TOLERANCE = 1e-4
#: Largest difference from PyTorch on the uint8 output, in grey levels (rounding of values at .5).
UINT8_TOLERANCE = 1
#: Networks that cannot be exported, and why (refused before trying; remove an entry when it exports).
KNOWN_UNEXPORTABLE = {
    "guided-masked": "its blur kernels are sized from each image's short side at run time, which a traced graph "
    "freezes at the trace's size (guided-policy, whose graph is written op by op, exports)",
}


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote and how closely it matches PyTorch."""

    path: Path
    network: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    max_abs_diff: float
    check_shape: tuple[int, int, int, int]


# ----------------------------------------------------------------------------- export


def _exportable(net: Any) -> torch.nn.Module:
    """Wrap ``net`` so its graph keeps height and width dynamic.

    ``AnonymizerNetwork.forward`` pads only when needed (a Python branch on the input size,
    which tracing would freeze); the wrapper always pads (by 0 when the size already fits).
    The masked network's blur builds its kernel from the traced channel count, which the
    exporter cannot handle: the wrapper uses the same kernel with the channel count fixed
    at 3.
    """
    import torch
    import torch.nn.functional as F

    from veil.anonymizers.networks import MaskedObfuscation, crop_like, gaussian_kernel1d, pixelate_tensor

    class Exportable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.masked = isinstance(net, MaskedObfuscation)
            if self.masked and net.obfuscation == "blur":
                k = gaussian_kernel1d(net.sigma)
                self.register_buffer("kh", k.view(1, 1, 1, -1).repeat(3, 1, 1, 1))
                self.register_buffer("kv", k.view(1, 1, -1, 1).repeat(3, 1, 1, 1))
                self.r = k.numel() // 2

        def obfuscate(self, x: torch.Tensor) -> torch.Tensor:
            if self.net.obfuscation != "blur":
                return pixelate_tensor(x, self.net.block)
            r = self.r
            x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), self.kh, groups=3)
            return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), self.kv, groups=3)

        def forward(self, *inputs: torch.Tensor) -> Any:
            x, rest = inputs[0], list(inputs[1:])
            lam = rest.pop(0) if self.net.conditioned else None
            inp = torch.cat([x, rest.pop(0)], dim=1) if self.net.extra_channels else x
            f = self.net.factor
            h, w = x.shape[-2], x.shape[-1]
            inp = F.pad(inp, (0, (f - w % f) % f, 0, (f - h % f) % f), mode="replicate")
            if self.masked:
                m = torch.sigmoid(crop_like(self.net.body(inp), x))
                return m * self.obfuscate(x) + (1.0 - m) * x, m
            return self.net._forward(x, inp, lam)

    return Exportable().eval()


def _io_names(net: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from veil.anonymizers.networks import GuidedPolicyObfuscation, MaskedObfuscation

    inputs = ("image",) + (("privacy",) if net.conditioned else ()) + (("extra",) if net.extra_channels else ())
    masked = isinstance(net, MaskedObfuscation | GuidedPolicyObfuscation)
    outputs = ("protected", "mask") if masked else ("protected",)
    return inputs, outputs


def _is_policy(net: Any) -> bool:
    from veil.anonymizers.networks import GuidedPolicyObfuscation

    return isinstance(net, GuidedPolicyObfuscation)


def _example(net: Any, n: int, h: int, w: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Random inputs; the policy network gets maps that fire in a few rectangles (detections),
    with several levels present, so its box, its level skipping and its pooled levels run."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = [torch.rand(n, 3, h, w, generator=g)]
    if net.conditioned:
        x.append(torch.rand(n, generator=g))
    if net.extra_channels and _is_policy(net):
        maps = torch.zeros(n, net.extra_channels, h, w)
        for b in range(n):
            for c in range(net.extra_channels - 1):
                y0, x0 = (int(v) for v in torch.randint(0, max(1, h - 2), (1,), generator=g).tolist() +
                          torch.randint(0, max(1, w - 2), (1,), generator=g).tolist())
                dy, dx = 1 + h // (3 + c), 1 + w // (4 + c)
                maps[b, c, y0:y0 + dy, x0:x0 + dx] = 0.1 + 0.9 * torch.rand(dy, dx, generator=g)[: h - y0, : w - x0]
        # the height map (after the categories; the text-category guide maps tall lines above 1)
        maps[:, len(net.categories)] = 3.0 * torch.rand(n, h, w, generator=g)
        x.append(maps)
    elif net.extra_channels:
        x.append(torch.rand(n, net.extra_channels, h, w, generator=g))
    return tuple(x)


_IO_DOC = {
    "image": "float32 (N, 3, H, W) RGB in [0, 1]; N, H, W dynamic",
    "privacy": "float32 (N,) privacy weight in [0, 1] (the dial)",
    "extra": "float32 (N, C, H, W) extra detector maps in [0, 1] (a text height map up to 10)",
    "protected": "float32 (N, 3, H, W) RGB in [0, 1]",
    "mask": "float32 (N, 1, H, W) obfuscation mask in [0, 1]",
}


def export_onnx(
    model: str | os.PathLike[str] | LearnedAnonymizer,
    out_path: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
) -> OnnxExport:
    """Export a learned anonymizer to a self-describing ONNX file, checked against PyTorch.

    Args:
        model: a saved model folder (or a file in it), or a :class:`LearnedAnonymizer`.
        out_path: the ``.onnx`` file to write (atomically: a crash leaves no partial file).
        opset: ONNX opset version.
        overwrite: replace an existing file.

    Returns:
        An :class:`OnnxExport` with the input/output names and the largest difference
        from PyTorch on the check batch.

    Raises:
        ModelError: the model cannot be loaded, cannot be exported, or its export differs
            from PyTorch by more than :data:`FLOAT_TOLERANCE` (nothing is written).
        ConfigError: ``out_path`` exists and ``overwrite`` is False, or does not end in ``.onnx``.
    """
    from veil.anonymizers.learned import LearnedAnonymizer

    out = Path(out_path)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"{out}: the ONNX file name must end in .onnx (e.g. model.onnx)")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; choose another name or pass --overwrite to replace it")
    anon = model if isinstance(model, LearnedAnonymizer) else LearnedAnonymizer.load(model)
    data, res = export_onnx_bytes(anon, opset=opset)
    atomic_write_bytes(out, data)
    return OnnxExport(out, res.network, res.inputs, res.outputs, res.max_abs_diff, res.check_shape)


def export_onnx_bytes(anon: LearnedAnonymizer, *, opset: int = DEFAULT_OPSET) -> tuple[bytes, OnnxExport]:
    """The checked ONNX model of ``anon`` as bytes (what :func:`export_onnx` writes), and its description.

    Raises:
        ModelError: the network cannot be exported, or the export differs from PyTorch by
            more than :data:`FLOAT_TOLERANCE`.
    """
    import onnx
    import torch

    from veil import __version__
    from veil.anonymizers.learned import FORMAT as CONFIG_FORMAT
    from veil.anonymizers.networks import num_parameters

    net = anon.net
    if next(net.parameters()).device.type != "cpu" or next(net.parameters()).dtype != torch.float32:
        net = copy.deepcopy(net).float().cpu()  # leave the caller's network where it is
    net.eval()
    inputs, outputs = _io_names(net)
    f = net.factor
    hint = "run the model folder with PyTorch instead (veil protect --anonymizer MODEL_FOLDER)"
    if net.network_name in KNOWN_UNEXPORTABLE:
        raise ModelError(f"cannot export network {net.network_name!r} to ONNX: {KNOWN_UNEXPORTABLE[net.network_name]}; "
                         f"{hint}")
    if _is_policy(net):  # blur sizes follow the input size: a graph written op by op, not traced
        from veil.anonymizers.onnx_policy import policy_model

        proto = policy_model(net, opset)
    else:
        wrapper = _exportable(net)
        example = _example(net, 1, 3 * f + 1, 5 * f + 3, seed=0)  # not multiples of f: every crop is traced
        dynamic = {name: {0: "batch", 2: "height", 3: "width"} for name in (*inputs, *outputs) if name != "privacy"}
        if "privacy" in inputs:
            dynamic["privacy"] = {0: "batch"}
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer and deprecation warnings; the result is checked below
                torch._C._jit_set_onnx_log_output_stream("stderr")  # on failure it dumps the graph: not on stdout
                torch.onnx.export(
                    wrapper, example, buf, input_names=list(inputs), output_names=list(outputs),
                    dynamic_axes=dynamic, opset_version=opset, dynamo=False,
                )
        except Exception as e:  # the exporter raises many error types
            why = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
            raise ModelError(f"cannot export network {net.network_name!r} to ONNX ({why}); {hint}") from None
        proto = onnx.load_from_string(buf.getvalue())
    config = {
        "format": CONFIG_FORMAT,
        "network": net.network_name,
        "kwargs": dict(net.hparams),
        "veil_version": __version__,
        "privacy": anon.privacy,
        "temporal_smoothing": anon.temporal_smoothing,
        "guide": getattr(anon, "guide_spec", None),
        "num_parameters": num_parameters(net),
        "meta": anon.meta,
    }
    meta = {
        "veil.format": FORMAT,
        "veil.config": json.dumps(config, allow_nan=False),
        "veil.inputs": json.dumps({k: _IO_DOC[k] for k in inputs}),
        "veil.outputs": json.dumps({k: _IO_DOC[k] for k in outputs}),
    }
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    proto.producer_name, proto.producer_version = "veil", __version__
    proto.doc_string = (
        f"Veil anonymizer ({net.network_name}): image (N, 3, H, W) RGB float in [0, 1] -> protected, same shape. "
        "The model's config.json is under metadata_props['veil.config']."
    )
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    # the policy network's pooled blur levels start at a short side of about 40 pixels
    check = _example(net, 2, 61, 97, seed=1) if _is_policy(net) else _example(net, 2, 5 * f + 1, 3 * f + 6, seed=1)
    diff = _max_diff(net, data, inputs, check)
    if not diff <= FLOAT_TOLERANCE:
        raise ModelError(
            f"the ONNX export of {net.network_name!r} differs from PyTorch by {diff:.3g} (> {FLOAT_TOLERANCE:g}); "
            "nothing was written: run the model with PyTorch instead and report this as a bug"
        )
    return data, OnnxExport(Path(), net.network_name, inputs, outputs, diff, tuple(check[0].shape))


def _max_diff(net: Any, data: bytes, inputs: Sequence[str], check: tuple[torch.Tensor, ...]) -> float:
    import onnxruntime as ort
    import torch

    from veil.threads import session_options, torch_threads

    # a few small tensors: one thread (PyTorch's pool spin-waits on a busy CPU: 0.2 s became 1.6 s)
    with torch_threads(1), torch.no_grad():
        kw = {"lam": check[1]} if net.conditioned else {}
        extra = check[-1] if net.extra_channels else None
        ref = net(check[0], extra, **kw).numpy()
    sess = ort.InferenceSession(data, session_options(1), providers=["CPUExecutionProvider"])
    got = sess.run(["protected"], {k: v.numpy() for k, v in zip(inputs, check, strict=True)})[0]
    return float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")


def read_onnx_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The Veil config stored in an exported file's metadata (without building a session).

    Raises:
        ModelError: the file is missing, not ONNX, or not written by :func:`export_onnx`.
    """
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"no ONNX model at {p}: export one with `veil export --anonymizer MODEL --onnx {p.name}`")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelError(f"{p} is not a readable ONNX file ({type(e).__name__}); export the model again") from None
    return _parse_meta({m.key: m.value for m in proto.metadata_props}, p)


def _parse_meta(meta: dict[str, str], path: Path) -> dict[str, Any]:
    if meta.get("veil.format") != FORMAT:
        raise ModelError(
            f"{path} has no Veil metadata (veil.format {meta.get('veil.format')!r}, expected {FORMAT!r}): it was "
            "not written by `veil export`, or by another version; export the model folder again"
        )
    try:
        cfg = json.loads(meta["veil.config"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: the veil.config metadata is missing or not JSON ({e}); export again") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("network"), str):
        raise ModelError(f"{path}: the veil.config metadata lacks the network name; export again")
    return cfg


# ----------------------------------------------------------------------------- inference


class OnnxAnonymizer(UprightDial, Anonymizer):
    """An exported anonymizer run by onnxruntime (CPU): no PyTorch needed.

    Behaves like the :class:`~veil.anonymizers.learned.LearnedAnonymizer` it was exported
    from (outputs within :data:`UINT8_TOLERANCE` grey level), including the privacy dial,
    temporal smoothing of videos and the ``guide`` of detector-guided networks (the named
    guide saved with the model is built automatically; else set ``guide`` by hand).

    Args:
        path: the ``.onnx`` file written by :func:`export_onnx`.
        privacy: the privacy dial in [0, 1] for conditioned networks; the exported default
            when None.
        temporal_smoothing: EMA weight in [0, 1) for :meth:`iter_video`; the exported
            default when None.
        threads: onnxruntime intra-op threads (None: onnxruntime's default, one per core).
        batch_size: images of one size run together by :meth:`apply_batch` and videos.
        upright: the guide searches faces and reads text upright only
            (:class:`~veil.anonymizers.learned.UprightDial`).

    Raises:
        ModelError: the file is missing, not ONNX, or has no Veil metadata.
        ConfigError: a dial outside its range.
    """

    name: ClassVar[str] = "onnx"

    def __init__(
        self,
        path: str | os.PathLike[str],
        privacy: float | None = None,
        temporal_smoothing: float | None = None,
        threads: int | None = None,
        batch_size: int = 1,
        upright: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        p = Path(self.path)
        if not p.is_file():
            raise ModelError(
                f"no ONNX model at {p}: export one with `veil export --anonymizer MODEL --onnx {p.name}`"
            )
        self._setup(self.path, privacy, temporal_smoothing, threads, batch_size)
        self.upright = upright

    @classmethod
    def from_learned(
        cls, anon: LearnedAnonymizer, threads: int | None = None, batch_size: int = 1
    ) -> OnnxAnonymizer:
        """Run a PyTorch model with onnxruntime, exported in memory (checked like :func:`export_onnx`).

        The result has the model's dials and guide, and its ``spec`` (the model folder).

        Raises:
            ModelError: the network cannot be exported.
        """
        from veil.anonymizers.onnx_cache import remember

        data, _ = export_onnx_bytes(anon)
        remember(anon, data)  # the next run of this saved model needs neither the export nor PyTorch
        return cls.from_graph(data, anon.spec, anon.privacy, anon.temporal_smoothing,
                              bool(getattr(anon, "upright", False)), threads, batch_size, anon.guide)

    @classmethod
    def from_graph(
        cls, data: bytes, spec: str, privacy: float, temporal_smoothing: float, upright: bool = False,
        threads: int | None = None, batch_size: int = 1, guide: Any = None,
    ) -> OnnxAnonymizer:
        """An exported graph (bytes) run under ``spec``, the model it stands for (a folder and
        its dials): the dials given are its defaults, so ``spec`` is its spec as it is.

        Raises:
            ModelError: the bytes are not a Veil ONNX model.
        """
        self = cls.__new__(cls)
        self.path = spec
        self._setup(data, privacy, temporal_smoothing, threads, batch_size)
        if guide is not None:
            self.guide = guide
        self.upright = bool(upright)
        # the path is the model's spec, which already names its dials
        self._saved = {"privacy": self.privacy, "temporal_smoothing": self.temporal_smoothing, "upright": self.upright}
        return self

    def _setup(
        self, source: str | bytes, privacy: float | None, temporal_smoothing: float | None, threads: int | None,
        batch_size: int,
    ) -> None:
        import onnxruntime as ort

        from veil.anonymizers.learned import _check_unit
        from veil.threads import session_options

        p = Path(self.path)
        try:
            self._session = ort.InferenceSession(source, session_options(threads), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own InvalidProtobuf / Fail types
            raise ModelError(f"{p} is not a readable ONNX model ({type(e).__name__}); export the model again") from None
        self.config = _parse_meta(self._session.get_modelmeta().custom_metadata_map, p)
        self.network = self.config["network"]
        self._saved = saved_dials(self.config)
        self.privacy = _check_unit("privacy", self._saved["privacy"] if privacy is None else privacy)
        self.temporal_smoothing = _check_unit(
            "temporal_smoothing",
            self._saved["temporal_smoothing"] if temporal_smoothing is None else temporal_smoothing,
            upper_open=True,
        )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"onnx: batch_size must be an integer >= 1, got {batch_size!r}")
        self.threads, self.batch_size = threads, batch_size
        self.inputs = tuple(i.name for i in self._session.get_inputs())
        self.outputs = tuple(o.name for o in self._session.get_outputs())
        self.extra_channels = int(self.config.get("kwargs", {}).get("extra_channels", 0))
        self.guide: Any = None
        if self.config.get("guide"):  # a named detector guide saved with the model
            from veil.anonymizers.guides import create_guide

            self.guide = create_guide(self.config["guide"])
        self.meta: dict[str, Any] = self.config.get("meta") or {}

    @property
    def conditioned(self) -> bool:
        """True when the model takes the privacy dial."""
        return "privacy" in self.inputs

    # ------------------------------------------------------------------ running

    def run_float(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Run a uint8 batch (N, H, W, 3): float32 outputs (N, H, W, 3) in [0, 255] and masks (N, H, W) or None."""
        n = images.shape[0]
        feeds: dict[str, np.ndarray] = {
            "image": np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) * np.float32(1 / 255)
        }
        if self.conditioned:
            feeds["privacy"] = np.full((n,), self.privacy, np.float32)
        if "extra" in self.inputs:
            feeds["extra"] = np.stack([self._guide_maps(im) for im in images])
        res = self._session.run(None, feeds)
        out = res[0].transpose(0, 2, 3, 1) * np.float32(255.0)
        mask = res[self.outputs.index("mask")][:, 0] if "mask" in self.outputs else None
        return out, mask

    def _guide_maps(self, image: np.ndarray) -> np.ndarray:
        from veil.anonymizers.guides import Guide, planar_maps

        if self.guide is None:
            raise ConfigError(
                f"this model takes {self.extra_channels} extra input maps (detector-guided): set "
                "anonymizer.guide to a function image -> (H, W, C) maps in [0, 1] before applying it"
            )
        if isinstance(self.guide, Guide):  # a named guide: its maps channel-first, drawn with less work
            planes = planar_maps(self.guide, image)
            if planes.shape != (self.extra_channels, *image.shape[:2]):
                raise ConfigError(f"the guide gives {planes.shape[0]} maps; this model needs {self.extra_channels}")
            return planes
        maps = np.asarray(self.guide(image), dtype=np.float32)
        maps = maps[:, :, None] if maps.ndim == 2 else maps
        want = (*image.shape[:2], self.extra_channels)
        if maps.shape != want:
            raise ConfigError(f"the guide returned maps of shape {maps.shape}; this model needs {want}")
        return np.ascontiguousarray(maps.transpose(2, 0, 1))

    @staticmethod
    def _to_uint8(out: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Anonymize one RGB uint8 image."""
        return self._to_uint8(self.run_float(image[None])[0][0])

    def apply_with_mask(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The anonymized image and, for ``masked`` networks, the mask (H, W) float32 in [0, 1] (else None)."""
        out, mask = self.run_float(check_image(image)[None])
        return self._to_uint8(out[0]), (mask[0] if mask is not None else None)

    def apply_batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Anonymize a batch; images of one size run together, ``batch_size`` at a time."""
        for im in images:
            check_image(im)
        out: list[np.ndarray | None] = [None] * len(images)
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i, im in enumerate(images):
            by_size.setdefault(im.shape, []).append(i)
        for idx in by_size.values():
            for s in range(0, len(idx), self.batch_size):
                chunk = idx[s : s + self.batch_size]
                res = self._to_uint8(self.run_float(np.stack([images[i] for i in chunk]))[0])
                for i, r in zip(chunk, res, strict=True):
                    out[i] = r
        return out  # type: ignore[return-value]

    def run_maps(self, images: np.ndarray, maps: np.ndarray, planar: bool = False) -> np.ndarray:
        """The network on a batch with given guide maps: uint8 (B, H, W, 3) and float32
        (B, H, W, C), or (B, C, H, W) with ``planar`` -> float32 (B, H, W, 3) in [0, 255]."""
        n = images.shape[0]
        feeds: dict[str, np.ndarray] = {
            "image": np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) * np.float32(1 / 255),
            "extra": np.ascontiguousarray(maps if planar else maps.transpose(0, 3, 1, 2), dtype=np.float32),
        }
        if self.conditioned:
            feeds["privacy"] = np.full((n,), self.privacy, np.float32)
        return self._session.run(None, feeds)[0].transpose(0, 2, 3, 1) * np.float32(255.0)

    def iter_video(
        self, frames: Iterable[np.ndarray], schedule: Any = None, stats: dict[str, float] | None = None
    ) -> Iterator[np.ndarray]:
        """Anonymize frames in order, ``batch_size`` at a time, with the same EMA smoothing as
        :meth:`LearnedAnonymizer.iter_video` (``y_t = (1 - a) A(x_t) + a y_{t-1}``). A guided
        model with a ``schedule`` runs its detectors on it (:mod:`veil.anonymizers.schedule`).

        Raises:
            MediaError: a frame that is not RGB uint8, or whose size differs from the first.
        """
        from veil.anonymizers.guides import Guide, splits_detection

        if (schedule is not None and "extra" in self.inputs and isinstance(self.guide, Guide)
                and splits_detection(self.guide)):
            from veil.anonymizers.schedule import guided_video

            yield from guided_video(frames, self.guide, functools.partial(self.run_maps, planar=True), schedule,
                                    self.temporal_smoothing, identity_without_regions=self.network == "guided-policy",
                                    stats=stats, planar=True)
            return
        a = self.temporal_smoothing
        prev: np.ndarray | None = None
        first: tuple[int, ...] | None = None
        buf: list[np.ndarray] = []

        def flush() -> Iterator[np.ndarray]:
            nonlocal prev
            outs = self.run_float(np.stack(buf))[0]
            buf.clear()
            for out in outs:
                if a > 0 and prev is not None:
                    out = (1.0 - a) * out + a * prev
                prev = out
                yield self._to_uint8(out)

        for i, frame in enumerate(frames):
            check_image(frame)
            if first is not None and frame.shape != first:
                raise MediaError(f"frame {i} has size {frame.shape[:2]}, the first frame {first[:2]}")
            first = frame.shape
            buf.append(frame)
            if len(buf) >= self.batch_size:
                yield from flush()
        if buf:
            yield from flush()

    def apply_video(self, frames: Iterable[np.ndarray]) -> list[np.ndarray]:
        """All frames of :meth:`iter_video` as a list."""
        return list(self.iter_video(frames))

    # ------------------------------------------------------------------ description

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"path": self.path}
        if self.conditioned:
            p["privacy"] = self.privacy
        if self.temporal_smoothing:
            p["temporal_smoothing"] = self.temporal_smoothing
        if self.upright:
            p["upright"] = True
        return p

    @property
    def spec(self) -> str:
        """The file's path, plus the dials that differ from the exported defaults."""
        return self.path + dial_suffix({k: getattr(self, k) for k in LOAD_OVERRIDES}, self._saved, self.conditioned)
