"""The trainer: exact resume, the query budget, the cache, and refusals before any query."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from veil.data.manifest import load_manifest, write_manifest
from veil.errors import ConfigError, ManifestError
from veil.train import TrainConfig, Trainer, utility_loss

pytestmark = pytest.mark.slow


def _cfg(**kw: object) -> TrainConfig:
    base = dict(steps=4, batch_size=2, num_directions=2, image_width=64, image_height=48, budget=400,
                checkpoint_every=1, evaluator_k=2, evaluator_image_size=32, subspace="grid:r=2",
                pareto="mgda", pareto_kwargs={}, network="guided-masked")  # the image-space path
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _params(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_resume_equals_uninterrupted(street_manifest: Path, tmp_path: Path) -> None:
    a = Trainer(street_manifest, tmp_path / "a", _cfg(), progress=False).fit()
    Trainer(street_manifest, tmp_path / "b", _cfg(steps=2), progress=False).fit()
    b = Trainer(street_manifest, tmp_path / "b", _cfg(), resume=True, progress=False).fit()
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=1e-5, atol=1e-6)
    # the resumed run logged steps 1..4 once each
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_budget_never_exceeded_and_cache_counted(street_manifest: Path, tmp_path: Path) -> None:
    cfg = _cfg(steps=10, budget=20)  # 8 queries a step: two steps fit, a third would not
    tr = Trainer(street_manifest, tmp_path / "r", cfg, progress=False)
    model = tr.fit()
    assert tr.queries_paid <= 20 and tr.step_count == 2
    logged = (tmp_path / "r" / "queries.jsonl").read_text().splitlines()
    paid = [json.loads(line) for line in logged]
    assert len([r for r in paid if not r.get("cached")]) == tr.engine.stats.queries
    meta = json.loads((model / "config.json").read_text())["meta"]
    assert "budget" in meta["stopped"]


def test_refusals_before_any_query(street_manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too small for one step"):
        Trainer(street_manifest, tmp_path / "x", _cfg(budget=3), progress=False)
    with pytest.raises(ConfigError, match="unknown option"):
        TrainConfig.from_dict({"stepz": 3})
    items = load_manifest(street_manifest, split="train")
    stripped = [type(it)(**{**it.__dict__, "attributes": {}}) for it in items]
    bad = write_manifest(tmp_path / "nolabels.jsonl", stripped)
    bad.write_text(bad.read_text().replace('"images/', f'"{street_manifest.parent}/images/'))
    with pytest.raises(ManifestError, match="attribute"):
        Trainer(bad, tmp_path / "y", _cfg(), progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_existing_run_needs_resume(street_manifest: Path, tmp_path: Path) -> None:
    Trainer(street_manifest, tmp_path / "c", _cfg(steps=1), progress=False).fit()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(street_manifest, tmp_path / "c", _cfg(steps=1), progress=False)


def test_utility_loss_modes() -> None:
    lp = {"yes": -0.1, "no": -2.4}
    assert utility_loss("yes", lp, {"yes"}, "score") == pytest.approx(0.1)
    assert utility_loss("no", lp, {"yes"}, "answer") == 1.0
    assert utility_loss("Yes.", None, {"yes"}, "answer") == 0.0
    # VQA soft accuracy: 2 of 10 humans said "teal" -> accuracy 0.6 after the leave-one-out average
    humans = ["blue"] * 8 + ["teal"] * 2
    assert utility_loss("Teal", None, humans, "answer", "vqa") == pytest.approx(1 - 0.6)
    assert utility_loss("blue", None, humans, "answer", "vqa") == pytest.approx(0.0)
    close = utility_loss("three people", None, ["3 persons"], "answer", "embedding")
    far = utility_loss("a red car", None, ["3 persons"], "answer", "embedding")
    assert 0.0 <= close < far <= 1.0
    with pytest.raises(ConfigError, match="answer_score"):
        TrainConfig(answer_score="bleu")
    with pytest.raises(ConfigError):
        utility_loss("yes", None, {"yes"}, "score")


def test_privacy_margin_defaults_by_network_and_is_refused_where_there_are_no_levels() -> None:
    assert TrainConfig().privacy_margin == 1.0
    assert TrainConfig(network="unet").privacy_margin == 0.0
    with pytest.raises(ConfigError, match="privacy_margin needs"):
        TrainConfig(network="unet", privacy_margin=1.0)
    with pytest.raises(ConfigError, match=r"privacy_margin must be in \[0, 6\]"):
        TrainConfig(privacy_margin=-1.0)


def test_documented_config_file_matches_defaults() -> None:
    repo = Path(__file__).resolve().parents[1]
    assert TrainConfig.from_yaml(repo / "configs" / "train-default.yaml") == TrainConfig()


def test_separate_privacy_manifest(street_manifest: Path, tmp_path: Path) -> None:
    """Cross-dataset training: utility items without labels, privacy labels from a second manifest."""
    items = load_manifest(street_manifest, split="train")
    root = street_manifest.parent
    utility_only = write_manifest(tmp_path / "utility.jsonl", [type(it)(**{**it.__dict__, "attributes": {}})
                                                               for it in items[:12]])
    utility_only.write_text(utility_only.read_text().replace('"images/', f'"{root}/images/'))
    privacy = write_manifest(tmp_path / "privacy.jsonl", items[12:40])
    privacy.write_text(privacy.read_text().replace('"images/', f'"{root}/images/'))
    with pytest.raises(ManifestError, match="attribute"):  # alone, the utility set cannot train privacy
        Trainer(utility_only, tmp_path / "z", _cfg(steps=1), progress=False)
    tr = Trainer(utility_only, tmp_path / "p", _cfg(steps=2), progress=False, privacy_manifest=privacy)
    model = tr.fit()
    assert len(tr.priv_items) == 28 and tr.x_priv.shape[0] == 28
    assert tr.attributes  # taken from the privacy manifest
    meta = json.loads((model / "config.json").read_text())["meta"]
    assert meta["privacy_manifest"] == str(privacy)
    recs = [json.loads(line) for line in (tmp_path / "p" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2] and all(r["evaluator_bce"] > 0 for r in recs)


def test_constraint_measures_its_reference_within_the_budget(street_manifest: Path, tmp_path: Path) -> None:
    """The constraint rule pays REFERENCE_ITEMS unprotected queries once; they count against the budget."""
    from veil.train import REFERENCE_ITEMS

    n_train = len(load_manifest(street_manifest, split="train"))
    ref = min(REFERENCE_ITEMS, n_train)
    with pytest.raises(ConfigError, match="too small for one step"):
        Trainer(street_manifest, tmp_path / "t", _cfg(pareto="constraint", pareto_kwargs={"tau": 0.9}, budget=8),
                progress=False)
    cfg = _cfg(pareto="constraint", pareto_kwargs={"tau": 0.9}, budget=ref + 16, steps=5)
    tr = Trainer(street_manifest, tmp_path / "c", cfg, progress=False)
    tr.fit()
    assert tr.step_count == 2 and tr.queries_paid <= ref + 16
    assert tr.rule.reference_loss > 0 and tr.rule.loss_kind == "neg_log"
    recs = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert all("lambda" in r for r in recs)


def test_other_networks_drop_the_guided_defaults() -> None:
    assert TrainConfig().network == "guided-policy" and TrainConfig().guide == "faces+textcls+nudity"
    assert TrainConfig(network="unet", guide="faces+textcls").guide is None  # an older config file's default
    old_default = TrainConfig(network="guided-masked")
    assert old_default.guide == "faces+text" and old_default.network_kwargs["floor_channels"] == [0, 1]
    plain = TrainConfig(network="unet")
    assert plain.network_kwargs == {} and plain.guide is None
    masked = TrainConfig(network="masked", network_kwargs={"sigma": 4.0})
    assert masked.guide is None and masked.network_kwargs == {"sigma": 4.0}
    guided_masked = TrainConfig(network="masked", network_kwargs={"extra_channels": 3})
    assert guided_masked.guide == "faces+text"  # a masked network with maps keeps the guide


@pytest.mark.parametrize("name, kwargs", [("masked", {"mask_init": 0.0, "sigma": 2.0}),
                                          ("guided-masked", {"extra_channels": 3})])
def test_parameter_directions_match_finite_differences(name: str, kwargs: dict) -> None:
    from veil.anonymizers.networks import create_network
    from veil.train import parameter_directions

    torch.manual_seed(0)
    net = create_network(name, width=4, depth=2, **kwargs).double()
    for q in net.parameters():  # away from the zero-initialised head, so every part moves
        q.data.add_(0.1 * torch.randn_like(q))
    x = torch.rand(2, 3, 16, 24, dtype=torch.float64)
    extra = torch.rand(2, 3, 16, 24, dtype=torch.float64) if name == "guided-masked" else None
    p = sum(q.numel() for q in net.parameters())
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(p, 2)))[0]
    net(x, extra)
    mask = net.last_mask
    jv = parameter_directions(net, x, extra, basis)
    assert net.last_mask is mask  # the training forward's mask is left in place
    assert jv.shape == (2, 2, 3, 16, 24)

    def shifted(step: float, u: np.ndarray) -> torch.Tensor:
        clone = copy.deepcopy(net)
        offset = 0
        with torch.no_grad():
            for q in clone.parameters():
                q.add_(step * torch.from_numpy(u[offset:offset + q.numel()]).reshape(q.shape))
                offset += q.numel()
            return clone(x, extra)

    if name == "masked":  # smooth: central differences agree
        for j in range(2):
            fd = (shifted(1e-5, basis[:, j]) - shifted(-1e-5, basis[:, j])) / 2e-5
            torch.testing.assert_close(jv[j], fd, rtol=1e-4, atol=1e-6)
    else:  # hard argmax: the JVP is the straight-through (soft) derivative, nonzero where the soft mix moves
        assert float(jv.abs().sum()) > 0


def test_parameter_history_is_recorded_and_used(street_manifest: Path, tmp_path: Path) -> None:
    tr = Trainer(street_manifest, tmp_path / "p", _cfg(steps=3, num_directions=4), progress=False)
    tr.fit()
    assert tr.estimator.param_store is not None and len(tr.estimator.param_store) == 3
    p = sum(q.numel() for q in tr.net.parameters())
    assert tr.estimator.parameter_basis().shape[0] == p
    x = tr.x_all[[0, 1]].float().div(255.0)
    slots = tr.estimator.parameter_slots
    assert slots == tr.estimator.param_k + 1 and tr.estimator.dim == tr.subspace.dim + slots
    spaces = tr.utility.item_subspaces(x, tr._extra(tr.maps_all, [0, 1]))
    assert len(spaces) == 2 and all(s.dim == tr.estimator.dim and 0 < s.used_slots <= slots for s in spaces)
    # the slot directions are the network's own moves, outside the base subspace
    for s in spaces:
        slot_image = s.lift(np.eye(s.dim)[tr.subspace.dim])
        assert np.abs(slot_image).max() > 0
        np.testing.assert_allclose(tr.subspace.project(slot_image), 0.0, atol=1e-8)
        assert s.guide_rows().shape[0] > 0
    off = Trainer(street_manifest, tmp_path / "q", _cfg(steps=2, estimator_kwargs={"param_history": False}),
                  progress=False)
    off.fit()
    assert off.estimator.param_store is None and off.estimator.dim == off.subspace.dim
    assert off.utility.item_subspaces(x, off._extra(off.maps_all, [0, 1]))[0] is off.subspace


def test_default_policy_network_learns_in_its_policy_space(street_manifest: Path, tmp_path: Path) -> None:
    """The default (guided-policy) run: policy-space queries within the budget, exact resume, and a
    strength whose category never shows in the data does not move (its estimate is masked to 0)."""
    cfg = dict(steps=3, batch_size=2, num_directions=2, image_width=96, image_height=72, budget=400,
               checkpoint_every=1, evaluator_k=1, evaluator_image_size=32, adversaries=["ppocr-det"])
    tr = Trainer(street_manifest, tmp_path / "a", TrainConfig(**cfg), progress=False)
    assert tr.utility.mode == "policy" and tr.estimator.dim == 9  # nudity is fixed: no strength to learn
    assert tr.net.fixed_categories == ["nudity"] and "nudity" in tr.net.policy
    start = tr.net.category_levels()
    model = tr.fit()
    assert tr.queries_paid <= 400 and tr.step_count == 3
    end = tr.net.category_levels()
    assert end["email"] == start["email"]  # no e-mail address anywhere in the street scenario
    assert end["nudity"] == start["nudity"] == 6.0  # the strongest blur, whatever the black box answers
    assert end != start
    recs = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all("levels" in r and len(r["families"]) == 2 for r in recs)
    Trainer(street_manifest, tmp_path / "b", TrainConfig(**{**cfg, "steps": 1}), progress=False).fit()
    b = Trainer(street_manifest, tmp_path / "b", TrainConfig(**cfg), resume=True, progress=False).fit()
    pa, pb = _params(model), _params(b)
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=1e-5, atol=1e-6)


def test_nudity_is_hidden_where_the_guide_detects_it_and_named_only_then(street_manifest: Path, tmp_path: Path) -> None:
    """The default policy names nudity only for a guide with the nudity detector; naming it
    for a guide without one is refused (nothing would find it)."""
    cfg = dict(steps=0, image_width=96, image_height=72, evaluator_k=1, evaluator_image_size=32,
               adversaries=["ppocr-det"])
    old = Trainer(street_manifest, tmp_path / "a", TrainConfig(**cfg, guide="faces+textcls"), progress=False)
    assert old.net.fixed_categories == [] and "nudity" not in old.net.policy and old.net.extra_channels == 9
    assert "fixed_categories" not in old.net.hparams  # a model without it keeps its config and export key
    with pytest.raises(ConfigError, match="nudity"):
        Trainer(street_manifest, tmp_path / "b", TrainConfig(**cfg, guide="faces+textcls", policy=["face", "nudity"]),
                progress=False)
    kept = Trainer(street_manifest, tmp_path / "c", TrainConfig(**cfg, policy=["face", "name"]), progress=False)
    assert kept.net.fixed_categories == ["nudity"] and kept.net.category_levels()["nudity"] == 0.0
