"""End to end on 127.0.0.1: the openai SDK -> ``veil proxy`` (subprocess) -> ``veil
serve-reference --record`` (subprocess). What the upstream recorded is decoded and compared
with the anonymizer's output: it always receives the anonymized pixels without metadata,
never the original, and nothing at all for refused requests; keys reach the upstream but
never the proxy's log."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from veil.anonymizers.base import create_anonymizer
from veil.data.questions import COUNT_CHOICES, QUESTIONS, format_prompt
from veil.media import decode_image

SPEC = "blur:sigma=5"
Upstream = tuple[Any, Any]


@pytest.fixture(scope="module")
def proxy(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory, h: ModuleType) -> Iterator[Any]:
    """``veil proxy --anonymizer blur:sigma=5`` in pass-through mode (the client's key goes upstream)."""
    with h.start_proxy(upstream[0].url, tmp_path_factory.mktemp("proxy"), anonymizer=SPEC) as p:
        yield p


@pytest.fixture()
def client(proxy: Any, h: ModuleType) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key=h.CLIENT_KEY, max_retries=0, timeout=60)


def anonymized(data: bytes) -> np.ndarray:
    """What the upstream must receive for an image file's bytes."""
    return create_anonymizer(SPEC).apply(decode_image(data))


def assert_bare_png(data: bytes, h: ModuleType) -> None:
    """The forwarded bytes: a PNG with no EXIF, ICC, text or comment of the original."""
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        assert len(im.getexif()) == 0 and not ({"exif", "icc_profile", "comment", "xmp"} & set(im.info))
    for needle in (h.GPS_MARK.encode(), b"Exif", b"secret comment", b"iCCP", b"eXIf", b"tEXt", b"iTXt"):
        assert needle not in data


class TestForwarding:
    def test_models_pass_through(self, client: openai.OpenAI, upstream: Upstream) -> None:
        n = upstream[1].count()
        assert [m.id for m in client.models.list()] == ["reference"]
        assert client.models.retrieve("reference").owned_by == "veil"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("no-such-model")
        recs = upstream[1].since(n)
        assert [(r["method"], r["path"]) for r in recs] == [
            ("GET", "/v1/models"), ("GET", "/v1/models/reference"), ("GET", "/v1/models/no-such-model")]

    def test_single_image_arrives_anonymized_without_metadata(self, client: openai.OpenAI, upstream: Upstream,
                                                              proxy: Any, h: ModuleType) -> None:
        src = h.jpeg_with_metadata(h.photo(size=(320, 240)))
        n = upstream[1].count()
        prompt = format_prompt(QUESTIONS["count"], COUNT_CHOICES)
        r = client.chat.completions.create(model="reference", messages=h.chat([h.image_part(src, "image/jpeg")],
                                                                              prompt)["messages"],
                                           logprobs=True, top_logprobs=5)
        [rec] = upstream[1].since(n)
        assert (rec["method"], rec["path"]) == ("POST", "/v1/chat/completions")
        assert rec["headers"]["authorization"] == f"Bearer {h.CLIENT_KEY}"
        [data] = h.forwarded_images(rec)
        got = decode_image(data)
        np.testing.assert_array_equal(got, anonymized(src))
        assert np.abs(got.astype(int) - decode_image(src).astype(int)).mean() > 2, "the original was forwarded"
        assert_bare_png(data, h)
        body = json.loads(rec["body"])
        assert body["messages"][0]["content"][0] == {"type": "text", "text": prompt}
        assert body["logprobs"] is True and body["top_logprobs"] == 5
        # the answer is the upstream's answer on the anonymized image, sent directly
        direct = openai.OpenAI(base_url=upstream[0].url, api_key="x", max_retries=0).chat.completions.create(
            model="reference", messages=body["messages"])
        assert r.choices[0].message.content == direct.choices[0].message.content
        assert {t.token for t in r.choices[0].logprobs.content[0].top_logprobs} <= set(COUNT_CHOICES)

    def test_several_images_in_one_message(self, client: openai.OpenAI, upstream: Upstream, h: ModuleType) -> None:
        srcs = [h.encode(h.photo("data/basketball1.png", (200, 150))),
                h.encode(h.photo("text/scenetext01.jpg", (160, 200)), "JPEG"),
                h.encode(h.photo("data/messi5.jpg", (240, 160)), "WEBP", lossless=True)]
        mimes = ["image/png", "image/jpeg", "image/webp"]
        n = upstream[1].count()
        client.chat.completions.create(model="reference", messages=h.chat(
            [h.image_part(s, m) for s, m in zip(srcs, mimes, strict=True)])["messages"])
        [rec] = upstream[1].since(n)
        got = h.forwarded_images(rec)
        assert len(got) == 3
        for src, data in zip(srcs, got, strict=True):
            np.testing.assert_array_equal(decode_image(data), anonymized(src))
            assert not np.array_equal(decode_image(data), decode_image(src))

    def test_same_pixels_as_veil_protect(self, client: openai.OpenAI, upstream: Upstream, tmp_path: Path,
                                         h: ModuleType) -> None:
        src = tmp_path / "street.png"
        src.write_bytes(h.encode(h.photo("data/basketball1.png", (256, 192))))
        n = upstream[1].count()
        client.chat.completions.create(model="reference", messages=h.chat([h.image_part(src.read_bytes())])[
            "messages"])
        [rec] = upstream[1].since(n)
        r = subprocess.run([sys.executable, "-m", "veil.cli", "protect", str(src), "-o", str(tmp_path / "out"),
                            "--anonymizer", SPEC, "--quiet"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        written = (tmp_path / "out" / "street.png").read_bytes()
        np.testing.assert_array_equal(decode_image(h.forwarded_images(rec)[0]), decode_image(written))

    def test_images_in_several_messages(self, client: openai.OpenAI, upstream: Upstream, h: ModuleType) -> None:
        a, b = h.encode(h.photo(size=(160, 120))), h.encode(h.photo("data/basketball1.png", (160, 120)), "JPEG")
        messages = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": [{"type": "text", "text": "Remember this picture."}, h.image_part(a)]},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": [{"type": "text", "text": "How many people are in this image?"},
                                         h.image_part(b, "image/jpeg")]},
        ]
        n = upstream[1].count()
        client.chat.completions.create(model="reference", messages=messages)
        [rec] = upstream[1].since(n)
        body = json.loads(rec["body"])
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
        assert body["messages"][0] == messages[0] and body["messages"][2] == messages[2]
        for src, data in zip((a, b), h.forwarded_images(rec), strict=True):
            np.testing.assert_array_equal(decode_image(data), anonymized(src))

    def test_streaming_passes_through(self, client: openai.OpenAI, upstream: Upstream, h: ModuleType) -> None:
        src = h.encode(h.photo(size=(200, 150)))
        messages = h.chat([h.image_part(src)])["messages"]
        n = upstream[1].count()
        whole = client.chat.completions.create(model="reference", messages=messages).choices[0].message.content
        chunks = list(client.chat.completions.create(model="reference", messages=messages, stream=True,
                                                     stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
        assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
        recs = upstream[1].since(n)
        assert len(recs) == 2 and json.loads(recs[1]["body"])["stream"] is True
        np.testing.assert_array_equal(decode_image(h.forwarded_images(recs[1])[0]), anonymized(src))

    def test_upstream_errors_pass_through_and_text_is_untouched(self, client: openai.OpenAI, upstream: Upstream,
                                                               proxy: Any, h: ModuleType) -> None:
        text = "Only text here: naïve café, 漢字, \"quoted\" and a tab\t."
        n = upstream[1].count()
        with pytest.raises(openai.BadRequestError, match="no image"):  # the reference needs an image: its 400
            client.chat.completions.create(model="reference", messages=[{"role": "user", "content": text}])
        [rec] = upstream[1].since(n)
        assert json.loads(rec["body"])["messages"] == [{"role": "user", "content": text}]
        # a lone surrogate escape is valid JSON: it reaches the upstream as the same string
        odd = "half an emoji \ud83d and \x00 nul"
        body = h.chat([h.image_part(h.encode(h.photo(size=(64, 48))))], odd)
        r = h.post(proxy.url, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        [rec] = upstream[1].since(n + 1)
        assert json.loads(rec["body"])["messages"][0]["content"][0]["text"] == odd

    def test_keys_never_reach_the_log(self, client: openai.OpenAI, proxy: Any, upstream: Upstream,
                                      h: ModuleType) -> None:
        client.chat.completions.create(model="reference", messages=h.chat([h.image_part(h.encode(h.photo()))])[
            "messages"])
        list(client.models.list())
        out = proxy.output()
        assert "chat completion: 1 image(s) anonymized" in out, out[-2000:]
        assert h.CLIENT_KEY not in out and "Bearer" not in out
        assert "base64" not in out
        assert h.CLIENT_KEY not in upstream[0].output()


class TestRefusedOverTheWire:
    def test_refused_requests_forward_nothing(self, proxy: Any, upstream: Upstream, h: ModuleType) -> None:
        n = upstream[1].count()
        png = h.encode(h.photo(size=(64, 48)))
        cases = [
            (h.chat([{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/a.png"}}]), 400,
             "remote_image_refused"),
            (h.chat([h.image_part(png[:300])]), 400, "invalid_image"),
            (h.chat([h.image_part(h.animated("GIF"), "image/gif")]), 400, "animated_image"),
            (h.chat([{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]), 400,
             "unsupported_content"),
        ]
        for body, status, code in cases:
            r = h.post(proxy.url, body, headers={"authorization": f"Bearer {h.CLIENT_KEY}"})
            assert r.status_code == status and r.json()["error"]["code"] == code, r.text
            assert set(r.json()["error"]) >= {"message", "type", "code"}
        r = h.post(proxy.url, content=b"{" + b"x" * 100, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_json")
        r = httpx.post(f"{proxy.url}/embeddings", json={"model": "m", "input": "x"}, timeout=10)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "unsupported_endpoint")
        assert upstream[1].count() == n, "a refused request reached the upstream"

    def test_body_limit(self, upstream: Upstream, tmp_path: Path, h: ModuleType) -> None:
        with h.start_proxy(upstream[0].url, tmp_path, "--max-body-mb", "0.5") as p:
            n = upstream[1].count()
            big = h.chat([h.image_part(b"\x89PNG" + bytes(700_000))])
            r = h.post(p.url, big)
            assert (r.status_code, r.json()["error"]["code"]) == (413, "request_too_large")
            def chunked() -> Iterator[bytes]:  # no content-length: the limit holds while reading
                yield b'{"model": "reference", "messages": "'
                for _ in range(100):
                    yield b"A" * 10_000
                yield b'"}'

            r = httpx.post(f"{p.url}/chat/completions", content=chunked(), timeout=30)
            assert r.status_code == 413
            assert upstream[1].count() == n
            assert h.post(p.url, h.chat([h.image_part(h.encode(h.photo(size=(64, 48))))])).status_code == 200


class TestAuth:
    def test_proxy_token_guards_and_upstream_key_comes_from_env(self, upstream: Upstream, tmp_path: Path,
                                                                h: ModuleType) -> None:
        token, key = "proxy-token-5b1e0c9d", "sk-upstream-from-env-93ab"
        env = {"VEIL_TEST_PROXY_TOKEN": token, "VEIL_TEST_UPSTREAM_KEY": key}
        with h.start_proxy(upstream[0].url, tmp_path, "--auth-token-env", "VEIL_TEST_PROXY_TOKEN",
                           "--upstream-api-key-env", "VEIL_TEST_UPSTREAM_KEY", env=env) as p:
            n = upstream[1].count()
            body = h.chat([h.image_part(h.encode(h.photo(size=(64, 48))))])
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {key}"}):
                r = h.post(p.url, body, headers=headers)
                assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_api_key")
            assert httpx.get(f"{p.url}/models", timeout=10).status_code == 401
            health = httpx.get(p.url.removesuffix("/v1") + "/healthz", timeout=10)  # open: for load balancers
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            assert httpx.post(p.url.removesuffix("/v1") + "/healthz", timeout=10).status_code == 404
            assert upstream[1].count() == n
            c = openai.OpenAI(base_url=p.url, api_key=token, max_retries=0)
            assert [m.id for m in c.models.list()] == ["reference"]
            c.chat.completions.create(model="reference", messages=body["messages"])
            recs = upstream[1].since(n)
            assert len(recs) == 2
            for rec in recs:
                assert rec["headers"]["authorization"] == f"Bearer {key}"
                assert token not in json.dumps(rec)
            out = p.output()
            assert token not in out and key not in out

    def test_missing_key_variable_is_refused_at_start(self, upstream: Upstream, h: ModuleType) -> None:
        r = subprocess.run([sys.executable, "-m", "veil.cli", "proxy", "--anonymizer", SPEC, "--upstream",
                            upstream[0].url, "--port", "0", "--upstream-api-key-env", "VEIL_TEST_UNSET_VARIABLE"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "VEIL_TEST_UNSET_VARIABLE" in r.stderr and "not set" in r.stderr


class TestFailClosed:
    def test_anonymizer_crash_is_a_500_and_forwards_nothing(self, upstream: Upstream, tmp_path: Path,
                                                            h: ModuleType) -> None:
        with h.start_proxy(upstream[0].url, tmp_path, "--fault-anonymizer-crash") as p:
            n = upstream[1].count()
            body = h.chat([h.image_part(h.encode(h.photo(size=(64, 48))))])
            for _ in range(3):
                r = h.post(p.url, body)
                assert r.status_code == 500, r.text
                assert r.json()["error"]["code"] == "anonymizer_failed"
                assert r.json()["error"]["type"] == "server_error"
            assert upstream[1].count() == n
            assert httpx.get(f"{p.url}/models", timeout=10).status_code == 200  # still up
            assert "anonymizer_failed" in p.output()

    def test_corrupt_model_refuses_to_start(self, upstream: Upstream, tmp_path: Path) -> None:
        from veil.anonymizers.learned import WEIGHTS_FILE, LearnedAnonymizer

        folder = LearnedAnonymizer("unet", width=8).save(tmp_path / "model")
        weights = folder / WEIGHTS_FILE
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        r = subprocess.run([sys.executable, "-m", "veil.cli", "proxy", "--anonymizer", str(folder), "--upstream",
                            upstream[0].url, "--port", "0"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "not a readable safetensors file" in r.stderr and "proxy at" not in r.stdout

    def test_upstream_down_is_a_502(self, tmp_path: Path, h: ModuleType) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        with h.start_proxy(dead, tmp_path) as p:
            r = h.post(p.url, h.chat([h.image_part(h.encode(h.photo(size=(64, 48))))]))
            assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unreachable"
            assert "127.0.0.1" not in r.json()["error"]["message"]  # details stay in the server log
            assert "ConnectError" in p.output()


class _ImageSite(BaseHTTPRequestHandler):
    """A small real web server for remote-image tests (serves one PNG, redirects, junk)."""

    png = b""
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        port = self.server.server_address[1]
        routes = {
            "/img.png": (200, "image/png", self.png),
            "/page.html": (200, "text/html", b"<html></html>"),
            "/huge.png": (200, "image/png", b"\x89PNG" + bytes(3 * 1024 * 1024)),
        }
        if self.path == "/to-img":
            self._send(302, "text/plain", b"", {"location": "/img.png"})
        elif self.path == "/away":
            self._send(302, "text/plain", b"", {"location": f"http://localhost:{port}/img.png"})
        elif self.path in routes:
            self._send(*routes[self.path])
        else:
            self._send(404, "text/plain", b"no")

    def _send(self, status: int, ctype: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class TestRemoteImages:
    def test_opt_in_fetches_only_allowed_hosts(self, upstream: Upstream, tmp_path: Path, h: ModuleType) -> None:
        _ImageSite.png = h.encode(h.photo(size=(120, 90)))
        _ImageSite.hits = []
        site = ThreadingHTTPServer(("127.0.0.1", 0), _ImageSite)
        threading.Thread(target=site.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{site.server_address[1]}"
        try:
            with h.start_proxy(upstream[0].url, tmp_path, "--allow-remote-images", "--allowed-host", "127.0.0.1",
                               "--max-remote-mb", "1") as p:
                def ask(url: str) -> httpx.Response:
                    return h.post(p.url, h.chat([{"type": "image_url", "image_url": {"url": url}}]))

                n = upstream[1].count()
                for path in ("/img.png", "/to-img"):
                    assert ask(base + path).status_code == 200
                    [rec] = upstream[1].since(n)
                    np.testing.assert_array_equal(decode_image(h.forwarded_images(rec)[0]),
                                                  anonymized(_ImageSite.png))
                    n += 1
                hits = len(_ImageSite.hits)
                r = ask(base.replace("127.0.0.1", "localhost") + "/img.png")
                assert (r.status_code, r.json()["error"]["code"]) == (400, "remote_image_refused")
                assert len(_ImageSite.hits) == hits, "a host off the allow-list was contacted"
                for path, status, code in [("/away", 400, "remote_image_refused"),
                                           ("/page.html", 400, "unsupported_image_type"),
                                           ("/huge.png", 413, "image_too_large"),
                                           ("/missing.png", 400, "remote_image_unavailable")]:
                    r = ask(base + path)
                    assert (r.status_code, r.json()["error"]["code"]) == (status, code), (path, r.text)
                assert not [x for x in _ImageSite.hits if x not in ("/img.png", "/to-img", "/away", "/page.html",
                                                                    "/huge.png", "/missing.png")]
                assert upstream[1].count() == n
        finally:
            site.shutdown()
            site.server_close()


class TestRecorder:
    def test_records_raw_bodies_before_any_processing(self, upstream: Upstream) -> None:
        n = upstream[1].count()
        raw = b'{"model": "reference", "messages": "\xff\xfe not utf-8"}'
        r = httpx.post(f"{upstream[0].url}/chat/completions", content=raw, headers={"x-test": "1"}, timeout=10)
        assert r.status_code == 400
        [rec] = upstream[1].since(n)
        import base64

        assert base64.b64decode(rec["body_base64"]) == raw and rec["headers"]["x-test"] == "1"
