"""Video for a black box: frame sampling, tiling, per-frame protection (exact also with
temporal smoothing), action prompts, the answer parser on many phrasings, score mode."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from veil.anonymizers.base import create_anonymizer
from veil.blackbox.base import Answer, BlackBox, create_blackbox
from veil.data.manifest import Item, Media
from veil.data.questions import format_prompt, parse_prompt
from veil.errors import ConfigError, MediaError
from veil.media import iter_frames, save_image
from veil.video import (
    ActionAnswerBlackBox,
    VideoConfig,
    action_prompt,
    choice_scores,
    clip_images,
    frame_size,
    grid_shape,
    parse_action,
    protected_frames,
    resize_frame,
    sample_indices,
    tile_grid,
    top1,
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, layout_fixtures: ModuleType) -> Item:
    path = layout_fixtures.write_video(tmp_path_factory.mktemp("clip") / "v.avi", n_frames=20, size=(64, 48))
    return Item(id="c", split="test", media=Media("video", str(path)))


def _index_of(frame: np.ndarray) -> int:
    """The frame number the fixture wrote into the top-left block (10 * i)."""
    return int(round(float(frame[:6, :6].mean()) / 10))


class TestSampling:
    def test_segment_eval_takes_segment_middles(self) -> None:
        assert sample_indices(100, 4) == [12, 37, 62, 87]
        assert sample_indices(8, 8) == list(range(8))

    def test_uniform_includes_both_ends(self) -> None:
        assert sample_indices(100, 4, "uniform") == [0, 33, 66, 99]
        assert sample_indices(10, 1, "uniform") == [0]

    def test_segment_train_is_random_inside_each_segment(self) -> None:
        rng = np.random.default_rng(0)
        seen = set()
        for _ in range(50):
            idx = sample_indices(40, 4, train=True, rng=rng)
            assert all(10 * s <= i < 10 * (s + 1) for s, i in enumerate(idx))
            seen.add(tuple(idx))
        assert len(seen) > 10
        a = sample_indices(40, 4, train=True, rng=np.random.default_rng(3))
        assert a == sample_indices(40, 4, train=True, rng=np.random.default_rng(3))

    def test_short_clips_repeat_frames(self) -> None:
        assert sample_indices(3, 5) == [0, 0, 1, 2, 2]
        assert sample_indices(1, 3, train=True, rng=np.random.default_rng(0)) == [0, 0, 0]

    def test_errors(self) -> None:
        with pytest.raises(MediaError):
            sample_indices(0, 4)
        with pytest.raises(ConfigError):
            sample_indices(10, 0)
        with pytest.raises(ConfigError):
            sample_indices(10, 2, "random")
        with pytest.raises(ConfigError):
            VideoConfig(layout="mosaic")


class TestTiling:
    def test_grid_order_and_padding(self) -> None:
        frames = [np.full((6, 8, 3), 10 * i, np.uint8) for i in range(5)]
        g = tile_grid(frames)
        assert grid_shape(5) == (2, 3) and g.shape == (12, 24, 3)
        assert [int(g[r * 6, c * 8, 0]) for r in range(2) for c in range(3)] == [0, 10, 20, 30, 40, 127]
        assert tile_grid(frames[:4]).shape == (12, 16, 3)
        assert tile_grid(frames, cols=5).shape == (6, 40, 3)
        with pytest.raises(MediaError, match="frame 1"):
            tile_grid([frames[0], np.zeros((5, 8, 3), np.uint8)])

    def test_frame_sizes_are_multiples_of_8(self) -> None:
        assert frame_size(320, 240, 224) == (224, 168)
        assert frame_size(340, 256, 100) == (96, 72)
        assert resize_frame(np.zeros((240, 320, 3), np.uint8), 64).shape == (48, 64, 3)
        assert resize_frame(np.zeros((5, 7, 3), np.uint8), None).shape == (5, 7, 3)


class TestClips:
    def test_sampled_frames_are_the_right_ones(self, clip: Item) -> None:
        frames = protected_frames(clip, VideoConfig(frames=4, frame_side=None))
        assert [_index_of(f) for f in frames] == sample_indices(20, 4) == [2, 7, 12, 17]
        frames = protected_frames(clip, VideoConfig(frames=3, sampling="uniform", frame_side=None))
        assert [_index_of(f) for f in frames] == [0, 10, 19]

    def test_anonymizer_is_applied_per_frame_before_tiling(self, clip: Item) -> None:
        cfg = VideoConfig(frames=4, frame_side=32)
        blur = create_anonymizer("blur:sigma=3")
        plain = protected_frames(clip, cfg)
        prot = protected_frames(clip, cfg, blur)
        assert all(p.shape == (24, 32, 3) for p in prot)
        for a, b in zip(prot, plain, strict=True):
            np.testing.assert_array_equal(a, blur(b))
        grid = clip_images(prot, cfg)
        assert len(grid) == 1 and grid[0].shape == (48, 64, 3)
        np.testing.assert_array_equal(grid[0][24:, 32:], prot[3])  # each tile is one protected frame
        several = clip_images(prot, VideoConfig(frames=4, layout="frames"))
        assert len(several) == 4

    def test_temporal_smoothing_takes_the_exact_path(self, clip: Item) -> None:
        cfg = VideoConfig(frames=3, frame_side=32)
        smooth = create_anonymizer("blur:sigma=1")  # a per-frame anonymizer: no state
        from veil.anonymizers.learned import LearnedAnonymizer

        ema = LearnedAnonymizer("unet", width=8, temporal_smoothing=0.6)
        idx = sample_indices(20, 3)
        every = ema.apply_video(resize_frame(f, 32) for f in iter_frames(clip.media_path()))
        got = protected_frames(clip, cfg, ema)
        for i, g in zip(idx, got, strict=True):
            np.testing.assert_array_equal(g, every[i])
        naive = [ema(resize_frame(f, 32)) for f in protected_frames(clip, VideoConfig(frames=3, frame_side=None))]
        assert any(not np.array_equal(a, b) for a, b in zip(got, naive, strict=True))
        assert len(protected_frames(clip, cfg, smooth)) == 3

    def test_frame_list_items(self, tmp_path: Path) -> None:
        paths = [save_image(tmp_path / f"f{i}.png", np.full((16, 16, 3), 10 * i, np.uint8)) for i in range(6)]
        item = Item(id="f", split="test", media=Media("frames", paths=tuple(str(p) for p in paths)))
        frames = protected_frames(item, VideoConfig(frames=2, sampling="uniform", frame_side=None))
        assert [int(f[0, 0, 0]) for f in frames] == [0, 50]

    def test_not_a_clip(self, tmp_path: Path) -> None:
        item = Item(id="i", split="test", media=Media("image", str(tmp_path / "x.png")))
        with pytest.raises(MediaError, match="not a clip"):
            protected_frames(item, VideoConfig())


UCF = ["ApplyEyeMakeup", "ApplyLipstick", "Basketball", "BasketballDunk", "Biking", "CuttingInKitchen",
       "HandstandPushups", "PlayingGuitar", "PushUps", "SkyDiving", "TaiChi", "YoYo", "WritingOnBoard"]
HMDB = ["brush_hair", "ride_bike", "ride_horse", "shake_hands", "kick_ball", "sword_exercise", "climb_stairs"]


@pytest.mark.parametrize(
    ("answer", "classes", "expected"),
    [
        ("ApplyEyeMakeup", UCF, "ApplyEyeMakeup"),
        ("apply eye makeup", UCF, "ApplyEyeMakeup"),
        ("Apply Eye Makeup.", UCF, "ApplyEyeMakeup"),
        ("The person is applying eye make-up.", UCF, "ApplyEyeMakeup"),
        ("applying lipstick", UCF, "ApplyLipstick"),
        ("APPLY_LIPSTICK", UCF, "ApplyLipstick"),
        ("basketball", UCF, "Basketball"),
        ("A player dunking a basketball", UCF, "BasketballDunk"),
        ("basketball dunk", UCF, "BasketballDunk"),
        ("doing push-ups", UCF, "PushUps"),
        ("pushups", UCF, "PushUps"),
        ("Handstand push ups", UCF, "HandstandPushups"),
        ("biking", UCF, "Biking"),
        ("cutting vegetables in the kitchen", UCF, "CuttingInKitchen"),
        ("a man plays the guitar", UCF, "PlayingGuitar"),
        ("Answer: playing guitar", UCF, "PlayingGuitar"),
        ("skydiving", UCF, "SkyDiving"),
        ("sky diving", UCF, "SkyDiving"),
        ("Tai chi", UCF, "TaiChi"),
        ("yo-yo", UCF, "YoYo"),
        ("Someone is writing on a board", UCF, "WritingOnBoard"),
        ("brush_hair", HMDB, "brush_hair"),
        ("Brushing her hair", HMDB, "brush_hair"),
        ("riding a bicycle", HMDB, "ride_bike"),
        ("He rides a horse.", HMDB, "ride_horse"),
        ("Two people shaking hands", HMDB, "shake_hands"),
        ("kicking the ball", HMDB, "kick_ball"),
        ("climbing stairs", HMDB, "climb_stairs"),
        ("I cannot answer that.", HMDB, None),
        ("riding", HMDB, None),  # ride_bike and ride_horse both need a second word
        ("", HMDB, None),
        ("dancing", HMDB, None),
    ],
)
def test_parse_action_phrasings(answer: str, classes: list[str], expected: str | None) -> None:
    got = parse_action(answer, classes)
    assert (classes[got] if got is not None else None) == expected


@pytest.mark.parametrize(
    ("answer", "labels", "expected"),
    [
        ("3", "numbers", 2), ("(3)", "numbers", 2), ("3.", "numbers", 2), ("Option 3: basketball", "numbers", 2),
        ("The answer is 5.", "numbers", 4), ("99", "numbers", None), ("basketball dunk", "numbers", 3),
        ("B", "letters", 1), ("(c)", "letters", 2), ("C. basketball", "letters", 2), ("Answer: D", "letters", 3),
        ("A person applying lipstick", "letters", 1),  # the article "A" is not an option label
    ],
)
def test_parse_option_labels(answer: str, labels: str, expected: int | None) -> None:
    assert parse_action(answer, UCF, labels) == expected


def test_prompts_list_classes_and_round_trip() -> None:
    prompt, choices = action_prompt(HMDB[:3], layout="grid")
    assert choices == ["brush hair", "ride bike", "ride horse"]
    assert "grid of frames" in prompt and parse_prompt(prompt)[1] == choices
    assert format_prompt(prompt, choices) == prompt
    prompt, choices = action_prompt(HMDB[:3], layout="frames", labels="numbers")
    assert choices == ["1", "2", "3"] and "2. ride bike" in prompt and parse_prompt(prompt)[1] == choices
    _, letters = action_prompt(HMDB[:3], labels="letters")
    assert letters == ["A", "B", "C"]
    with pytest.raises(ConfigError, match="26"):
        action_prompt([f"c{i}" for i in range(30)], labels="letters")


def test_score_mode_and_top1() -> None:
    ans = Answer("ride bike", {"brush hair": -3.0, "Ride Bike": -0.1, "ride horse": -2.5})
    s = choice_scores(ans, ["brush hair", "ride bike", "ride horse", "kick ball"])
    assert s is not None and int(np.argmax(s)) == 1 and s[3] == -np.inf
    assert choice_scores(Answer("x"), ["a", "b"]) is None
    assert top1([1, None, 2, 0], [1, 1, 2, 2]) == 0.5


class _Scripted(BlackBox):
    """A black box that always replies with one fixed text (the parser wrapper's input)."""

    name = "scripted"

    def __init__(self, text: str, logprobs: dict[str, float] | None = None) -> None:
        super().__init__()
        self.text, self.lp = text, logprobs

    def _answer(self, images: list[np.ndarray], prompt: str, choices: list[str] | None) -> Answer:
        return Answer(self.text, self.lp)


def test_answer_wrapper_canonicalizes() -> None:
    im = np.zeros((8, 8, 3), np.uint8)
    prompt, choices = action_prompt(HMDB)
    bb = ActionAnswerBlackBox(_Scripted("The person is riding a horse.", {"ride horse": -0.2}), HMDB)
    a = bb.query([im], prompt, choices)
    assert a.text == "ride horse" and a.logprobs == {"ride horse": -0.2}
    assert ActionAnswerBlackBox(_Scripted("no idea"), HMDB).query([im], prompt, choices).text == "no idea"
    model, params = bb.cache_identity()
    assert "scripted" in model and params["answer_parser"].startswith("action/")
    # the reference stand-in does not know actions: its refusal passes through unchanged
    ref = ActionAnswerBlackBox(create_blackbox("reference", work_size=320, faces=False), HMDB)
    assert ref.query([im], prompt, choices).text == "I cannot answer that."
