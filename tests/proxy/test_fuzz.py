"""Property-based fuzzing of the running proxy with hypothesis: 250 malformed or hostile
requests (bad base64, truncated images, decompression bombs, huge declared sizes, SVG,
animations, wrong MIME types, broken or smuggling message structures, remote URLs,
oversized, non-JSON and deeply nested bodies, wrong field types) sent over a socket to a ``veil proxy``
subprocess. Each must get a 4xx with an OpenAI error body, the upstream's recorder must
receive nothing, and afterwards the proxy still forwards a valid request, anonymized."""

from __future__ import annotations

import base64
import json
import os
import string
from collections import Counter
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.anonymizers.base import create_anonymizer
from veil.media import decode_image

EXAMPLES = 250
MAX_BODY_MB = 1.0
MAX_PIXELS = 4_000_000
MAX_IMAGES = 4
SPEC = "blur:sigma=5"
Req = tuple[str, bytes]  # (kind, raw request body)


@pytest.fixture(scope="module")
def fuzz_proxy(upstream: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory, h: ModuleType) -> Iterator[Any]:
    with h.start_proxy(upstream[0].url, tmp_path_factory.mktemp("fuzz"), "--max-body-mb", str(MAX_BODY_MB),
                       "--max-image-pixels", str(MAX_PIXELS), "--max-images", str(MAX_IMAGES), anonymizer=SPEC) as p:
        yield p


def jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) is rewritten to declare ``width`` x ``height``."""
    i = jpeg.index(b"\xff\xc0")
    return jpeg[: i + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[i + 9:]


def hostile_requests(h: ModuleType) -> st.SearchStrategy[Req]:
    """Every kind of request the proxy must refuse, as (kind, raw body)."""
    photo = h.photo(size=(96, 72))
    files = {"PNG": h.encode(photo, "PNG"), "JPEG": h.encode(photo, "JPEG", quality=90),
             "WEBP": h.encode(photo, "WEBP", quality=80), "GIF": h.encode(photo, "GIF")}
    mimes = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
    zero_bomb = h.zero_bomb_png(2100)  # 4.41 M pixels > MAX_PIXELS, about 13 kB
    text = {"type": "text", "text": "How many people are in this image?"}

    def body(*parts: Any, **top: Any) -> bytes:
        return json.dumps({"model": "reference", "messages": [{"role": "user", "content": [text, *parts]}],
                           **top}).encode()

    def img(data: bytes, mime: str = "image/png") -> dict[str, Any]:
        return h.image_part(data, mime)

    def url_part(url: Any) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": url}}

    b64 = string.ascii_letters + string.digits + "+/="
    bad_base64 = st.text(alphabet=b64 + "!@#$%^&*-_.~", min_size=0, max_size=200).map(
        lambda s: ("bad_base64", body(url_part(f"data:image/png;base64,{s[:100]}*{s[100:]}"))))
    truncated = [st.integers(1, len(files[f]) - 32).map(  # shorter than 32 bytes from the end: never decodable
        lambda n, f=f: ("truncated_" + f.lower(), body(img(files[f][:n], mimes[f])))) for f in sorted(files)]
    declared = st.integers(62, 65535).flatmap(lambda w: st.integers(MAX_PIXELS // w + 1, 65535).map(
        lambda ht, w=w: (w, ht)))
    bombs = [
        declared.map(lambda wh: ("bomb_png_header", body(img(h.png_declaring(*wh))))),
        declared.map(lambda wh: ("huge_jpeg_header", body(img(jpeg_declaring(files["JPEG"], *wh), "image/jpeg")))),
        st.just(("zero_bomb_png", body(img(zero_bomb)))),
    ]
    svg = st.sampled_from(["image/svg+xml", "image/png", "image/jpeg"]).map(lambda m: ("svg", body(img(h.SVG, m))))
    anim = [st.integers(2, 5).map(lambda n, f=f: ("animated_" + f.lower(), body(img(h.animated(f, n),
                                                                                    "image/" + f.lower()))))
            for f in ("GIF", "PNG", "WEBP")]
    wrong_mime = st.tuples(st.sampled_from(sorted(files)), st.sampled_from(
        ["text/plain", "text/html", "application/octet-stream", "application/pdf", "video/mp4", "audio/wav",
         "image/tiff", "image/bmp", "image/heic", "image/x-icon", "image/svg+xml", ""])).map(
        lambda t: ("wrong_mime", body(img(files[t[0]], t[1]))))
    structure = st.sampled_from([
        {"role": "user", "content": []},
        {"role": "user", "content": [[text]]},
        {"role": "user", "content": [{"type": "text"}]},
        {"role": "user", "content": [{"text": "no type"}]},
        {"role": "user", "content": {"type": "text", "text": "an object, not a list"}},
        {"role": "user"},
        {"role": "user", "content": [{"type": "image_url"}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": {"url": "data:image/png;base64,"}}}]},
        {"role": "user", "content": [{"type": "text", "text": "x", "content": [url_part("http://10.0.0.1/a.png")]}]},
        {"role": "user", "content": [{"type": "text", "text": "x", "image_url": {"url": "http://10.0.0.1/a.png"}}]},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
        {"role": "user", "content": [{"type": "file", "file": {"file_data": "JVBERi0xLjQ=", "filename": "a.pdf"}}]},
        {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}]},
        {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "iVBORw0KGgo="}}]},
        {"role": "user", "content": "see", "images": ["iVBORw0KGgoAAAANSUhEUgAAAAE="]},
        {"role": "user", "content": [{"type": "text", "text": "data:image/png;base64,iVBORw0KGgo="}]},
        {"role": "user", "content": [{"type": "text", "text": "/9j/4AAQSkZJRgABAQAAAQABAAD"}]},
        {"content": "no role"},
        {"role": None, "content": "x"},
        "a string message",
        [{"role": "user", "content": "nested message list"}],
    ]).map(lambda m: ("structure", json.dumps({"model": "reference", "messages": [m]}).encode()))
    remote = st.tuples(
        st.sampled_from(["http", "https", "HTTP", "Https", "ftp", "file", "gopher", "javascript", "blob", "ws"]),
        st.sampled_from(["127.0.0.1", "169.254.169.254", "localhost", "10.0.0.1", "[::1]", "example.org",
                         "user:pw@example.org", ""]),
        st.text(alphabet=string.ascii_letters + "/._-?=&", max_size=30),
        st.sampled_from(["", " ", "\n"]),
    ).map(lambda t: ("remote_url", body(url_part(f"{t[3]}{t[0]}://{t[1]}/{t[2]}"))))
    oversized = st.integers(int(MAX_BODY_MB * 2**20) + 1, 3 * 2**20).map(
        lambda n: ("oversized", body(text, {"type": "text", "text": "x" * n})))
    non_json = st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda s: s.encode("utf-8")),
        st.sampled_from([b"{", b'{"model": "reference", "messages": [', b"null", b"[]", b"42", b'"text"',
                         b'{"model": NaN, "messages": []}', b"<xml/>", b"\xef\xbb\xbf{}", b"[" * 5000]),
    ).map(lambda raw: ("non_json", raw))
    junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.lists(
        st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.booleans())
    wrong_types = st.one_of(
        junk.filter(lambda v: not (isinstance(v, str) and v.strip())).map(
            lambda v: {"model": v, "messages": [{"role": "user", "content": "hi"}]}),
        junk.filter(lambda v: not (isinstance(v, list) and v)).map(lambda v: {"model": "reference", "messages": v}),
        junk.filter(lambda v: not isinstance(v, bool | None)).map(
            lambda v: {"model": "reference", "messages": [{"role": "user", "content": "hi"}], "stream": v}),
        junk.filter(lambda v: not isinstance(v, dict | None)).map(
            lambda v: {"model": "reference", "messages": [{"role": "user", "content": "hi"}], "stream_options": v}),
        junk.filter(lambda v: not (isinstance(v, str) and v)).map(
            lambda v: {"model": "reference", "messages": [{"role": v, "content": "hi"}]}),
        junk.filter(lambda v: not isinstance(v, str | list)).map(
            lambda v: {"model": "reference", "messages": [{"role": "user", "content": v}]}),
        junk.filter(lambda v: not isinstance(v, str)).map(
            lambda v: {"model": "reference", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": v}]}]}),
        junk.filter(lambda v: not isinstance(v, str | None)).map(
            lambda v: {"model": "reference", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": h.data_url(files["PNG"]), "detail": v}}]}]}),
    ).map(lambda b: ("wrong_types", json.dumps(b).encode()))
    hidden = st.sampled_from(sorted(files)).map(lambda f: ("hidden_image", body(
        tools=[{"type": "function", "function": {"name": "f", "description": base64.b64encode(files[f]).decode()}}]
        if f != "GIF" else None, metadata={"attachment": h.data_url(files[f], mimes[f])})))
    too_many = st.integers(MAX_IMAGES + 1, MAX_IMAGES + 4).map(
        lambda n: ("too_many_images", body(*[img(files["PNG"])] * n)))
    deep = st.tuples(st.integers(65, 900), st.sampled_from(["tools", "response_format", "metadata"])).map(
        lambda t: ("deep_nesting", b'{"model": "reference", "messages": [{"role": "user", "content": "hi"}], "'
                   + t[1].encode() + b'": ' + b"[" * t[0] + b"1" + b"]" * t[0] + b"}"))
    families = [bad_base64, *truncated, *bombs, svg, *anim, wrong_mime, structure, remote, oversized, non_json,
                wrong_types, hidden, too_many, deep]
    # pick the kind first, so each gets about the same share of the examples
    return st.sampled_from(range(len(families))).flatmap(lambda i: families[i])


KINDS = {"bad_base64", "truncated_png", "truncated_jpeg", "truncated_webp", "truncated_gif", "bomb_png_header",
         "huge_jpeg_header", "zero_bomb_png", "svg", "animated_gif", "animated_png", "animated_webp", "wrong_mime",
         "structure", "remote_url", "oversized", "non_json", "wrong_types", "hidden_image", "too_many_images",
         "deep_nesting"}


def test_hostile_requests_are_refused_and_nothing_leaks(fuzz_proxy: Any, upstream: tuple[Any, Any],
                                                         h: ModuleType) -> None:
    record = upstream[1].path
    sent: Counter[str] = Counter()
    client = httpx.Client(timeout=30)

    def recorded_bytes() -> int:
        return os.path.getsize(record) if record.exists() else 0

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(req=hostile_requests(h))
    def one(req: Req) -> None:
        kind, raw = req
        before = recorded_bytes()
        r = client.post(f"{fuzz_proxy.url}/chat/completions", content=raw,
                        headers={"content-type": "application/json", "authorization": f"Bearer {h.CLIENT_KEY}"})
        assert 400 <= r.status_code < 500, (kind, r.status_code, r.text[:300])
        err = r.json()["error"]
        assert isinstance(err["message"], str) and err["message"] and err["type"] and err["code"], (kind, err)
        assert recorded_bytes() == before, f"{kind}: a refused request reached the upstream"
        sent[kind] += 1

    try:
        one()
        assert fuzz_proxy.proc.poll() is None, "the proxy died"
        # still up, and still protecting: a valid request is forwarded, anonymized
        src = h.encode(h.photo(size=(160, 120)), "JPEG")
        n = upstream[1].count()
        r = client.post(f"{fuzz_proxy.url}/chat/completions", json=h.chat([h.image_part(src, "image/jpeg")]))
        assert r.status_code == 200, r.text
        [rec] = upstream[1].since(n)
        got = decode_image(h.forwarded_images(rec)[0])
        np.testing.assert_array_equal(got, create_anonymizer(SPEC).apply(decode_image(src)))
    finally:
        client.close()
    assert sum(sent.values()) >= 200, sent
    assert set(sent) == KINDS, f"kinds never generated: {KINDS - set(sent)}; sent: {dict(sent)}"
    assert h.CLIENT_KEY not in fuzz_proxy.output()
