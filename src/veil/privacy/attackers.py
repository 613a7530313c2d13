"""Learned attribute attackers for the privacy evaluation protocol (METHOD.md §3).

A fresh attacker is trained from scratch on anonymized training images and scored (cMAP,
macro F1) on anonymized test images. ``CNNAttacker`` is a small convolutional network of
a different architecture than the privacy evaluator; ``PriorAttacker`` predicts the
training prevalence of each attribute and gives the constant-prior lower bound.

Both follow scikit-learn conventions: ``__init__`` stores keyword arguments only, ``fit``
validates and trains, learned state ends with ``_``, ``predict_proba`` before ``fit``
raises :class:`NotFittedError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Self

import cv2
import numpy as np
import torch
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from torch import nn

from veil.anonymizers.base import check_image
from veil.errors import ConfigError, VeilError
from veil.privacy.base import ATTACKERS, Attacker
from veil.threads import torch_threads

__all__ = ["CNNAttacker", "NotFittedError", "PriorAttacker"]


class NotFittedError(VeilError, _SklearnNotFittedError):
    """An attacker was asked to predict before ``fit`` (also a ValueError/AttributeError)."""


def _check_fitted(attacker: Attacker, attr: str) -> None:
    if not hasattr(attacker, attr):
        raise NotFittedError(f"this {type(attacker).__name__} is not fitted yet; call fit(images, labels) first")


def _check_data(images: Sequence[np.ndarray], labels: np.ndarray | None = None) -> np.ndarray | None:
    """Validate images (RGB uint8) and labels ((N, A) of 0/1). Returns labels as float32."""
    if len(images) == 0:
        raise ConfigError("no images given; an attacker needs at least one image")
    for im in images:
        check_image(im)
    if labels is None:
        return None
    y = np.asarray(labels)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != len(images):
        raise ConfigError(f"labels must have shape (N, A) with N = {len(images)} images; got {np.shape(labels)}")
    if not np.isin(y, (0, 1)).all():
        raise ConfigError("labels must contain only 0 and 1")
    return y.astype(np.float32)


# ----------------------------------------------------------------------------- prior


@ATTACKERS.register("prior")
class PriorAttacker(Attacker):
    """Predicts each attribute's training prevalence for every image (lower bound)."""

    name = "prior"

    def __init__(self) -> None:
        pass

    def fit(self, images: Sequence[np.ndarray], labels: np.ndarray) -> Self:
        y = _check_data(images, labels)
        assert y is not None
        self.prevalence_ = y.mean(axis=0).astype(np.float64)
        self.n_attributes_ = y.shape[1]
        return self

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        _check_fitted(self, "prevalence_")
        return np.tile(self.prevalence_, (len(images), 1))


# ----------------------------------------------------------------------------- CNN


def _resize(image: np.ndarray, size: int, letterbox: bool) -> np.ndarray:
    """Square ``size`` x ``size`` RGB uint8: plain resize, or fit inside with grey bars."""
    h, w = image.shape[:2]
    if not letterbox:
        interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
        return cv2.resize(image, (size, size), interpolation=interp)
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.full((size, size, 3), 127, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return out


def _to_tensor(images: Sequence[np.ndarray], size: int, letterbox: bool) -> torch.Tensor:
    """(N, 3, size, size) uint8 tensor of the resized images."""
    arr = np.stack([_resize(im, size, letterbox) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 batch -> float in about [-2, 2], channels-last for faster CPU convolutions."""
    x = (x.float() / 255.0 - 0.5) / 0.25
    return x.contiguous(memory_format=torch.channels_last)


def _augment(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and random crop after reflect padding by ``pad`` pixels."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if pad <= 0:
        return x
    xp = nn.functional.pad(x.float(), (pad, pad, pad, pad), mode="reflect")
    offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen)
    return torch.stack([xp[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offs.tolist())])


class SmallCNN(nn.Module):
    """Conv blocks (3x3 conv, BatchNorm, ReLU, 2x2 max-pool), global average pool, linear."""

    def __init__(self, n_outputs: int, widths: Sequence[int] = (16, 32, 64, 96), stem_stride: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            layers += [
                nn.Conv2d(c, w, 3, stride=stem_stride if i == 0 else 1, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalized images -> (N, n_outputs) logits."""
        return self.head(self.features(x).mean(dim=(2, 3)))


@ATTACKERS.register("cnn")
class CNNAttacker(Attacker):
    """A small CNN trained from scratch with BCE on resized images (the learned attacker).

    Deterministic on CPU for a fixed ``random_state`` and ``num_threads``: weights, batch
    order and augmentations come from seeded generators, and the global torch RNG is left
    untouched. Fits 250 images of 128 px for 20 epochs in about 10-12 s on 2 idle CPU
    cores. On a busy machine two threads spin-wait on each other: ``num_threads=1`` was
    3x faster there, and ``stem_stride=2`` is about 5x cheaper at any load.

    Args:
        image_size: side of the square network input.
        epochs: passes over the training set.
        batch_size: images per optimizer step.
        lr: peak AdamW learning rate (one-cycle: 15% warm-up, then cosine decay).
        weight_decay: AdamW weight decay.
        widths: channels of the conv blocks.
        stem_stride: stride of the first convolution; 2 makes fitting about 5x faster at
            the cost of fine detail (for quick runs).
        letterbox: keep the aspect ratio (grey bars) instead of a plain resize.
        augment: random horizontal flips and small random crops during training.
        random_state: seed of weights, batch order and augmentations.
        num_threads: torch CPU threads while fitting and predicting (restored after).
        device: torch device, ``"cpu"`` by default.
        progress: show a tqdm bar over epochs.

    Example:
        >>> att = CNNAttacker(epochs=5).fit(train_images, train_labels)  # doctest: +SKIP
        >>> probs = att.predict_proba(test_images)  # (N, A) in [0, 1]  # doctest: +SKIP
    """

    name = "cnn"

    def __init__(
        self,
        image_size: int = 128,
        epochs: int = 20,
        batch_size: int = 32,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        widths: Sequence[int] = (16, 32, 64, 96),
        stem_stride: int = 1,
        letterbox: bool = False,
        augment: bool = True,
        random_state: int = 0,
        num_threads: int = 2,
        device: str = "cpu",
        progress: bool = False,
    ) -> None:
        self.image_size = image_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.widths = widths
        self.stem_stride = stem_stride
        self.letterbox = letterbox
        self.augment = augment
        self.random_state = random_state
        self.num_threads = num_threads
        self.device = device
        self.progress = progress

    def _check_params(self) -> None:
        for key in ("image_size", "epochs", "batch_size", "num_threads", "stem_stride"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"CNNAttacker {key} must be a positive integer, got {v!r}")
        if self.image_size < 16:
            raise ConfigError(f"CNNAttacker image_size must be >= 16, got {self.image_size}")
        if not self.lr > 0:
            raise ConfigError(f"CNNAttacker lr must be > 0, got {self.lr!r}")

    def fit(self, images: Sequence[np.ndarray], labels: np.ndarray) -> Self:
        """Train a fresh network on ``images`` with 0/1 ``labels`` of shape (N, A)."""
        self._check_params()
        y_np = _check_data(images, labels)
        assert y_np is not None
        if len(images) < 2:
            raise ConfigError("CNNAttacker needs at least 2 training images (BatchNorm)")
        t0 = time.perf_counter()
        with torch_threads(self.num_threads):
            self._fit(images, y_np)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _fit(self, images: Sequence[np.ndarray], y_np: np.ndarray) -> None:
        device = torch.device(self.device)
        x_all = _to_tensor(images, self.image_size, self.letterbox)
        y_all = torch.from_numpy(y_np)
        n = len(images)
        rng = np.random.default_rng(self.random_state)
        gen = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            model = SmallCNN(y_np.shape[1], tuple(self.widths), self.stem_stride)
        model = model.to(device=device, memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n_batches = max(1, -(-n // self.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.lr, total_steps=self.epochs * n_batches, pct_start=0.15
        )
        pad = max(1, self.image_size // 16) if self.augment else 0
        epochs: Any = range(self.epochs)
        if self.progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="cnn attacker", unit="epoch")
        history: list[float] = []
        model.train()
        for _ in epochs:
            # Near-equal batches: never a batch of one image, which BatchNorm cannot train on.
            total = 0.0
            for idx in np.array_split(rng.permutation(n), n_batches):
                xb = x_all[idx]
                if self.augment:
                    xb = _augment(xb.float(), pad, gen)
                xb = _normalize(xb).to(device)
                yb = y_all[idx].to(device)
                loss = nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / n)
            if self.progress:
                epochs.set_postfix(loss=f"{history[-1]:.4f}")
        model.eval()
        self.model_ = model
        self.n_attributes_ = y_np.shape[1]
        self.loss_history_ = history

    @torch.no_grad()
    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, A) attribute probabilities for ``images``."""
        _check_fitted(self, "model_")
        _check_data(images)
        out = []
        with torch_threads(self.num_threads):
            device = torch.device(self.device)
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                xb = _normalize(_to_tensor(chunk, self.image_size, self.letterbox)).to(device)
                out.append(torch.sigmoid(self.model_(xb)).cpu().double().numpy())
        return np.concatenate(out, axis=0)
