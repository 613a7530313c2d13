"""Anonymizer networks: shapes at odd sizes, range, gradients, identity at init, the dial, the mask."""

from __future__ import annotations

import copy
import pickle

import cv2
import numpy as np
import pytest
import torch

from veil.anonymizers.networks import (
    NETWORKS,
    AnonymizerNetwork,
    MaskedObfuscation,
    blur_tensor,
    create_network,
    identity_pretrain,
    keeping_last_mask,
    mask_area_penalty,
    num_parameters,
    pixelate_tensor,
)
from veil.errors import ConfigError, UnknownNameError


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs on one torch thread (tests/conftest.py)."""

# the guided networks need detector maps: tests/anonymizers/test_guided.py and test_policy.py
NAMES = [n for n in NETWORKS.names() if n not in ("guided-masked", "guided-policy")]
SMALL = {"unet": {"width": 8}, "film-unet": {"width": 8}, "johnson": {"width": 8, "blocks": 2}, "masked": {"width": 8}}


def small(name: str, **kwargs: object) -> AnonymizerNetwork:
    torch.manual_seed(0)
    return create_network(name, **{**SMALL[name], **kwargs})


def perturb(net: AnonymizerNetwork, seed: int = 0, std: float = 0.1) -> AnonymizerNetwork:
    """Random noise on every parameter (the zero heads included); masks start half open."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
        if isinstance(net, MaskedObfuscation):
            net.body.head.bias.zero_()
    return net


def rand(b: int, h: int, w: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_registry() -> None:
    assert {"unet", "johnson", "film-unet", "masked"} <= set(NAMES)
    assert isinstance(create_network(), NETWORKS.get("unet"))
    with pytest.raises(UnknownNameError, match="unet"):
        create_network("nosuch")
    with pytest.raises(ConfigError, match="allowed"):
        create_network("unet", sigma=3)
    for name, bad in [("unet", {"width": 0}), ("unet", {"residual": "relu"}), ("johnson", {"blocks": -1}),
                      ("masked", {"obfuscation": "smear"}), ("masked", {"sigma": 0}), ("unet", {"depth": 1.5})]:
        with pytest.raises(ConfigError):
            create_network(name, **bad)


@pytest.mark.parametrize("name", NAMES)
class TestEveryNetwork:
    @pytest.mark.parametrize("size", [(37, 53), (1, 1), (5, 130), (64, 32)], ids=lambda s: f"{s[0]}x{s[1]}")
    def test_shape_and_range(self, name: str, size: tuple[int, int]) -> None:
        net = perturb(small(name))
        x = rand(2, *size)
        with torch.no_grad():
            y = net(x)
        assert y.shape == x.shape and y.dtype == torch.float32
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        if not (name == "masked" and size == (1, 1)):  # the blur of one pixel is that pixel
            assert float((y - x).abs().max()) > 1e-3  # the perturbed network does something

    def test_identity_at_init(self, name: str) -> None:
        net = create_network(name)  # the defaults
        x = rand(2, 37, 53)
        with torch.no_grad():
            diff = float((net(x) - x).abs().max())
        if name == "masked":
            assert diff < 3e-3  # sigmoid(-6) of the blur's change: under a grey level
        else:
            assert diff < 1e-5

    def test_gradients(self, name: str) -> None:
        net = perturb(small(name))
        x = rand(2, 21, 30).requires_grad_(True)
        net(x).square().mean().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
        for pname, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert sum(float(p.grad.abs().sum()) > 0 for p in net.parameters()) >= 0.9 * len(list(net.parameters()))

    def test_gradient_reaches_head_at_init(self, name: str) -> None:
        net = small(name)
        x = rand(2, 16, 16).requires_grad_(True)
        (net(x) - 0.5).square().mean().backward()
        assert float(x.grad.abs().sum()) > 0
        assert float(net.state_dict(keep_vars=True)[_head(name) + ".weight"].grad.abs().sum()) > 0

    def test_batch_independent(self, name: str) -> None:
        net = perturb(small(name))
        x = rand(3, 20, 28)
        with torch.no_grad():
            both = net(x)
            one = net(x[1:2])
        torch.testing.assert_close(both[1:2], one, atol=1e-5, rtol=0)

    def test_extra_channels(self, name: str) -> None:
        net = perturb(small(name, extra_channels=2))
        assert num_parameters(net) > num_parameters(small(name))
        x = rand(1, 19, 23)
        e0, e1 = torch.zeros(1, 2, 19, 23), torch.ones(1, 2, 19, 23)
        with torch.no_grad():
            assert float((net(x, e0) - net(x, extra=e1)).abs().max()) > 1e-4
        with pytest.raises(ConfigError, match="extra"):
            net(x)
        with pytest.raises(ConfigError, match="extra"):
            net(x, torch.zeros(1, 3, 19, 23))
        with pytest.raises(ConfigError, match="extra_channels"):
            small(name)(x, e0)

    def test_bad_input(self, name: str) -> None:
        net = small(name)
        for bad in (torch.rand(3, 8, 8), torch.rand(1, 4, 8, 8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)):
            with pytest.raises(ConfigError, match="B, 3, H, W"):
                net(bad)

    def test_hparams_rebuild(self, name: str) -> None:
        net = small(name)
        again = create_network(name, **net.hparams)
        assert again.hparams == net.hparams
        assert net.state_dict().keys() == again.state_dict().keys()

    def test_deepcopy_and_pickle_after_training_forward(self, name: str) -> None:
        net = small(name)
        net(rand(1, 8, 8).requires_grad_(True)).sum()
        for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
            x = rand(1, 12, 12, seed=1)
            with torch.no_grad():
                torch.testing.assert_close(other(x), net(x))


def _head(name: str) -> str:
    return "head" if name == "johnson" else "body.head"


class TestFiLM:
    def test_lam_changes_output_with_random_head(self) -> None:
        net = perturb(small("film-unet"))
        x = rand(2, 24, 24)
        with torch.no_grad():
            y0, y1 = net(x, lam=0.0), net(x, lam=1.0)
            assert float((y0 - y1).abs().max()) > 1e-3
            torch.testing.assert_close(net(x, lam=torch.tensor([0.0, 1.0]))[1], y1[1])
            torch.testing.assert_close(net(x), net(x, lam=0.5))

    def test_learns_the_dial(self) -> None:
        """A few steps towards 'darker with larger lam' make the output depend on lam."""
        net = small("film-unet")
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        x = rand(4, 16, 16)
        for step in range(12):
            lam = torch.rand(4, generator=torch.Generator().manual_seed(step))
            target = x * (1 - 0.5 * lam[:, None, None, None])
            loss = (net(x, lam=lam) - target).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            assert float(net(x, lam=1.0).mean()) < float(net(x, lam=0.0).mean()) - 1e-3

    def test_identity_for_every_lam_at_init(self) -> None:
        net = create_network("film-unet")
        x = rand(1, 17, 9)
        with torch.no_grad():
            for lam in (0.0, 0.3, 1.0):
                assert float((net(x, lam=lam) - x).abs().max()) < 1e-5

    @pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan"), torch.zeros(3)])
    def test_bad_lam(self, lam: object) -> None:
        with pytest.raises(ConfigError, match="lam"):
            small("film-unet")(rand(2, 8, 8), lam=lam)

    def test_unconditioned_ignore_lam(self) -> None:
        net = perturb(small("unet"))
        x = rand(1, 8, 8)
        with torch.no_grad():
            torch.testing.assert_close(net(x, lam=0.0), net(x, lam=1.0))


class TestMasked:
    def test_mask_kept_and_penalized(self) -> None:
        net = small("masked")
        x = rand(2, 37, 53).requires_grad_(True)
        y = net(x)
        m = net.last_mask
        assert m is not None and m.requires_grad
        m = m.detach()
        assert m.shape == (2, 1, 37, 53)
        assert float(m.min()) > 0 and float(m.max()) < 0.003
        pen = net.area_penalty()
        assert pen.requires_grad and abs(float(pen.detach()) - float(m.mean())) < 1e-6
        (y.sum() + pen).backward()
        assert net.body.head.bias.grad is not None

    def test_extra_forward_passes_keep_the_training_mask(self) -> None:
        net = small("masked")
        net(rand(1, 8, 8))
        mask = net.last_mask
        with pytest.raises(RuntimeError), keeping_last_mask(net):
            net(rand(2, 16, 16))
            assert net.last_mask is not mask  # the pass inside did replace it ...
            raise RuntimeError("a failed render")
        assert net.last_mask is mask  # ... and it is back, even on an error
        unet = small("unet")
        with keeping_last_mask(unet):  # a network without a mask: nothing to keep
            unet(rand(1, 8, 8))
        assert not hasattr(unet, "last_mask")

    def test_full_mask_gives_obfuscation(self) -> None:
        for obf in ("blur", "pixelate"):
            net = small("masked", obfuscation=obf, mask_init=30.0, sigma=2.0, block=4)
            x = rand(1, 13, 18)
            with torch.no_grad():
                torch.testing.assert_close(net(x), net.obfuscate(x), atol=1e-6, rtol=0)

    def test_penalty_free_area(self) -> None:
        m = torch.zeros(2, 1, 4, 4)
        m[0, :, :2] = 1.0  # half of image 0
        assert float(mask_area_penalty(m)) == pytest.approx(0.25)
        assert float(mask_area_penalty(m, free_area=0.5)) == 0.0
        assert float(mask_area_penalty(m, free_area=0.25)) == pytest.approx(0.125)

    def test_area_penalty_before_forward(self) -> None:
        with pytest.raises(RuntimeError, match="call the network"):
            small("masked").area_penalty()


class TestObfuscations:
    def test_blur_matches_cv2_replicate(self) -> None:
        img = np.random.default_rng(0).random((31, 40, 3)).astype(np.float32)
        sigma = 2.5
        k = 2 * int(np.ceil(3 * sigma)) + 1
        ref = cv2.GaussianBlur(img, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)
        got = blur_tensor(torch.from_numpy(img).permute(2, 0, 1)[None], sigma)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-4)

    def test_blur_tiny_and_uniform(self) -> None:
        x = torch.full((1, 3, 2, 3), 0.3)
        torch.testing.assert_close(blur_tensor(x, 20.0), x)

    def test_pixelate_block_means(self) -> None:
        x = rand(1, 10, 7, c=1)
        y = pixelate_tensor(x, 4)
        assert y.shape == x.shape
        torch.testing.assert_close(y[0, 0, :4, :4], x[0, 0, :4, :4].mean().expand(4, 4))
        torch.testing.assert_close(y[0, 0, 8:, 4:], x[0, 0, 8:, 4:].mean().expand(2, 3))  # partial block
        torch.testing.assert_close(pixelate_tensor(x, 1), x)


class TestIdentityPretrain:
    @staticmethod
    def images() -> list[np.ndarray]:
        rng = np.random.default_rng(0)
        return [cv2.GaussianBlur(rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8), (5, 5), 1.5)
                for i in range(3)]

    def test_lowers_l1_and_is_deterministic(self) -> None:
        runs = []
        for _ in range(2):
            net = perturb(small("unet"))
            losses = identity_pretrain(net, self.images(), steps=25, lr=3e-3, seed=1, crop=32, batch_size=2)
            runs.append(losses)
            assert len(losses) == 25 and np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])
            assert net.training  # mode restored
        assert runs[0] == runs[1]

    @pytest.mark.parametrize("name", ["film-unet", "masked"])
    def test_runs_on_conditioned_and_guided(self, name: str) -> None:
        net = perturb(small(name, extra_channels=1))
        net.eval()
        losses = identity_pretrain(net, self.images(), steps=3, crop=200, seed=np.random.default_rng(0))
        assert len(losses) == 3 and all(np.isfinite(losses)) and not net.training

    def test_bad_images(self) -> None:
        with pytest.raises(ConfigError):
            identity_pretrain(small("unet"), [], steps=1)
        with pytest.raises(ConfigError):
            identity_pretrain(small("unet"), [np.zeros((8, 8), np.uint8)], steps=1)
