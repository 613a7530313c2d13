"""``veil serve-reference`` as a real subprocess, driven through the openai SDK and Veil's
backend: answers and log-probs match the in-process reference; errors in OpenAI's shape;
every injected fault is survived; budgets hold; ``veil ask`` end to end."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from veil.blackbox.base import create_blackbox
from veil.blackbox.chat import images_to_messages
from veil.blackbox.engine import EngineConfig, Query, QueryEngine, RetryPolicy
from veil.blackbox.openai_backend import OpenAIBlackBox
from veil.blackbox.server import FaultConfig, create_app
from veil.data.questions import COUNT_CHOICES, QUESTIONS, YES_NO, format_prompt
from veil.errors import (
    BackendAuthError,
    BackendConnectError,
    BackendRateLimitError,
    BackendServerError,
    BackendTimeoutError,
    BackendUnreachableError,
    BudgetExceededError,
    ConfigError,
    MalformedResponseError,
    ModelNotFoundError,
)
from veil.media import save_image
from veil.registry import parse_spec

SIGNS = ("EXIT", "BUS STOP", "CAFE", "TAXI")
KEY = "sk-veil-test-key-0000000000"


def scenario_queries(images: Callable[[int, int], list[np.ndarray]], sign: Callable[[str], np.ndarray]) -> list[Query]:
    """The scenario's question families on small real photos and a sign board."""
    out = []
    for im in images(3, 1):
        out.append(Query([im], format_prompt(QUESTIONS["count"], COUNT_CHOICES), COUNT_CHOICES))
        out.append(Query([im], format_prompt(QUESTIONS["presence"], YES_NO), YES_NO))
    out.append(Query([sign("EXIT")], format_prompt(QUESTIONS["sign"], SIGNS), SIGNS))
    out.append(Query([sign("TAXI")], format_prompt(QUESTIONS["sign"], SIGNS), SIGNS))
    return out


def backend(url: str, **kw: object) -> OpenAIBlackBox:
    """Veil's backend set up for the reference server: lossless PNG, no resize."""
    return OpenAIBlackBox(**{"base_url": url, "model": "reference", "image_format": "png", "max_side": 0, **kw})


@pytest.fixture(scope="module")
def reference_in_process() -> object:
    return create_blackbox("reference")


class TestReferenceServer:
    def test_models(self, reference_server: str) -> None:
        client = openai.OpenAI(base_url=reference_server, api_key="unused")
        assert [m.id for m in client.models.list()] == ["reference"]
        assert client.models.retrieve("reference").owned_by == "veil"
        assert backend(reference_server).list_models() == ["reference"]

    def test_openai_sdk_matches_in_process(self, reference_server: str, reference_in_process: object,
                                           images: Callable, sign: Callable) -> None:
        client = openai.OpenAI(base_url=reference_server, api_key="unused", max_retries=0)
        for q in scenario_queries(images, sign):
            want = reference_in_process.query(q.images, q.prompt, q.choices)
            r = client.chat.completions.create(model="reference", messages=images_to_messages(q.images, q.prompt),
                                               logprobs=True, top_logprobs=20, temperature=0)
            first = r.choices[0].logprobs.content[0]
            assert r.choices[0].message.content == want.text == first.token
            got = {t.token: t.logprob for t in first.top_logprobs}
            assert got.keys() == want.logprobs.keys()
            assert all(math.isclose(got[c], want.logprobs[c], abs_tol=1e-9) for c in got)
            assert r.usage.total_tokens > 0

    def test_backend_matches_in_process(self, reference_server: str, reference_in_process: object,
                                        images: Callable, sign: Callable) -> None:
        qs = scenario_queries(images, sign)
        want = [reference_in_process.query(q.images, q.prompt, q.choices) for q in qs]
        with QueryEngine(backend(reference_server), EngineConfig(concurrency=4)) as eng:
            got = eng.query_many(qs)
        for g, w in zip(got, want, strict=True):
            assert g.text == w.text and g.logprobs.keys() == w.logprobs.keys()
            assert all(math.isclose(g.logprobs[c], w.logprobs[c], abs_tol=1e-9) for c in w.logprobs)
        assert eng.stats.queries == len(qs) and eng.stats.retries == 0

    def test_streaming(self, reference_server: str, images: Callable) -> None:
        client = openai.OpenAI(base_url=reference_server, api_key="unused")
        prompt = format_prompt(QUESTIONS["presence"], YES_NO)
        stream = client.chat.completions.create(model="reference", messages=images_to_messages(images(1, 2), prompt),
                                                stream=True, logprobs=True, stream_options={"include_usage": True})
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text in YES_NO and chunks[-1].usage is not None
        assert chunks[0].choices[0].logprobs.content[0].token == text

    def test_errors_in_openai_shape(self, reference_server: str, images: Callable, stats: Callable) -> None:
        client = openai.OpenAI(base_url=reference_server, api_key="unused", max_retries=0)
        msgs = images_to_messages(images(1, 3), "Is there a person in this image?")
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model="gpt-nope", messages=msgs)
        assert info.value.code == "model_not_found"
        root = reference_server
        cases = [
            (b"{not json", 400, "not valid JSON"),
            (b'{"model": "reference", "messages": [{"role": "user", "content": "no image here"}]}', 400, "no image"),
            (b'{"model": "reference", "messages": [{"role": "user", "content": [{"type": "image_url", '
             b'"image_url": {"url": "https://example.com/a.png"}}, {"type": "text", "text": "q"}]}]}', 400, "remote"),
            (b'{"messages": []}', 400, "model"),
        ]
        for body, status, words in cases:
            r = httpx.post(root + "/chat/completions", content=body, headers={"content-type": "application/json"})
            assert r.status_code == status and words in r.json()["error"]["message"]
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        r = httpx.get(root + "/nowhere")
        assert r.status_code == 404 and "error" in r.json()
        before = stats(root)["requests"]
        with pytest.raises(ModelNotFoundError, match="--model"):
            backend(root, model="gpt-nope").query(images(1, 3), "Is there a person in this image?")
        assert stats(root)["requests"] - before == 1  # a 404 is not retried

    def test_budget_never_exceeded_under_concurrency(self, fast_server: str, images: Callable,
                                                     stats: Callable) -> None:
        prompt = format_prompt(QUESTIONS["presence"], YES_NO)
        qs = [Query([im], prompt, YES_NO) for im in images(30, 4)]
        before = stats(fast_server)["answered"]
        with QueryEngine(backend(fast_server), EngineConfig(concurrency=8, max_queries=10)) as eng:
            out = eng.query_many(qs, return_exceptions=True)
        refused = [o for o in out if isinstance(o, BudgetExceededError)]
        assert len(refused) == 20 and "budget of 10" in str(refused[0])
        assert stats(fast_server)["answered"] - before == 10 and eng.budget.used == 10


class TestBadInput:
    def test_unreachable_endpoint(self) -> None:
        from veil.blackbox.server import bind_socket

        sock = bind_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        box = backend(f"http://127.0.0.1:{port}/v1", retry=RetryPolicy(base_delay=0.01, max_connect_retries=1))
        with pytest.raises(BackendConnectError, match="--base-url"):
            box.query([np.zeros((8, 8, 3), np.uint8)], "q")

    def test_wrong_key(self, run_app: Callable, specs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        name, kw = parse_spec(specs["fast"])
        with run_app(create_app(name, api_key=KEY, blackbox_kwargs=kw)) as url:
            monkeypatch.setenv("VEIL_TEST_KEY", "sk-wrong-key-123456")
            with pytest.raises(BackendAuthError, match="VEIL_TEST_KEY") as info:
                backend(url, api_key_env="VEIL_TEST_KEY").query([np.zeros((8, 8, 3), np.uint8)], "q")
            assert "sk-wrong-key-123456" not in str(info.value)
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0).models.list()
            monkeypatch.setenv("VEIL_TEST_KEY", KEY)
            ans = backend(url, api_key_env="VEIL_TEST_KEY").query([np.zeros((130, 70, 3), np.uint8)],
                                                                  format_prompt(QUESTIONS["presence"], YES_NO), YES_NO)
            assert ans.text in YES_NO

    @pytest.mark.parametrize("kind,error", [("429", BackendRateLimitError), ("500", BackendServerError),
                                            ("malformed", MalformedResponseError), ("reset", BackendUnreachableError),
                                            ("hang", BackendTimeoutError)])
    def test_each_fault_kind(self, kind: str, error: type, run_app: Callable, specs: dict[str, str]) -> None:
        name, kw = parse_spec(specs["fast"])
        faults = FaultConfig(rate=1.0, kinds=(kind,), retry_after=0.05, hang_seconds=1.0)
        with run_app(create_app(name, faults, blackbox_kwargs=kw)) as url:
            box = backend(url, timeout=0.3, retry=RetryPolicy(max_retries=0))
            with pytest.raises(error) as info:
                box.query([np.zeros((8, 8, 3), np.uint8)], "Is there a person in this image?")
            if kind == "429":
                assert info.value.retry_after == pytest.approx(0.05)

    def test_bad_fault_config(self) -> None:
        with pytest.raises(ConfigError):
            FaultConfig(rate=1.5)
        with pytest.raises(ConfigError, match="teapot"):
            FaultConfig(rate=0.1, kinds=("teapot",))


@pytest.mark.slow
def test_200_queries_through_30_percent_faults(faulty_server: str, specs: dict[str, str], images: Callable,
                                               stats: Callable) -> None:
    """Every answer right, nothing crashes, retries counted (acceptance)."""
    name, kw = parse_spec(specs["light"])
    ref = create_blackbox(name, **kw)
    qs = [Query([im], format_prompt(QUESTIONS[q], ch), ch) for im in images(100, 7)
          for q, ch in (("count", COUNT_CHOICES), ("presence", YES_NO))]
    want = [ref.query(q.images, q.prompt, q.choices) for q in qs]
    policy = RetryPolicy(max_retries=12, base_delay=0.01, max_delay=0.2)
    box = backend(faulty_server, timeout=0.5, connect_timeout=2.0, retry=policy)
    with QueryEngine(box, EngineConfig(concurrency=8, retry=policy, seed=0)) as eng:
        got = eng.query_many(qs)
    assert len(got) == 200 and eng.stats.failed == 0 and eng.stats.queries == 200
    for g, w in zip(got, want, strict=True):
        assert g.text == w.text
        assert all(math.isclose(g.logprobs[c], w.logprobs[c], abs_tol=1e-9) for c in w.logprobs)
    faults = stats(faulty_server)["faults"]
    assert all(faults[k] > 0 for k in ("429", "500", "hang", "malformed", "reset"))
    assert eng.stats.retries >= sum(faults.values())  # every fault failed one attempt, which was retried
    assert eng.stats.attempts == 200 + eng.stats.retries


class TestAskCommand:
    def _veil(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True, text=True, timeout=300)

    def test_ask_through_the_server(self, fast_server: str, tmp_path: Path, images: Callable) -> None:
        path = save_image(tmp_path / "x.png", images(1, 9)[0])
        args = ("ask", str(path), "Is there a person in this image?", "--choices", "yes;no", "--backend", "openai",
                "--base-url", fast_server, "--model", "reference", "--image-format", "png", "--max-side", "0",
                "--anonymizer", "blur:sigma=2", "--cache", str(tmp_path / "c.sqlite"))
        r = self._veil(*args)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert lines[0] in YES_NO and "cost: 1 paid query, 0 cache hits" in r.stdout
        r2 = self._veil(*args)
        assert r2.stdout.splitlines()[0] == lines[0] and "cost: 0 paid queries, 1 cache hit" in r2.stdout

    def test_ask_in_process_reference(self, tmp_path: Path, images: Callable) -> None:
        path = save_image(tmp_path / "x.png", images(1, 9)[0])
        r = self._veil("ask", str(path), format_prompt(QUESTIONS["count"], COUNT_CHOICES), "--anonymizer", "identity")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] in COUNT_CHOICES and "cost: 1 paid query" in r.stdout

    def test_ask_unreachable_is_one_line_error(self, tmp_path: Path, images: Callable) -> None:
        path = save_image(tmp_path / "x.png", images(1, 9)[0])
        r = self._veil("ask", str(path), "q?", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                       "--anonymizer", "identity")
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
        assert "cannot connect" in r.stderr and "--base-url" in r.stderr

    def test_ask_refuses_remote_without_key(self, tmp_path: Path, images: Callable) -> None:
        path = save_image(tmp_path / "x.png", images(1, 9)[0])
        r = self._veil("ask", str(path), "q?", "--backend", "openai", "--base-url", "https://api.example.invalid/v1",
                       "--api-key-env", "VEIL_SURELY_UNSET_KEY", "--anonymizer", "identity")
        assert r.returncode == 2 and "VEIL_SURELY_UNSET_KEY" in r.stderr
