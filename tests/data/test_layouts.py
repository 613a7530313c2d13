"""The loaders on the layouts users have: each dataset as its archives extract (nested:
``UCF-101/``, ``hmdb51_org/``, ``VISPR2017-v1/``, the VQA tools' folders), flat, VISPR's
attribute list with and without a header, OK-VQA with one split; ``--check``; and the
one-line errors that name what was expected and what was found."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

from veil.cli import main
from veil.data.importing import LayoutError, check_dataset, detect_layout, import_dataset
from veil.data.manifest import load_manifest
from veil.data.vispr import read_attribute_table


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory, layout_fixtures: ModuleType) -> dict[str, Path]:
    """Each dataset as its archives extract, under one data root."""
    fx = layout_fixtures
    base = tmp_path_factory.mktemp("nested")
    return {
        "ucf101": fx.make_ucf101(base / "ucf101", nested=True),
        "hmdb51": fx.make_hmdb51(base / "hmdb51", nested=True),
        "pahmdb51": fx.make_pahmdb51(base / "pa" / "hmdb51", nested=True, annotations="../PA-HMDB51/PrivacyAttributes"),
        "vispr": fx.make_vispr(base / "vispr", nested=True, header=True),
        "okvqa": fx.make_okvqa(base / "okvqa", nested=True),
        "okvqa-val": fx.make_okvqa(base / "okvqa-val", n={"val2014": 4}),
    }


# ----------------------------------------------------------------------------- UCF101


class TestUcf101:
    def test_nested_as_extracted(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = nested["ucf101"]
        rep = import_dataset("ucf101", root, tmp_path / "u.jsonl")
        assert dict(rep.items) == {"train": 6, "test": 3}
        assert rep.layout is not None and rep.layout.form == "nested: class folders in UCF-101/"
        assert rep.layout.parts == {"videos": root / "UCF-101", "lists": root / "ucfTrainTestlist"}
        items = load_manifest(tmp_path / "u.jsonl")
        assert all(it.media_path().is_relative_to((root / "UCF-101").resolve()) for it in items)
        assert "layout: nested: class folders in UCF-101/" in rep.summary()

    def test_two_levels_down_and_inside(self, nested: dict[str, Path], tmp_path: Path) -> None:
        # --root the data root: lists one level down, class folders two levels down
        layout = detect_layout("ucf101", nested["ucf101"].parent)
        assert layout.parts["videos"] == nested["ucf101"] / "UCF-101"
        assert layout.parts["lists"] == nested["ucf101"] / "ucfTrainTestlist"
        # --root UCF-101 itself: flat, the lists next to it
        rep = import_dataset("ucf101", nested["ucf101"] / "UCF-101", tmp_path / "u.jsonl")
        assert rep.total == 9 and rep.layout is not None and rep.layout.form == "flat"

    def test_videos_looked_for_beside_the_lists_first(self, nested: dict[str, Path], tmp_path: Path) -> None:
        # two copies under one root: a/ as extracted (with its lists), b/ bare class folders one level higher
        shutil.copytree(nested["ucf101"], tmp_path / "a")
        shutil.copytree(nested["ucf101"] / "UCF-101", tmp_path / "b")
        layout = detect_layout("ucf101", tmp_path)
        assert layout.parts == {"videos": tmp_path / "a" / "UCF-101", "lists": tmp_path / "a" / "ucfTrainTestlist"}

    def test_annotations_and_videos_folders(self, nested: dict[str, Path], tmp_path: Path) -> None:
        # the arrangement other toolkits make: the lists' files in annotations/, UCF-101 renamed videos/
        root = tmp_path / "ucf101"
        shutil.copytree(nested["ucf101"] / "UCF-101", root / "videos")
        shutil.copytree(nested["ucf101"] / "ucfTrainTestlist", root / "annotations")
        rep = import_dataset("ucf101", root, tmp_path / "u.jsonl")
        assert rep.total == 9 and rep.layout is not None
        assert rep.layout.parts == {"videos": root / "videos", "lists": root / "annotations"}

    def test_archive_not_unpacked_names_it(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = tmp_path / "ucf101"
        shutil.copytree(nested["ucf101"] / "ucfTrainTestlist", root / "ucfTrainTestlist")
        (root / "UCF101.rar").write_bytes(b"Rar!")
        with pytest.raises(LayoutError) as e:
            import_dataset("ucf101", root, tmp_path / "u.jsonl")
        msg = _one_line(e)
        assert "expected the UCF101 class folders (ApplyEyeMakeup/" in msg and "UCF101.rar" in msg
        assert "unpack UCF101.rar" in msg
        (root / "UCF101.rar").unlink()
        shutil.rmtree(root / "ucfTrainTestlist")
        (root / "ucfTrainTestlist.zip").write_bytes(b"PK")
        with pytest.raises(LayoutError, match="missing UCF101 split lists folder ucfTrainTestlist") as e:
            import_dataset("ucf101", root, tmp_path / "u.jsonl")
        assert "ucfTrainTestlist.zip" in _one_line(e)


# ----------------------------------------------------------------------------- HMDB51 and PA-HMDB51


class TestHmdb51:
    def test_nested_as_extracted(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = nested["hmdb51"]
        rep = import_dataset("hmdb51", root, tmp_path / "h.jsonl", split=3)
        assert dict(rep.items) == {"train": 6, "test": 3}
        assert rep.skipped["flag 0 (unused in split 3)"] == 3
        assert rep.layout is not None and rep.layout.form == "nested: class folders in hmdb51_org/"
        assert rep.layout.parts == {"videos": root / "hmdb51_org", "splits": root / "testTrainMulti_7030_splits"}
        assert rep.classes == ["brush_hair", "ride_bike", "shake_hands"]  # not hmdb51_org, not the .rar files

    def test_per_class_archives_not_unpacked(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = tmp_path / "hmdb51"
        shutil.copytree(nested["hmdb51"], root)
        shutil.rmtree(root / "hmdb51_org" / "ride_bike")
        with pytest.raises(LayoutError, match="missing HMDB51 class folder ride_bike/") as e:
            import_dataset("hmdb51", root, tmp_path / "h.jsonl")
        assert "unpack " + str(root / "hmdb51_org" / "ride_bike.rar") in _one_line(e)
        for c in ("brush_hair", "shake_hands"):
            shutil.rmtree(root / "hmdb51_org" / c)
        with pytest.raises(LayoutError, match="expected the HMDB51 class folders") as e:
            import_dataset("hmdb51", root, tmp_path / "h.jsonl")
        msg = _one_line(e)
        assert "hmdb51_org/brush_hair.rar" in msg and "unrar x hmdb51_org.rar" in msg

    def test_folder_of_videos_without_split_file(self, nested: dict[str, Path], tmp_path: Path,
                                                 layout_fixtures: ModuleType) -> None:
        root = tmp_path / "hmdb51"
        shutil.copytree(nested["hmdb51"], root)
        layout_fixtures.write_video(root / "hmdb51_org" / "juggle" / "juggle_0.avi")
        (root / "hmdb51_org" / "notes").mkdir()  # no videos: not a class, left alone
        with pytest.raises(LayoutError, match="missing split file for class folder") as e:
            import_dataset("hmdb51", root, tmp_path / "h.jsonl")
        assert str(root / "testTrainMulti_7030_splits" / "juggle_test_split1.txt") in _one_line(e)
        shutil.rmtree(root / "hmdb51_org" / "juggle")
        rep = import_dataset("hmdb51", root, tmp_path / "h.jsonl")
        assert rep.total == 9 and rep.layout is not None
        assert rep.layout.notes == ["not class folders (no videos): notes"]


class TestPaHmdb51:
    @pytest.mark.parametrize(("nested", "annotations"), [
        (True, "PrivacyAttributes"),                    # inside the HMDB51 folder
        (True, "../PA-HMDB51/PrivacyAttributes"),       # the release cloned next to it
        (False, "../HMDB51_PrivacyAttributes"),         # flat videos, labels next to them (the GUI's name)
    ])
    def test_next_to_either_hmdb51_layout(self, tmp_path: Path, layout_fixtures: ModuleType, nested: bool,
                                          annotations: str) -> None:
        root = layout_fixtures.make_pahmdb51(tmp_path / "hmdb51", nested=nested, annotations=annotations)
        rep = import_dataset("pahmdb51", root, tmp_path / "p.jsonl")
        assert rep.total == 6 and rep.layout is not None
        assert rep.layout.parts["videos"] == (root / "hmdb51_org" if nested else root)
        assert rep.layout.parts["annotations"].resolve() == (root / annotations).resolve()
        assert import_dataset("pahmdb51", root, tmp_path / "p.jsonl", split=1).items["train"] == 6

    def test_check_counts_frames_and_writes_nothing(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = nested["pahmdb51"]
        before = _files(root.parent)
        rep = check_dataset("pahmdb51", root, frames=4)
        assert rep.total == 24 and _files(root.parent) == before
        assert any("check only" in n for n in rep.notes)

    def test_missing_annotations_names_the_nearest(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = tmp_path / "hmdb51"
        shutil.copytree(nested["hmdb51"], root)
        (root / "PrivacyAttribute").mkdir()
        with pytest.raises(LayoutError, match="missing PA-HMDB51 annotation folder PrivacyAttributes") as e:
            import_dataset("pahmdb51", root, tmp_path / "p.jsonl")
        assert "PrivacyAttribute/" in _one_line(e) and "--annotations DIR" in str(e.value)


# ----------------------------------------------------------------------------- VISPR


class TestVispr:
    @pytest.mark.parametrize(("nested", "header", "name"), [
        (False, False, "attributes.tsv"),
        (False, True, "attributes.tsv"),
        (True, True, "attributes.tsv"),
        (True, False, "attributes.csv"),
        (False, True, "attributes.csv"),
    ])
    def test_layouts_and_attribute_lists(self, tmp_path: Path, layout_fixtures: ModuleType, nested: bool,
                                         header: bool, name: str) -> None:
        root = layout_fixtures.make_vispr(tmp_path / "vispr", nested=nested, header=header, attributes_name=name)
        rep = import_dataset("vispr", root, tmp_path / "v.jsonl", attributes="all")
        assert dict(rep.items) == {"train": 12, "val": 4, "test": 8}
        assert rep.attributes == [a for a, _ in layout_fixtures.VISPR_ATTRIBUTES]
        assert rep.layout is not None and rep.layout.parts["attributes"] == root / name
        base = root / layout_fixtures.VISPR_NESTED if nested else root
        assert rep.layout.parts["annotations"] == base / "annotations" and rep.layout.parts["image root"] == base
        how = rep.layout.notes[0]
        assert ("ids from attribute_id" in how) if header else ("no header row, ids from column 1" in how)

    def test_annotations_unpacked_without_their_folder(self, tmp_path: Path, layout_fixtures: ModuleType) -> None:
        root = layout_fixtures.make_vispr(tmp_path / "vispr", header=True)
        for split in ("train2017", "val2017", "test2017"):
            shutil.move(str(root / "annotations" / split), str(root / split))
        (root / "annotations").rmdir()
        rep = import_dataset("vispr", root, tmp_path / "v.jsonl")
        assert rep.total == 24 and rep.layout is not None and rep.layout.parts["annotations"] == root

    def test_archives_unpacked_into_one_folder(self, tmp_path: Path, layout_fixtures: ModuleType) -> None:
        # <split>.tar.gz and <split>_anno.tar.gz both unpacked in root: <split>/ holds JSON and JPEG files
        root = layout_fixtures.make_vispr(tmp_path / "vispr", header=True)
        for split in ("train2017", "val2017", "test2017"):
            for ann in (root / "annotations" / split).glob("*.json"):
                shutil.move(str(ann), str(root / "images" / split / ann.name))
            shutil.move(str(root / "images" / split), str(root / split))
        shutil.rmtree(root / "annotations")
        rep = import_dataset("vispr", root, tmp_path / "v.jsonl")
        assert rep.total == 24 and rep.layout is not None
        assert rep.layout.parts["annotations"] == root and rep.layout.parts["image folders"] == root
        assert "images read as <split>/<file name of image_path>" in rep.layout.notes
        items = load_manifest(tmp_path / "v.jsonl")
        assert all(it.media_path().parent.parent == root.resolve() for it in items)

    def test_attribute_table_forms(self, tmp_path: Path) -> None:
        p = tmp_path / "attributes.tsv"
        # the tools' file: header, CRLF, no final line end, a row with an empty idx
        p.write_bytes(b"idx\tattribute_id\tgroup\tdescription\r\n0\ta0_safe\tSafe\tSafe\r\n\t\t\tnote\r\n"
                      b"1\ta4_gender\tPersonal\tGender")
        assert read_attribute_table(p) == (["a0_safe", "a4_gender"], "header row (idx, attribute_id, group, "
                                           "description), ids from attribute_id")
        # a header with other names: the id column is found by its a<number>_<name> cells
        p.write_text("id,name\na0_safe,Safe\na17_color,Skin colour\n")
        assert read_attribute_table(p) == (["a0_safe", "a17_color"], "header row (id, name), ids from id")
        p.write_text("Safe a0_safe\nGender a4_gender\n")
        assert read_attribute_table(p) == (["a0_safe", "a4_gender"], "no header row, ids from column 2")
        p.write_text("idx\tattribute_id\n0\ta0_safe\n1\tgender\n")
        with pytest.raises(LayoutError, match=r"line 3: expected an attribute id like a17_color in attribute_id"):
            read_attribute_table(p)
        p.write_text("a0_safe\ta0_safe\na0_safe\tagain\n")
        with pytest.raises(LayoutError, match="line 2: attribute a0_safe is listed twice"):
            read_attribute_table(p)

    def test_missing_annotations_and_list(self, tmp_path: Path, layout_fixtures: ModuleType) -> None:
        root = layout_fixtures.make_vispr(tmp_path / "vispr", nested=True)
        (root / "attributes.tsv").unlink()
        with pytest.raises(LayoutError, match="missing VISPR attribute list attributes.tsv") as e:
            import_dataset("vispr", root, tmp_path / "v.jsonl")
        _one_line(e)
        shutil.rmtree(root / layout_fixtures.VISPR_NESTED / "annotations")
        with pytest.raises(LayoutError, match="expected VISPR annotations") as e:
            import_dataset("vispr", root, tmp_path / "v.jsonl")
        assert "VISPR2017-v1/" in _one_line(e)


# ----------------------------------------------------------------------------- OK-VQA


class TestOkvqa:
    def test_vqa_tools_layout(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = nested["okvqa"]
        rep = import_dataset("okvqa", root, tmp_path / "o.jsonl")
        assert dict(rep.items) == {"train": 6, "test": 4}
        assert rep.layout is not None and rep.layout.form == "nested: JSON files in Annotations/, Questions/"
        assert rep.layout.parts["val2014 images"] == root / "Images" / "mscoco" / "val2014"

    def test_one_split_is_evaluation_only(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = nested["okvqa-val"]
        rep = import_dataset("okvqa", root, tmp_path / "o.jsonl")
        assert dict(rep.items) == {"test": 4}
        assert rep.layout is not None and rep.layout.form == "flat; val2014 only"
        assert any("train2014 absent: evaluation only" in n for n in rep.notes)
        with pytest.raises(LayoutError, match="missing OK-VQA train2014 questions and annotations") as e:
            import_dataset("okvqa", root, tmp_path / "o.jsonl", splits=("train2014",))
        assert str(root / "OpenEnded_mscoco_train2014_questions.json") in _one_line(e)

    def test_half_a_split_names_the_other_file(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = tmp_path / "okvqa"
        shutil.copytree(nested["okvqa-val"], root)
        (root / "mscoco_val2014_annotations.json").unlink()
        with pytest.raises(LayoutError) as e:
            import_dataset("okvqa", root, tmp_path / "o.jsonl")
        msg = _one_line(e)
        assert msg.startswith(f"{root / 'mscoco_val2014_annotations.json'}: missing")
        assert "unzip mscoco_val2014_annotations.json.zip" in msg

    def test_images_elsewhere(self, nested: dict[str, Path], tmp_path: Path) -> None:
        root = tmp_path / "okvqa"
        shutil.copytree(nested["okvqa-val"], root)
        (tmp_path / "coco").mkdir()
        shutil.move(str(root / "val2014"), str(tmp_path / "coco" / "val2014"))
        assert import_dataset("okvqa", root, tmp_path / "o.jsonl").total == 4  # found next to root, in coco/
        shutil.move(str(tmp_path / "coco"), str(tmp_path / "elsewhere"))
        with pytest.raises(LayoutError, match="missing OK-VQA val2014 images") as e:
            import_dataset("okvqa", root, tmp_path / "o.jsonl")
        assert "--images DIR" in _one_line(e)
        assert import_dataset("okvqa", root, tmp_path / "o.jsonl", images=tmp_path / "elsewhere").total == 4


# ----------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("name", ["ucf101", "hmdb51", "pahmdb51", "vispr", "okvqa"])
def test_cli_check_prints_the_layout_and_writes_nothing(nested: dict[str, Path], name: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = nested[name]
    before = _files(root.parent)
    assert main(["data", "import", name, "--root", str(root), "--check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{name}: layout nested: ") and "check only: nothing written" in out
    assert _files(root.parent) == before


def test_cli_errors_are_one_line(nested: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "import", "ucf101", "--root", str(nested["ucf101"])]) == 2
    assert "needs --out MANIFEST (or --check" in capsys.readouterr().err
    (tmp_path / "UCF101").mkdir()
    assert main(["data", "import", "ucf101", "--root", str(tmp_path / "ucf101"), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing UCF101 folder" in err
    assert f"found in {tmp_path}: UCF101/" in err
