"""The manifest format: parsing, validation with line numbers and fields, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from veil.data.manifest import (
    Item,
    Media,
    PrivateText,
    Query,
    load_manifest,
    validate_manifest,
    write_manifest,
)
from veil.errors import ManifestError, VeilError
from veil.media import save_image


def _item(i: int, split: str = "train") -> Item:
    return Item(
        id=f"item-{i}",
        split=split,
        media=Media(type="image", path=f"images/{i}.png"),
        queries=(Query("presence", "Is there a person in this image?", ("yes",), ("yes", "no")),),
        attributes={"face": i % 2, "phone_text": 1},
        faces=((1.0, 2.0, 10.0, 12.0),),
        private_text=(PrivateText("phone", "0161 496 0734", (3.0, 4.0, 30.0, 9.0)),),
        source="unit",
    )


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    for i in range(3):
        save_image(tmp_path / "images" / f"{i}.png", np.zeros((16, 20, 3), np.uint8))
    return write_manifest(tmp_path / "m.jsonl", [_item(0), _item(1, "val"), _item(2, "test")])


class TestRoundTrip:
    def test_load_equals_written(self, manifest: Path) -> None:
        items = load_manifest(manifest)
        assert [it.id for it in items] == ["item-0", "item-1", "item-2"]
        assert items[0].queries[0].choices == ("yes", "no")
        assert items[0].private_text[0].text == "0161 496 0734"
        assert items[0].media_path() == manifest.parent / "images" / "0.png"
        assert [it.to_json() for it in items] == [json.loads(line) for line in manifest.read_text().splitlines()]

    def test_split_filter(self, manifest: Path) -> None:
        assert [it.id for it in load_manifest(manifest, split="val")] == ["item-1"]
        with pytest.raises(ManifestError, match="unknown split"):
            load_manifest(manifest, split="dev")

    def test_no_temp_files_left(self, manifest: Path) -> None:
        assert sorted(p.name for p in manifest.parent.iterdir()) == ["images", "m.jsonl"]


class TestValidation:
    def _write(self, tmp_path: Path, lines: list[str]) -> Path:
        p = tmp_path / "bad.jsonl"
        p.write_text("\n".join(lines) + "\n")
        return p

    def test_valid_is_empty(self, manifest: Path) -> None:
        assert validate_manifest(manifest) == []

    def test_every_problem_with_line_and_field(self, manifest: Path) -> None:
        good = manifest.read_text().splitlines()
        bad = json.loads(good[1])
        bad["split"] = "dev"
        bad["faces"] = [[5, 5, 1, 1]]
        bad["queries"][0]["answers"] = ["maybe"]
        lines = [good[0], json.dumps(bad), "{not json", good[2], good[2]]
        probs = validate_manifest(self._write(manifest.parent, lines))
        where = {(p.line, p.field) for p in probs}
        assert (2, "split") in where
        assert (2, "faces[0]") in where
        assert (2, "queries[0].answers") in where
        assert (3, "<json>") in where
        assert (5, "id") in where  # duplicate of line 4
        assert all(p.line != 1 and p.line != 4 for p in probs)

    def test_missing_media_file(self, manifest: Path) -> None:
        (manifest.parent / "images" / "1.png").unlink()
        probs = validate_manifest(manifest)
        assert [(p.line, p.field) for p in probs] == [(2, "media.path")]
        assert validate_manifest(manifest, check_files=False) == []

    def test_unknown_field_and_bad_types(self, tmp_path: Path) -> None:
        line = {"id": "", "split": "train", "media": {"type": "gif"}, "attributes": {"face": 2},
                "private_text": [{"kind": "name", "box": [0, 0, 1]}], "colour": "red"}
        fields = {p.field for p in validate_manifest(self._write(tmp_path, [json.dumps(line)]))}
        assert {"id", "media.type", "attributes.face", "private_text[0].text", "private_text[0].box",
                "colour"} <= fields

    def test_load_raises_naming_the_line(self, tmp_path: Path) -> None:
        p = self._write(tmp_path, ["[1, 2]"])
        with pytest.raises(ManifestError, match="line 1"):
            load_manifest(p)
        with pytest.raises(VeilError, match="not found"):
            load_manifest(tmp_path / "missing.jsonl")

    def test_empty_manifest(self, tmp_path: Path) -> None:
        p = self._write(tmp_path, [""])
        assert [pr.field for pr in validate_manifest(p)] == ["<file>"]


def test_format_prompt_is_idempotent() -> None:
    from veil.data.questions import format_prompt, parse_prompt

    once = format_prompt("How many people are in this image?", ("0", "1", "2"))
    assert format_prompt(once, ("0", "1", "2")) == once
    assert once.count("Answer with exactly one of") == 1
    assert parse_prompt(once) == ("How many people are in this image?", ["0", "1", "2"])
