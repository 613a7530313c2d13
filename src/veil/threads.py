"""A process-wide cap on the threads of the native libraries Veil drives.

OpenCV, PyTorch and onnxruntime each start one thread per core by default, and
onnxruntime's threads spin while they wait. That is right for one process alone; where
several processes share the cores (evaluation workers, Ray tasks), every process then runs
as many threads as there are cores and they wait on each other. :func:`limit_threads` caps
them all in the calling process (a worker), :func:`capped_threads` for a ``with`` block.
Code that builds a session later (RapidOCR's engines, the reference black box's OpenCV
detectors) asks :func:`rapidocr_threads` and :func:`opencv_threads` for what the cap allows.

Example:
    >>> from veil.threads import capped_threads, rapidocr_threads
    >>> with capped_threads(1):  # beside other worker processes on the machine
    ...     rapidocr_threads()
    {'intra_op_num_threads': 1, 'inter_op_num_threads': 1}
    >>> rapidocr_threads()
    {}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["capped_threads", "limit_threads", "opencv_threads", "rapidocr_threads", "session_options",
           "thread_limit", "torch_threads"]

_LIMIT: int | None = None


def limit_threads(n: int) -> None:
    """Cap OpenCV and PyTorch at ``n`` threads now, and the sessions built later."""
    global _LIMIT
    if int(n) < 1:
        raise ValueError(f"thread limit must be >= 1, got {n!r}")
    _LIMIT = int(n)
    try:
        import cv2

        cv2.setNumThreads(_LIMIT)
    except ImportError:  # pragma: no cover - a broken environment
        pass
    try:
        import torch

        torch.set_num_threads(_LIMIT)
    except ImportError:  # pragma: no cover
        pass


@contextlib.contextmanager
def capped_threads(n: int) -> Iterator[None]:
    """:func:`limit_threads` for the duration of a ``with`` block, then the settings before it
    (a library call that shares the cores with worker processes, in a caller's process)."""
    global _LIMIT
    import cv2
    import torch

    before = (_LIMIT, cv2.getNumThreads(), torch.get_num_threads())
    limit_threads(n)
    try:
        yield
    finally:
        _LIMIT = before[0]
        cv2.setNumThreads(before[1])
        torch.set_num_threads(before[2])


def thread_limit() -> int | None:
    """The cap set by :func:`limit_threads` in this process (None: the libraries' defaults)."""
    return _LIMIT


def rapidocr_threads() -> dict[str, int]:
    """Keyword arguments for ``RapidOCR(...)`` that keep its onnxruntime sessions within the
    cap (none without one: RapidOCR's defaults)."""
    if _LIMIT is None:
        return {}
    return {"intra_op_num_threads": _LIMIT, "inter_op_num_threads": 1}


def opencv_threads(wanted: int) -> int:
    """``wanted`` OpenCV threads, within the cap."""
    return wanted if _LIMIT is None else min(int(wanted), _LIMIT)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """PyTorch on ``n`` threads for the duration of a ``with`` block (None: unchanged)."""
    if n is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def session_options(threads: int | None) -> Any:
    """onnxruntime ``SessionOptions`` for a CPU session on ``threads`` intra-op threads (None:
    onnxruntime's default), whose idle threads sleep instead of spinning: on a busy or
    shared CPU (video decoding and encoding, detectors beside the network, other
    processes) spinning costs more than it saves."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
