"""Query engine: retry rules, rate limits, budget, accounting and log (offline, no server),
and the OpenAI backend's request/response handling against a mocked transport."""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.blackbox.base import Answer, BlackBox
from veil.blackbox.cache import pixels_payload
from veil.blackbox.engine import (
    EngineConfig,
    Prepared,
    Query,
    QueryBudget,
    QueryEngine,
    RateLimiter,
    Reply,
    RetryPolicy,
    call_with_retries,
    is_retryable,
    is_retryable_status,
    parse_retry_after,
    retry_delay,
    scrub,
)
from veil.blackbox.openai_backend import (
    OpenAIBlackBox,
    http_error,
    logprobs_to_choices,
)
from veil.errors import (
    BackendAuthError,
    BackendConnectError,
    BackendError,
    BackendRateLimitError,
    BackendRequestError,
    BackendServerError,
    BackendTimeoutError,
    BackendUnreachableError,
    BudgetExceededError,
    ConfigError,
    MalformedResponseError,
    ModelNotFoundError,
    VeilError,
    VisionNotSupportedError,
)
from veil.media import fit_long_side

FAST_RETRY = RetryPolicy(max_retries=8, base_delay=0.0, max_delay=0.0)
SECRET = "sk-veil-test-SECRET-0123456789"


def img(i: int = 0) -> np.ndarray:
    im = np.zeros((12, 16, 3), np.uint8)
    im.flat[:4] = np.frombuffer(int(i).to_bytes(4, "big"), np.uint8)
    return im


class ScriptedBox(BlackBox):
    """A sending black box that fails with scripted errors, then answers ``ans:PROMPT``."""

    name = "scripted"
    thread_safe = True

    def __init__(self, errors: list[BaseException] | None = None, delay: float = 0.0) -> None:
        super().__init__()
        self.errors = list(errors or [])
        self.delay = delay
        self.sent = 0
        self.prompts: list[str] = []
        self.active = self.max_active = 0
        self._lock = threading.Lock()

    def cache_identity(self) -> tuple[str, dict]:
        return "scripted", {"t": 0}

    def prepare(self, images, prompt, choices):  # noqa: ANN001, ANN201
        ims = list(images)
        return Prepared([pixels_payload(i) for i in ims], prompt, list(choices) if choices else None, ims)

    def send(self, p: Prepared) -> Reply:
        with self._lock:
            self.sent += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            err = self.errors.pop(0) if self.errors else None
        try:
            if self.delay:
                time.sleep(self.delay)
            if err is not None:
                raise err
            with self._lock:
                self.prompts.append(p.prompt)
            lp = {c: math.log(1 / len(p.choices)) for c in p.choices} if p.choices else None
            return Reply(Answer(f"ans:{p.prompt}", lp), {"prompt_tokens": 10, "completion_tokens": 1})
        finally:
            with self._lock:
                self.active -= 1

    def _answer(self, images, prompt, choices):  # noqa: ANN001, ANN202
        raise AssertionError("the engine must use prepare/send")


class CountingBox(BlackBox):
    """A plain black box (no prepare/send): answers with the mean pixel value."""

    name = "counting"

    def _answer(self, images, prompt, choices):  # noqa: ANN001, ANN202
        return Answer(f"{prompt}:{float(np.mean(images[0])):.3f}")


# ----------------------------------------------------------------------------- retry rules


class TestRetryRules:
    @pytest.mark.parametrize("status,retry", [(429, True), (500, True), (502, True), (503, True), (504, True),
                                              (599, True), (400, False), (401, False), (403, False),
                                              (404, False), (408, False), (413, False), (422, False)])
    def test_statuses(self, status: int, retry: bool) -> None:
        assert is_retryable_status(status) is retry
        assert is_retryable(http_error(status, "x")) is retry

    @pytest.mark.parametrize("err,retry", [
        (BackendTimeoutError("t"), True), (BackendUnreachableError("reset"), True),
        (BackendConnectError("refused"), True), (MalformedResponseError("bad", status=200), True),
        (BackendAuthError("k", 401), False), (ModelNotFoundError("m", 404), False),
        (VisionNotSupportedError("v", 400), False), (ValueError("x"), False), (BudgetExceededError(1, 1), False),
    ])
    def test_errors(self, err: BaseException, retry: bool) -> None:
        assert is_retryable(err) is retry

    def test_errors_catchable_as_builtin_and_veil(self) -> None:
        for e in (http_error(401, "x"), http_error(503, "x"), BudgetExceededError(3, 3)):
            assert isinstance(e, VeilError) and isinstance(e, RuntimeError)

    @settings(max_examples=200, deadline=None)
    @given(attempt=st.integers(0, 20), base=st.floats(0.001, 5), cap=st.floats(0.001, 60),
           jitter=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
    def test_backoff_bounds(self, attempt: int, base: float, cap: float, jitter: float, seed: int) -> None:
        pol = RetryPolicy(max_retries=30, base_delay=base, max_delay=cap, jitter=jitter)
        d = retry_delay(pol, attempt, BackendServerError("x", 503), random.Random(seed))
        backoff = min(cap, base * 2**attempt)
        assert d is not None and backoff * (1 - jitter) - 1e-9 <= d <= backoff + 1e-9

    def test_backoff_grows_without_jitter(self) -> None:
        pol = RetryPolicy(max_retries=10, base_delay=0.5, max_delay=4, jitter=0)
        ds = [retry_delay(pol, a, BackendTimeoutError("t"), random.Random(0)) for a in range(6)]
        assert ds == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]

    def test_retry_after_is_a_floor(self) -> None:
        pol = RetryPolicy(max_retries=5, base_delay=0.01, jitter=0)
        e = BackendRateLimitError("slow down", 429, retry_after=3.0)
        assert retry_delay(pol, 0, e, random.Random(0)) == 3.0

    def test_retry_after_too_long_gives_up(self) -> None:
        pol = RetryPolicy(max_retry_after=10)
        e = BackendRateLimitError("come back tomorrow", 429, retry_after=86400)
        assert retry_delay(pol, 0, e, random.Random(0)) is None

    def test_retries_are_capped(self) -> None:
        pol = RetryPolicy(max_retries=2, max_connect_retries=1)
        rng = random.Random(0)
        assert retry_delay(pol, 1, BackendServerError("x", 500), rng) is not None
        assert retry_delay(pol, 2, BackendServerError("x", 500), rng) is None
        assert retry_delay(pol, 1, BackendConnectError("refused"), rng) is None

    @pytest.mark.parametrize("headers,expected", [
        ({"Retry-After": "3"}, 3.0), ({"retry-after": "0.5"}, 0.5), ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "7", "retry-after-ms": "1500"}, 1.5), ({}, None), ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-4"}, None), ({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
    ])
    def test_parse_retry_after(self, headers: dict[str, str], expected: float | None) -> None:
        now = 1445412480.0  # 10 s before the date above
        got = parse_retry_after(headers, now=now)
        assert got == pytest.approx(expected) if expected is not None else got is None

    def test_call_with_retries_honours_retry_after(self) -> None:
        errors: list[BaseException] = [BackendRateLimitError("429", 429, retry_after=2.0),
                                       BackendServerError("503", 503), BackendTimeoutError("t")]
        slept: list[float] = []
        calls = []

        def fn() -> str:
            calls.append(1)
            if errors:
                raise errors.pop(0)
            return "ok"

        pol = RetryPolicy(max_retries=5, base_delay=0.1, jitter=0)
        assert call_with_retries(fn, pol, random.Random(0), sleep=slept.append) == "ok"
        assert len(calls) == 4 and slept == [2.0, 0.2, 0.4]

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
    def test_no_retry_on_client_errors(self, status: int) -> None:
        calls = []

        def fn() -> None:
            calls.append(1)
            raise http_error(status, "nope")

        with pytest.raises(BackendError):
            call_with_retries(fn, FAST_RETRY, random.Random(0), sleep=lambda s: None)
        assert len(calls) == 1

    def test_gave_up_message_counts_attempts(self) -> None:
        def fn() -> None:
            raise BackendServerError("boom", 500)

        with pytest.raises(BackendServerError, match="gave up after 3 attempts"):
            call_with_retries(fn, RetryPolicy(max_retries=2, base_delay=0), random.Random(0), sleep=lambda s: None)


# ----------------------------------------------------------------------------- rate limits and budget


class TestRateLimiter:
    def test_requests_per_minute(self) -> None:
        now = [0.0]
        lim = RateLimiter(rpm=60, clock=lambda: now[0])
        assert lim.reserve() == 0.0
        assert lim.reserve() == pytest.approx(1.0)
        assert lim.reserve() == pytest.approx(2.0)  # queued behind the previous one
        now[0] = 10.0
        assert lim.reserve() == 0.0

    def test_tokens_per_minute_and_adjust(self) -> None:
        now = [0.0]
        lim = RateLimiter(tpm=600, clock=lambda: now[0])  # 10 tokens/s, burst 10
        assert lim.reserve(10) == 0.0
        assert lim.reserve(20) == pytest.approx(2.0)
        lim.adjust(-20)  # the second request used none of its estimate
        assert lim.reserve(10) == pytest.approx(1.0)

    def test_unlimited_never_waits(self) -> None:
        lim = RateLimiter()
        assert all(lim.reserve(1e9) == 0.0 for _ in range(100))

    def test_bad_rates(self) -> None:
        with pytest.raises(ConfigError):
            RateLimiter(rpm=0)


def test_budget_is_atomic_under_threads() -> None:
    budget = QueryBudget(500)
    ok = []
    refused = []

    def worker() -> None:
        for _ in range(100):
            try:
                budget.reserve()
                ok.append(1)
            except BudgetExceededError as e:
                refused.append(e)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 500 and budget.used == 500 and len(refused) == 1100
    assert "500" in str(refused[0]) and budget.remaining == 0


# ----------------------------------------------------------------------------- engine


class TestEngine:
    def test_retries_counted_and_answers_right(self) -> None:
        errs: list[BaseException] = [BackendServerError("x", 500), BackendRateLimitError("y", 429, 0.0),
                                     BackendTimeoutError("t"), MalformedResponseError("m", status=200),
                                     BackendUnreachableError("reset")]
        box = ScriptedBox(errs)
        with QueryEngine(box, EngineConfig(concurrency=4, retry=FAST_RETRY)) as eng:
            out = eng.query_many([Query([img(i)], f"q{i}", ["a", "b"]) for i in range(20)])
        assert [a.text for a in out] == [f"ans:q{i}" for i in range(20)]
        assert eng.stats.retries == 5 and eng.stats.attempts == 25 and eng.stats.queries == 20
        assert eng.stats.failed == 0 and sum(eng.stats.errors.values()) == 5
        assert eng.stats.prompt_tokens == 200 and eng.stats.completion_tokens == 20

    def test_concurrency_limit(self) -> None:
        box = ScriptedBox(delay=0.01)
        with QueryEngine(box, EngineConfig(concurrency=3)) as eng:
            eng.query_many([Query([img(i)], f"q{i}") for i in range(24)])
        assert box.max_active <= 3

    def test_budget_never_exceeded_under_concurrency(self) -> None:
        box = ScriptedBox(errors=[BackendServerError("x", 500)] * 5, delay=0.002)
        with QueryEngine(box, EngineConfig(concurrency=8, max_queries=7, retry=FAST_RETRY)) as eng:
            out = eng.query_many([Query([img(i)], f"q{i}") for i in range(40)], return_exceptions=True)
        answers = [a for a in out if isinstance(a, Answer)]
        refused = [a for a in out if isinstance(a, BudgetExceededError)]
        assert len(answers) == 7 and len(refused) == 33 and len(set(box.prompts)) == 7
        assert eng.budget.used == 7 and eng.stats.queries == 7
        assert "budget of 7" in str(refused[0]) and "7 queries paid" in str(refused[0])

    def test_budget_error_stops_the_batch(self) -> None:
        box = ScriptedBox()
        with QueryEngine(box, EngineConfig(concurrency=2, max_queries=3)) as eng, \
                pytest.raises(BudgetExceededError):
            eng.query_many([Query([img(i)], f"q{i}") for i in range(50)])
        assert box.sent == 3

    def test_fatal_error_cancels_the_rest(self) -> None:
        box = ScriptedBox(errors=[BackendAuthError("bad key", 401)], delay=0.005)
        with QueryEngine(box, EngineConfig(concurrency=2, retry=FAST_RETRY)) as eng, \
                pytest.raises(BackendAuthError):
            eng.query_many([Query([img(i)], f"q{i}") for i in range(200)])
        assert box.sent < 200 and eng.stats.failed == 1

    def test_cache_makes_repeats_free_across_engines(self, tmp_path: Path) -> None:
        qs = [Query([img(i)], f"q{i}", ["x", "y"]) for i in range(30)]
        box = ScriptedBox()
        with QueryEngine(box, EngineConfig(concurrency=4), cache=tmp_path / "c.sqlite") as eng:
            first = eng.query_many(qs)
        with QueryEngine(box, EngineConfig(concurrency=4, max_queries=0), cache=tmp_path / "c.sqlite") as eng2:
            second = eng2.query_many(qs)
        assert box.sent == 30 and first == second
        assert eng2.stats.cache_hits == 30 and eng2.stats.queries == 0 and eng2.budget.used == 0

    def test_identical_queries_in_flight_are_paid_once(self, tmp_path: Path) -> None:
        box = ScriptedBox(delay=0.05)
        with QueryEngine(box, EngineConfig(concurrency=8), cache=tmp_path / "c.sqlite") as eng:
            out = eng.query_many([Query([img(1)], "same")] * 16)
        assert box.sent == 1 and len({a.text for a in out}) == 1
        assert eng.stats.queries == 1 and eng.stats.cache_hits + eng.stats.deduplicated == 15

    def test_plain_blackbox_goes_through_engine_and_cache(self, tmp_path: Path) -> None:
        box = CountingBox()
        qs = [Query([img(i)], "m") for i in range(5)]
        for _ in range(2):
            with QueryEngine(box, cache=tmp_path / "c.sqlite") as eng:
                eng.query_many(qs)
        assert box.queries == 5

    def test_async_api(self) -> None:
        box = ScriptedBox([BackendServerError("x", 502)])
        with QueryEngine(box, EngineConfig(concurrency=4, retry=FAST_RETRY)) as eng:
            out = asyncio.run(eng.aquery_many([Query([img(i)], f"q{i}") for i in range(10)]))
            one = asyncio.run(eng.aquery([img(99)], "solo"))
        assert [a.text for a in out] == [f"ans:q{i}" for i in range(10)] and one.text == "ans:solo"
        assert eng.stats.retries == 1

    def test_log_lines_without_images_or_keys(self, tmp_path: Path) -> None:
        log = tmp_path / "run" / "queries.jsonl"
        box = ScriptedBox([BackendAuthError(f"Incorrect API key provided: {SECRET}", 401)])
        big = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        with QueryEngine(box, EngineConfig(retry=FAST_RETRY), cache=tmp_path / "c.sqlite", log_path=log) as eng:
            with pytest.raises(BackendAuthError):
                eng.query([big], "first")
            eng.query([big], "second", ["a", "b"])
            eng.query([big], "second", ["a", "b"])
        lines = [json.loads(ln) for ln in log.read_text().splitlines()]
        assert [r["status"] for r in lines] == ["error", "ok", "hit"]
        assert lines[2]["cached"] and lines[1]["usage"]["prompt_tokens"] == 10
        assert lines[1]["image_bytes"] > 64 * 64 * 3 and log.stat().st_size < 4000
        assert SECRET not in log.read_text() and "***" in lines[0]["error"]

    def test_scrub(self) -> None:
        assert SECRET not in scrub(f"key {SECRET} and Bearer abc.def", [SECRET])
        assert "Bearer abc" not in scrub("Authorization: Bearer abc.def")


# ----------------------------------------------------------------------------- logprobs mapping


class TestLogprobsToChoices:
    @staticmethod
    def content(pairs: list[tuple[str, float]]) -> list[dict]:
        top = [{"token": t, "logprob": lp} for t, lp in pairs]
        return [{"token": pairs[0][0], "logprob": pairs[0][1], "top_logprobs": top}]

    def test_exact_tokens_round_trip(self) -> None:
        lp = {"yes": math.log(0.8), "no": math.log(0.2)}
        got = logprobs_to_choices(self.content(list(lp.items())), ["yes", "no"])
        assert got == pytest.approx(lp)

    def test_prefix_and_case(self) -> None:
        content = self.content([("5", math.log(0.5)), (" Yes", math.log(0.3)), ("2", math.log(0.2))])
        got = logprobs_to_choices(content, ["2", "5 or more", "yes"])
        assert got is not None and math.exp(got["5 or more"]) == pytest.approx(0.5)
        assert math.exp(got["yes"]) == pytest.approx(0.3)

    def test_renormalised_over_choices(self) -> None:
        content = self.content([("yes", math.log(0.6)), ("no", math.log(0.2)), ("maybe", math.log(0.2))])
        got = logprobs_to_choices(content, ["yes", "no"])
        assert got is not None and sum(math.exp(v) for v in got.values()) == pytest.approx(1.0)
        assert math.exp(got["yes"]) == pytest.approx(0.75)

    def test_ambiguous_prefix_is_shared(self) -> None:
        got = logprobs_to_choices(self.content([("bus", math.log(0.9))]), ["bus stop", "bus station"])
        assert got is not None and got["bus stop"] == pytest.approx(got["bus station"])

    def test_missing_choice_gets_leftover_mass(self) -> None:
        got = logprobs_to_choices(self.content([("yes", math.log(0.9))]), ["yes", "no"])
        assert got is not None and math.exp(got["no"]) == pytest.approx(0.1)

    def test_leading_whitespace_token_skipped(self) -> None:
        content = [{"token": "\n", "logprob": 0.0, "top_logprobs": []}, *self.content([("no", math.log(0.7))])]
        got = logprobs_to_choices(content, ["yes", "no"])
        assert got is not None and got["no"] > got["yes"]

    @pytest.mark.parametrize("content", [None, [], [{"token": "purple", "logprob": -0.1, "top_logprobs": []}]])
    def test_no_match_is_answer_mode(self, content: list | None) -> None:
        assert logprobs_to_choices(content, ["yes", "no"]) is None


# ----------------------------------------------------------------------------- OpenAI backend, mocked HTTP


def _completion(text: str, logprobs: list | None = None) -> dict:
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": {"content": logprobs} if logprobs is not None else None,
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 1, "total_tokens": 121}}


def mocked(handler: Callable[[httpx.Request], httpx.Response], **cfg: object) -> OpenAIBlackBox:
    box = OpenAIBlackBox(**{"base_url": "http://127.0.0.1:9/v1", "model": "m", "retry": FAST_RETRY, **cfg})
    box._client = httpx.Client(base_url="http://127.0.0.1:9/v1/", transport=httpx.MockTransport(handler))
    return box


class TestOpenAIBackend:
    def test_remote_url_needs_key_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("VEIL_TEST_KEY", raising=False)
        with pytest.raises(ConfigError, match="VEIL_TEST_KEY"):
            OpenAIBlackBox(base_url="https://api.example.com/v1", api_key_env="VEIL_TEST_KEY")

    def test_key_sent_but_never_shown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("VEIL_TEST_KEY", SECRET)
        box = OpenAIBlackBox(base_url="https://api.example.com/v1", api_key_env="VEIL_TEST_KEY")
        assert box.client.headers["authorization"] == f"Bearer {SECRET}"
        assert SECRET not in repr(box) and SECRET not in json.dumps(box.cache_identity())
        azure = OpenAIBlackBox(base_url="https://r.openai.azure.com/openai/deployments/d", api_key_env="VEIL_TEST_KEY",
                               auth_header="api-key", api_version="2024-10-21")
        assert azure.client.headers["api-key"] == SECRET and azure.client.params["api-version"] == "2024-10-21"

    def test_bad_settings(self) -> None:
        for kw in ({"image_format": "gif"}, {"jpeg_quality": 0}, {"logprobs": "maybe"}, {"top_logprobs": 50},
                   {"base_url": "ftp://x"}, {"not_an_option": 1}):
            with pytest.raises(ConfigError):
                OpenAIBlackBox(**{"base_url": "http://127.0.0.1:9/v1", **kw})

    def test_resize_and_encoding_policy(self) -> None:
        big = np.zeros((1000, 2000, 3), np.uint8)
        assert fit_long_side(big, 1024).shape == (512, 1024, 3)
        assert fit_long_side(big[:100, :200], 1024).shape == (100, 200, 3)  # never upscaled
        jpeg = OpenAIBlackBox(base_url="http://127.0.0.1:9/v1").encode_images([big])[0]
        assert jpeg[:3] == b"\xff\xd8\xff"
        png = OpenAIBlackBox(base_url="http://127.0.0.1:9/v1", image_format="png", max_side=0)
        from veil.media import decode_image

        small = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
        assert np.array_equal(decode_image(png.encode_images([small])[0]), small)

    def test_request_and_logprobs(self) -> None:
        seen: list[dict] = []

        def handler(req: httpx.Request) -> httpx.Response:
            seen.append(json.loads(req.content))
            top = [{"token": "yes", "logprob": math.log(0.9)}, {"token": "no", "logprob": math.log(0.1)}]
            return httpx.Response(200, json=_completion("yes", [{"token": "yes", "logprob": math.log(0.9),
                                                                 "top_logprobs": top}]))

        box = mocked(handler, image_format="png")
        a = box.query([img(3)], "Is there a person?\nAnswer with exactly one of: yes; no.", ["yes", "no"])
        assert a.text == "yes" and math.exp(a.logprobs["yes"]) == pytest.approx(0.9)
        body = seen[0]
        assert body["logprobs"] is True and body["top_logprobs"] == 10 and body["temperature"] == 0
        parts = body["messages"][0]["content"]
        assert parts[0]["type"] == "text" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
        assert box.logprobs_supported is True

    def test_logprobs_rejected_falls_back_to_answer_mode(self) -> None:
        calls: list[dict] = []

        def handler(req: httpx.Request) -> httpx.Response:
            body = json.loads(req.content)
            calls.append(body)
            if body.get("logprobs"):
                return httpx.Response(400, json={"error": {"message": "logprobs is not supported"}})
            return httpx.Response(200, json=_completion("no"))

        box = mocked(handler)
        assert box.query([img()], "p", ["yes", "no"]) == Answer("no", None)
        assert box.query([img(1)], "p", ["yes", "no"]) == Answer("no", None)
        assert len(calls) == 3 and box.logprobs_supported is False

    def test_logprobs_missing_in_reply_is_answer_mode(self) -> None:
        box = mocked(lambda req: httpx.Response(200, json=_completion("3")))
        assert box.query([img()], "p", ["2", "3"]) == Answer("3", None)
        assert box.logprobs_supported is False
        strict = mocked(lambda req: httpx.Response(200, json=_completion("3")), logprobs="on")
        with pytest.raises(BackendRequestError, match="no logprobs"):
            strict.query([img()], "p", ["2", "3"])

    @pytest.mark.parametrize("status,body,err,words", [
        (401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}, BackendAuthError, "OPENAI_API_KEY"),
        (404, {"error": {"message": "The model `m` does not exist"}}, ModelNotFoundError, "--model"),
        (400, {"error": {"message": "model 'llama3' does not support image input"}}, VisionNotSupportedError,
         "vision"),
        (400, {"error": {"message": "Invalid image data"}}, VisionNotSupportedError, "max_side"),
        (404, {"detail": "Not Found"}, BackendRequestError, "/v1"),
        (422, {"error": {"message": "temperature too high"}}, BackendRequestError, "refused"),
    ])
    def test_client_errors_say_what_to_change(self, status: int, body: dict, err: type, words: str) -> None:
        calls = []

        def handler(req: httpx.Request) -> httpx.Response:
            calls.append(1)
            return httpx.Response(status, json=body)

        with pytest.raises(err, match=words) as info:
            mocked(handler).query([img()], "p")
        assert len(calls) == 1 and SECRET not in str(info.value)

    def test_transient_errors_are_retried(self) -> None:
        replies = [httpx.Response(503, json={"error": {"message": "overloaded"}}),
                   httpx.Response(429, headers={"retry-after-ms": "1"}, json={"error": {"message": "slow"}}),
                   httpx.Response(200, content=b'{"choices": [{"mess'),
                   httpx.Response(200, json=_completion("ok"))]

        box = mocked(lambda req: replies.pop(0))
        assert box.query([img()], "p").text == "ok" and replies == []

    def test_dropped_and_refused_connections(self) -> None:
        def reset(req: httpx.Request) -> httpx.Response:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

        with pytest.raises(BackendUnreachableError, match="dropped"):
            mocked(reset, retry=RetryPolicy(max_retries=1, base_delay=0)).query([img()], "p")

        def refused(req: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("[Errno 111] Connection refused")

        with pytest.raises(BackendConnectError, match="base_url"):
            mocked(refused).query([img()], "p")

        def slow(req: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("timed out")

        with pytest.raises(BackendTimeoutError, match="timeout"):
            mocked(slow, retry=RetryPolicy(max_retries=0)).query([img()], "p")
