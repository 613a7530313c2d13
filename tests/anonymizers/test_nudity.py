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
    for kwargs in ({"threshold": 0.0}, {"scale": 0.5}, {"classes": ()}, {"min_tile": 32}, {"tile_overlap": 0.9},
                   {"dark_below": 256}):
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


def test_detection_windows_cover_the_image_level_by_level() -> None:
    from veil.anonymizers.guides import detection_windows

    assert detection_windows(576, 768, 512) == [(0, 0, 768, 576)]  # vtest's frames: the image only
    assert detection_windows(3024, 4032, 0) == [(0, 0, 4032, 3024)]
    assert len(detection_windows(768, 1024, 512)) == 7 and len(detection_windows(3024, 4032, 512)) == 27
    for h, w in ((768, 1024), (3024, 4032), (1080, 1920), (2000, 700)):
        wins = detection_windows(h, w, 512, 0.25)
        assert wins[0] == (0, 0, w, h)
        for side in sorted({max(x1 - x0, y1 - y0) for x0, y0, x1, y1 in wins[1:]}, reverse=True):
            level = [b for b in wins[1:] if max(b[2] - b[0], b[3] - b[1]) == side]
            assert side >= 512 and all(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h for x0, y0, x1, y1 in level)
            covered = np.zeros((h, w), bool)
            for x0, y0, x1, y1 in level:
                covered[y0:y1, x0:x1] = True
            assert covered.all()  # every pixel, on every level
            # a part up to the overlap in size lies wholly inside one window of the level
            rng = np.random.default_rng(side)
            part = side // 4
            for x, y in zip(rng.integers(0, w - part + 1, 50), rng.integers(0, h - part + 1, 50), strict=True):
                assert any(x0 <= x and y0 <= y and x + part <= x1 and y + part <= y1 for x0, y0, x1, y1 in level)


def test_nudenet_post_processing_is_nudenets_own() -> None:
    """The vectorised post-processing returns exactly what NudeNet's own loop returns, on real
    outputs and on a dense synthetic one (hundreds of overlapping detections)."""
    from nudenet import nudenet as nn

    from veil.anonymizers.guides import nudenet_detections

    session, read, labels = NudityGuide()._detector()
    rng = np.random.default_rng(0)
    dense = np.zeros((1, 4 + len(labels), 2100), np.float32)
    dense[0, :2] = rng.uniform(0, 320, (2, 2100))
    dense[0, 2:4] = rng.uniform(2, 120, (2, 2100))
    dense[0, 4:] = rng.uniform(0, 1, (len(labels), 2100)) ** 8
    cases = [(dense, 0, 160, 640, 480), (dense, 200, 0, 300, 500)]
    for im in (skimage.data.coffee(), skimage.data.astronaut()):
        blob, _, _, xp, yp, iw, ih = read(np.ascontiguousarray(im[..., ::-1]), 320)
        cases.append((session.run(None, {session.get_inputs()[0].name: blob})[0], xp, yp, iw, ih))
    for out, xp, yp, iw, ih in cases:
        own = nn._postprocess([out], xp, yp, 1, 1, iw, ih, 320, 320)
        theirs = [(d["class"], d["score"], tuple(d["box"])) for d in own]
        assert nudenet_detections(out, labels, xp, yp, iw, ih) == theirs
    assert theirs and theirs[0][0] == "FACE_FEMALE"  # the astronaut's face, last
    assert sum(len(nudenet_detections(o, labels, *a)) for o, *a in cases[:2]) > 500


def test_tiles_find_a_part_too_small_for_the_whole_image() -> None:
    """The astronaut's face (a class NudeNet finds, standing in for the default classes) pasted
    at 64 px into a 2048x1536 photo: 10 px at NudeNet's 320, missed on the whole image, found
    on the 512 px tiles (40 px there) wherever it is (9 of 9 places at 60 and 70 px)."""
    import cv2

    astronaut = skimage.data.astronaut()
    whole = NudityGuide(classes=("FACE_FEMALE",), scale=1.0, min_tile=0)
    tiled = NudityGuide(classes=("FACE_FEMALE",), scale=1.0)
    (face,) = whole.boxes(astronaut)  # NudeNet's own box of the face, 98 px tall
    scale = 64.0 / float(face[3] - face[1])
    side = round(512 * scale)
    small = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    background = cv2.resize(skimage.data.rocket(), (2048, 1536), interpolation=cv2.INTER_CUBIC)
    for x0, y0 in ((60, 40), (1000, 700), (1900, 1400)):  # in a corner tile, across tile borders, at the edge
        x0, y0 = min(x0, 2048 - side), min(y0, 1536 - side)
        image = background.copy()
        image[y0:y0 + side, x0:x0 + side] = small
        truth = face * scale + np.array([x0, y0, x0, y0], np.float32)
        assert whole.boxes(image).shape == (0, 4)
        found = tiled.boxes(image)
        assert len(found) >= 1 and float(box_iou(truth, found).max()) > 0.3


def test_a_part_found_on_the_image_and_on_a_tile_is_one_box() -> None:
    from veil.anonymizers.guides import drop_contained

    boxes = np.array([[10, 10, 110, 110], [12, 12, 108, 109], [100, 100, 160, 160], [0, 0, 5, 5]], np.float32)
    kept = drop_contained(boxes)
    assert kept.tolist() == [[10, 10, 110, 110], [100, 100, 160, 160], [0, 0, 5, 5]]
    assert drop_contained(np.zeros((0, 4), np.float32)).shape == (0, 4)


def test_an_exported_model_is_flagged_from_its_metadata(tmp_path: Path) -> None:
    """An ``.onnx`` file keeps its guide in its metadata: read there (``veil protect --engine
    ray`` notes a spec without loading it), with the dials of a spec after the path."""
    from veil.anonymizers.learned import LearnedAnonymizer
    from veil.anonymizers.onnx import export_onnx
    from veil.protect import anonymizer_notes

    export_onnx(LearnedAnonymizer("guided-policy", guide="faces+textcls"), tmp_path / "old.onnx")
    export_onnx(LearnedAnonymizer("guided-policy", guide="faces+textcls+nudity", fixed_categories=["nudity"]),
                tmp_path / "new.onnx")
    assert len(anonymizer_notes(str(tmp_path / "old.onnx"))) == 1
    assert len(anonymizer_notes(f"{tmp_path / 'old.onnx'}:upright=true")) == 1
    assert anonymizer_notes(str(tmp_path / "new.onnx")) == []


def test_a_dark_photo_is_searched_brightened_too() -> None:
    """The astronaut's face (NudeNet's face class, standing in) pasted at 50 px into a photo
    at 5 % of its brightness with sensor noise: missed as it is, found on the image
    contrast-stretched, which the guide also searches when the image is dark."""
    import cv2

    astronaut = skimage.data.astronaut()
    side = round(512 * 50 / 98)  # NudeNet's box of her face is 98 px tall at 512
    image = cv2.resize(skimage.data.rocket(), (1024, 768))
    image[50:50 + side, 100:100 + side] = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(0).normal(0.0, 1.5, image.shape)
    dark = np.clip(image.astype(np.float32) * 0.05 + noise, 0, 255).astype(np.uint8)
    assert NudityGuide(classes=("FACE_FEMALE",), scale=1.0, dark_below=0).boxes(dark).shape == (0, 4)
    assert len(NudityGuide(classes=("FACE_FEMALE",), scale=1.0).boxes(dark)) == 1
