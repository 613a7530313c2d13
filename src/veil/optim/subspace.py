"""Low-dimensional perturbation subspaces for zeroth-order utility gradients (METHOD.md §2.4).

A subspace is a fixed linear map ``B: R^n -> R^(H*W*3)`` from ``n`` coefficients to an
image-space perturbation ``delta = B z`` of an (H, W, 3) image. Every built-in subspace is
*separable*: the coefficients form a (rows, cols, 3) array ``Z`` and, per colour channel c,
``delta[..., c] = Ry @ Z[..., c] @ Rx.T`` with fixed matrices ``Ry`` (H x rows) and ``Rx``
(W x cols). ``project`` is the exact transpose ``B^T``: ``Z = Ry.T @ G[..., c] @ Rx``, so
``<lift(z), g> == <z, project(g)>`` for every z and g.

Scaling (the same for every subspace, so the smoothing radius ``mu`` of an estimator means
the same thing whatever the subspace): ``Ry`` and ``Rx`` are scaled so that
``||Ry||_F^2 = H`` and ``||Rx||_F^2 = W``, i.e. ``||B||_F^2 = 3HW``. Then a standard normal
``z ~ N(0, I_n)`` gives a perturbation with unit mean-square value per pixel,
``E ||lift(z)||^2 / (3HW) = 1``, whatever n; ``x + mu * lift(z)`` moves each pixel by about
``mu`` (RMS). A unit-norm z moves each pixel by about ``1/sqrt(n)`` (RMS) on average over
directions.

Mapping an estimate back to the image: a zeroth-order estimate ``g_z`` estimates
``B^T grad_x L`` (the gradient with respect to z). ``lift(g_z) = B B^T grad_x L`` is a
descent direction (B B^T is positive semi-definite) but scaled by ``3HW/n`` and, for the
grid, smoothed once more by the interpolation; ``image_gradient(g_z) = B (B^T B)^-1 g_z`` is
the orthogonal projection of ``grad_x L`` on the subspace, independent of the scaling.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from veil.errors import ConfigError
from veil.registry import Registry, parse_spec


@runtime_checkable
class Subspace(Protocol):
    """A linear perturbation subspace of (H, W, 3) images with ``dim`` coefficients."""

    height: int
    width: int

    @property
    def dim(self) -> int: ...

    def lift(self, z: np.ndarray) -> np.ndarray: ...

    def project(self, g_img: np.ndarray) -> np.ndarray: ...

    def image_gradient(self, g_z: np.ndarray) -> np.ndarray: ...

    def coefficients(self, image: np.ndarray) -> np.ndarray: ...


SUBSPACES: Registry[Subspace] = Registry("subspace")


def bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """Matrix (out_size, in_size) of 1-D linear interpolation, ``align_corners=False``.

    Same sampling as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``:
    output pixel i reads source coordinate ``(i + 0.5) * in/out - 0.5``, clamped to the edges.
    Rows sum to 1.
    """
    if in_size < 1 or out_size < 1:
        raise ConfigError(f"interpolation sizes must be >= 1, got {in_size} -> {out_size}")
    m = np.zeros((out_size, in_size))
    src = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0.0, in_size - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    rows = np.arange(out_size)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def dct_matrix(size: int, k: int) -> np.ndarray:
    """The k lowest-frequency orthonormal DCT-II basis vectors of length ``size``, as columns.

    Column j is ``s_j cos(pi (i + 1/2) j / size)`` with ``s_0 = sqrt(1/size)`` and
    ``s_j = sqrt(2/size)``; the columns are orthonormal (the inverse of the orthonormal DCT-II).
    """
    if not 1 <= k <= size:
        raise ConfigError(f"DCT needs 1 <= k <= size, got k={k}, size={size}")
    i = np.arange(size)[:, None] + 0.5
    j = np.arange(k)[None, :]
    m = np.cos(np.pi * i * j / size) * np.sqrt(2.0 / size)
    m[:, 0] = np.sqrt(1.0 / size)
    return m


class SeparableSubspace(ABC):
    """Per-channel separable subspace ``delta[..., c] = Ry Z[..., c] Rx^T`` (see module doc).

    Subclasses build the unscaled factors in ``_factors``; this class scales them so that
    ``||Ry||_F^2 = H`` and ``||Rx||_F^2 = W`` and implements lift, project and their inverse.
    Coefficients are flattened in C order of the (rows, cols, 3) array.
    """

    name: ClassVar[str] = ""

    def __init__(self, height: int, width: int) -> None:
        self.height = int(height)
        self.width = int(width)
        if self.height < 1 or self.width < 1:
            raise ConfigError(f"image size must be positive, got {height}x{width}")

    @abstractmethod
    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled (Ry, Rx): (H, rows) and (W, cols)."""

    def _build(self) -> None:
        ry, rx = self._factors()
        self.ry: np.ndarray = ry * np.sqrt(self.height / np.sum(ry**2))
        self.rx: np.ndarray = rx * np.sqrt(self.width / np.sum(rx**2))
        self.coef_shape: tuple[int, int, int] = (ry.shape[1], rx.shape[1], 3)
        # (Ry^T Ry)^-1 and (Rx^T Rx)^-1 for image_gradient; well conditioned for rows <= H.
        self._gy_inv = np.linalg.inv(self.ry.T @ self.ry)
        self._gx_inv = np.linalg.inv(self.rx.T @ self.rx)

    @property
    def dim(self) -> int:
        """Number of coefficients n = rows * cols * 3."""
        a, b, c = self.coef_shape
        return a * b * c

    def _coefs(self, z: np.ndarray) -> tuple[np.ndarray, bool]:
        z = np.asarray(z, dtype=np.float64)
        single = z.ndim == 1
        if z.ndim not in (1, 2) or z.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: z must be ({self.dim},) or (m, {self.dim}), got shape {z.shape}")
        return z.reshape((-1, *self.coef_shape)), single

    def _images(self, g: np.ndarray) -> tuple[np.ndarray, bool]:
        g = np.asarray(g, dtype=np.float64)
        shape = (self.height, self.width, 3)
        single = g.ndim == 3
        if g.shape[-3:] != shape or g.ndim not in (3, 4):
            raise ValueError(f"{self.name}: image must be {shape} or (m, *{shape}), got shape {g.shape}")
        return g.reshape((-1, *shape)), single

    def lift(self, z: np.ndarray) -> np.ndarray:
        """Image perturbation ``B z``: (n,) -> (H, W, 3), or (m, n) -> (m, H, W, 3)."""
        zc, single = self._coefs(z)
        out = np.einsum("ha,mabc,wb->mhwc", self.ry, zc, self.rx, optimize=True)
        return out[0] if single else out

    def project(self, g_img: np.ndarray) -> np.ndarray:
        """Adjoint ``B^T g``: (H, W, 3) -> (n,), or (m, H, W, 3) -> (m, n)."""
        g, single = self._images(g_img)
        out = np.einsum("ha,mhwc,wb->mabc", self.ry, g, self.rx, optimize=True).reshape(len(g), self.dim)
        return out[0] if single else out

    def image_gradient(self, g_z: np.ndarray) -> np.ndarray:
        """``B (B^T B)^-1 g_z``: the image-space vector in the subspace whose projection is ``g_z``.

        If ``g_z`` estimates ``B^T grad_x L``, this estimates the orthogonal projection of
        ``grad_x L`` on the subspace (independent of how B is scaled).
        """
        return self.lift(self._gram_solve(g_z))

    def _gram_solve(self, g_z: np.ndarray) -> np.ndarray:
        """``(B^T B)^-1 g_z`` for (n,) or (m, n), by the separable factors."""
        zc, single = self._coefs(g_z)
        w = np.einsum("ab,mbdc,de->maec", self._gy_inv, zc, self._gx_inv, optimize=True).reshape(len(zc), self.dim)
        return w[0] if single else w

    def coefficients(self, image: np.ndarray) -> np.ndarray:
        """Least-squares coefficients ``(B^T B)^-1 B^T v``: the z whose ``lift`` is closest to ``v``.

        (H, W, 3) -> (n,), or (m, H, W, 3) -> (m, n); ``lift(coefficients(v)) == v`` for v in
        the subspace. Used to turn an image-space direction (e.g. the anonymizer's Jacobian
        applied to a parameter direction) into a sampling direction.
        """
        return self._gram_solve(self.project(image))

    def params(self) -> dict[str, Any]:
        """Constructor keyword arguments, read back from attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@SUBSPACES.register("grid")
class GridSubspace(SeparableSubspace):
    """An r x r_x x 3 grid of coefficients bilinearly upsampled to H x W (METHOD.md §2.4).

    Args:
        height, width: image size.
        r: grid rows (and columns unless ``r_x`` is given); 1 <= r <= height.
        r_x: grid columns; default r.
    """

    name = "grid"

    def __init__(self, height: int, width: int, r: int = 8, r_x: int | None = None) -> None:
        super().__init__(height, width)
        self.r = int(r)
        self.r_x = None if r_x is None else int(r_x)
        cols = self.r if self.r_x is None else self.r_x
        if not (1 <= self.r <= self.height and 1 <= cols <= self.width):
            raise ConfigError(f"grid {self.r}x{cols} must fit the image {self.height}x{self.width}; lower r")
        self._cols = cols
        self._build()

    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        return bilinear_matrix(self.height, self.r), bilinear_matrix(self.width, self._cols)


@SUBSPACES.register("dct")
class DCTSubspace(SeparableSubspace):
    """The lowest k x k_x 2-D DCT-II basis images per channel (METHOD.md §2.4).

    The unscaled basis is orthonormal, so after scaling ``B^T B = (3HW/n) I``.

    Args:
        height, width: image size.
        k: vertical frequencies (and horizontal unless ``k_x`` is given); 1 <= k <= height.
        k_x: horizontal frequencies; default k.
    """

    name = "dct"

    def __init__(self, height: int, width: int, k: int = 8, k_x: int | None = None) -> None:
        super().__init__(height, width)
        self.k = int(k)
        self.k_x = None if k_x is None else int(k_x)
        cols = self.k if self.k_x is None else self.k_x
        if not (1 <= self.k <= self.height and 1 <= cols <= self.width):
            raise ConfigError(f"DCT {self.k}x{cols} must fit the image {self.height}x{self.width}; lower k")
        self._cols = cols
        self._build()

    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        return dct_matrix(self.height, self.k), dct_matrix(self.width, self._cols)


class AugmentedSubspace:
    """A base subspace plus up to ``slots`` image directions of one item (METHOD.md §2.5).

    Why: a fixed low-frequency subspace cannot express most of the changes the anonymizer
    itself can make. Unblurring, for instance, is high-frequency: the 4x4 grid keeps about
    0.1-0.3% of the energy of the masked-blur network's "lower the mask" image direction
    (measured on street items), so sampling there cannot see what that move does to the
    black box. The trainer therefore appends the anonymizer's Jacobian directions ``J u``
    (parameter-space history, see estimators.py) as extra coordinates.

    Coefficients are ``[z_base (n), z_slot (slots)]``; ``lift(z) = B z_base + W z_slot`` where
    the rows of W are the given directions with their component in span(B) removed,
    orthonormalized among themselves (SVD; near-dependent ones dropped) and scaled to the
    mean squared norm of B's columns, ``3HW / n``, so one slot coefficient moves the image as
    much as one base coefficient. Slots past the usable directions lift to nothing.
    ``guide_rows`` are the coordinates of the given directions themselves, so guided sampling
    moves the image the way the anonymizer would.
    ``project`` is the exact adjoint and ``image_gradient`` the orthogonal projection of the
    gradient on span([B, W]) (W is orthogonal to B, so the two parts separate).
    """

    def __init__(self, base: Subspace, directions: np.ndarray, slots: int, rtol: float = 1e-6) -> None:
        self.base, self.slots = base, int(slots)
        self.height, self.width = base.height, base.width
        d = np.asarray(directions, dtype=np.float64).reshape(-1, self.height, self.width, 3)
        if len(d) > self.slots:
            raise ValueError(f"{len(d)} directions do not fit {self.slots} slots")
        rows = np.zeros((0, self.height * self.width * 3))
        if len(d):
            outside = (d - base.lift(base.coefficients(d))).reshape(len(d), -1)
            _, s, vt = np.linalg.svd(outside, full_matrices=False)
            scale = float(np.sqrt(np.max(np.sum(d**2, axis=(1, 2, 3)))))
            keep = s > rtol * scale  # what is left after removing span(B) must be more than round-off
            rows = vt[keep] * np.sqrt(self.height * self.width * 3 / base.dim)
        self._w = rows  # (r, H*W*3), orthogonal rows of squared norm 3HW/n
        self._w_sq = self.height * self.width * 3 / base.dim
        self._directions = d[np.sum(d**2, axis=(1, 2, 3)) > 0]

    @property
    def dim(self) -> int:
        """Base coefficients plus slots."""
        return self.base.dim + self.slots

    @property
    def used_slots(self) -> int:
        """Slots that hold a direction (the rest lift to nothing)."""
        return len(self._w)

    def guide_rows(self) -> np.ndarray:
        """(r, dim) unit-norm coordinates of the given (non-zero) directions: the estimator's ``guide``.

        ``lift`` of row j is direction j up to scale: its base part where B can express it,
        the rest in the slots (for the masked-blur network's moves, almost all of it).
        """
        d = self._directions
        if not len(d):
            return np.zeros((0, self.dim))
        rows = np.zeros((len(d), self.dim))
        rows[:, : self.base.dim] = self.base.coefficients(d)
        rows[:, self.base.dim : self.base.dim + self.used_slots] = d.reshape(len(d), -1) @ self._w.T / self._w_sq
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def _split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim not in (1, 2) or z.shape[-1] != self.dim:
            raise ValueError(f"augmented subspace: z must be ({self.dim},) or (m, {self.dim}), got {z.shape}")
        single = z.ndim == 1
        z2 = z.reshape(-1, self.dim)
        return z2[:, : self.base.dim], z2[:, self.base.dim : self.base.dim + self.used_slots], single

    def lift(self, z: np.ndarray) -> np.ndarray:
        """``B z_base + W z_slot``: (dim,) -> (H, W, 3), or (m, dim) -> (m, H, W, 3)."""
        zb, zs, single = self._split(z)
        out = self.base.lift(zb) + (zs @ self._w).reshape(len(zb), self.height, self.width, 3)
        return out[0] if single else out

    def project(self, g_img: np.ndarray) -> np.ndarray:
        """Adjoint: ``[B^T g, W g, 0...]``."""
        g = np.asarray(g_img, dtype=np.float64)
        single = g.ndim == 3
        g2 = g.reshape(-1, self.height, self.width, 3)
        out = np.zeros((len(g2), self.dim))
        out[:, : self.base.dim] = self.base.project(g2)
        out[:, self.base.dim : self.base.dim + self.used_slots] = g2.reshape(len(g2), -1) @ self._w.T
        return out[0] if single else out

    def image_gradient(self, g_z: np.ndarray) -> np.ndarray:
        """The orthogonal projection on span([B, W]) of a gradient whose adjoint image is ``g_z``."""
        zb, zs, single = self._split(g_z)
        out = self.base.image_gradient(zb) + (zs @ self._w / self._w_sq).reshape(len(zb), self.height, self.width, 3)
        return out[0] if single else out


def create_subspace(spec: str | Subspace, height: int, width: int, **overrides: Any) -> Subspace:
    """Build a subspace for (height, width) images from ``"name:key=value,..."``.

    >>> create_subspace("grid:r=4", 32, 48).dim
    48

    Raises:
        UnknownNameError: the name is not registered.
        ConfigError: a parameter is unknown or has a bad value.
    """
    if not isinstance(spec, str):
        if (spec.height, spec.width) != (height, width):
            raise ConfigError(f"subspace is built for {spec.height}x{spec.width}, not {height}x{width}")
        return spec
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    factory = SUBSPACES.get(name)
    _bind_or_raise(factory, "subspace", name, height=height, width=width, **kwargs)
    return factory(height=height, width=width, **kwargs)


def _bind_or_raise(factory: Any, kind: str, name: str, **kwargs: Any) -> None:
    """Raise ConfigError naming the allowed parameters if ``kwargs`` do not fit ``factory``."""
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError:
        allowed = [p for p in inspect.signature(factory).parameters if p != "self"]
        raise ConfigError(
            f"bad parameters {sorted(kwargs)} for {kind} {name!r}; allowed: {', '.join(allowed) or 'none'}"
        ) from None
