"""The embedded street scenario: valid, split without leaks, deterministic, complete."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from veil.data.fonts import FONTS
from veil.data.manifest import Item, load_manifest, validate_manifest
from veil.data.questions import COUNT_CHOICES, YES_NO
from veil.data.scenarios import SCENARIOS, prepare_scenario
from veil.data.street import (
    PUBLIC_SIGNS,
    SCENARIO_VERSION,
    SPLIT_FONTS,
    default_media_dir,
    prepare_street,
    random_name,
    random_phone,
    random_plate,
)
from veil.errors import ConfigError, UnknownNameError

ATTRIBUTES = ("face", "name_text", "phone_text", "plate_text")


@pytest.fixture(scope="module")
def items(street_manifest: Path) -> list[Item]:
    return load_manifest(street_manifest)


def _needs_opencv(items: list[Item]) -> None:
    if not any(it.source.startswith("vtest.avi") for it in items):
        pytest.skip("opencv-doc media not installed (run `make media`): fallback scenario built")


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((folder / "images").iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_manifest_is_valid(street_manifest: Path) -> None:
    assert validate_manifest(street_manifest) == []
    build = json.loads((street_manifest.parent / "build.json").read_text())
    assert build["seed"] == 0 and build["version"] == SCENARIO_VERSION


def test_size_and_splits(items: list[Item]) -> None:
    ids = [it.id for it in items]
    assert len(ids) == len(set(ids))
    by_split = defaultdict(int)
    for it in items:
        by_split[it.split] += 1
    assert set(by_split) == {"train", "val", "test"}
    assert all(n > 0 for n in by_split.values())
    if any(it.source.startswith("vtest.avi") for it in items):
        assert 200 <= len(items) <= 450


def test_images_are_rgb_and_at_most_640(items: list[Item]) -> None:
    for it in items:
        with Image.open(it.media_path()) as im:
            assert im.mode == "RGB"
            assert max(im.size) <= 640


def test_video_frames_never_straddle_splits(items: list[Item]) -> None:
    _needs_opencv(items)
    frames: dict[str, set[int]] = defaultdict(set)
    for it in items:
        if it.source.startswith("vtest.avi#"):
            frames[it.split].add(int(it.source.split("#")[1]))
            assert it.meta["frame"] == int(it.source.split("#")[1])
    assert set(frames) == {"train", "val", "test"}
    splits = sorted(frames)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert not frames[a] & frames[b]
            gap = min(abs(x - y) for x in frames[a] for y in frames[b])
            assert gap >= 10, f"{a} and {b} frames only {gap} apart"


def test_photos_belong_to_one_split(items: list[Item]) -> None:
    _needs_opencv(items)
    split_of: dict[str, set[str]] = defaultdict(set)
    for it in items:
        if not it.source.startswith("vtest.avi"):
            split_of[it.source].add(it.split)
    assert split_of and all(len(s) == 1 for s in split_of.values())


def test_boxes_lie_inside_their_images(items: list[Item]) -> None:
    for it in items:
        with Image.open(it.media_path()) as im:
            w, h = im.size
        for t in it.private_text:
            x1, y1, x2, y2 = t.box
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, (it.id, t)
            assert t.text == t.text.upper() and t.text.strip()
        for x1, y1, x2, y2 in it.faces:
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, it.id


def test_private_text_never_covers_faces(items: list[Item]) -> None:
    for it in items:
        for t in it.private_text:
            for f in it.faces:
                ix = min(t.box[2], f[2]) - max(t.box[0], f[0])
                iy = min(t.box[3], f[3]) - max(t.box[1], f[1])
                assert ix <= 0 or iy <= 0, (it.id, t, f)


def test_every_split_has_every_attribute_and_both_presence_answers(items: list[Item]) -> None:
    for split in ("train", "val", "test"):
        sub = [it for it in items if it.split == split]
        for a in ATTRIBUTES:
            assert any(it.attributes[a] == 1 for it in sub), (split, a)
        presence = [q.answers[0] for it in sub for q in it.queries if q.family == "presence"]
        assert "yes" in presence and "no" in presence, split
        families = {q.family for it in sub for q in it.queries}
        assert families == {"count", "presence", "sign"}, split


def test_attributes_match_ground_truth(items: list[Item]) -> None:
    for it in items:
        kinds = {t.kind for t in it.private_text}
        assert it.attributes["name_text"] == int("name" in kinds)
        assert it.attributes["phone_text"] == int("phone" in kinds)
        assert it.attributes["plate_text"] == int("plate" in kinds)
        assert it.attributes["face"] == int(any(f[3] - f[1] >= 10 for f in it.faces))


def test_questions_are_well_formed(items: list[Item]) -> None:
    n_yes = n_no = 0
    for it in items:
        for q in it.queries:
            assert q.choices is not None and q.answers[0] in q.choices
            assert len(set(q.choices)) == len(q.choices)
            if q.family == "count":
                assert q.choices == COUNT_CHOICES
            elif q.family == "presence":
                assert q.choices == YES_NO
                n_yes += q.answers[0] == "yes"
                n_no += q.answers[0] == "no"
            else:
                assert q.family == "sign" and len(q.choices) == 4
                assert all(c == c.upper() for c in q.choices)
        by_family = {q.family: q for q in it.queries}
        if "count" in by_family and "presence" in by_family:
            zero = by_family["count"].answers[0] == "0"
            assert by_family["presence"].answers[0] == ("no" if zero else "yes")
    assert 0.15 <= n_no / (n_yes + n_no) <= 0.45


def test_test_split_uses_fonts_train_never_sees(items: list[Item]) -> None:
    train_families = {FONTS[f].family for f in SPLIT_FONTS["train"]}
    assert not train_families & {FONTS[f].family for f in SPLIT_FONTS["test"]}
    for it in items:
        for font in it.meta.get("fonts", {}).values():
            assert font in SPLIT_FONTS[it.split], (it.id, font)


def test_rendered_signs_come_from_the_pool(items: list[Item]) -> None:
    rendered = [it.meta["sign"] for it in items if it.meta.get("sign", {}).get("rendered")]
    assert rendered and all(s["text"] in PUBLIC_SIGNS for s in rendered)


def test_reuse_is_fast_and_keeps_files(street_manifest: Path, street_cache: Path) -> None:
    before = street_manifest.stat().st_mtime_ns
    t = time.perf_counter()
    again = prepare_street(street_manifest.parent.parent, seed=0, progress=False,
                           cache_dir=street_cache)
    assert again == street_manifest
    assert time.perf_counter() - t < 2.0
    assert street_manifest.stat().st_mtime_ns == before


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_other_text(
    street_manifest: Path, street_cache: Path, tmp_path: Path
) -> None:
    media = default_media_dir()
    same = prepare_street(tmp_path / "a", seed=0, media_dir=media, progress=False,
                          cache_dir=street_cache)
    assert same.read_bytes() == street_manifest.read_bytes()
    assert _digest(same.parent) == _digest(street_manifest.parent)
    other = prepare_street(tmp_path / "b", seed=1, media_dir=media, progress=False,
                           cache_dir=street_cache)
    assert validate_manifest(other) == []

    def texts(m: Path) -> set[str]:
        return {t.text for it in load_manifest(m) for t in it.private_text}

    assert texts(other) != texts(street_manifest)
    # rebuilding the same root with another seed replaces it atomically
    assert not list((tmp_path / "b").glob(".street*"))


def test_fallback_without_opencv_media(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = prepare_street(tmp_path, seed=3, media_dir=tmp_path / "no-media", progress=False)
    assert "opencv-doc media not found" in capsys.readouterr().err
    assert validate_manifest(m) == []
    items = load_manifest(m)
    assert {it.split for it in items} == {"train", "val", "test"}
    for a in ATTRIBUTES:
        assert any(it.attributes[a] for it in items), a
    presence = {q.answers[0] for it in items for q in it.queries if q.family == "presence"}
    assert presence == {"yes", "no"}
    assert json.loads((m.parent / "build.json").read_text())["media"] == "skimage"


def test_generators_look_right() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    names = {random_name(rng) for _ in range(200)}
    assert len(names) > 150 and all(len(n.split()) >= 2 for n in names)
    phones = [random_phone(rng) for _ in range(50)]
    assert all(sum(c.isdigit() for c in p) >= 10 for p in phones)
    plates = [random_plate(rng) for _ in range(50)]
    assert all(5 <= len(p.replace(" ", "").replace("-", "")) <= 10 for p in plates)


def test_scenario_registry(tmp_path: Path) -> None:
    assert SCENARIOS["street"] is prepare_street
    with pytest.raises(UnknownNameError, match="street"):
        prepare_scenario("nope", root=tmp_path)
    with pytest.raises(ConfigError):
        prepare_street(tmp_path, seed=-1)
