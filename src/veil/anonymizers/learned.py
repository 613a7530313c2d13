"""The learned anonymizer: a network of :mod:`veil.anonymizers.networks` behind the Anonymizer interface.

``LearnedAnonymizer`` wraps a network for inference on uint8 images (``apply``), for
training on float tensors (``apply_tensor``, differentiable), and for video with optional
temporal smoothing (``apply_video``). A trained model is a folder with two files::

    model/
      model.safetensors   the weights (safetensors: no pickle, safe to load from anywhere)
      config.json         {"format": "veil.anonymizer/1", "network": ..., "kwargs": {...}, ...}

written atomically by :meth:`LearnedAnonymizer.save` and read back by
:meth:`LearnedAnonymizer.load`, by :func:`load_anonymizer`, or by ``create_anonymizer``
given the folder's path (``create_anonymizer("runs/train/model")``; append
``:privacy=0.8`` to turn the dial of a ``film-unet`` model). The ``spec`` of a loaded model
is its path, so evaluation results name the model they measured.

torch is imported on first use, so importing :mod:`veil.anonymizers` stays light.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from veil.anonymizers.base import ANONYMIZERS, Anonymizer, check_image, create_anonymizer
from veil.errors import ConfigError, MediaError, ModelError
from veil.registry import parse_spec

if TYPE_CHECKING:
    import torch

    from veil.anonymizers.networks import AnonymizerNetwork
    from veil.anonymizers.schedule import DetectionSchedule

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "WEIGHTS_FILE",
    "LearnedAnonymizer",
    "is_model_path",
    "load_anonymizer",
]

#: Format tag of ``config.json``; bumped when the layout changes incompatibly.
FORMAT = "veil.anonymizer/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: Keywords a saved model accepts when loaded (the rest is fixed by its config.json).
LOAD_OVERRIDES = ("privacy", "temporal_smoothing", "upright")

#: A guide maps an RGB uint8 image (H, W, 3) to extra input maps (H, W, C) in [0, 1].
Guide = Callable[[np.ndarray], np.ndarray]


def _check_unit(key: str, value: Any, upper_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))
    if not ok or not (float(value) >= 0.0 and (float(value) < 1.0 if upper_open else float(value) <= 1.0)):
        rng = "[0, 1)" if upper_open else "[0, 1]"
        raise ConfigError(f"learned: {key} must be a number in {rng}, got {value!r}")
    return float(value)


def _dial_text(value: Any) -> str:
    """A dial's value as a spec writes it (``true``/``false``, numbers in short form)."""
    return str(value).lower() if isinstance(value, bool) else f"{value:g}"


def dial_suffix(now: dict[str, Any], saved: dict[str, Any], conditioned: bool) -> str:
    """``":key=value,..."`` for the :data:`LOAD_OVERRIDES` a model runs with (``now``) that differ
    from its saved ones (the privacy dial only for a conditioned network); "" when none. What
    a model's spec appends to its path, whichever runtime runs it."""
    changed = [k for k in LOAD_OVERRIDES if now[k] != saved.get(k) and (k != "privacy" or conditioned)]
    return ":" + ",".join(f"{k}={_dial_text(now[k])}" for k in changed) if changed else ""


class UprightDial:
    """The ``upright`` run-time dial of a detector-guided model (not saved with it).

    ``upright=True`` makes the guide search faces and read text upright only
    (:func:`~veil.anonymizers.guides.set_upright`): for pictures that are never turned
    (screenshots, a fixed camera) it saves the turned face passes, about 220 ms of a new
    1024x768 image. Faces turned a quarter or half turn and upside-down or mirrored text are
    then missed, so the default is ``False``. No effect on a model without a guide.
    """

    guide: Any

    @property
    def upright(self) -> bool:
        return bool(getattr(self, "_upright", False))

    @upright.setter
    def upright(self, value: bool) -> None:
        from veil.anonymizers.guides import set_upright

        if not isinstance(value, bool):
            raise ConfigError(f"upright must be true or false, got {value!r}")
        self._upright = value
        set_upright(getattr(self, "guide", None), value)


@ANONYMIZERS.register("learned")
class LearnedAnonymizer(UprightDial, Anonymizer):
    """A trained (or freshly initialized) anonymizer network on uint8 RGB images.

    Built fresh from a network name (``create_anonymizer("learned:network=unet,width=8")``;
    it starts as the identity), wrapped around a trained network
    (:meth:`from_network`), or loaded from a saved folder (:meth:`load`).

    Args:
        network: registered network name (``unet``, ``johnson``, ``film-unet``, ``masked``).
        privacy: the privacy weight λ in [0, 1] fed to conditioned networks (``film-unet``):
            the run-time dial; ignored by the others.
        temporal_smoothing: EMA weight in [0, 1) of the previous output frame in
            :meth:`apply_video` (0: every frame on its own). Single images never smooth.
        seed: seed of the network's initial weights.
        **network_kwargs: keywords of the network (``width``, ``depth``, ``extra_channels``...).

    Attributes:
        net: the torch module (eval mode; float32 on the CPU unless moved).
        guide: for networks with ``extra_channels > 0``, a callable mapping an RGB uint8
            image (H, W, 3) to float maps (H, W, extra_channels) in [0, 1] (detector
            probabilities); required by :meth:`apply`.
        meta: training metadata saved in ``config.json`` (read back by :meth:`load`).

    Example:
        >>> a = LearnedAnonymizer("unet", width=8)
        >>> a(np.zeros((5, 7, 3), np.uint8)).shape
        (5, 7, 3)
    """

    name: ClassVar[str] = "learned"

    def __init__(
        self,
        network: str = "unet",
        privacy: float = 0.5,
        temporal_smoothing: float = 0.0,
        seed: int = 0,
        guide: str | None = None,
        **network_kwargs: Any,
    ) -> None:
        import torch

        from veil.anonymizers.networks import create_network

        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ConfigError(f"learned: seed must be an integer, got {seed!r}")
        self.privacy = _check_unit("privacy", privacy)
        self.temporal_smoothing = _check_unit("temporal_smoothing", temporal_smoothing, upper_open=True)
        self.seed = int(seed)
        self.network = network
        self.network_kwargs = dict(network_kwargs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = create_network(network, **network_kwargs).eval()
        self.guide: Guide | None = None
        self.guide_spec: str | None = None
        if guide is not None:
            self.set_guide(guide)
        self.meta: dict[str, Any] = {}
        self._path: str | None = None
        self._saved: dict[str, float] = {}

    def set_guide(self, spec: str | None) -> None:
        """Use the named detector guide (:mod:`veil.anonymizers.guides`, e.g. ``faces+text``).

        Raises:
            ConfigError: an unknown guide, or one whose map count differs from the network's
                ``extra_channels``.
        """
        if spec is None:
            self.guide, self.guide_spec = None, None
            return
        from veil.anonymizers.guides import create_guide

        g = create_guide(spec)
        if g.channels != self.net.extra_channels:
            raise ConfigError(
                f"guide {spec!r} gives {g.channels} maps but network {self.network!r} takes "
                f"extra_channels={self.net.extra_channels}"
            )
        self.guide, self.guide_spec = g, g.spec
        self.upright = self.upright  # the dial applies to the new guide too

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_network(
        cls,
        net: AnonymizerNetwork,
        privacy: float = 0.5,
        temporal_smoothing: float = 0.0,
        meta: dict[str, Any] | None = None,
        guide: str | None = None,
    ) -> Self:
        """Wrap an existing network (e.g. the one a trainer just trained); shares its weights."""
        from veil.anonymizers.networks import AnonymizerNetwork

        if not isinstance(net, AnonymizerNetwork) or not net.network_name:
            raise ConfigError(
                f"from_network needs a registered network (built by create_network), got {type(net).__name__}"
            )
        self = cls.__new__(cls)
        self.privacy = _check_unit("privacy", privacy)
        self.temporal_smoothing = _check_unit("temporal_smoothing", temporal_smoothing, upper_open=True)
        self.seed = 0
        self.network = net.network_name
        self.network_kwargs = dict(net.hparams)
        self.net = net
        self.guide, self.guide_spec = None, None
        self.set_guide(guide)
        self.meta = dict(meta or {})
        self._path = None
        self._saved = {}
        return self

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        privacy: float | None = None,
        temporal_smoothing: float | None = None,
        map_location: str = "cpu",
        upright: bool | None = None,
    ) -> Self:
        """Load a model saved by :meth:`save`: the folder, or its ``model.safetensors`` or ``config.json``.

        Args:
            path: the model folder or a file inside it.
            privacy, temporal_smoothing: override the saved values (the dial of a
                ``film-unet`` model); the saved ones when None.
            map_location: torch device for the weights.
            upright: search faces and read text upright only (:class:`UprightDial`); a
                run-time dial, False when None.

        Raises:
            ModelError: the folder or a file is missing, ``config.json`` is not valid JSON
                or has another format tag, the weights are unreadable or do not fit the
                network the config describes. The message names the path and the fix.
        """
        from safetensors.torch import load as load_tensors

        from veil.anonymizers.networks import create_network

        folder, weights, cfg, weight_bytes = read_model_files(path)
        cfg_path = folder / CONFIG_FILE
        try:
            net = create_network(cfg["network"], **cfg["kwargs"])
        except ConfigError as e:
            raise ModelError(
                f"{cfg_path}: cannot build network {cfg['network']!r} ({e}); the model was saved by another "
                "veil version (see veil_version in the file) or the file was edited: use that version or re-save"
            ) from None
        try:
            tensors = load_tensors(weight_bytes)
        except Exception as e:  # safetensors raises its own error types, OSError, or ValueError
            raise ModelError(
                f"{weights} is not a readable safetensors file ({type(e).__name__}: {e}); it is corrupt or "
                "truncated: save the model again or restore the file"
            ) from None
        _load_weights(net, tensors, weights, cfg_path)
        net = net.to(map_location).eval()
        saved = saved_dials(cfg)
        self = cls.from_network(
            net,
            privacy=saved["privacy"] if privacy is None else privacy,
            temporal_smoothing=saved["temporal_smoothing"] if temporal_smoothing is None else temporal_smoothing,
            meta=cfg.get("meta") or {},
            guide=cfg.get("guide"),
        )
        if upright is not None:
            self.upright = upright
        self._path = str(folder)
        self._saved = saved
        return self

    # ------------------------------------------------------------------ save

    def save(self, folder: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``folder``, atomically.

        Both files are written into a temporary folder beside ``folder``, which is then
        renamed into place (an existing model folder is replaced), so readers never see
        a half-written model and nothing but the two files remains.

        Args:
            folder: the model folder; created, or replaced if it holds only a saved model.
            meta: JSON-serializable training metadata (steps, queries, data, metrics...),
                merged over ``self.meta`` and stored under ``"meta"``.

        Returns:
            The folder's path; ``spec`` is that path from now on.

        Raises:
            ConfigError: ``meta`` is not JSON-serializable, or ``folder`` exists and holds
                other files (choose a new or empty folder).
        """
        from safetensors.torch import save_file

        from veil import __version__
        from veil.anonymizers.networks import num_parameters

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"cannot save a model to {folder}: it is a file; choose a folder path")
        if folder.is_dir():
            others = sorted(set(os.listdir(folder)) - {WEIGHTS_FILE, CONFIG_FILE})
            if others:
                raise ConfigError(
                    f"cannot save a model to {folder}: it holds other files ({', '.join(others[:5])}); "
                    "choose a new or empty folder"
                )
        merged = {**self.meta, **(meta or {})}
        config = {
            "format": FORMAT,
            "network": self.net.network_name,
            "kwargs": dict(self.net.hparams),
            "veil_version": __version__,
            "privacy": self.privacy,
            "temporal_smoothing": self.temporal_smoothing,
            "guide": self.guide_spec,
            "num_parameters": num_parameters(self.net),
            "meta": merged,
        }
        try:
            text = json.dumps(config, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"model metadata must be JSON-serializable (finite numbers, str, lists, dicts): {e}"
            ) from None
        tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in self.net.state_dict().items()}
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        try:
            os.chmod(tmp, 0o755)
            save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT, "network": config["network"]})
            (tmp / CONFIG_FILE).write_text(text, encoding="utf-8")
            for name in (WEIGHTS_FILE, CONFIG_FILE):
                with open(tmp / name, "rb") as fh:
                    os.fsync(fh.fileno())
            if folder.is_dir():
                old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(folder, old)
                os.replace(tmp, folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.meta = merged
        self._path = str(folder)  # from now on the spec names the saved model
        self._saved = saved_dials({"privacy": self.privacy, "temporal_smoothing": self.temporal_smoothing})
        return folder

    # ------------------------------------------------------------------ inference

    @property
    def conditioned(self) -> bool:
        """True when the network takes the privacy dial."""
        return bool(self.net.conditioned)

    def apply_tensor(
        self,
        x: torch.Tensor,
        extra: torch.Tensor | None = None,
        lam: float | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Differentiable anonymization for training: (B, 3, H, W) in [0, 1] -> same.

        Args:
            x: image batch on the network's device.
            extra: (B, extra_channels, H, W) maps for detector-guided networks.
            lam: privacy weight(s) for conditioned networks; ``self.privacy`` when None.
        """
        return self.net(x, extra, lam=self.privacy if lam is None else lam)

    def _to_tensor(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        import torch

        device = next(self.net.parameters()).device
        x = torch.from_numpy(np.array(image, copy=True)).to(device).permute(2, 0, 1)[None].float() / 255.0
        extra = None
        if self.net.extra_channels:
            if self.guide is None:
                raise ConfigError(
                    f"this model takes {self.net.extra_channels} extra input maps (detector-guided): set "
                    "anonymizer.guide to a function image -> (H, W, C) maps in [0, 1] before applying it"
                )
            from veil.anonymizers.guides import Guide, planar_maps

            if isinstance(self.guide, Guide):  # a named guide: its maps channel-first, drawn with less work
                planes = planar_maps(self.guide, image)
                if planes.shape[0] != self.net.extra_channels:
                    raise ConfigError(f"the guide gives {planes.shape[0]} maps; this model needs "
                                      f"{self.net.extra_channels}")
                return x, torch.from_numpy(planes).to(device)[None]
            maps = np.asarray(self.guide(image), dtype=np.float32)
            if maps.ndim == 2:
                maps = maps[:, :, None]
            want = (*image.shape[:2], self.net.extra_channels)
            if maps.shape != want:
                raise ConfigError(f"the guide returned maps of shape {maps.shape}; this model needs {want}")
            extra = torch.from_numpy(np.ascontiguousarray(maps)).to(device).permute(2, 0, 1)[None]
        return x, extra

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Float32 output (H, W, 3) in [0, 255] and the mask (H, W) of masked networks."""
        import torch

        x, extra = self._to_tensor(image)
        with torch.inference_mode():
            y = self.apply_tensor(x, extra)
            out = (y[0].permute(1, 2, 0) * 255.0).float().cpu().numpy()
            mask = getattr(self.net, "last_mask", None)
            mask_np = mask[0, 0].float().cpu().numpy() if mask is not None else None
        return out, mask_np

    @staticmethod
    def _to_uint8(out: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Anonymize one RGB uint8 image (no gradients, float32)."""
        return self._to_uint8(self._run(image)[0])

    def apply_with_mask(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The anonymized image and, for ``masked`` networks, the mask (H, W) float32 in [0, 1] (else None)."""
        out, mask = self._run(check_image(image))
        return self._to_uint8(out), mask

    def run_maps(self, images: np.ndarray, maps: np.ndarray, planar: bool = False) -> np.ndarray:
        """The network on a batch with given guide maps: uint8 (B, H, W, 3) and float32
        (B, H, W, extra_channels), or (B, extra_channels, H, W) with ``planar`` -> float32
        (B, H, W, 3) in [0, 255] (no gradients)."""
        import torch

        device = next(self.net.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
        extra = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32)).to(device)
        if not planar:
            extra = extra.permute(0, 3, 1, 2)
        with torch.inference_mode():
            y = self.apply_tensor(x, extra)
            return (y.permute(0, 2, 3, 1) * 255.0).float().cpu().numpy()

    def iter_video(
        self,
        frames: Iterable[np.ndarray],
        schedule: DetectionSchedule | None = None,
        stats: dict[str, float] | None = None,
    ) -> Iterator[np.ndarray]:
        """Anonymize frames in order; with ``temporal_smoothing = a > 0`` the output is an EMA.

        ``y_t = (1 - a) A(x_t) + a y_{t-1}`` on the float outputs (``y_0 = A(x_0)``), which
        damps frame-to-frame flicker of the protection. State lives only within one call.

        Args:
            frames: consecutive frames of one video.
            schedule: for a detector-guided model, run the guide's detectors on this schedule
                (held over and applied back between runs, frames batched through the network;
                see :mod:`veil.anonymizers.schedule`); None: the guide runs on every frame.
            stats: filled with the detector runs and per-stage seconds (guided models).

        Raises:
            MediaError: a frame that is not RGB uint8, or whose size differs from the first.
        """
        from veil.anonymizers.guides import Guide as GuideBase
        from veil.anonymizers.guides import splits_detection

        splits = (bool(self.net.extra_channels) and isinstance(self.guide, GuideBase)
                  and splits_detection(self.guide))
        if schedule is not None and splits:
            from veil.anonymizers.schedule import guided_video

            yield from guided_video(frames, self.guide, functools.partial(self.run_maps, planar=True), schedule,
                                    self.temporal_smoothing, identity_without_regions=self.network == "guided-policy",
                                    stats=stats, planar=True)
            return
        timed = stats is not None and splits  # the guide on every frame, each stage timed (same output)
        a = self.temporal_smoothing
        prev: np.ndarray | None = None
        for i, frame in enumerate(frames):
            check_image(frame)
            if prev is not None and frame.shape[:2] != prev.shape[:2]:
                raise MediaError(f"frame {i} has size {frame.shape[:2]}, the first frame {prev.shape[:2]}")
            if timed:
                import time

                from veil.anonymizers.schedule import timed_maps

                assert stats is not None
                maps = timed_maps(self.guide, frame, stats)  # type: ignore[arg-type]
                t0 = time.perf_counter()
                out = self.run_maps(frame[None], maps[None])[0]
                stats["network_s"] = stats.get("network_s", 0.0) + time.perf_counter() - t0
                stats["network_frames"] = stats.get("network_frames", 0) + 1
            else:
                out = self._run(frame)[0]
            if a > 0 and prev is not None:
                out = (1.0 - a) * out + a * prev
            prev = out
            yield self._to_uint8(out)

    def apply_video(self, frames: Iterable[np.ndarray]) -> list[np.ndarray]:
        """All frames of :meth:`iter_video` as a list."""
        return list(self.iter_video(frames))

    # ------------------------------------------------------------------ description

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"network": self.network, **self.network_kwargs}
        if self.guide_spec:
            p["guide"] = self.guide_spec
        if self.conditioned:
            p["privacy"] = self.privacy
        if self.temporal_smoothing:
            p["temporal_smoothing"] = self.temporal_smoothing
        if self.seed:
            p["seed"] = self.seed
        if self.upright:
            p["upright"] = True
        return p

    @property
    def spec(self) -> str:
        """The model folder's path for a loaded model (plus changed dials); else a ``learned:`` spec."""
        if self._path is None:
            return super().spec
        return self._path + dial_suffix({k: getattr(self, k) for k in LOAD_OVERRIDES}, self._saved, self.conditioned)


def model_files(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The folder and weights file of a saved model given as its folder, ``model.safetensors``
    or ``config.json`` (the folder is named as given: it is the model's spec).

    Raises:
        ModelError: nothing there, or another file.
    """
    given = Path(path).expanduser()
    if given.is_dir():
        return given, given / WEIGHTS_FILE
    if given.is_file() and (given.suffix == ".safetensors" or given.name == CONFIG_FILE):
        return given.parent, given if given.suffix == ".safetensors" else given.parent / WEIGHTS_FILE
    if given.is_file():
        raise ModelError(
            f"{given} is not a saved model: pass the model folder (with {CONFIG_FILE} and {WEIGHTS_FILE}) "
            f"or the {WEIGHTS_FILE} inside it"
        )
    raise ModelError(
        f"no saved model at {given}: expected a folder with {CONFIG_FILE} and {WEIGHTS_FILE} written by "
        "LearnedAnonymizer.save(folder) (e.g. by training); check the path"
    )


def _read_weights(folder: Path, weights: Path) -> bytes:
    if not weights.is_file():
        raise ModelError(
            f"{folder} has {CONFIG_FILE} but no weights file {weights.name}; the save was interrupted or the "
            "file was removed: save the model again (LearnedAnonymizer.save) or restore the file"
        )
    try:
        return weights.read_bytes()
    except OSError as e:
        raise ModelError(f"{weights} cannot be read ({e}); check its permissions or restore it") from None


def read_model_files(path: str | os.PathLike[str]) -> tuple[Path, Path, dict[str, Any], bytes]:
    """A saved model's folder, weights file, parsed ``config.json`` and weights bytes, without PyTorch.

    Raises:
        ModelError: the folder or a file is missing or unreadable (see :meth:`LearnedAnonymizer.load`).
    """
    folder, weights = model_files(path)
    cfg = _read_config(folder / CONFIG_FILE)
    return folder, weights, cfg, _read_weights(folder, weights)


def read_model_config(spec: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``config.json`` of the saved model a spec names (``folder``, ``folder:dial=v``,
    its ``model.safetensors`` or ``config.json``; an exported ``.onnx`` file: the config in its
    metadata), without reading the weights, PyTorch or onnxruntime.

    Raises:
        ModelError: no saved model there (see :func:`model_files`), or an unreadable config.
    """
    path = spec if isinstance(spec, os.PathLike) else _split_path_spec(str(spec))[0]
    if str(path).lower().endswith(".onnx"):
        from veil.anonymizers.onnx import read_onnx_config

        return read_onnx_config(path)
    folder, _ = model_files(path)
    return _read_config(folder / CONFIG_FILE)


def saved_dials(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The dials a model was saved or exported with, from its config (``privacy`` 0.5 and
    ``temporal_smoothing`` 0 when absent; ``upright`` is never saved): what the dials in its
    spec are relative to (:func:`dial_suffix`)."""
    return {"privacy": float(cfg.get("privacy", 0.5)), "temporal_smoothing": float(cfg.get("temporal_smoothing", 0.0)),
            "upright": False}


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(
            f"{path.parent} has no {CONFIG_FILE}: it is not a model folder written by LearnedAnonymizer.save, or "
            "the save was interrupted; pass the folder that holds config.json and model.safetensors"
        )
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path} is not valid JSON ({e}); restore it or save the model again") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        got = cfg.get("format") if isinstance(cfg, dict) else type(cfg).__name__
        raise ModelError(
            f"{path} has format {got!r}, expected {FORMAT!r}: it was not written by LearnedAnonymizer.save or by a "
            "newer veil; use the veil version that wrote it or re-save the model"
        )
    if not isinstance(cfg.get("network"), str) or not isinstance(cfg.get("kwargs"), dict):
        raise ModelError(f"{path} lacks 'network' (a name) or 'kwargs' (an object); re-save the model")
    return cfg


def _load_weights(net: AnonymizerNetwork, tensors: dict[str, torch.Tensor], weights: Path, cfg_path: Path) -> None:
    own = net.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in tensors and
              tensors[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [
            f"{label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("shape (file vs network)", shapes))
            if items
        ]
        raise ModelError(
            f"the weights in {weights} do not fit the network described by {cfg_path} ({'; '.join(parts)}); "
            "the two files come from different models: save them together with LearnedAnonymizer.save"
        )
    net.load_state_dict(tensors, strict=True)


def _split_path_spec(spec: str) -> tuple[str, str]:
    """``"path:key=v"`` -> ``("path", "key=v")``; the whole string when it names an existing path."""
    if Path(spec).exists():
        return spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and "=" in tail and "/" not in tail and os.sep not in tail:
        return head, tail
    return spec, ""


def is_model_path(spec: Any) -> bool:
    """True when ``spec`` names a saved model (an existing path, or a path-like name) rather than a spec.

    Path-like: the part before any ``:key=value`` parameters contains a path separator or
    ends with ``.safetensors``, ``.json`` or ``.onnx``; a bare name is a path only when it is not a
    registered anonymizer and names a folder holding ``config.json``.
    """
    if isinstance(spec, os.PathLike):
        return True
    if not isinstance(spec, str) or not spec.strip():
        return False
    path, _ = _split_path_spec(spec.strip())
    if "/" in path or os.sep in path or path.endswith((".safetensors", ".json", ".onnx")):
        return True
    return path not in ANONYMIZERS and (Path(path) / CONFIG_FILE).is_file()


def load_anonymizer(path_or_spec: str | os.PathLike[str] | Anonymizer, **overrides: Any) -> Anonymizer:
    """A saved model from its path (``"runs/train/model"``, ``"runs/train/model:privacy=0.8"``), else any spec.

    A path ending in ``.onnx`` (written by ``veil export``) loads an
    :class:`~veil.anonymizers.onnx.OnnxAnonymizer` that runs with onnxruntime.

    Raises:
        ModelError: a path that holds no valid saved model.
        ConfigError: a bad spec, or overrides other than privacy / temporal_smoothing / upright for a model.
    """
    if isinstance(path_or_spec, Anonymizer):
        return path_or_spec
    if not is_model_path(path_or_spec):
        return create_anonymizer(str(path_or_spec), **overrides)
    path, params = _split_path_spec(os.fspath(path_or_spec).strip())
    kwargs = parse_spec("model:" + params)[1] if params else {}
    kwargs.update(overrides)
    bad = sorted(set(kwargs) - set(LOAD_OVERRIDES))
    if bad:
        raise ConfigError(
            f"a saved model accepts only {', '.join(LOAD_OVERRIDES)} as parameters, got {bad} for {path}; "
            "the network itself is fixed by its config.json"
        )
    if path.lower().endswith(".onnx"):  # exported by `veil export`: runs with onnxruntime
        from veil.anonymizers.onnx import OnnxAnonymizer

        return OnnxAnonymizer(path, **kwargs)
    return LearnedAnonymizer.load(path, **kwargs)
