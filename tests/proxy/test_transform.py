"""The proxy's pure payload transform and its config, in process: every image is replaced by
the anonymizer's output re-encoded without metadata, everything else is kept as sent, and
each kind of request the proxy cannot vouch for is refused with its own code."""

from __future__ import annotations

import base64
import copy
import io
import re
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from veil.anonymizers.base import create_anonymizer
from veil.errors import ConfigError, VeilError
from veil.media import decode_image
from veil.protect import protect_image_bytes
from veil.proxy import AnonymizerFailure, PayloadTransform, ProxyConfig, ProxyRefusal, encode_png
from veil.proxy.app import _CrashingAnonymizer, build_anonymizer, parse_json_body

SPEC = "blur:sigma=5"
UPSTREAM = "http://127.0.0.1:11434/v1"


def forwarded(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(mime, bytes) of every image part of a transformed body."""
    out = []
    for msg in body["messages"]:
        for part in msg["content"] if isinstance(msg.get("content"), list) else []:
            if part["type"] == "image_url":
                head, b64 = part["image_url"]["url"].split(",", 1)
                out.append((head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(b64)))
    return out


@pytest.fixture(scope="module")
def transform() -> PayloadTransform:
    return PayloadTransform(create_anonymizer(SPEC), ProxyConfig(SPEC, UPSTREAM, max_image_pixels=4_000_000,
                                                                 max_images=4))


class TestConfig:
    def test_defaults_are_safe(self) -> None:
        c = ProxyConfig(SPEC, UPSTREAM + "/")
        assert (c.host, c.output_format, c.allow_remote_images, c.auth_token) == ("127.0.0.1", "png", False, None)
        assert c.upstream == UPSTREAM and not c.exposed and c.bind_warning() is None

    @pytest.mark.parametrize("kw, match", [
        ({"upstream": "ftp://example.org/v1"}, "http"),
        ({"upstream": "127.0.0.1:8000"}, "http"),
        ({"upstream": UPSTREAM + "?key=1"}, "query"),
        ({"output_format": "gif"}, "png or jpeg"),
        ({"allow_remote_images": True}, "--allowed-host"),
        ({"allowed_hosts": ("example.org",)}, "--allow-remote-images"),
        ({"max_image_pixels": 0}, "max_image_pixels"),
        ({"max_side": 10}, "max_side"),
        ({"png_compression": 12}, "0..9"),
        ({"auth_token": " "}, "empty"),
        ({"upstream_auth_header": "x-key"}, "authorization"),
    ])
    def test_refuses_bad_settings(self, kw: dict[str, Any], match: str) -> None:
        args = {"anonymizer": SPEC, "upstream": UPSTREAM, **kw}
        with pytest.raises(ConfigError, match=match):
            ProxyConfig(**args)

    def test_exposed_without_token_warns(self) -> None:
        assert "WITHOUT an auth token" in ProxyConfig(SPEC, UPSTREAM, host="0.0.0.0").bind_warning()
        assert ProxyConfig(SPEC, UPSTREAM, host="0.0.0.0", auth_token="t").bind_warning() is None
        for host in ("localhost", "127.0.0.2", "::1"):
            assert ProxyConfig(SPEC, UPSTREAM, host=host).bind_warning() is None

    def test_secrets_stay_out_of_repr_and_display(self) -> None:
        c = ProxyConfig(SPEC, "https://user:pw-secret@llm.example.org/v1", auth_token="tok-secret",
                        upstream_api_key="key-secret")
        assert c.upstream_display == "https://llm.example.org/v1"
        assert "secret" not in repr(c).replace("pw-secret@", "")  # only the URL itself holds it
        assert "tok-secret" not in repr(c) and "key-secret" not in repr(c)

    def test_jpg_means_jpeg(self) -> None:
        assert ProxyConfig(SPEC, UPSTREAM, output_format="JPG").output_format == "jpeg"


class TestTransform:
    def test_image_is_replaced_by_the_anonymizer_output(self, transform: PayloadTransform, h: ModuleType) -> None:
        original = h.encode(h.photo(), "PNG")
        body = h.chat([h.image_part(original)])
        before = copy.deepcopy(body)
        result = transform(body)
        assert body == before, "the transform must not mutate its input"
        assert result.images == 1
        [(mime, data)] = forwarded(result.body)
        want = create_anonymizer(SPEC).apply(decode_image(original))
        got = decode_image(data)
        assert mime == "image/png"
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(got, decode_image(original))

    def test_text_and_other_fields_are_kept(self, transform: PayloadTransform, h: ModuleType) -> None:
        text = "Wie viele Personen? 人数は？ \"quotes\" \\ back\\slash\n\ttabs 🙂"
        body = {
            "model": "some-model", "temperature": 0.2, "max_tokens": 7, "stream": False, "user": "u-1",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": [{"type": "text", "text": text},
                                             {"type": "image_url", "image_url": {"url": h.data_url(
                                                 h.encode(h.photo(), "JPEG"), "image/jpeg"), "detail": "low"}}]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
        }
        out = transform(body).body
        assert {k: v for k, v in out.items() if k != "messages"} == {k: v for k, v in body.items() if k != "messages"}
        for i in (0, 2, 3):
            assert out["messages"][i] == body["messages"][i]
        assert out["messages"][1]["content"][0] == {"type": "text", "text": text}
        assert out["messages"][1]["content"][1]["image_url"]["detail"] == "low"

    def test_every_image_in_every_message(self, transform: PayloadTransform, h: ModuleType) -> None:
        ims = [h.photo(size=s) for s in ((160, 120), (90, 140), (200, 100))]
        body = {"model": "m", "messages": [
            {"role": "user", "content": [h.image_part(h.encode(ims[0])), h.image_part(h.encode(ims[1]))]},
            {"role": "assistant", "content": "Two people."},
            {"role": "user", "content": [{"type": "text", "text": "And here?"},
                                         {"type": "image_url", "image_url": h.data_url(h.encode(ims[2]))}]},
        ]}
        result = transform(body)
        assert result.images == 3
        anon = create_anonymizer(SPEC)
        for im, (_, data) in zip(ims, forwarded(result.body), strict=True):
            np.testing.assert_array_equal(decode_image(data), anon.apply(im))

    def test_metadata_is_stripped(self, transform: PayloadTransform, h: ModuleType) -> None:
        src = h.jpeg_with_metadata(h.photo())
        [(_, data)] = forwarded(transform(h.chat([h.image_part(src, "image/jpeg")])).body)
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG"
            assert len(im.getexif()) == 0 and "icc_profile" not in im.info and "exif" not in im.info
            assert not {k for k in im.info if k not in ("dpi", "gamma")}, im.info
        for needle in (h.GPS_MARK.encode(), b"Exif", b"secret comment", b"iCCP", b"tEXt", b"eXIf"):
            assert needle not in data

    def test_exif_orientation_is_applied_to_the_pixels(self, transform: PayloadTransform, h: ModuleType) -> None:
        im = h.photo(size=(160, 120))
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        src = h.encode(im, "JPEG", exif=exif)
        [(_, data)] = forwarded(transform(h.chat([h.image_part(src, "image/jpeg")])).body)
        with Image.open(io.BytesIO(src)) as pil:
            upright = np.asarray(ImageOps.exif_transpose(pil).convert("RGB"))
        assert upright.shape == (160, 120, 3)
        np.testing.assert_array_equal(decode_image(data), create_anonymizer(SPEC).apply(upright))

    def test_jpeg_output_option(self, h: ModuleType) -> None:
        t = PayloadTransform(create_anonymizer(SPEC), ProxyConfig(SPEC, UPSTREAM, output_format="jpeg"))
        [(mime, data)] = forwarded(t(h.chat([h.image_part(h.encode(h.photo()))])).body)
        assert mime == "image/jpeg" and data[:3] == b"\xff\xd8\xff"
        want = create_anonymizer(SPEC).apply(h.photo()).astype(int)
        assert np.abs(decode_image(data).astype(int) - want).mean() < 2.0  # lossy, but the same picture

    def test_same_pixels_as_veil_protect(self, transform: PayloadTransform, h: ModuleType) -> None:
        rgb = h.photo(size=(120, 90))
        alpha = np.tile(np.linspace(0, 255, 120, dtype=np.uint8), (90, 1))
        grey = h.encode(rgb[:, :, 1], "PNG")
        rgba = h.encode(np.dstack([rgb, alpha]), "PNG")
        for src, mode in ((grey, "L"), (rgba, "RGBA"), (h.jpeg_with_metadata(rgb), "RGB")):
            [(_, data)] = forwarded(transform(h.chat([h.image_part(src)])).body)
            want = protect_image_bytes(src, create_anonymizer(SPEC), fmt="png")
            with Image.open(io.BytesIO(data)) as got, Image.open(io.BytesIO(want)) as ref:
                assert got.mode == ref.mode == mode
                np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))

    def test_large_images_are_scaled_to_fit_before_protection(self, h: ModuleType) -> None:
        """A phone-size image is scaled down (by area) to ``max_side`` before it is protected
        and sent, as ``protect_image_bytes(max_side=...)`` does, alpha included; smaller
        images keep their size, and ``max_side=0`` keeps every size."""
        import cv2

        big = cv2.resize(h.photo(), (3000, 2250), interpolation=cv2.INTER_CUBIC)
        alpha = np.full(big.shape[:2], 200, np.uint8)
        cfg = ProxyConfig(SPEC, UPSTREAM, max_side=1024)
        t = PayloadTransform(create_anonymizer(SPEC), cfg)
        for src in (h.encode(big, "JPEG"), h.encode(np.dstack([big, alpha]), "PNG")):
            [(_, data)] = forwarded(t(h.chat([h.image_part(src)])).body)
            with Image.open(io.BytesIO(data)) as got:
                assert got.size == (1024, 768)
                np.testing.assert_array_equal(
                    np.asarray(got), np.asarray(Image.open(io.BytesIO(
                        protect_image_bytes(src, create_anonymizer(SPEC), fmt="png", max_side=1024)))))
        small = h.encode(h.photo(), "PNG")
        [(_, data)] = forwarded(t(h.chat([h.image_part(small)])).body)
        assert decode_image(data).shape == (240, 320, 3)
        keep = PayloadTransform(create_anonymizer(SPEC), ProxyConfig(SPEC, UPSTREAM, max_side=0))
        [(_, data)] = forwarded(keep(h.chat([h.image_part(h.encode(big, "JPEG"))])).body)
        assert decode_image(data).shape == (2250, 3000, 3)
        assert ProxyConfig(SPEC, UPSTREAM).max_side == 2048

    def test_png_encoding_is_lossless_and_bare(self, h: ModuleType) -> None:
        im = h.photo()
        data = encode_png(Image.fromarray(im))
        np.testing.assert_array_equal(decode_image(data), im)
        chunks = []
        pos = 8
        while pos < len(data):
            n = int.from_bytes(data[pos:pos + 4], "big")
            chunks.append(data[pos + 4:pos + 8])
            pos += 12 + n
        assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}


# (name, body builder, status, code): each is refused and nothing would be forwarded.
def _refusals(h: ModuleType) -> list[tuple[str, Any, int, str]]:
    png = h.encode(h.photo(size=(64, 48)))
    ok_text = {"type": "text", "text": "hi"}

    def nested(depth: int) -> Any:
        v: Any = "x"
        for _ in range(depth):
            v = [v]
        return v

    def msg(*parts: Any) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}

    return [
        ("not an object", [1, 2], 400, "invalid_request"),
        ("no model", {"messages": [{"role": "user", "content": "hi"}]}, 400, "invalid_request"),
        ("model not a string", {"model": 3, "messages": [{"role": "user", "content": "hi"}]}, 400, "invalid_request"),
        ("messages missing", {"model": "m"}, 400, "invalid_request"),
        ("messages an object", {"model": "m", "messages": {"role": "user"}}, 400, "invalid_request"),
        ("stream not a bool", {**msg(ok_text), "stream": "yes"}, 400, "invalid_request"),
        ("message not an object", {"model": "m", "messages": ["hi"]}, 400, "invalid_request"),
        ("no role", {"model": "m", "messages": [{"content": "hi"}]}, 400, "invalid_request"),
        ("user without content", {"model": "m", "messages": [{"role": "user"}]}, 400, "invalid_request"),
        ("empty parts", msg(), 400, "invalid_request"),
        ("content an int", {"model": "m", "messages": [{"role": "user", "content": 5}]}, 400, "invalid_request"),
        ("nested parts", msg([ok_text]), 400, "invalid_request"),
        ("text not a string", msg({"type": "text", "text": {"type": "image_url"}}), 400, "invalid_request"),
        ("text part smuggling an image", msg({"type": "text", "text": "x", "image_url": {"url": "http://a/b"}}),
         400, "invalid_request"),
        ("image without url", msg({"type": "image_url", "image_url": {}}), 400, "invalid_request"),
        ("url not a string", msg({"type": "image_url", "image_url": {"url": ["data:image/png;base64,"]}}), 400,
         "invalid_request"),
        ("extra image field", msg({"type": "image_url", "image_url": {"url": h.data_url(png), "x": 1}}), 400,
         "invalid_request"),
        ("input_audio", msg({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}), 400,
         "unsupported_content"),
        ("file", msg({"type": "file", "file": {"file_data": "JVBERi0=", "filename": "a.pdf"}}), 400,
         "unsupported_content"),
        ("data URL in text", msg({"type": "text", "text": h.data_url(png)}), 400, "unsupported_content"),
        ("raw base64 JPEG in a tool argument", {**msg(ok_text), "tools": [{"type": "function", "function": {
            "name": "f", "description": base64.b64encode(h.encode(h.photo(size=(32, 24)), "JPEG")).decode()}}]},
         400, "unsupported_content"),
        ("image list on a message", {"model": "m", "messages": [{"role": "user", "content": "hi",
                                                                  "images": [base64.b64encode(png).decode()]}]},
         400, "unsupported_field"),
        ("remote URL", msg({"type": "image_url", "image_url": {"url": "https://example.org/a.png"}}), 400,
         "remote_image_refused"),
        ("file URL", msg({"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}), 400,
         "invalid_image_url"),
        ("not base64", msg({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not*base64"}}), 400,
         "invalid_base64"),
        ("not base64 encoded", msg({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}), 400,
         "invalid_image_url"),
        ("wrong MIME type", msg(h.image_part(png, "text/html")), 400, "unsupported_image_type"),
        ("SVG MIME type", msg(h.image_part(h.SVG, "image/svg+xml")), 400, "unsupported_image_type"),
        ("SVG labelled PNG", msg(h.image_part(h.SVG)), 400, "unsupported_image_format"),
        ("BMP", msg(h.image_part(h.encode(h.photo(size=(32, 24)), "BMP"))), 400, "unsupported_image_format"),
        ("truncated PNG", msg(h.image_part(png[: len(png) // 2])), 400, "invalid_image"),
        ("truncated JPEG", msg(h.image_part(h.encode(h.photo(), "JPEG")[:2000], "image/jpeg")), 400,
         "invalid_image"),
        ("animated GIF", msg(h.image_part(h.animated("GIF"), "image/gif")), 400, "animated_image"),
        ("animated PNG", msg(h.image_part(h.animated("PNG"))), 400, "animated_image"),
        ("animated WebP", msg(h.image_part(h.animated("WEBP"), "image/webp")), 400, "animated_image"),
        ("declared 50000x50000", msg(h.image_part(h.png_declaring(50000, 50000))), 400, "image_too_large"),
        ("zero bomb over the limit", msg(h.image_part(h.zero_bomb_png(2100))), 400, "image_too_large"),
        ("too many images", msg(*[h.image_part(png)] * 5), 400, "too_many_images"),
        ("nested 100 levels deep", {**msg(ok_text), "tools": nested(100)}, 400, "invalid_request"),
    ]


class _Counting:
    """An anonymizer that counts its calls (blur underneath)."""

    def __init__(self) -> None:
        from veil.anonymizers.base import Anonymizer

        inner = create_anonymizer(SPEC)

        class Counted(Anonymizer):
            name = "counted"
            calls = 0

            def apply(self, image: np.ndarray) -> np.ndarray:
                Counted.calls += 1
                return inner.apply(image)

        self.anonymizer = Counted()


class TestProtectedCache:
    def test_an_image_resent_is_protected_once(self, h: ModuleType) -> None:
        c = _Counting()
        t = PayloadTransform(c.anonymizer, ProxyConfig(SPEC, UPSTREAM))
        img = h.encode(h.photo(), "PNG")
        other = h.encode(h.photo()[::-1].copy(), "PNG")
        first = forwarded(t(h.chat([h.image_part(img)])).body)
        # the next turn of the chat re-sends the image, with a new one
        second = forwarded(t(h.chat([h.image_part(img), h.image_part(other)])).body)
        assert second[0] == first[0]
        assert type(c.anonymizer).calls == 2  # the first image once, the new one once
        np.testing.assert_array_equal(decode_image(second[1][1]),
                                      create_anonymizer(SPEC).apply(decode_image(other)))

    def test_off_protects_every_time_and_failures_are_not_kept(self, h: ModuleType) -> None:
        c = _Counting()
        t = PayloadTransform(c.anonymizer, ProxyConfig(SPEC, UPSTREAM, protected_cache_mb=0))
        img = h.encode(h.photo(), "PNG")
        for _ in range(2):
            t(h.chat([h.image_part(img)]))
        assert type(c.anonymizer).calls == 2
        crashing = PayloadTransform(_CrashingAnonymizer(create_anonymizer(SPEC)), ProxyConfig(SPEC, UPSTREAM))
        for _ in range(2):  # a failure is not remembered as an answer: it fails again
            with pytest.raises(AnonymizerFailure):
                crashing(h.chat([h.image_part(img)]))

    def test_negative_size_refused(self) -> None:
        with pytest.raises(ConfigError, match="protected cache"):
            ProxyConfig(SPEC, UPSTREAM, protected_cache_mb=-1)


class TestRefusals:
    def test_each_is_refused_with_its_code(self, transform: PayloadTransform, h: ModuleType) -> None:
        seen = []
        for name, body, status, code in _refusals(h):
            before = copy.deepcopy(body)
            with pytest.raises(ProxyRefusal) as info:
                transform(body)
            e = info.value
            assert (e.status, e.code) == (status, code), f"{name}: {e.status} {e.code}: {e}"
            assert isinstance(e, VeilError) and isinstance(e, ValueError)
            assert e.body()["error"]["code"] == code and e.body()["error"]["message"]
            assert not re.search(r"[A-Za-z0-9+/=]{24,}", str(e)) and len(str(e)) < 400, f"{name}: echoes data: {e}"
            assert body == before
            seen.append(name)
        assert len(seen) >= 35

    def test_bad_image_anywhere_refuses_the_whole_request(self, transform: PayloadTransform, h: ModuleType) -> None:
        good = h.image_part(h.encode(h.photo()))
        bad = h.image_part(h.encode(h.photo(), "JPEG")[:1500], "image/jpeg")
        body = {"model": "m", "messages": [{"role": "user", "content": [good]}, {"role": "user", "content": [bad]}]}
        with pytest.raises(ProxyRefusal, match=r"messages\[1\]\.content\[0\]") as info:
            transform(body)
        assert info.value.param == "messages[1].content[0]"

    def test_anonymizer_crash_is_a_500(self, h: ModuleType) -> None:
        t = PayloadTransform(_CrashingAnonymizer(create_anonymizer(SPEC)), ProxyConfig(SPEC, UPSTREAM))
        with pytest.raises(AnonymizerFailure) as info:
            t(h.chat([h.image_part(h.encode(h.photo()))]))
        assert info.value.status == 500 and info.value.code == "anonymizer_failed"
        assert isinstance(info.value.__cause__, RuntimeError)
        # text-only requests do not touch the anonymizer and still pass
        assert t({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).images == 0


class TestStartup:
    def test_self_test_catches_a_model_that_cannot_run(self, tmp_path: Any) -> None:
        from veil.anonymizers.learned import LearnedAnonymizer

        folder = LearnedAnonymizer("unet", width=8, extra_channels=1).save(tmp_path / "guided")
        with pytest.raises(ConfigError, match="fails on a test image"):
            build_anonymizer(ProxyConfig(str(folder), UPSTREAM))

    def test_strict_json(self) -> None:
        assert parse_json_body(b'{"a": 1}') == {"a": 1}
        for raw in (b"", b"  ", b"{", b'{"a": NaN}', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000):
            with pytest.raises(ProxyRefusal) as info:
                parse_json_body(raw)
            assert info.value.code == "invalid_json"
