"""The nudity guide: NudeNet's exposed intimate parts as a map, for the default network's fixed category."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from veil.anonymizers.guides import NUDITY_CLASSES, NudityGuide, create_guide, guide_parts
from veil.errors import ConfigError
from veil.privacy.pretrained import box_iou

ASTRONAUT_FACE = (170, 40, 290, 200)  # x1, y1, x2, y2 of the astronaut's face, by eye


def test_a_clothed_portrait_has_no_nudity() -> None:
    g = NudityGuide()
    im = skimage.data.astronaut()
    assert g.boxes(im).shape == (0, 4) and g.detect(im) == []
    assert float(g(im).max()) == 0.0 and g(im).shape == (512, 512, 1)


def test_what_nudenet_finds_becomes_an_enlarged_box_in_the_map() -> None:
    """The same code path with a class NudeNet finds on a real photo (a face), as nothing here
    may show what the default classes find."""
    g = NudityGuide(classes=("FACE_FEMALE",), scale=1.0)
    im = skimage.data.astronaut()
    (box,) = g.boxes(im)
    assert float(box_iou(np.asarray(ASTRONAUT_FACE, np.float32), box[None]).max()) > 0.5
    grown = NudityGuide(classes=("FACE_FEMALE",)).boxes(im)[0]
    assert grown[0] < box[0] and grown[2] > box[2]  # each side moved out by 0.3 x the box size
    m = NudityGuide(classes=("FACE_FEMALE",))(im)[..., 0]
    x1, y1, x2, y2 = (int(v) for v in grown)
    assert m[(y1 + y2) // 2, (x1 + x2) // 2] == pytest.approx(1.0) and m[5, 5] == 0.0 and m[-5, -5] == 0.0
    copy_ = copy.deepcopy(g.with_threads(1))  # its own session: the same boxes
    np.testing.assert_array_equal(copy_.boxes(im), g.boxes(im))


def test_the_default_guide_ends_with_the_nudity_map() -> None:
    g = create_guide("faces+textcls+nudity")
    assert g.channels == 10 and g.map_names[-2:] == ("text_height", "nudity")
    assert [p.name for p in guide_parts(g)] == ["faces", "textcls", "nudity"]
    assert set(NUDITY_CLASSES) <= {"FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED",
                                   "BUTTOCKS_EXPOSED", "ANUS_EXPOSED"}


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"threshold": 0.0}, {"scale": 0.5}, {"classes": ()}):
        with pytest.raises(ConfigError, match="nudity guide"):
            NudityGuide(**kwargs)


def test_a_model_trained_before_the_nudity_detector_is_flagged() -> None:
    from veil.anonymizers.base import create_anonymizer
    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.protect import anonymizer_notes

    old = LearnedAnonymizer("guided-policy", guide="faces+textcls")
    (note,) = anonymizer_notes(old)
    assert "no nudity detector" in note and "retrain" in note
    new = LearnedAnonymizer("guided-policy", guide="faces+textcls+nudity", fixed_categories=["nudity"])
    assert anonymizer_notes(new) == [] and anonymizer_notes(create_anonymizer("blur:sigma=4")) == []


def test_a_model_folder_is_flagged_from_its_config_without_loading_it(tmp_path: Path) -> None:
    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.protect import anonymizer_notes

    old = LearnedAnonymizer("guided-policy", guide="faces+textcls").save(tmp_path / "old")
    assert len(anonymizer_notes(str(old))) == 1 and len(anonymizer_notes(f"{old}:upright=true")) == 1
    assert anonymizer_notes(str(tmp_path / "missing")) == [] and anonymizer_notes("blur:sigma=4") == []
