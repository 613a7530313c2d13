"""Loaders of VISPR, UCF101, HMDB51, PA-HMDB51 and OK-VQA on tiny datasets written in
their published layouts (tests/data/layout_fixtures.py), and their errors on bad layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from veil.cli import main
from veil.data.importing import LayoutError, get_importer, import_dataset, readable_class_name
from veil.data.manifest import load_manifest, validate_manifest
from veil.data.pahmdb51 import frame_labels, parse_ranges
from veil.errors import ConfigError, UnknownNameError, VeilError

_FIX = Path(__file__).with_name("layout_fixtures.py")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory, layout_fixtures: ModuleType) -> dict[str, Path]:
    fx = layout_fixtures
    base = tmp_path_factory.mktemp("layouts")
    return {
        "vispr": fx.make_vispr(base / "vispr"),
        "ucf101": fx.make_ucf101(base / "ucf101"),
        "hmdb51": fx.make_hmdb51(base / "hmdb51"),
        "pahmdb51": fx.make_pahmdb51(base / "pahmdb51"),
        "okvqa": fx.make_okvqa(base / "okvqa"),
    }


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------- VISPR


class TestVispr:
    def test_seven_attributes_and_splits(self, roots: dict[str, Path], tmp_path: Path) -> None:
        rep = import_dataset("vispr", roots["vispr"], tmp_path / "m.jsonl")
        assert validate_manifest(tmp_path / "m.jsonl") == []
        items = load_manifest(tmp_path / "m.jsonl")
        assert dict(rep.items) == {"train": 12, "val": 4, "test": 8}
        assert rep.attributes == ["a4_gender", "a9_face_complete", "a10_face_partial", "a12_semi_nudity", "a17_color",
                                  "a64_rel_personal", "a65_rel_social"]
        for it in items:
            ann = json.loads((roots["vispr"] / it.source).read_text())
            assert it.attributes == {a: int(a in ann["labels"]) for a in rep.attributes}
            assert it.media_path().resolve() == (roots["vispr"] / ann["image_path"]).resolve()

    def test_five_groups_are_any_of_members(self, roots: dict[str, Path]) -> None:
        items, rep = get_importer("vispr")(roots["vispr"], attributes="5")
        assert rep.attributes == ["gender", "face", "nudity", "skin_color", "relationship"]
        n_face = 0
        for it in items:
            labels = set(it.meta["labels"])
            assert it.attributes["face"] == int(bool(labels & {"a9_face_complete", "a10_face_partial"}))
            assert it.attributes["relationship"] == int(bool(labels & {"a64_rel_personal", "a65_rel_social"}))
            assert it.attributes["gender"] == int("a4_gender" in labels)
            n_face += it.attributes["face"]
        assert 0 < n_face < len(items)

    def test_all_attributes_from_tsv(self, roots: dict[str, Path]) -> None:
        items, rep = get_importer("vispr")(roots["vispr"], attributes="all")
        tsv = [ln.split("\t")[0] for ln in (roots["vispr"] / "attributes.tsv").read_text().splitlines()]
        assert rep.attributes == tsv and len(items[0].attributes) == len(tsv)
        safe = [it for it in items if it.meta["labels"] == ["a0_safe"]]
        assert safe and all(it.attributes["a0_safe"] == 1 for it in safe)

    def test_unknown_attribute_names_the_annotation(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["vispr"], tmp_path)
        ann = sorted((root / "annotations" / "val2017").glob("*.json"))[1]
        d = json.loads(ann.read_text())
        d["labels"] = ["a4_gender", "a99_made_up"]
        ann.write_text(json.dumps(d))
        with pytest.raises(LayoutError, match="a99_made_up") as e:
            import_dataset("vispr", root, tmp_path / "m.jsonl")
        assert str(ann) in str(e.value)

    def test_missing_image_names_path_or_is_skipped(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["vispr"], tmp_path)
        ann = sorted((root / "annotations" / "test2017").glob("*.json"))[0]
        image = root / json.loads(ann.read_text())["image_path"]
        image.unlink()
        with pytest.raises(LayoutError) as e:
            import_dataset("vispr", root, tmp_path / "m.jsonl")
        assert str(ann) in str(e.value) and str(image) in str(e.value)
        rep = import_dataset("vispr", root, tmp_path / "m.jsonl", skip_missing=True)
        assert rep.items["test"] == 7 and rep.skipped["image missing"] == 1
        assert "skipped 1: image missing" in rep.summary()

    def test_missing_split_folder_and_tsv(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["vispr"], tmp_path)
        shutil.rmtree(root / "annotations" / "val2017")
        with pytest.raises(LayoutError, match="annotations/val2017") as e:
            import_dataset("vispr", root, tmp_path / "m.jsonl")
        assert str(root / "annotations" / "val2017") in str(e.value)
        (root / "attributes.tsv").unlink()
        with pytest.raises(LayoutError, match="attributes.tsv"):
            import_dataset("vispr", root, tmp_path / "m.jsonl")

    def test_bad_attribute_set(self, roots: dict[str, Path], tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="7, 5, all"):
            import_dataset("vispr", roots["vispr"], tmp_path / "m.jsonl", attributes="6")


# ----------------------------------------------------------------------------- UCF101


class TestUcf101:
    @pytest.mark.parametrize("split", [1, 2, 3])
    def test_official_splits(self, roots: dict[str, Path], tmp_path: Path, split: int) -> None:
        rep = import_dataset("ucf101", roots["ucf101"], tmp_path / "u.jsonl", split=split)
        items = load_manifest(tmp_path / "u.jsonl")
        assert dict(rep.items) == {"train": 6, "test": 3}
        assert rep.classes == ["ApplyEyeMakeup", "Basketball", "HandstandPushups"]
        lists = roots["ucf101"] / "ucfTrainTestlist"
        train_lines = (lists / f"trainlist0{split}.txt").read_text().split()
        for it in items:
            q = it.queries[0]
            assert q.family == "action" and q.answers == (readable_class_name(it.meta["class"]),)
            assert q.choices == ("apply eye makeup", "basketball", "handstand pushups")
            assert it.media.type == "video" and it.media_path().is_file()
            assert (it.source in train_lines) == (it.split == "train")
            assert it.meta["label"] == rep.classes.index(it.meta["class"])

    def test_label_must_match_folder(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["ucf101"], tmp_path)
        lst = root / "ucfTrainTestlist" / "trainlist01.txt"
        lines = lst.read_text().splitlines()
        lines[0] = lines[0].rsplit(" ", 1)[0] + " 2"
        lst.write_text("\n".join(lines) + "\n")
        with pytest.raises(LayoutError, match="line 1: label 2 disagrees") as e:
            import_dataset("ucf101", root, tmp_path / "u.jsonl")
        assert str(lst) in str(e.value)

    def test_missing_split_file_and_video(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["ucf101"], tmp_path)
        (root / "ucfTrainTestlist" / "testlist02.txt").unlink()
        with pytest.raises(LayoutError) as e:
            import_dataset("ucf101", root, tmp_path / "u.jsonl", split=2)
        assert str(root / "ucfTrainTestlist" / "testlist02.txt") in str(e.value)
        video = next((root / "Basketball").glob("*g01*.avi"))
        video.unlink()
        with pytest.raises(LayoutError, match="video not found") as e:
            import_dataset("ucf101", root, tmp_path / "u.jsonl", split=1)
        assert str(video) in str(e.value)
        rep = import_dataset("ucf101", root, tmp_path / "u.jsonl", split=1, skip_missing=True)
        assert rep.skipped["video missing"] == 1 and rep.total == 8

    def test_lists_folder_next_to_root_and_bad_split(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["ucf101"], tmp_path / "UCF-101")
        shutil.move(str(root / "ucfTrainTestlist"), str(root.parent / "ucfTrainTestlist"))
        assert import_dataset("ucf101", root, tmp_path / "u.jsonl").total == 9
        with pytest.raises(ConfigError, match="splits 1, 2 and 3"):
            import_dataset("ucf101", root, tmp_path / "u.jsonl", split=4)
        shutil.rmtree(root.parent / "ucfTrainTestlist")
        with pytest.raises(LayoutError, match="ucfTrainTestlist"):
            import_dataset("ucf101", root, tmp_path / "u.jsonl")


# ----------------------------------------------------------------------------- HMDB51


class TestHmdb51:
    def test_flags(self, roots: dict[str, Path], tmp_path: Path) -> None:
        rep = import_dataset("hmdb51", roots["hmdb51"], tmp_path / "h.jsonl", split=3)
        items = load_manifest(tmp_path / "h.jsonl")
        assert dict(rep.items) == {"train": 6, "test": 3}
        assert rep.skipped["flag 0 (unused in split 3)"] == 3
        assert rep.classes == ["brush_hair", "ride_bike", "shake_hands"]
        by_id = {it.id: it for it in items}
        assert by_id["hmdb51-brush_hair_video_2_u_nm_np1_fr_goo_2"].split == "test"
        assert by_id["hmdb51-ride_bike_video_0_u_nm_np1_fr_goo_0"].split == "train"
        assert by_id["hmdb51-ride_bike_video_0_u_nm_np1_fr_goo_0"].queries[0].answers == ("ride bike",)

    def test_missing_split_file_names_it(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["hmdb51"], tmp_path)
        missing = root / "testTrainMulti_7030_splits" / "ride_bike_test_split1.txt"
        missing.unlink()
        with pytest.raises(LayoutError, match="missing split file") as e:
            import_dataset("hmdb51", root, tmp_path / "h.jsonl")
        assert str(missing) in str(e.value)

    def test_bad_flag_and_missing_video(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["hmdb51"], tmp_path)
        split_file = root / "testTrainMulti_7030_splits" / "shake_hands_test_split2.txt"
        split_file.write_text(split_file.read_text().replace(" 2 ", " 7 "))
        with pytest.raises(LayoutError, match="line 3") as e:
            import_dataset("hmdb51", root, tmp_path / "h.jsonl", split=2)
        assert str(split_file) in str(e.value)
        video = root / "brush_hair" / "brush_hair_video_1_u_nm_np1_fr_goo_1.avi"
        video.unlink()
        with pytest.raises(LayoutError, match="is missing") as e:
            import_dataset("hmdb51", root, tmp_path / "h.jsonl", split=1)
        assert str(video) in str(e.value)


# ----------------------------------------------------------------------------- PA-HMDB51


class TestPaHmdb51:
    def test_ranges_to_frame_labels(self) -> None:
        ranges = {
            "face": parse_ranges("x", "face", [[0, 3, 1], [4, 6, 0], [7, 9, 2]]),
            "gender": parse_ranges("x", "gender", [[2, 5, [1, 2]], [6, 7, [0]]]),
        }
        lab = frame_labels(ranges, 12)
        np.testing.assert_array_equal(lab["face"], [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0])  # end incl.
        np.testing.assert_array_equal(lab["gender"], [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # a list counts if any != 0
        for bad in ([[3, 1, 1]], [[0, 2]], [[0, 2, "x"]], "0-2", [[0, 2, True]], [[-1, 2, 1]]):
            with pytest.raises(LayoutError, match="face"):
                parse_ranges("x.json: v.avi", "face", bad)

    def test_video_items(self, roots: dict[str, Path], tmp_path: Path) -> None:
        rep = import_dataset("pahmdb51", roots["pahmdb51"], tmp_path / "p.jsonl")
        items = load_manifest(tmp_path / "p.jsonl")
        assert rep.total == 6 and {it.split for it in items} == {"test"}
        by_id = {it.id: it for it in items}
        v0 = by_id["pahmdb51-brush_hair_video_0_u_nm_np1_fr_goo_0"]
        assert v0.attributes == {"skin_color": 1, "face": 1, "gender": 0, "nudity": 0, "relationship": 0}
        v1 = by_id["pahmdb51-ride_bike_video_1_u_nm_np1_fr_goo_1"]
        assert v1.attributes == {"skin_color": 1, "face": 1, "gender": 1, "nudity": 1, "relationship": 1}
        assert v1.queries[0].answers == ("ride bike",) and v1.meta["n_frames"] == 12

    def test_frame_items_follow_ranges(self, roots: dict[str, Path], tmp_path: Path) -> None:
        rep = import_dataset("pahmdb51", roots["pahmdb51"], tmp_path / "p.jsonl", frames=4)
        items = load_manifest(tmp_path / "p.jsonl")
        assert rep.total == 24 and all(it.media.type == "image" and it.media_path().is_file() for it in items)
        for it in items:
            assert it.attributes["face"] == int(it.meta["frame"] <= 5)  # face [[0, 5, 2], [6, 11, 0]]

    def test_split_uses_hmdb51_flags(self, roots: dict[str, Path], tmp_path: Path) -> None:
        rep = import_dataset("pahmdb51", roots["pahmdb51"], tmp_path / "p.jsonl", split=1)
        assert dict(rep.items) == {"train": 6}  # the annotated videos 0 and 1 have flag 1

    def test_unknown_attribute_and_missing_video(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["pahmdb51"], tmp_path)
        ann = root / "PrivacyAttributes" / "shake_hands.json"
        d = json.loads(ann.read_text())
        first = next(iter(d))
        d[first]["hair_colour"] = [[0, 11, 1]]
        ann.write_text(json.dumps(d))
        with pytest.raises(LayoutError, match="unknown attribute") as e:
            import_dataset("pahmdb51", root, tmp_path / "p.jsonl")
        assert str(ann) in str(e.value) and "hair_colour" in str(e.value)
        del d[first]["hair_colour"]
        ann.write_text(json.dumps(d))
        (root / "shake_hands" / first).unlink()
        with pytest.raises(LayoutError, match="annotated video not found") as e:
            import_dataset("pahmdb51", root, tmp_path / "p.jsonl")
        assert str(root / "shake_hands" / first) in str(e.value)


# ----------------------------------------------------------------------------- OK-VQA


class TestOkvqa:
    def test_questions_answers_and_images(self, roots: dict[str, Path], tmp_path: Path) -> None:
        rep = import_dataset("okvqa", roots["okvqa"], tmp_path / "o.jsonl")
        items = load_manifest(tmp_path / "o.jsonl")
        assert dict(rep.items) == {"train": 6, "test": 4}
        first = next(it for it in items if it.id == "okvqa-train2014-100")
        assert len(first.queries) == 2  # two questions on that image
        q = first.queries[0]
        assert q.family == "vqa" and q.choices is None and len(q.answers) == 10
        assert q.prompt.startswith("What sport can you use this for?")
        assert first.media_path().name == "COCO_train2014_000000000100.jpg"
        test = next(it for it in items if it.split == "test")
        assert test.media_path().name.startswith("COCO_val2014_")

    def test_missing_image_and_file(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["okvqa"], tmp_path)
        img = root / "val2014" / "COCO_val2014_000000001102.jpg"
        img.unlink()
        with pytest.raises(LayoutError, match="image 1102") as e:
            import_dataset("okvqa", root, tmp_path / "o.jsonl")
        assert str(img) in str(e.value) and "OpenEnded_mscoco_val2014_questions.json" in str(e.value)
        assert import_dataset("okvqa", root, tmp_path / "o.jsonl", skip_missing=True).skipped["image missing"] == 1
        (root / "mscoco_train2014_annotations.json").unlink()
        with pytest.raises(LayoutError) as e:
            import_dataset("okvqa", root, tmp_path / "o.jsonl")
        assert str(root / "mscoco_train2014_annotations.json") in str(e.value)

    def test_malformed_annotation(self, roots: dict[str, Path], tmp_path: Path) -> None:
        root = _copy(roots["okvqa"], tmp_path)
        p = root / "mscoco_val2014_annotations.json"
        d = json.loads(p.read_text())
        d["annotations"][1]["answers"] = "tennis"
        p.write_text(json.dumps(d))
        with pytest.raises(LayoutError, match=r"annotations\[1\]"):
            import_dataset("okvqa", root, tmp_path / "o.jsonl")
        p.write_text("{not json")
        with pytest.raises(LayoutError, match="not valid JSON"):
            import_dataset("okvqa", root, tmp_path / "o.jsonl")


# ----------------------------------------------------------------------------- registry and CLI


def test_registry_and_options(roots: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="hmdb51, okvqa, pahmdb51, ucf101, vispr"):
        import_dataset("kinetics", roots["vispr"], tmp_path / "m.jsonl")
    with pytest.raises(ConfigError, match="does not take option"):
        import_dataset("okvqa", roots["okvqa"], tmp_path / "m.jsonl", split=1)
    assert issubclass(LayoutError, VeilError) and issubclass(LayoutError, ValueError)


def test_cli_import(roots: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "h.jsonl"
    assert main(["data", "import", "hmdb51", "--root", str(roots["hmdb51"]), "--out", str(out), "--split", "2"]) == 0
    text = capsys.readouterr().out
    assert "hmdb51: 9 items (train 6, val 0, test 3)" in text and "skipped 3: flag 0" in text
    assert validate_manifest(out) == []
    assert main(["data", "import", "vispr", "--root", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "attributes.tsv" in capsys.readouterr().err
