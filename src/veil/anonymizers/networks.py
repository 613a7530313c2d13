"""Image-to-image networks for the learned anonymizer ``A_θ`` (METHOD.md §2.1).

Every network maps a float batch ``x`` of shape (B, 3, H, W) in [0, 1] to a batch of the
same shape in [0, 1], for any H and W: the input is padded (replicate) to a multiple of
the network's downsampling ``factor`` and the output cropped back. All of them start as
the identity (or, for ``masked``, within a fraction of a grey level of it), so training
moves away from "no protection" instead of from noise.

Registered in ``NETWORKS`` and built by name with :func:`create_network`:

- ``unet`` (default): a small UNet run at half resolution (pixel unshuffle / shuffle),
  additive skips, residual output ``clamp(x + scale * tanh(head), 0, 1)``.
- ``johnson``: a Johnson-style transform net (downsample, residual blocks at 1/4
  resolution, nearest upsampling + convolution), residual output.
- ``film-unet``: the UNet with FiLM (per-channel scale and shift computed by a small MLP
  from the privacy weight λ in [0, 1]) after every block: one model, a run-time dial.
- ``masked``: masked obfuscation ``x̃ = m ⊙ o(x) + (1 − m) ⊙ x``; a UNet predicts the soft
  mask m, o is a Gaussian blur or a pixelation; the mask of the last call is kept in
  ``last_mask`` for display and for :func:`mask_area_penalty`.

Every network takes ``extra_channels`` (default 0): extra input maps (detector
probabilities for faces, text, people...) concatenated to the image at the trunk's
input, passed as ``forward(x, extra=maps)``. Conditioned networks also take
``forward(x, lam=...)``; the others ignore ``lam``, so a trainer can call every network
the same way.

Example:
    >>> net = create_network("unet", width=16)
    >>> x = torch.rand(2, 3, 37, 53)
    >>> bool((net(x) - x).abs().max() < 1e-6)  # the identity at init
    True
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from veil.errors import ConfigError
from veil.registry import Registry

__all__ = [
    "NETWORKS",
    "AnonymizerNetwork",
    "FiLMUNet",
    "JohnsonNet",
    "MaskedObfuscation",
    "UNet",
    "blur_tensor",
    "create_network",
    "identity_pretrain",
    "mask_area_penalty",
    "num_parameters",
    "pixelate_tensor",
]

NETWORKS: Registry[AnonymizerNetwork] = Registry("network")

#: Residual output modes: ``tanh``: ``clamp(x + scale * tanh(h), 0, 1)``; ``logit``:
#: ``sigmoid(logit(x) + h)`` (no clamp, but pixels at 0 or 1 move slowly).
RESIDUAL_MODES = ("tanh", "logit")
_LOGIT_EPS = 1e-6


def create_network(name: str = "unet", **kwargs: Any) -> AnonymizerNetwork:
    """Build a registered network by name with keyword arguments.

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists the known names).
        ConfigError: an unknown keyword or a bad value.

    Example:
        >>> create_network("film-unet", width=8).conditioned
        True
    """
    factory = NETWORKS.get(name)
    params = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {unknown} for network {name!r}; allowed: {', '.join(p for p in params)}"
        )
    return factory(**kwargs)


def num_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- checks


def _check_int(owner: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{owner}: {key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(owner: str, key: str, value: Any, minimum: float, exclusive: bool = True) -> float:
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value))
    if bad or (float(value) <= minimum if exclusive else float(value) < minimum):
        op = ">" if exclusive else ">="
        raise ConfigError(f"{owner}: {key} must be a number {op} {minimum:g}, got {value!r}")
    return float(value)


def _check_choice(owner: str, key: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{owner}: {key} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def lam_tensor(lam: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
    """The privacy weight as a (B,) tensor on ``like``'s device and dtype.

    Raises:
        ConfigError: a shape other than scalar or (B,), or a value outside [0, 1].
    """
    t = torch.as_tensor(lam, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ConfigError(f"lam must be a float or a tensor of shape ({batch},), got shape {tuple(t.shape)}")
    if not t.requires_grad and bool(((t < 0) | (t > 1) | ~torch.isfinite(t)).any()):
        raise ConfigError(f"lam (the privacy weight) must be in [0, 1], got {t.tolist()}")
    return t


# ----------------------------------------------------------------------------- base


class AnonymizerNetwork(nn.Module):
    """Base of the anonymizer networks: input checks, extra maps, padding and cropping.

    Subclasses set ``network_name`` (the registry key), ``factor`` (the side multiple the
    trunk needs), ``extra_channels``, ``hparams`` (the constructor keywords, saved in
    ``config.json``) and implement ``_forward(x, inp, lam)``, where ``x`` is the input
    batch and ``inp`` is ``x`` with the extra maps concatenated, padded to a multiple of
    ``factor``: the trunk runs on ``inp`` and its output is cropped with :func:`crop_like`.

    Shape:
        - x: (B, 3, H, W) float in [0, 1]; extra: (B, extra_channels, H, W); lam: float or (B,)
        - output: (B, 3, H, W) float in [0, 1]
    """

    network_name: ClassVar[str] = ""
    #: True when ``forward`` uses ``lam`` (the privacy dial).
    conditioned: ClassVar[bool] = False
    #: λ used when a conditioned network is called without one.
    default_lam: ClassVar[float] = 0.5

    factor: int
    extra_channels: int
    hparams: dict[str, Any]

    def forward(
        self, x: torch.Tensor, extra: torch.Tensor | None = None, *, lam: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Anonymize a batch: (B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1].

        Args:
            x: the images.
            extra: (B, extra_channels, H, W) extra input maps; required iff
                ``extra_channels > 0``.
            lam: privacy weight in [0, 1] (float or (B,) tensor) for conditioned networks;
                ignored by the others; ``default_lam`` when None.

        Raises:
            ConfigError: a wrong shape of ``x``, ``extra`` or ``lam``.
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            got = f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}"
            raise ConfigError(f"{self.network_name}: expected a float tensor (B, 3, H, W) in [0, 1], got {got}")
        b, _, h, w = x.shape
        inp = x
        if self.extra_channels:
            if extra is None:
                raise ConfigError(
                    f"{self.network_name} was built with extra_channels={self.extra_channels}: pass "
                    f"extra=(B, {self.extra_channels}, H, W) maps (e.g. detector probabilities)"
                )
            if extra.ndim != 4 or tuple(extra.shape) != (b, self.extra_channels, h, w):
                raise ConfigError(
                    f"{self.network_name}: extra must have shape {(b, self.extra_channels, h, w)}, "
                    f"got {tuple(extra.shape)}"
                )
            inp = torch.cat([x, extra.to(x.dtype)], dim=1)
        elif extra is not None and extra.numel():
            raise ConfigError(
                f"{self.network_name} was built with extra_channels=0 but got extra maps of shape "
                f"{tuple(extra.shape)}; build it with extra_channels={extra.shape[1] if extra.ndim == 4 else '?'}"
            )
        lam_t = lam_tensor(self.default_lam if lam is None else lam, b, x) if self.conditioned else None
        ph, pw = (-h) % self.factor, (-w) % self.factor
        if ph or pw:
            inp = F.pad(inp, (0, pw, 0, ph), mode="replicate")
        return self._forward(x, inp, lam_t)

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())


def crop_like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` cropped to the height and width of ``x`` (top-left anchored, as the padding)."""
    h, w = x.shape[-2:]
    return t if t.shape[-2:] == (h, w) else t[..., :h, :w]


def _residual_output(x: torch.Tensor, head: torch.Tensor, mode: str, scale: float) -> torch.Tensor:
    """Combine the input with the head's residual; the identity when ``head`` is 0."""
    if mode == "tanh":
        return (x + scale * torch.tanh(head)).clamp(0.0, 1.0)
    return torch.sigmoid(torch.logit(x.clamp(_LOGIT_EPS, 1.0 - _LOGIT_EPS)) + head)


def _conv(ci: int, co: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(ci, co, k, stride=stride, padding=k // 2)


class _FiLM(nn.Module):
    """Per-channel ``h * (1 + γ(λ)) + β(λ)`` for a list of channel counts, from one MLP of λ."""

    def __init__(self, channels: Sequence[int], hidden: int = 32) -> None:
        super().__init__()
        self.channels = list(channels)
        self.mlp = nn.Sequential(
            nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2 * sum(self.channels)),
        )
        with torch.no_grad():  # small start: FiLM near the identity, but λ already matters
            self.mlp[-1].weight.mul_(0.1)
            self.mlp[-1].bias.zero_()

    def forward(self, lam: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(B,) -> one (γ, β) pair of shape (B, C, 1, 1) per channel count."""
        out = self.mlp(2.0 * lam[:, None] - 1.0)
        pairs, i = [], 0
        for c in self.channels:
            g, b = out[:, i : i + c], out[:, i + c : i + 2 * c]
            pairs.append((g[:, :, None, None], b[:, :, None, None]))
            i += 2 * c
        return pairs


class _UNetBody(nn.Module):
    """UNet trunk at half resolution: (B, C_in, H, W) -> (B, C_out, H, W), H and W multiples of 2^depth.

    Pixel unshuffle (2x) packs 2x2 pixels into channels, so the whole UNet runs at H/2
    (4x fewer positions) and pixel shuffle unpacks the head: every output pixel still has
    its own weights. Encoder: ``depth`` levels of two 3x3 convolutions, 2x average pooling
    between them, widths ``width * 2^i``. Decoder: nearest upsampling, a 1x1 projection,
    an additive skip, two 3x3 convolutions. With ``film`` the features of every block are
    modulated by ``(γ, β)`` pairs (one per block, in order).
    """

    def __init__(self, in_ch: int, out_ch: int, width: int, depth: int) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth)]
        self.widths = widths
        self.enc = nn.ModuleList()
        c = 4 * in_ch
        for wd in widths:
            self.enc.append(nn.Sequential(_conv(c, wd), nn.ReLU(inplace=True), _conv(wd, wd), nn.ReLU(inplace=True)))
            c = wd
        self.proj = nn.ModuleList([nn.Conv2d(widths[i + 1], widths[i], 1) for i in range(depth - 1)])
        self.dec = nn.ModuleList(
            [
                nn.Sequential(_conv(wd, wd), nn.ReLU(inplace=True), _conv(wd, wd), nn.ReLU(inplace=True))
                for wd in widths[:-1]
            ]
        )
        self.head = _conv(widths[0], 4 * out_ch)

    def block_channels(self) -> list[int]:
        """Channels of every modulated block, in forward order (encoder, then decoder)."""
        return self.widths + self.widths[:-1][::-1]

    def forward(self, inp: torch.Tensor, film: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        it = iter(film) if film is not None else None

        def mod(h: torch.Tensor) -> torch.Tensor:
            if it is None:
                return h
            g, b = next(it)
            return h * (1.0 + g) + b

        h = F.pixel_unshuffle(inp, 2)
        skips = []
        for i, block in enumerate(self.enc):
            if i:
                h = F.avg_pool2d(h, 2)
            h = mod(block(h))
            skips.append(h)
        for i in reversed(range(len(self.dec))):
            h = self.proj[i](F.interpolate(h, scale_factor=2.0, mode="nearest")) + skips[i]
            h = mod(self.dec[i](h))
        return F.pixel_shuffle(self.head(h), 2)


# ----------------------------------------------------------------------------- networks


@NETWORKS.register("unet")
class UNet(AnonymizerNetwork):
    """Small UNet with a residual output, the identity at init (zero head).

    Args:
        width: channels of the first level (doubled at each level).
        depth: levels (>= 1); the side multiple is ``2 ** depth``.
        extra_channels: extra input maps concatenated to the image.
        residual: ``"tanh"`` (``clamp(x + scale * tanh(h), 0, 1)``) or ``"logit"``
            (``sigmoid(logit(x) + h)``).
        scale: largest change per pixel for ``residual="tanh"`` (1.0: any value reachable).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W), any H, W.
    """

    network_name: ClassVar[str] = "unet"

    def __init__(
        self, width: int = 16, depth: int = 3, extra_channels: int = 0, residual: str = "tanh", scale: float = 1.0
    ) -> None:
        super().__init__()
        owner = self.network_name
        self.hparams = dict(
            width=_check_int(owner, "width", width, 1),
            depth=_check_int(owner, "depth", depth, 1),
            extra_channels=_check_int(owner, "extra_channels", extra_channels, 0),
            residual=_check_choice(owner, "residual", residual, RESIDUAL_MODES),
            scale=_check_float(owner, "scale", scale, 0.0),
        )
        self.extra_channels, self.residual, self.scale = extra_channels, residual, float(scale)
        self.factor = 2**depth
        self.body = _UNetBody(3 + extra_channels, 3, width, depth)
        nn.init.zeros_(self.body.head.weight)
        nn.init.zeros_(self.body.head.bias)

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        return _residual_output(x, crop_like(self.body(inp), x), self.residual, self.scale)


@NETWORKS.register("film-unet")
class FiLMUNet(UNet):
    """The UNet conditioned on the privacy weight λ ∈ [0, 1] by FiLM: one model, a run-time dial.

    A small MLP maps λ to a per-channel scale ``1 + γ`` and shift ``β`` for every block
    (encoder and decoder). The head starts at zero, so the network is the identity at
    init for every λ; training with λ sampled per item teaches it the whole dial.

    Args:
        width, depth, extra_channels, residual, scale: as :class:`UNet`.
        film_hidden: hidden units of the λ MLP.

    Shape:
        x (B, 3, H, W), lam float or (B,) -> (B, 3, H, W).
    """

    network_name: ClassVar[str] = "film-unet"
    conditioned: ClassVar[bool] = True

    def __init__(
        self,
        width: int = 16,
        depth: int = 3,
        extra_channels: int = 0,
        residual: str = "tanh",
        scale: float = 1.0,
        film_hidden: int = 32,
    ) -> None:
        super().__init__(width, depth, extra_channels, residual, scale)
        self.hparams["film_hidden"] = _check_int(self.network_name, "film_hidden", film_hidden, 1)
        self.film = _FiLM(self.body.block_channels(), film_hidden)

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        assert lam is not None
        head = crop_like(self.body(inp, self.film(lam.to(x.dtype))), x)
        return _residual_output(x, head, self.residual, self.scale)


class _ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1, self.c2 = _conv(c, c), _conv(c, c)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.c2(F.relu(self.c1(h)))


@NETWORKS.register("johnson")
class JohnsonNet(AnonymizerNetwork):
    """Johnson-style residual transform net (Johnson et al. 2016, as used by Wu et al.), CPU-sized.

    Downsample, residual blocks, upsample: a pixel unshuffle (2x, lossless) and a 3x3
    convolution to ``width`` channels at 1/2 resolution, a stride-2 convolution to
    ``2 * width`` at 1/4, ``blocks`` residual blocks there, nearest 2x upsampling with a
    3x3 convolution back to 1/2, and a 3x3 head unpacked to full resolution by pixel
    shuffle, with a residual output. No normalization layers, so outputs do not depend
    on the batch; the zero head makes it the identity at init.

    Args:
        width: channels at 1/2 resolution (twice that in the residual blocks).
        blocks: residual blocks at 1/4 resolution.
        extra_channels, residual, scale: as :class:`UNet`.

    Shape:
        (B, 3, H, W) -> (B, 3, H, W), any H, W (side multiple 4).
    """

    network_name: ClassVar[str] = "johnson"

    def __init__(
        self, width: int = 16, blocks: int = 3, extra_channels: int = 0, residual: str = "tanh", scale: float = 1.0
    ) -> None:
        super().__init__()
        owner = self.network_name
        self.hparams = dict(
            width=_check_int(owner, "width", width, 1),
            blocks=_check_int(owner, "blocks", blocks, 0),
            extra_channels=_check_int(owner, "extra_channels", extra_channels, 0),
            residual=_check_choice(owner, "residual", residual, RESIDUAL_MODES),
            scale=_check_float(owner, "scale", scale, 0.0),
        )
        self.extra_channels, self.residual, self.scale = extra_channels, residual, float(scale)
        self.factor = 4
        w = width
        self.stem = _conv(4 * (3 + extra_channels), w)
        self.down = _conv(w, 2 * w, stride=2)
        self.res = nn.Sequential(*[_ResBlock(2 * w) for _ in range(blocks)])
        self.up = _conv(2 * w, w)
        self.head = _conv(w, 12)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        h = F.relu(self.stem(F.pixel_unshuffle(inp, 2)))
        h = self.res(F.relu(self.down(h)))
        h = F.relu(self.up(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        return _residual_output(x, crop_like(F.pixel_shuffle(self.head(h), 2), x), self.residual, self.scale)


# ----------------------------------------------------------------------------- obfuscations


def gaussian_kernel1d(sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalized 1D Gaussian of length ``2 * ceil(3 sigma) + 1``."""
    r = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def blur_tensor(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Differentiable Gaussian blur (separable, replicate borders), any size.

    Args:
        x: (B, C, H, W) float.
        sigma: standard deviation in pixels, > 0.

    Returns:
        (B, C, H, W), the blurred batch.
    """
    if x.ndim != 4:
        raise ConfigError(f"blur_tensor expects (B, C, H, W), got {tuple(x.shape)}")
    c = x.shape[1]
    k = gaussian_kernel1d(sigma, x.dtype).to(x.device)
    r = k.numel() // 2
    if r <= 12:  # short kernels: a weighted sum of shifted copies is 4-5x faster than a grouped conv on CPU
        h, w = x.shape[-2:]
        p = F.pad(x, (r, r, 0, 0), mode="replicate")
        x = sum(k[i] * p[..., i:i + w] for i in range(2 * r + 1))
        p = F.pad(x, (0, 0, r, r), mode="replicate")
        return sum(k[i] * p[..., i:i + h, :] for i in range(2 * r + 1))
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def pixelate_tensor(x: torch.Tensor, block: int) -> torch.Tensor:
    """Differentiable pixelation: block means (average pooling) repeated by nearest upsampling.

    Blocks are aligned at the top-left corner; partial blocks at the right and bottom
    borders average the pixels they hold.

    Args:
        x: (B, C, H, W) float.
        block: block side in pixels, >= 1.
    """
    if x.ndim != 4:
        raise ConfigError(f"pixelate_tensor expects (B, C, H, W), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if block <= 1:
        return x
    small = F.avg_pool2d(x, block, ceil_mode=True)  # partial blocks: the mean of the pixels inside
    return F.interpolate(small, scale_factor=float(block), mode="nearest")[..., :h, :w]


def mask_area_penalty(mask: torch.Tensor, free_area: float = 0.0) -> torch.Tensor:
    """Mean over the batch of ``max(0, area(m) - free_area)``, area = mean mask value per image.

    A small weight on this keeps the mask to where privacy needs it; ``free_area`` lets a
    given fraction of every image be masked at no cost.

    Args:
        mask: (B, 1, H, W) in [0, 1].
        free_area: fraction in [0, 1) masked for free.

    Returns:
        A scalar tensor, differentiable w.r.t. ``mask``.
    """
    return F.relu(mask.flatten(1).mean(dim=1) - free_area).mean()


OBFUSCATIONS = ("blur", "pixelate")


@contextlib.contextmanager
def keeping_last_mask(net: nn.Module) -> Iterator[None]:
    """Forward calls inside leave ``net.last_mask`` as it was (no-op for a network without
    one): extra renders during a training step (the privacy objective's view, the perturbed
    or jvp passes of the utility estimate) must not replace the training forward's mask,
    which :meth:`_MaskOwner.area_penalty` reads."""
    if not hasattr(net, "last_mask"):
        yield
        return
    keep = net.last_mask
    try:
        yield
    finally:
        net.last_mask = keep


class _MaskOwner(AnonymizerNetwork):
    """Networks that keep the mask of their last call in ``last_mask`` (B, 1, H, W)."""

    last_mask: torch.Tensor | None

    def area_penalty(self, free_area: float = 0.0) -> torch.Tensor:
        """:func:`mask_area_penalty` of the mask of the last forward call (differentiable)."""
        if self.last_mask is None:
            raise RuntimeError("no mask yet: call the network on a batch first")
        return mask_area_penalty(self.last_mask, free_area)

    def __getstate__(self) -> dict[str, Any]:
        # A mask that carries a graph cannot be deep-copied or pickled: keep a detached copy.
        state = self.__dict__.copy()
        if state.get("last_mask") is not None:
            state["last_mask"] = state["last_mask"].detach().clone()
        return state


@NETWORKS.register("masked")
class MaskedObfuscation(_MaskOwner):
    """Masked obfuscation ``x̃ = m ⊙ o(x) + (1 − m) ⊙ x`` (METHOD.md §2.1).

    A UNet trunk predicts the logits of a soft mask m (B, 1, H, W); o is a Gaussian blur
    of ``sigma`` pixels or a pixelation with ``block``-pixel blocks. The mask logits start
    at ``mask_init`` everywhere (sigmoid(-6) = 0.0025: within a grey level of the
    identity), so the network learns *where* to anonymize. The mask of the last call is
    kept in ``last_mask`` (with its graph while autograd is on: ``.detach()`` it to show
    it) and penalized by :meth:`area_penalty`.

    Args:
        width, depth, extra_channels: the mask trunk, as :class:`UNet` (narrower by default:
            a mask is simpler than an image, and the exact blur costs about 35 ms on 640x480).
        obfuscation: ``"blur"`` or ``"pixelate"``.
        sigma: blur standard deviation in pixels.
        block: pixelation block side in pixels.
        mask_init: initial mask logit (strongly negative: starts near the identity).

    Shape:
        (B, 3, H, W) -> (B, 3, H, W); ``last_mask``: (B, 1, H, W).
    """

    network_name: ClassVar[str] = "masked"

    def __init__(
        self,
        width: int = 8,
        depth: int = 3,
        extra_channels: int = 0,
        obfuscation: str = "blur",
        sigma: float = 8.0,
        block: int = 16,
        mask_init: float = -6.0,
    ) -> None:
        super().__init__()
        owner = self.network_name
        self.hparams = dict(
            width=_check_int(owner, "width", width, 1),
            depth=_check_int(owner, "depth", depth, 1),
            extra_channels=_check_int(owner, "extra_channels", extra_channels, 0),
            obfuscation=_check_choice(owner, "obfuscation", obfuscation, OBFUSCATIONS),
            sigma=_check_float(owner, "sigma", sigma, 0.0),
            block=_check_int(owner, "block", block, 1),
            mask_init=float(mask_init),
        )
        self.extra_channels, self.obfuscation = extra_channels, obfuscation
        self.sigma, self.block = float(sigma), int(block)
        self.factor = 2**depth
        self.body = _UNetBody(3 + extra_channels, 1, width, depth)
        nn.init.zeros_(self.body.head.weight)
        nn.init.constant_(self.body.head.bias, float(mask_init))
        self.last_mask: torch.Tensor | None = None

    def obfuscate(self, x: torch.Tensor) -> torch.Tensor:
        """o(x): the configured blur or pixelation of (B, 3, H, W)."""
        return blur_tensor(x, self.sigma) if self.obfuscation == "blur" else pixelate_tensor(x, self.block)

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        m = torch.sigmoid(crop_like(self.body(inp), x))
        self.last_mask = m
        return m * self.obfuscate(x) + (1.0 - m) * x


@NETWORKS.register("guided-masked")
class GuidedMaskedObfuscation(_MaskOwner):
    """Detector-guided masked obfuscation with several obfuscation levels (METHOD.md §2.1).

    Per pixel, a softmax over ``1 + K`` logits chooses between keeping the pixel and K
    Gaussian blurs of increasing strength: ``x̃ = p_0 x + Σ_k p_k blur_k(x)``. The logits
    are a UNet trunk on (x, maps) plus a linear *gate* on the detector maps (``extra``,
    e.g. faces, text, text-line height from :mod:`veil.anonymizers.guides`). The gate is
    initialized from ``gate_init`` (the detector prior, e.g. "heavy blur on faces, light
    blur on text") and the trunk's head at zero with bias ``mask_init``, so training starts
    from a detect-and-blur anonymizer and learns which detections to keep (large public
    signs), which to hide harder, and what the detectors missed. Blur strengths are
    fractions of the image's short side, so a model trained at 320x240 blurs a 640x480
    image the same way.

    Args:
        extra_channels: number of detector maps (the guide's channels), >= 1.
        sigmas: the K blur strengths, as fractions of the short side (e.g. 0.012, 0.04).
        gate_init: K rows of ``extra_channels`` initial gate weights (logit per unit map).
        width, depth: the trunk, as :class:`UNet`.
        mask_init: initial logit of every blur level where no map fires (strongly negative).
        hard: each pixel takes exactly one option (the argmax), in training too, with the
            softmax's gradient (straight-through). A soft mix leaks: 30 % of the original
            under a blur is enough for OCR to read a name, so what is sent is never a mix.
        floor_channels: indices of maps that set a privacy floor: where one of them exceeds
            ``floor_threshold`` the pixel cannot be kept, only blurred (training chooses how
            strongly). The user's policy ("never send a detected face or text line in the
            clear") then holds whatever the noisy training signal does; the network still
            learns the strength per detection and what else to hide.
        floor_threshold: map value above which the floor applies.

    Shape:
        x (B, 3, H, W), extra (B, extra_channels, H, W) -> (B, 3, H, W); ``last_mask``:
        (B, 1, H, W), the obfuscated fraction ``1 - p_0``.
    """

    network_name: ClassVar[str] = "guided-masked"

    def __init__(
        self,
        extra_channels: int = 3,
        sigmas: Sequence[float] = (0.012, 0.04),
        gate_init: Sequence[Sequence[float]] | None = None,
        width: int = 8,
        depth: int = 3,
        mask_init: float = -6.0,
        hard: bool = True,
        floor_channels: Sequence[int] = (),
        floor_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        owner = self.network_name
        extra_channels = _check_int(owner, "extra_channels", extra_channels, 1)
        sig = [_check_float(owner, "sigmas", v, 0.0) for v in sigmas]
        if not sig:
            raise ConfigError(f"{owner}: sigmas needs at least one blur strength")
        k = len(sig)
        zeros = [[0.0] * extra_channels for _ in range(k)]
        gate = zeros if gate_init is None else [[float(v) for v in r] for r in gate_init]
        if len(gate) != k or any(len(r) != extra_channels for r in gate):
            raise ConfigError(f"{owner}: gate_init must be {k} rows (one per sigma) of {extra_channels} weights")
        self.hparams = dict(
            extra_channels=extra_channels, sigmas=sig, gate_init=gate,
            width=_check_int(owner, "width", width, 1), depth=_check_int(owner, "depth", depth, 1),
            mask_init=float(mask_init), hard=bool(hard),
            floor_channels=[int(c) for c in floor_channels], floor_threshold=float(floor_threshold),
        )
        if any(not 0 <= c < extra_channels for c in self.hparams["floor_channels"]):
            raise ConfigError(f"{owner}: floor_channels must index the {extra_channels} maps, got {floor_channels!r}")
        self.floor_channels, self.floor_threshold = self.hparams["floor_channels"], float(floor_threshold)
        self.extra_channels, self.sigmas, self.hard = extra_channels, sig, bool(hard)
        self.factor = 2**depth
        self.body = _UNetBody(3 + extra_channels, k, width, depth)
        nn.init.zeros_(self.body.head.weight)
        nn.init.constant_(self.body.head.bias, float(mask_init))
        self.gate = nn.Conv2d(extra_channels, k, 1)
        with torch.no_grad():
            self.gate.weight.copy_(torch.tensor(gate, dtype=torch.float32).view(k, extra_channels, 1, 1))
            self.gate.bias.zero_()
        self.last_mask: torch.Tensor | None = None

    def gate_parameters(self) -> list[nn.Parameter]:
        """The gate's parameters (a trainer may give them their own learning rate)."""
        return list(self.gate.parameters())

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        maps = crop_like(inp[:, 3:], x)
        logits = crop_like(self.body(inp), x) + self.gate(maps)
        keep = torch.zeros_like(logits[:, :1])
        if self.floor_channels:
            floor = (maps[:, self.floor_channels] > self.floor_threshold).any(dim=1, keepdim=True)
            keep = keep.masked_fill(floor, -1e4)  # a detected face or text line is never kept
        p = torch.softmax(torch.cat([keep, logits], dim=1), dim=1)
        if self.hard:
            onehot = F.one_hot(p.argmax(dim=1), p.shape[1]).permute(0, 3, 1, 2).to(p.dtype)
            p = onehot + p - p.detach()  # the argmax's value, the softmax's gradient
        short = min(x.shape[-2:])
        out = p[:, :1] * x
        for i, s in enumerate(self.sigmas):
            out = out + p[:, i + 1:i + 2] * blur_tensor(x, max(0.3, s * short))
        self.last_mask = 1.0 - p[:, :1]
        return out.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- pretraining


def identity_pretrain(
    net: AnonymizerNetwork,
    images: Sequence[np.ndarray],
    steps: int = 200,
    lr: float = 1e-3,
    seed: int | np.random.Generator = 0,
    crop: int = 128,
    batch_size: int = 4,
) -> list[float]:
    """Short L1 reconstruction pretraining towards the identity (as SPAct does).

    Random crops (``crop`` px, or the smallest image side if smaller) with random
    horizontal flips; λ uniform in [0, 1] per crop for conditioned networks; extra maps
    are zeros. The networks here already start as the identity, so this matters after a
    change of architecture or initialization, or to re-anchor a network.

    Args:
        net: the network to train in place (its mode is restored afterwards).
        images: RGB uint8 images (H, W, 3).
        steps: Adam steps.
        lr: Adam learning rate.
        seed: an int or a numpy Generator for crops, flips and λ (deterministic for a seed).
        crop: crop side in pixels.
        batch_size: crops per step.

    Returns:
        The L1 loss of every step (before its update).

    Raises:
        ConfigError: no images, or an image that is not RGB uint8.
    """
    if len(images) == 0:
        raise ConfigError("identity_pretrain needs at least one image")
    for im in images:
        if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
            raise ConfigError("identity_pretrain expects RGB uint8 images of shape (H, W, 3)")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    side = min(crop, *(min(im.shape[:2]) for im in images))
    params = [p for p in net.parameters() if p.requires_grad]
    device = params[0].device if params else torch.device("cpu")
    opt = torch.optim.Adam(params, lr=lr)
    was_training = net.training
    net.train()
    losses: list[float] = []
    try:
        for _ in range(steps):
            crops = []
            for i in rng.integers(0, len(images), batch_size):
                im = images[int(i)]
                y0 = int(rng.integers(0, im.shape[0] - side + 1))
                x0 = int(rng.integers(0, im.shape[1] - side + 1))
                c = im[y0 : y0 + side, x0 : x0 + side]
                crops.append(c[:, ::-1] if rng.random() < 0.5 else c)
            x = torch.from_numpy(np.stack(crops)).to(device).permute(0, 3, 1, 2).float() / 255.0
            extra = x.new_zeros(len(crops), net.extra_channels, side, side) if net.extra_channels else None
            lam = torch.from_numpy(rng.random(len(crops))).to(x) if net.conditioned else None
            loss = (net(x, extra, lam=lam) - x).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        net.train(was_training)
    return losses


# ----------------------------------------------------------------------------- the policy network


def fast_blur_tensor(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur that stays cheap for large ``sigma``: exact up to 3 px, else blurred at a
    lower resolution (box-average by ``f``, blur by ``sigma / f``, bilinear upsampling).

    The low-resolution path differs from the exact blur by well under a grey level for
    smooth content; it is what makes blurs of a tenth of the image side affordable on a CPU.
    """
    if sigma <= 3.0:
        return blur_tensor(x, sigma)
    h, w = x.shape[-2:]
    f = max(1, min(int(sigma // 2), h // 4 or 1, w // 4 or 1))
    small = F.avg_pool2d(x, f, ceil_mode=True) if f > 1 else x
    inner = math.sqrt(max(0.25, (sigma / f) ** 2 - (f * f - 1) / (12.0 * f * f)))
    small = blur_tensor(small, inner)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False) if f > 1 else small


#: The categories of the ``faces+textcls`` guide's maps, in order (the last map is the text height).
POLICY_CATEGORIES: tuple[str, ...] = ("face", "name", "phone", "plate", "email", "id", "unread", "public")

#: Categories a ``guided-policy`` network can hide at a fixed level, never learned down (their
#: guide maps follow the height map): nudity (:class:`veil.anonymizers.guides.NudityGuide`).
FIXED_CATEGORIES: tuple[str, ...] = ("nudity",)


#: The height map of the text guides holds a line's height / (this x the short side)
#: (``size_scale`` of :class:`~veil.anonymizers.guides.TextCategoryGuide`), clipped to its
#: ``height_clip``: 10 for the text-category guide, a line as tall as the short side.
TEXT_HEIGHT_SCALE = 0.1


@NETWORKS.register("guided-policy")
class GuidedPolicyObfuscation(_MaskOwner):
    """Per-category obfuscation strength, learned: what to hide and how strongly (METHOD.md §2.1).

    The detector guide (``faces+textcls``) gives one map per category of detected content
    (faces; text lines read locally and sorted into name, phone, plate, email, id, unread,
    public) and the line height. Each category ``c`` has a learned strength logit ``l_c``;
    a kept text line's strength also moves with its height (``w_h``, one weight; the
    policy's categories do not: a tall name is still a name). Per pixel the
    obfuscation level is ``t = max_c m_c * L * sigmoid(l_c + w_h * height)`` in [0, L] and the
    output follows the blur stack ``x = S_0, S_1 = blur(σ_1), ..., S_L = blur(σ_L)`` with
    linear interpolation between adjacent levels, so ``t`` is continuous and every strength
    has a gradient (a zeroth-order perturbation of ``l_c`` changes the image smoothly).
    Blur strengths are fractions of the short side.

    Fixed categories (``fixed_categories``, e.g. ``nudity``) have maps after the height map
    and no strength to learn: where their map fires the level is at least ``fixed_level``
    (the strongest blur by default) while the policy names them, and they are kept when it
    does not. A content no task needs to see and no one may receive stays hidden however the
    black box answers; a network without fixed categories is exactly the one before them.

    The privacy policy names the categories to hide; a category outside it shares the
    ``public`` strength (kept unless the black box's answers say otherwise). Training starts
    from ``init`` for every category (heavy by default: everything hidden) and learns from
    the black box what to reveal and from the privacy adversaries what must stay hidden.

    Args:
        extra_channels: guide maps: one per category plus the height map.
        categories: the category of each map (the height map last).
        policy: categories to hide; the others share ``public``'s strength.
        levels: blur strengths σ_1 < ... < σ_L as fractions of the short side.
        init: initial strength logit of every category (1.0: level 0.73 L, 4.4 of 6: every
            detection hidden, public signs included).
        floor_categories: policy categories never sent in the clear: where their map exceeds
            ``floor_threshold`` the level is at least ``floor_level`` (belt and braces).
        floor_level: the floor, in levels (1.0: at least the first blur).
        floor_threshold: map value above which the floor applies.
        fixed_categories: categories whose maps follow the height map, hidden at
            ``fixed_level`` while in the policy (:data:`FIXED_CATEGORIES`).
        fixed_level: their level (None: L, the strongest blur).
        text_floor: scale invariance for private text: a line of a private text category
            (the policy's, not ``face``) is blurred by at least ``text_floor`` x its height,
            rounded up to a whole level (a level between two blends the weaker blur in, and
            deconvolution reads through the weaker one), up to the strongest level (enough
            for a line about half the short side tall at 0.3).
            A blur a few tenths of a line's height leaves its strokes less than a grey level,
            beyond any deconvolution (``benchmarks/deblur_attack.py``); a level learned on
            small lines is not enough for a name that fills the frame. It applies in eval
            mode (protection, evaluation, export), not to training renders: the levels are
            learned as without it, so the floor adds what scale needs and does not stand in
            for what training should learn. 0 turns it off.
        face_ref: framing invariance for faces. The blur strengths are fractions of a
            reference length: the short side, or, when the face map is large (a close-up, a
            selfie), its extent divided by ``face_ref``, whichever is longer; the extent is
            that of a disc with the face map's area (largest over the batch). Training
            framings (faces up to about a third of the short side) keep the short side; a
            face filling the frame gets the blur its learned level gives a small face, in
            proportion to its size, instead of a blur too weak to hide it. 0 turns it off.

    Shape:
        x (B, 3, H, W), extra (B, extra_channels, H, W): the category maps, the height map,
        then the fixed categories' maps -> (B, 3, H, W); ``last_mask``: (B, 1, H, W), the
        level as a fraction of L.
    """

    network_name: ClassVar[str] = "guided-policy"

    def __init__(
        self,
        extra_channels: int | None = None,
        categories: Sequence[str] = POLICY_CATEGORIES,
        policy: Sequence[str] = POLICY_CATEGORIES[:-1],
        levels: Sequence[float] = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16),
        init: float = 1.0,
        floor_categories: Sequence[str] = (),
        floor_level: float = 1.0,
        floor_threshold: float = 0.5,
        face_ref: float = 0.5,
        fixed_categories: Sequence[str] = (),
        fixed_level: float | None = None,
        text_floor: float = 0.3,
    ) -> None:
        super().__init__()
        owner = self.network_name
        cats = [str(c) for c in categories]
        fixed = [str(c) for c in fixed_categories]
        if extra_channels is None:
            extra_channels = len(cats) + 1 + len(fixed)
        extra_channels = _check_int(owner, "extra_channels", extra_channels, 2)
        if len(cats) + len(fixed) != extra_channels - 1 or "public" not in cats \
                or len(set(cats + fixed)) != len(cats) + len(fixed):
            raise ConfigError(f"{owner}: categories and fixed_categories must name the {extra_channels - 1} category "
                              f"maps (the height map between them), once each, categories including 'public'; got "
                              f"{cats} and {fixed}")
        unknown = (sorted(set(policy) - set(cats) - set(fixed)) + sorted(set(floor_categories) - set(policy))
                   + sorted(set(floor_categories) & set(fixed)))
        if unknown:
            raise ConfigError(f"{owner}: policy / floor_categories name unknown or unprotected categories {unknown}; "
                              f"categories: {', '.join(cats + fixed)} (floor categories must be in the policy, "
                              "and not fixed)")
        lv = [_check_float(owner, "levels", v, 0.0) for v in levels]
        if not lv or any(b <= a for a, b in zip(lv, lv[1:], strict=False)):
            raise ConfigError(f"{owner}: levels must be increasing blur strengths, got {list(levels)}")
        fixed_lv = min(float(len(lv)) if fixed_level is None else _check_float(owner, "fixed_level", fixed_level, 0.0),
                       float(len(lv)))
        self.hparams = dict(
            extra_channels=extra_channels, categories=cats, policy=[c for c in cats + fixed if c in set(policy)],
            levels=lv, init=float(init), floor_categories=[c for c in cats if c in set(floor_categories)],
            floor_level=_check_float(owner, "floor_level", floor_level, 0.0, exclusive=False),
            floor_threshold=float(floor_threshold),
            face_ref=_check_float(owner, "face_ref", face_ref, 0.0, exclusive=False),
            text_floor=_check_float(owner, "text_floor", text_floor, 0.0, exclusive=False),
        )
        if fixed:  # saved only when used: a model without them keeps its config (and export key)
            self.hparams.update(fixed_categories=fixed, fixed_level=fixed_lv)
        self.extra_channels, self.categories, self.levels = extra_channels, cats, lv
        self.fixed_categories, self.fixed_level = fixed, fixed_lv
        self.face_ref = self.hparams["face_ref"]
        self.text_floor = self.hparams["text_floor"]
        self.policy = self.hparams["policy"]
        self.floor_categories = self.hparams["floor_categories"]
        self.floor_level, self.floor_threshold = float(floor_level), float(floor_threshold)
        self.factor = 1
        self.strength = nn.Parameter(torch.full((len(cats),), float(init)))
        self.height_weight = nn.Parameter(torch.zeros(()))
        # map index -> strength index: a category outside the policy uses 'public'
        pub = cats.index("public")
        self.register_buffer("_route", torch.tensor([i if c in self.policy or c == "public" else pub
                                                     for i, c in enumerate(cats)]), persistent=False)
        self.last_mask: torch.Tensor | None = None
        #: Training only (:meth:`privacy_view`): levels taken off the private text categories
        #: in the render the privacy adversaries see.
        self.privacy_margin = 0.0

    @contextlib.contextmanager
    def privacy_view(self, margin: float) -> Iterator[None]:
        """Render with the private text categories ``margin`` levels weaker (each level halves
        the blur) while the block runs: the image the privacy adversaries attack in training.

        A level learned at the edge of what the training-resolution attackers can read is
        read by stronger ones: text larger in the frame than in training (a business card
        filling a photo), sharper originals, other OCR engines, upscaled crops. Training
        against a render ``margin`` levels weaker leaves that margin above the edge. Faces
        (``face_ref`` scales their blur with their size), public text and the fixed
        categories are rendered as they are. The smooth shift ``softplus(4 (t - m)) / 4``
        keeps a gradient below the margin."""
        previous, self.privacy_margin = self.privacy_margin, float(margin)
        try:
            yield
        finally:
            self.privacy_margin = previous

    def _margin_mask(self) -> np.ndarray:
        """1 for the policy's text categories (what :meth:`privacy_view` weakens), else 0."""
        return np.array([1.0 if c in self.policy and c not in ("face", "public") else 0.0 for c in self.categories])

    def gate_parameters(self) -> list[nn.Parameter]:
        """Every parameter: the whole network is the per-category policy."""
        return [self.strength, self.height_weight]

    def _sized(self) -> np.ndarray:
        """1 for the kept text categories (``public`` and those outside the policy), whose
        strength moves with the line height; 0 for the policy's. A private line is not
        revealed for being tall: public signs are tall, and a shared height weight learned
        from them un-blurred a large name badge (a leak found on the test split)."""
        return np.array([1.0 if (c == "public" or c not in self.policy) and c != "face" else 0.0
                         for c in self.categories])

    def privacy_mask(self) -> np.ndarray:
        """1 for the parameters the privacy objective may move, 0 for kept categories' strengths
        (``public`` and those outside the policy: only the black box's answers move them).
        Flattened in ``parameters()`` order."""
        keep = [0.0 if (c == "public" or c not in self.policy) else 1.0 for c in self.categories]
        return np.array([*keep, 1.0])

    def active_parameters(self, maps: torch.Tensor) -> np.ndarray:
        """1 for each parameter that changes the output on these maps (B, C + 1, H, W), else 0:
        a category's strength acts only where its map (or a category routed to it) fires."""
        present = (maps[:, :len(self.categories)] > self.floor_threshold).flatten(2).any(dim=2).any(dim=0)
        act = np.zeros(len(self.categories) + 1)
        for i, hit in enumerate(present.tolist()):
            if hit:
                act[int(self._route[i])] = 1.0
        sized = self._sized()
        act[-1] = float(any(hit and sized[i] for i, hit in enumerate(present.tolist())))
        return act

    def category_levels(self, height: float = 0.0) -> dict[str, float]:
        """The current level (0 = kept, L = strongest blur) of each category for a line of ``height``."""
        with torch.no_grad():
            sized = torch.from_numpy(self._sized()).to(self.strength.dtype)
            logits = self.strength[self._route] + self.height_weight * min(height, 1.0) * sized
            t = len(self.levels) * torch.sigmoid(logits)
        out = {c: round(float(v), 4) for c, v in zip(self.categories, t, strict=True)}
        return out | {c: round(level, 4) for c, level in zip(self.fixed_categories, self.fixed_levels(), strict=True)}

    def fixed_levels(self) -> list[float]:
        """The level of each fixed category: ``fixed_level`` while the policy names it, else 0."""
        return [self.fixed_level if c in self.policy else 0.0 for c in self.fixed_categories]

    def level_map(self, maps: torch.Tensor) -> torch.Tensor:
        """Per-pixel level t (B, 1, H, W) in [0, L] from the guide maps (B, C + 1, H, W)."""
        c = len(self.categories)
        cat_maps, height = maps[:, :c], maps[:, c:c + 1]
        sized = torch.from_numpy(self._sized()).to(maps.dtype).to(maps.device)
        # the learned strengths see the height up to TEXT_HEIGHT_SCALE x the short side (map 1);
        # the text floor sees the whole of it (the text-category guide maps taller lines above 1)
        logits = (self.strength[self._route].view(1, -1, 1, 1)
                  + self.height_weight * height.clamp(max=1.0) * sized.view(1, -1, 1, 1))
        level = len(self.levels) * torch.sigmoid(logits)
        if self.privacy_margin > 0:
            weak = F.softplus(4.0 * (level - self.privacy_margin)) / 4.0
            mask = torch.from_numpy(self._margin_mask()).to(maps.dtype).to(maps.device).view(1, -1, 1, 1)
            level = mask * weak + (1.0 - mask) * level
        t = (cat_maps * level).amax(dim=1, keepdim=True)
        if self.floor_categories:
            idx = [self.categories.index(c) for c in self.floor_categories]
            floor = (cat_maps[:, idx] > self.floor_threshold).any(dim=1, keepdim=True)
            t = torch.where(floor, t.clamp(min=self.floor_level), t)
        if self.text_floor > 0 and not self.training and (rows := self.text_floor_rows()):
            hit = (cat_maps[:, rows] > self.floor_threshold).any(dim=1, keepdim=True) & (height > 0)
            t = torch.where(hit, torch.maximum(t, self.text_floor_levels(height)), t)
        for j, level in enumerate(self.fixed_levels()):
            if level > 0:
                t = torch.maximum(t, maps[:, c + 1 + j:c + 2 + j] * level)
        return t

    def text_floor_rows(self) -> list[int]:
        """The maps of the private text categories (the policy's, not ``face``) ``text_floor`` covers."""
        return [i for i, c in enumerate(self.categories) if c in self.policy and c not in ("face", "public")]

    def text_floor_levels(self, height: torch.Tensor) -> torch.Tensor:
        """The smallest whole level whose blur is at least ``text_floor`` x the line height,
        from the height map (a line's height / (:data:`TEXT_HEIGHT_SCALE` x short side))."""
        need = height * (self.text_floor * TEXT_HEIGHT_SCALE)
        t_min = torch.ones_like(height)
        for lv in self.levels[:-1]:
            t_min = t_min + (need > lv).to(height.dtype)
        return t_min

    def reference_length(self, maps: torch.Tensor) -> float:
        """The length the blur strengths are fractions of, for a batch of guide maps
        (B, C + 1, H, W): the short side, or the face map's extent / ``face_ref`` if longer
        (see the class's ``face_ref``). The ONNX export computes it the same way."""
        short = float(min(maps.shape[-2:]))
        if self.face_ref <= 0 or "face" not in self.categories:
            return short
        area = float(maps[:, self.categories.index("face")].float().sum(dim=(-2, -1)).amax())
        return max(short, math.sqrt(4.0 / math.pi * max(area, 0.0)) / self.face_ref)

    def blur_stack(self, x: torch.Tensor, reference: float | None = None) -> list[torch.Tensor]:
        """``[x, blur(σ_1), ..., blur(σ_L)]`` with σ_k = levels[k] x ``reference`` (the short
        side when None; :meth:`reference_length` of the batch's maps in the forward pass)."""
        ref = float(min(x.shape[-2:])) if reference is None else float(reference)
        return [x, *(fast_blur_tensor(x, max(0.3, s * ref)) for s in self.levels)]

    def composite(self, stack: Sequence[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
        """Interpolate the blur stack at level ``t`` (hat weights: differentiable in t)."""
        out = torch.zeros_like(stack[0])
        for k, s in enumerate(stack):
            out = out + F.relu(1.0 - (t - k).abs()) * s
        return out.clamp(0.0, 1.0)

    def _forward(self, x: torch.Tensor, inp: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        t = self.level_map(inp[:, 3:])
        self.last_mask = t / len(self.levels)
        return self.composite(self.blur_stack(x, self.reference_length(inp[:, 3:])), t)
