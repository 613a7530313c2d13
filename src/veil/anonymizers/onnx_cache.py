"""A cache of the ONNX graphs that saved models export to, so a model folder runs on
onnxruntime without PyTorch.

``veil protect``, ``veil proxy`` and Ray workers run a model folder on onnxruntime
(``--runtime auto``): loading it with PyTorch and exporting its graph in memory costs about
a second before the first image (0.7 s to import PyTorch, 0.3 s to export the default
network), a seventh of a 100-frame clip. The first run stores the checked graph here; the
next runs of the same model find it from the folder's files alone and never import PyTorch.

An entry is filed under the SHA-256 of everything the graph depends on: the weights (each
tensor's name, type, shape and values; not the file's bytes, whose header lists the metadata
in no fixed order), the network, its keywords, the guide and the training metadata of ``config.json``, the
privacy dial and temporal smoothing it runs with, the source of the exporter and the
versions of Veil, PyTorch and ONNX. A model saved again, another dial, an upgrade: another
key, so an entry is never used for anything but the model it was exported from. An entry
that does not load is deleted and the model is exported again; a cache that cannot be
written is skipped. Only saved models are stored (not a network in training), at most
:data:`MAX_ENTRIES` of them, the least recently used dropped first.

The cache lives in ``$VEIL_CACHE_DIR/onnx`` (default ``$XDG_CACHE_HOME/veil``, else
``~/.cache/veil``); ``VEIL_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.errors import ModelError
from veil.fsutil import CACHE_ENV, cache_root

if TYPE_CHECKING:
    import numpy as np

    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.anonymizers.onnx import OnnxAnonymizer

__all__ = ["CACHE_ENV", "MAX_ENTRIES", "cache_dir", "cached_runtime", "export_key", "remember"]

log = logging.getLogger(__name__)

#: Graphs kept; the least recently used go first.
MAX_ENTRIES = 32


def cache_dir() -> Path | None:
    """The folder of cached graphs, or None when the cache is off."""
    root = cache_root()
    return None if root is None else root / "onnx"


@functools.lru_cache(maxsize=1)
def _exporter_fingerprint() -> str:
    """The exporter's source and the versions that shape a graph."""
    from importlib.metadata import PackageNotFoundError, version

    from veil import __version__

    h = hashlib.sha256(__version__.encode())
    here = Path(__file__).resolve().parent
    for name in ("onnx.py", "onnx_policy.py", "networks.py"):
        h.update((here / name).read_bytes())
    for package in ("torch", "onnx"):
        try:
            h.update(f"{package}={version(package)}".encode())
        except PackageNotFoundError:
            h.update(f"{package}=none".encode())
    return h.hexdigest()


def export_key(tensors: Mapping[str, np.ndarray], network: str, kwargs: dict[str, Any], guide: str | None,
               meta: dict[str, Any], privacy: float, temporal_smoothing: float) -> str:
    """The cache key of the graph of a model with these weights (name -> array), config fields
    and dials."""
    fields = {"network": network, "kwargs": kwargs, "guide": guide, "meta": meta,
              "privacy": float(privacy), "temporal_smoothing": float(temporal_smoothing)}
    h = hashlib.sha256()
    for name, array in sorted(tensors.items()):
        h.update(f"{name}/{array.dtype.str}/{array.shape}".encode())
        h.update(array.tobytes())
    h.update(json.dumps(fields, sort_keys=True, default=str).encode())
    h.update(_exporter_fingerprint().encode())
    return h.hexdigest()


def remember(anon: LearnedAnonymizer, data: bytes) -> None:
    """Store ``data``, the checked export of ``anon``, if ``anon`` is a saved model (loaded
    from or saved to a folder); never raises."""
    folder = cache_dir()
    if folder is None or getattr(anon, "_path", None) is None:
        return
    try:
        tensors = {k: v.detach().cpu().numpy() for k, v in anon.net.state_dict().items()}  # as save() writes them
        key = export_key(tensors, anon.net.network_name, dict(anon.net.hparams), anon.guide_spec,
                         dict(anon.meta), anon.privacy, anon.temporal_smoothing)
        from veil.fsutil import atomic_write_bytes

        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_bytes(folder / f"{key}.onnx", data)
        _prune(folder)
    except Exception as e:  # a cache is an optimisation: a read-only home or a full disk only costs time
        log.debug("ONNX cache not written: %s", e)


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)


def cached_runtime(spec: Any, threads: int | None = None, batch_size: int = 1) -> OnnxAnonymizer | None:
    """The onnxruntime anonymizer of the saved model ``spec`` names (``runs/train/model``,
    ``runs/train/model:upright=true``) from the cache, without PyTorch; None when ``spec`` is
    not a model folder, is invalid (the normal load reports why), or has no cached graph.

    Its ``spec`` is the one :meth:`LearnedAnonymizer.load` gives the model, so summaries and
    resumable runs cannot tell the two apart; its outputs are those of the graph the model
    exported (the same bytes).
    """
    from veil.anonymizers.learned import (
        LOAD_OVERRIDES,
        _check_unit,
        _split_path_spec,
        dial_suffix,
        is_model_path,
    )
    from veil.registry import parse_spec

    folder_of_cache = cache_dir()
    if folder_of_cache is None or not isinstance(spec, str) or not is_model_path(spec):
        return None
    path, params = _split_path_spec(spec.strip())
    if path.lower().endswith(".onnx"):
        return None
    try:
        from safetensors.numpy import load

        from veil.anonymizers.learned import read_model_files, saved_dials

        dials = parse_spec("model:" + params)[1] if params else {}
        if set(dials) - set(LOAD_OVERRIDES) or not isinstance(dials.get("upright", False), bool):
            return None
        folder, _, cfg, weights = read_model_files(path)
        saved = saved_dials(cfg)
        now = {"privacy": _check_unit("privacy", dials.get("privacy", saved["privacy"])),
               "temporal_smoothing": _check_unit("temporal_smoothing",
                                                 dials.get("temporal_smoothing", saved["temporal_smoothing"]), True),
               "upright": bool(dials.get("upright", False))}
        key = export_key(load(weights), cfg["network"], cfg["kwargs"], cfg.get("guide"), cfg.get("meta") or {},
                         now["privacy"], now["temporal_smoothing"])
    except Exception:
        return None  # not a model this cache can key: the normal load runs (and reports any problem)
    entry = folder_of_cache / f"{key}.onnx"
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    from veil.anonymizers.onnx import OnnxAnonymizer

    try:
        an = OnnxAnonymizer.from_graph(data, str(entry), now["privacy"], now["temporal_smoothing"], now["upright"],
                                       threads, batch_size)
        if an.network != cfg["network"]:
            raise ModelError(f"cached graph of {an.network!r}, the model is {cfg['network']!r}")
    except Exception as e:  # a damaged entry: drop it, the caller exports again
        log.warning("dropping a damaged ONNX cache entry %s (%s)", entry.name, e)
        entry.unlink(missing_ok=True)
        return None
    an.path = str(folder) + dial_suffix(now, saved, an.conditioned)  # the spec LearnedAnonymizer.load gives it
    with contextlib.suppress(OSError):
        os.utime(entry)  # recently used
    return an
