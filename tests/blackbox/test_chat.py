"""Tests of the OpenAI chat-completions message format helpers."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from veil.blackbox.base import Answer
from veil.blackbox.chat import (
    answer_to_logprobs_content,
    data_url_to_image,
    image_to_data_url,
    images_to_messages,
    messages_to_query,
)
from veil.errors import ConfigError, MediaError, VeilError
from veil.media import encode_image


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def message_with(url: object, text: str = "How many people are in this image?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


class TestRoundTrip:
    def test_png_round_trip_is_exact(self) -> None:
        images = [random_image(48, 64, 1), random_image(1, 1, 2), random_image(17, 5, 3)]
        prompt = "How many people are in this image?\nAnswer with exactly one of: 0; 1; 2."
        got, text = messages_to_query(images_to_messages(images, prompt))
        assert text == prompt
        assert len(got) == len(images)
        for a, b in zip(got, images, strict=True):
            assert a.dtype == np.uint8
            np.testing.assert_array_equal(a, b)

    def test_message_shape(self) -> None:
        msgs = images_to_messages([random_image(8, 8)], "hi")
        assert len(msgs) == 1 and msgs[0]["role"] == "user"
        parts = msgs[0]["content"]
        assert parts[0] == {"type": "text", "text": "hi"}
        assert parts[1]["type"] == "image_url"
        assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")

    def test_jpeg_is_close(self) -> None:
        im = np.full((32, 32, 3), 120, np.uint8)
        url = image_to_data_url(im, "jpeg")
        assert url.startswith("data:image/jpeg;base64,")
        assert np.abs(data_url_to_image(url).astype(int) - 120).max() <= 2

    def test_unsupported_format(self) -> None:
        with pytest.raises(ConfigError, match="unsupported image format"):
            image_to_data_url(random_image(4, 4), "gif")

    def test_string_content_system_messages_and_several_user_messages(self) -> None:
        im = random_image(6, 7)
        url = image_to_data_url(im)
        msgs = [
            {"role": "system", "content": "You are careful."},
            {"role": "user", "content": "First line."},
            {"role": "assistant", "content": None},
            {"role": "user", "content": [{"type": "image_url", "image_url": url},  # bare string accepted
                                         {"type": "text", "text": "Second line."}]},
        ]
        images, text = messages_to_query(msgs)
        assert text == "First line.\nSecond line."
        np.testing.assert_array_equal(images[0], im)

    def test_whitespace_in_base64_is_tolerated(self) -> None:
        im = random_image(5, 5)
        data = base64.b64encode(encode_image(im)).decode()
        url = "data:image/png;base64," + "\n".join(data[i : i + 20] for i in range(0, len(data), 20))
        np.testing.assert_array_equal(data_url_to_image(url), im)


class TestErrors:
    @pytest.mark.parametrize(
        ("url", "error", "match"),
        [
            ("data:image/png;base64,@@@not-base64@@@", MediaError, "not valid base64"),
            ("data:text/plain;base64,aGVsbG8=", MediaError, "expected an image type"),
            ("data:image/png;base64,aGVsbG8=", MediaError, "not a readable image"),
            ("data:image/png;base64,", MediaError, "no image bytes"),
            ("data:image/png,rawbytes", MediaError, "only base64"),
            ("data:image/png;base64", MediaError, "malformed data URL"),
            ("http://example.com/a.png", ConfigError, "remote image URLs are refused"),
            ("HTTPS://example.com/a.png", ConfigError, "remote image URLs are refused"),
            ("file:///etc/passwd", ConfigError, "expected an image data URL"),
            (42, ConfigError, "must be a string"),
        ],
    )
    def test_bad_image_urls(self, url: object, error: type[Exception], match: str) -> None:
        with pytest.raises(error, match=match) as info:
            messages_to_query(message_with(url))
        assert isinstance(info.value, VeilError) and isinstance(info.value, ValueError)
        if not isinstance(url, int):
            assert "messages[0].content[1]" in str(info.value)

    @pytest.mark.parametrize(
        ("messages", "match"),
        [
            ("hello", "must be a list"),
            ({"role": "user"}, "must be a list"),
            (["hello"], "must be an object"),
            ([{"content": "hi"}], "no 'role'"),
            ([{"role": "user", "content": 3}], "string or a list of parts"),
            ([{"role": "user", "content": ["hi"]}], "must be an object with a 'type'"),
            ([{"role": "user", "content": [{"type": "audio", "data": "x"}]}], "unsupported type 'audio'"),
            ([{"role": "user", "content": [{"type": "text"}]}], "without a 'text' string"),
            ([{"role": "user", "content": [{"type": "image_url"}]}], "without 'image_url'"),
            ([{"role": "user", "content": "How many people?"}], "no image"),
            ([{"role": "system", "content": "x"}], "no text prompt"),
        ],
    )
    def test_bad_structure(self, messages: object, match: str) -> None:
        with pytest.raises(ConfigError, match=match):
            messages_to_query(messages)  # type: ignore[arg-type]

    def test_no_text(self) -> None:
        msgs = images_to_messages([random_image(4, 4)], "   ")
        with pytest.raises(ConfigError, match="no text prompt"):
            messages_to_query(msgs)


class TestLogprobsContent:
    def test_shape_and_order(self) -> None:
        ans = Answer("2", {"0": -5.0, "1": -1.5, "2": -0.3, "3": -2.0})
        content = answer_to_logprobs_content(ans)
        assert len(content) == 1
        entry = content[0]
        assert entry["token"] == "2" and entry["logprob"] == -0.3
        assert entry["bytes"] == list(b"2")
        tops = entry["top_logprobs"]
        assert [t["token"] for t in tops] == ["2", "1", "3", "0"]
        assert [t["logprob"] for t in tops] == sorted((t["logprob"] for t in tops), reverse=True)
        assert tops[0]["bytes"] == [50]

    def test_truncation_and_ties(self) -> None:
        ans = Answer("yes", {"yes": -0.69, "no": -0.69, "maybe": -5.0})
        tops = answer_to_logprobs_content(ans, top_logprobs=2)[0]["top_logprobs"]
        assert [t["token"] for t in tops] == ["no", "yes"]  # ties: alphabetical, stable

    def test_no_logprobs(self) -> None:
        assert answer_to_logprobs_content(Answer("I cannot answer that.")) == []

    def test_answer_outside_the_choices_gets_the_top_logprob(self) -> None:
        entry = answer_to_logprobs_content(Answer("free text", {"a": -0.1, "b": -2.4}))[0]
        assert entry["logprob"] == -0.1
