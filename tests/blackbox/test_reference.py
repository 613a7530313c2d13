"""Tests of the reference black boxes (perception-model stand-ins), parametrised over the
registry, and of their pure math on analytic cases."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from veil.blackbox import BLACKBOXES, CANNOT_ANSWER, PerceptionBlackBox, create_blackbox
from veil.blackbox.chat import images_to_messages
from veil.blackbox.reference import (
    Calibration,
    Candidate,
    TextLine,
    classify_question,
    count_choice_mass,
    count_distribution,
    fuse_people,
    fuzzy_substring_similarity,
    log_softmax,
    logistic,
    mass_to_logprobs,
    nms,
    normalize_text,
    parse_count_choice,
    presence_choice_mass,
    reading_order,
    sign_similarities,
    similarity_logprobs,
)
from veil.data.questions import COUNT_CHOICES, QUESTIONS, YES_NO, format_prompt
from veil.errors import ConfigError, VeilError
from veil.media import load_image, read_frames

NAMES = [
    n for n in BLACKBOXES.names()
    if isinstance(BLACKBOXES.get(n), type) and issubclass(BLACKBOXES.get(n), PerceptionBlackBox)  # type: ignore[arg-type]
]
SIGN_CHOICES = ["BUS STOP", "NO PARKING", "SPORTS CENTRE", "POST OFFICE"]
COUNT_P = format_prompt(QUESTIONS["count"], COUNT_CHOICES)
PRESENCE_P = format_prompt(QUESTIONS["presence"], YES_NO)


def logsumexp(values: list[float] | np.ndarray) -> float:
    v = np.asarray(list(values), dtype=np.float64)
    return float(v.max() + np.log(np.exp(v - v.max()).sum()))


# ---------------------------------------------------------------------------------------
# Pure math
# ---------------------------------------------------------------------------------------


class TestCountDistribution:
    def test_no_people_is_zero_for_sure(self) -> None:
        np.testing.assert_array_equal(count_distribution([], 5), [1, 0, 0, 0, 0, 0])

    def test_certain_people(self) -> None:
        np.testing.assert_allclose(count_distribution([1.0, 1.0, 1.0], 5), [0, 0, 0, 1, 0, 0])

    def test_two_fair_coins_is_binomial(self) -> None:
        np.testing.assert_allclose(count_distribution([0.5, 0.5], 4), [0.25, 0.5, 0.25, 0, 0])

    def test_tail_bucket_sums_the_rest(self) -> None:
        np.testing.assert_allclose(count_distribution([1.0] * 7, 5), [0, 0, 0, 0, 0, 1])
        d = count_distribution([0.5] * 3, 2)  # P(0)=1/8, P(1)=3/8, P(>=2)=4/8
        np.testing.assert_allclose(d, [0.125, 0.375, 0.5])

    def test_sums_to_one_and_mean_is_sum_of_probs(self) -> None:
        p = np.random.default_rng(0).uniform(size=9)
        d = count_distribution(p, 20)
        assert d.sum() == pytest.approx(1.0)
        assert (d * np.arange(21)).sum() == pytest.approx(p.sum())

    def test_max_count_zero(self) -> None:
        np.testing.assert_allclose(count_distribution([0.3, 0.9], 0), [1.0])
        with pytest.raises(ValueError):
            count_distribution([0.1], -1)


class TestCountChoices:
    @pytest.mark.parametrize(
        ("choice", "expected"),
        [
            ("0", (0, 0)), ("3", (3, 3)), ("5 or more", (5, None)), ("5+", (5, None)),
            ("two", (2, 2)), ("none", (0, 0)), ("more than 4", (5, None)), ("at least 3", (3, None)),
            ("2-3", (2, 3)), ("1 to 2", (1, 2)), ("3 people", (3, 3)), ("banana", None), ("3-1", None),
        ],
    )
    def test_parse(self, choice: str, expected: tuple[int, int | None] | None) -> None:
        assert parse_count_choice(choice) == expected

    def test_mass_over_count_choices_sums_to_one(self) -> None:
        m = count_choice_mass([0.9, 0.8, 0.3, 0.1, 0.6, 0.7, 0.2], COUNT_CHOICES)
        assert m.sum() == pytest.approx(1.0)
        assert m[-1] == pytest.approx(count_distribution([0.9, 0.8, 0.3, 0.1, 0.6, 0.7, 0.2], 5)[-1])

    def test_non_count_choices_get_nothing(self) -> None:
        m = count_choice_mass([1.0, 1.0], ["2", "cat", "3"])
        np.testing.assert_allclose(m, [1.0, 0.0, 0.0])
        assert not count_choice_mass([1.0], ["cat", "dog"]).any()

    def test_presence_mass(self) -> None:
        np.testing.assert_allclose(presence_choice_mass(0.8, ["yes", "no"]), [0.8, 0.2])
        np.testing.assert_allclose(presence_choice_mass(0.8, ["No.", "Yes"]), [0.2, 0.8])
        np.testing.assert_allclose(presence_choice_mass(0.8, ["maybe", "yes"]), [0.0, 0.8])


class TestLogprobs:
    def test_mass_to_logprobs_is_normalised_and_finite(self) -> None:
        lp = mass_to_logprobs([1.0, 0.0, 0.0], eps=1e-4)
        assert logsumexp(lp) == pytest.approx(0.0, abs=1e-12)
        assert np.isfinite(lp).all()
        assert np.argmax(lp) == 0

    def test_zero_mass_is_uniform(self) -> None:
        np.testing.assert_allclose(np.exp(mass_to_logprobs([0.0, 0.0, 0.0, 0.0])), 0.25)

    def test_similarity_logprobs_temperature(self) -> None:
        lp = similarity_logprobs([0.9, 0.5, 0.5], temperature=0.1)
        assert logsumexp(lp) == pytest.approx(0.0, abs=1e-12)
        assert lp[0] - lp[1] == pytest.approx(4.0)  # (0.9 - 0.5) / 0.1
        assert lp[1] == lp[2]
        np.testing.assert_allclose(np.exp(similarity_logprobs([0.3, 0.3], 0.05)), 0.5)
        with pytest.raises(ValueError):
            similarity_logprobs([0.1], 0.0)

    def test_log_softmax_and_logistic(self) -> None:
        np.testing.assert_allclose(np.exp(log_softmax([1000.0, 1000.0])), [0.5, 0.5])
        np.testing.assert_allclose(logistic([-800.0, 0.0, 800.0]), [0.0, 0.5, 1.0])
        assert Calibration(2.0, 1.0)(np.array([1.0]))[0] == pytest.approx(0.5)


class TestStringSimilarity:
    def test_normalize(self) -> None:
        assert normalize_text("Sports Centre ->") == "SPORTSCENTRE"

    def test_exact_substring_is_one(self) -> None:
        assert fuzzy_substring_similarity("PARKING", "NOTICEDOUBLEPARKINGPROHIBITED") == 1.0

    def test_one_substitution(self) -> None:
        assert fuzzy_substring_similarity("BUSSTOP", "XXBUSSTAPXX") == pytest.approx(1 - 1 / 7)

    def test_one_deletion_and_insertion(self) -> None:
        assert fuzzy_substring_similarity("BUSSTOP", "BUSTOP") == pytest.approx(1 - 1 / 7)
        assert fuzzy_substring_similarity("BUSSTOP", "BUSSSTOP") == pytest.approx(1 - 1 / 7)

    def test_nothing_in_common_and_empty(self) -> None:
        assert fuzzy_substring_similarity("ABC", "XYZ") == 0.0
        assert fuzzy_substring_similarity("ABC", "") == 0.0
        assert fuzzy_substring_similarity("", "ABC") == 0.0

    def test_confidence_weights_scale_a_perfect_match(self) -> None:
        assert fuzzy_substring_similarity("STOP", "STOP", [0.5] * 4) == pytest.approx(0.5)
        lo = fuzzy_substring_similarity("STOP", "STOP", [0.6] * 4)
        hi = fuzzy_substring_similarity("STOP", "STOP", [0.9] * 4)
        assert lo < hi
        with pytest.raises(ValueError):
            fuzzy_substring_similarity("STOP", "STOP", [0.5])

    def test_reading_order(self) -> None:
        copy = TextLine("copy centre", 1.0, (195, 533, 626, 630))
        the = TextLine("the", 1.0, (129, 575, 190, 611))
        below = TextLine("open", 1.0, (100, 700, 200, 740))
        assert [t.text for t in reading_order([below, copy, the])] == ["the", "copy centre", "open"]
        assert sign_similarities(["THE COPY CENTRE"], reading_order([copy, the]))[0] == 1.0

    def test_sign_similarities_join_lines(self) -> None:
        lines = [TextLine("NOTICE", 1.0, (0, 0, 1, 1)), TextLine("DOUBLE", 1.0, (0, 1, 1, 2)),
                 TextLine("PARKING", 1.0, (0, 2, 1, 3)), TextLine("Prohibited", 1.0, (0, 3, 1, 4))]
        s = sign_similarities(["DOUBLE PARKING PROHIBITED", "NO PARKING", "BUS STOP"], lines)
        assert s[0] == 1.0
        assert s[1] < 1.0 and s[2] < s[1]
        np.testing.assert_array_equal(sign_similarities(["A", "B"], []), [0.0, 0.0])


class TestQuestionFamilies:
    @pytest.mark.parametrize(
        ("question", "family"),
        [
            (QUESTIONS["count"], "count"), (QUESTIONS["presence"], "presence"), (QUESTIONS["sign"], "sign"),
            ("how many persons can you see?", "count"), ("What is the number of people here?", "count"),
            ("HOW MANY PEDESTRIANS ARE THERE", "count"), ("Are there any people in the photo?", "presence"),
            ("Is anyone in this picture?", "presence"), ("Can you see a person?", "presence"),
            ("What is written on the sign?", "sign"), ("What does the board say?", "sign"),
            ("Read the text in this image.", "sign"),
            ("What colour is the car?", None), ("How many cars are there?", None), ("", None),
        ],
    )
    def test_classify(self, question: str, family: str | None) -> None:
        assert classify_question(question) == family


class TestFusion:
    def test_nms_keeps_the_best_of_overlapping_boxes(self) -> None:
        boxes = np.array([[0, 0, 10, 20], [1, 1, 11, 21], [50, 0, 60, 20], [2, 2, 6, 10]], dtype=float)
        scores = np.array([0.5, 0.9, 0.4, 0.3])
        keep = nms(boxes, scores)
        assert keep.tolist() == [1, 2]  # box 3 lies inside box 1: same person at another scale
        perm = np.array([2, 0, 3, 1])
        assert sorted(perm[nms(boxes[perm], scores[perm])].tolist()) == [1, 2]
        assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []

    def test_face_in_the_head_region_joins_the_body(self) -> None:
        body = Candidate("hog", "body", (100, 100, 200, 400), 0.5)  # head near (150, 157), size 33
        face = Candidate("face", "face", (135, 140, 165, 175), 0.6)
        people = fuse_people([body, face])
        assert people == [pytest.approx(1 - 0.5 * 0.4)]

    def test_far_face_is_another_person_and_same_detector_never_merges(self) -> None:
        body = Candidate("hog", "body", (100, 100, 200, 400), 0.5)
        far = Candidate("face", "face", (400, 140, 430, 175), 0.6)
        assert sorted(fuse_people([body, far])) == [0.5, 0.6]
        twin = Candidate("hog", "body", (101, 100, 201, 400), 0.4)
        assert sorted(fuse_people([body, twin])) == [0.4, 0.5]
        assert fuse_people([]) == []


# ---------------------------------------------------------------------------------------
# The black boxes on real media
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def media() -> Path:
    root = Path(os.environ.get("VEIL_MEDIA", ".media")) / "opencv"
    needed = [root / "data" / "basketball1.png", root / "data" / "vtest.avi", root / "text" / "scenetext02.jpg"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        pytest.skip(f"embedded media not found ({missing[0]}): run `make media` or set VEIL_MEDIA")
    return root


@pytest.fixture(scope="module")
def basketball(media: Path) -> np.ndarray:
    return load_image(media / "data" / "basketball1.png")


@pytest.fixture(scope="module")
def street(media: Path) -> np.ndarray:
    """A vtest frame with three clearly visible pedestrians, at 640x480."""
    frame = read_frames(media / "data" / "vtest.avi", [450])[450]
    return cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    return np.full((480, 640, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def bus_stop_board() -> np.ndarray:
    """A big white board reading BUS STOP on a plain background, rendered with PIL."""
    im = Image.new("RGB", (640, 480), (70, 110, 90))
    draw = ImageDraw.Draw(im)
    draw.rectangle((90, 150, 550, 330), fill=(245, 245, 240), outline=(20, 20, 20), width=6)
    font = ImageFont.load_default(size=84)
    draw.text((320, 240), "BUS STOP", fill=(15, 15, 60), font=font, anchor="mm")
    return np.asarray(im).copy()


@pytest.fixture(scope="module", params=NAMES)
def bb(request: pytest.FixtureRequest) -> PerceptionBlackBox:
    box = create_blackbox(request.param)
    assert isinstance(box, PerceptionBlackBox)
    return box


def test_both_variants_are_registered() -> None:
    assert {"reference", "reference-b"} <= set(NAMES)


class TestPeople:
    def test_basketball_has_people(self, bb: PerceptionBlackBox, basketball: np.ndarray) -> None:
        ans = bb.query([basketball], PRESENCE_P)
        assert ans.text == "yes"
        assert ans.logprobs is not None and ans.logprobs["yes"] > np.log(0.9)

    def test_basketball_count_is_two(self, bb: PerceptionBlackBox, basketball: np.ndarray) -> None:
        ans = bb.query([basketball], COUNT_P)
        assert ans.text == "2"

    def test_street_frame_count(
        self, bb: PerceptionBlackBox, street: np.ndarray, request: pytest.FixtureRequest
    ) -> None:
        if bb.name == "reference-b":
            request.applymarker(pytest.mark.xfail(
                reason="reference-b over-counts this frame (extra Daimler HOG windows); "
                "it is the weaker variant, about 65% count accuracy on labelled frames"
            ))
        assert bb.query([street], COUNT_P).text == "3"

    def test_grey_image_has_no_one(self, bb: PerceptionBlackBox, grey: np.ndarray) -> None:
        assert bb.query([grey], PRESENCE_P).text == "no"
        assert bb.query([grey], COUNT_P).text == "0"

    def test_logprobs_are_distributions_over_the_choices(self, bb: PerceptionBlackBox, street: np.ndarray) -> None:
        for prompt, choices in [(COUNT_P, COUNT_CHOICES), (PRESENCE_P, YES_NO)]:
            ans = bb.query([street], prompt)
            assert ans.logprobs is not None and list(ans.logprobs) == list(choices)
            assert logsumexp(list(ans.logprobs.values())) == pytest.approx(0.0, abs=1e-9)
            assert ans.text == max(ans.logprobs, key=lambda c: ans.logprobs[c])  # type: ignore[index]

    def test_heavy_blur_lowers_presence(self, bb: PerceptionBlackBox, street: np.ndarray) -> None:
        blurred = cv2.GaussianBlur(street, (0, 0), 12)
        sharp = bb.query([street], PRESENCE_P).logprobs
        soft = bb.query([blurred], PRESENCE_P).logprobs
        assert sharp is not None and soft is not None
        assert soft["yes"] < sharp["yes"] - 1.0

    def test_free_form_answers(self, bb: PerceptionBlackBox, basketball: np.ndarray, grey: np.ndarray) -> None:
        count = bb.query([basketball], QUESTIONS["count"])
        assert count.text.isdigit() and count.logprobs is None
        assert bb.query([grey], QUESTIONS["presence"]).text == "no"

    def test_choices_in_prompt_or_argument_agree(self, bb: PerceptionBlackBox, street: np.ndarray) -> None:
        assert bb.query([street], COUNT_P) == bb.query([street], QUESTIONS["count"], COUNT_CHOICES)

    def test_several_images_average_their_evidence(
        self, bb: PerceptionBlackBox, street: np.ndarray, grey: np.ndarray
    ) -> None:
        lp = bb.query([street, grey], PRESENCE_P).logprobs
        assert lp is not None
        p_street = np.exp(bb.query([street], PRESENCE_P).logprobs["yes"])  # type: ignore[index]
        assert np.exp(lp["yes"]) == pytest.approx(p_street / 2, rel=1e-3, abs=1e-3)


class TestSigns:
    def test_rendered_bus_stop(self, bb: PerceptionBlackBox, bus_stop_board: np.ndarray) -> None:
        ans = bb.query([bus_stop_board], format_prompt(QUESTIONS["sign"], SIGN_CHOICES))
        assert ans.text == "BUS STOP"
        assert ans.logprobs is not None and ans.logprobs["BUS STOP"] > np.log(0.9)
        assert logsumexp(list(ans.logprobs.values())) == pytest.approx(0.0, abs=1e-9)

    def test_scenetext02_sports_centre(self, bb: PerceptionBlackBox, media: Path) -> None:
        im = load_image(media / "text" / "scenetext02.jpg")
        ans = bb.query([im], format_prompt(QUESTIONS["sign"], SIGN_CHOICES))
        assert ans.text == "SPORTS CENTRE"
        assert "SPORTS" in bb.query([im], QUESTIONS["sign"]).text.upper()

    def test_no_text_is_uniform(self, bb: PerceptionBlackBox, grey: np.ndarray) -> None:
        ans = bb.query([grey], format_prompt(QUESTIONS["sign"], SIGN_CHOICES))
        assert ans.logprobs is not None
        np.testing.assert_allclose(np.exp(list(ans.logprobs.values())), 0.25)
        assert bb.query([grey], QUESTIONS["sign"]).text == "none"


class TestBehaviour:
    def test_queries_are_counted(self, bb: PerceptionBlackBox, grey: np.ndarray) -> None:
        before = bb.queries
        bb.query([grey], PRESENCE_P)
        bb.query([grey], "What is the meaning of life?")
        assert bb.queries == before + 2

    def test_unknown_question(self, bb: PerceptionBlackBox, grey: np.ndarray) -> None:
        ans = bb.query([grey], format_prompt("What colour is the sky?", ["blue", "red"]))
        assert ans.text == CANNOT_ANSWER and ans.logprobs is None

    def test_count_question_with_non_count_choices(self, bb: PerceptionBlackBox, grey: np.ndarray) -> None:
        ans = bb.query([grey], QUESTIONS["count"], ["red", "blue"])
        assert ans.text == CANNOT_ANSWER and ans.logprobs is None

    def test_deterministic_without_cache(self, bb: PerceptionBlackBox, street: np.ndarray) -> None:
        fresh = create_blackbox(bb.name, cache_size=0)
        sign_p = format_prompt(QUESTIONS["sign"], SIGN_CHOICES)
        for prompt in (COUNT_P, PRESENCE_P, sign_p):
            assert fresh.query([street], prompt) == fresh.query([street.copy()], prompt)

    def test_deterministic_across_processes(self, bb: PerceptionBlackBox, street: np.ndarray, tmp_path: Path) -> None:
        path = tmp_path / "street.npy"
        np.save(path, street)
        code = (
            "import sys, numpy as np\n"
            "from veil.blackbox import create_blackbox\n"
            "from veil.data.questions import QUESTIONS, COUNT_CHOICES, format_prompt\n"
            f"bb = create_blackbox({bb.name!r})\n"
            f"a = bb.query([np.load({str(path)!r})], format_prompt(QUESTIONS['count'], COUNT_CHOICES))\n"
            "print(repr(a.logprobs))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        here = create_blackbox(bb.name).query([street], COUNT_P)
        assert out.strip() == repr(here.logprobs)

    def test_concurrent_queries_match_sequential(self, bb: PerceptionBlackBox, street: np.ndarray,
                                                 basketball: np.ndarray) -> None:
        box = create_blackbox(bb.name, cache_size=0)
        jobs = [(street, COUNT_P), (basketball, COUNT_P), (street, PRESENCE_P), (basketball, PRESENCE_P)]
        expected = [box.query([im], p) for im, p in jobs]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda job: box.query([job[0]], job[1]), jobs))
        assert got == expected

    def test_forked_child_answers_like_the_parent(self, bb: PerceptionBlackBox, street: np.ndarray) -> None:
        import multiprocessing as mp

        if "fork" not in mp.get_all_start_methods():
            pytest.skip("no fork start method on this platform")
        box = create_blackbox(bb.name, cache_size=0)
        here = box.query([street], COUNT_P)  # models and thread pools exist before the fork
        with mp.get_context("fork").Pool(1) as pool:
            there = pool.apply_async(_count_answer, (box, street)).get(timeout=120)
        assert there == here

    def test_chat_matches_query(self, bb: PerceptionBlackBox, street: np.ndarray) -> None:
        assert bb.chat(images_to_messages([street], COUNT_P)) == bb.query([street], COUNT_P)

    def test_pickle_round_trip(self, bb: PerceptionBlackBox, grey: np.ndarray) -> None:
        clone = pickle.loads(pickle.dumps(bb))
        assert clone.query([grey], COUNT_P) == bb.query([grey], COUNT_P)

    def test_tiny_and_odd_images(self, bb: PerceptionBlackBox) -> None:
        for h, w in [(1, 1), (1, 9), (9, 1), (33, 65)]:
            im = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
            for prompt in (COUNT_P, PRESENCE_P, format_prompt(QUESTIONS["sign"], SIGN_CHOICES)):
                ans = bb.query([im], prompt)
                assert ans.logprobs is not None
                assert logsumexp(list(ans.logprobs.values())) == pytest.approx(0.0, abs=1e-9)

    def test_bad_inputs(self, bb: PerceptionBlackBox) -> None:
        with pytest.raises(ValueError):
            bb.query([], COUNT_P)
        with pytest.raises(VeilError):
            bb.query([np.zeros((4, 4), np.uint8)], COUNT_P)


def _count_answer(box: PerceptionBlackBox, image: np.ndarray) -> object:
    return box.query([image], COUNT_P)


@pytest.mark.parametrize("name", NAMES)
def test_config_and_cache_identity(name: str) -> None:
    box = create_blackbox(name, temperature=0.2, cache_size=0)
    cfg = box.config()
    assert cfg["temperature"] == 0.2 and cfg["cache_size"] == 0 and "work_size" in cfg
    model, params = box.cache_identity()
    assert name in model and "cache_size" not in params and params["temperature"] == 0.2
    assert create_blackbox(name).cache_identity()[1] != params


@pytest.mark.parametrize("name", NAMES)
def test_constructor_validates_keywords(name: str) -> None:
    with pytest.raises(ConfigError):
        create_blackbox(name, temperature=0.0)
    with pytest.raises(ConfigError):
        create_blackbox(name, work_size=8)
    with pytest.raises(TypeError):
        BLACKBOXES.get(name)(960)  # keyword arguments only
