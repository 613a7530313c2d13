"""The query engine shared by every black box: concurrency, rate limits, retries, budget,
accounting, the response cache and a per-run JSONL query log.

Training pays one query per perturbation to services that rate-limit, time out and fail.
:class:`QueryEngine` wraps any :class:`~veil.blackbox.base.BlackBox` so that

- a cached query costs nothing (``ResponseCache``), and identical queries in flight at the
  same time are sent once;
- at most ``concurrency`` queries are in flight; requests and tokens per minute stay under
  ``rpm``/``tpm`` (token buckets);
- transient failures (HTTP 429 and 5xx, timeouts, dropped connections, malformed replies)
  are retried with exponential backoff and jitter, honouring ``Retry-After``; other 4xx
  errors fail at once with a message that says what to change;
- a hard budget of paid queries is never exceeded, also under concurrency: a slot is
  reserved atomically before a query is sent, and it is never given back (a query that
  timed out may still have been billed);
- every query is one JSON line in the log (no image bytes, no keys), flushed at once.

The retry rules are pure functions (:func:`is_retryable`, :func:`retry_delay`,
:func:`parse_retry_after`) so they are unit-tested without a network.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from veil.blackbox.base import Answer, BlackBox
from veil.blackbox.cache import ResponseCache, cache_identity, payloads_for, request_key
from veil.errors import BackendConnectError, BackendError, BudgetExceededError, ConfigError

T = TypeVar("T")


# ----------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before resending a failed query.

    Attributes:
        max_retries: resends after the first attempt (0: never retry).
        base_delay: backoff before the first retry, in seconds; doubles on each retry.
        max_delay: cap on the exponential backoff.
        jitter: fraction of the backoff that is random (0: none, 1: "full jitter").
        max_retry_after: a ``Retry-After`` longer than this gives up instead of waiting.
        max_connect_retries: retries when no connection opens at all (refused, unknown
            host): a wrong URL should fail fast, a restarting server gets a moment.
    """

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    max_connect_retries: int = 2

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry max_retries, base_delay and max_delay must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"retry jitter must be in [0, 1], got {self.jitter}")


def is_retryable_status(status: int) -> bool:
    """HTTP statuses worth resending: 429 (rate limited) and every 5xx. No other 4xx."""
    return status == 429 or 500 <= status <= 599


def is_retryable(error: BaseException) -> bool:
    """Whether a failed attempt may succeed if sent again (timeouts, resets, 429, 5xx)."""
    if isinstance(error, BackendError):
        if error.status is not None:
            return is_retryable_status(error.status) or (error.transient and error.status < 400)
        return error.transient
    return False


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    Returns None when neither header is present or readable.
    """
    low = {k.lower(): v for k, v in headers.items()}
    ms = low.get("retry-after-ms")
    if ms is not None:
        try:
            v = float(ms) / 1000.0
            if math.isfinite(v) and v >= 0:
                return v
        except ValueError:
            pass
    ra = low.get("retry-after")
    if ra is None:
        return None
    ra = ra.strip()
    try:
        v = float(ra)
        return v if math.isfinite(v) and v >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_delay(
    policy: RetryPolicy, attempt: int, error: BaseException, rng: random.Random
) -> float | None:
    """Seconds to wait before resending after failed attempt number ``attempt`` (0-based).

    None means give up: the error is not retryable, retries are spent, or the service
    asked to wait longer than ``policy.max_retry_after``. The wait is the exponential
    backoff ``min(max_delay, base_delay * 2**attempt)`` with its ``jitter`` fraction drawn
    at random, and never shorter than the service's ``Retry-After``.
    """
    if attempt >= policy.max_retries or not is_retryable(error):
        return None
    if isinstance(error, BackendConnectError) and attempt >= policy.max_connect_retries:
        return None
    backoff = min(policy.max_delay, policy.base_delay * 2.0**attempt)
    delay = backoff * (1.0 - policy.jitter) + backoff * policy.jitter * rng.random()
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        if retry_after > policy.max_retry_after:
            return None
        delay = max(delay, retry_after)
    return delay


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds or :func:`retry_delay` says give up.

    Raises:
        BackendError: the last error, its message saying how many attempts were made.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except BackendError as e:
            delay = retry_delay(policy, attempt, e, rng)
            if delay is None:
                if attempt > 0 and type(e).__init__ is BackendError.__init__:
                    raise type(e)(
                        f"{e} (gave up after {attempt + 1} attempts)", e.status, e.retry_after
                    ) from e
                raise
            if on_retry is not None:
                on_retry(attempt, e, delay)
            sleep(delay)
            attempt += 1


# ----------------------------------------------------------------------------- rate limits


class RateLimiter:
    """Requests-per-minute and tokens-per-minute token buckets, shared by all threads.

    ``reserve(tokens)`` books one request of ``tokens`` estimated tokens and returns how
    long the caller must wait before sending it; buckets may go into debt, so concurrent
    callers queue up in order. ``adjust(delta)`` corrects the token bucket once the real
    usage is known. ``clock`` is injectable so the arithmetic is tested without sleeping.

    Args:
        rpm: requests per minute (None: unlimited).
        tpm: tokens per minute (None: unlimited).
        burst_seconds: bucket capacity, in seconds of the sustained rate (at least one
            request).
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        burst_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, v in (("rpm", rpm), ("tpm", tpm)):
            if v is not None and v <= 0:
                raise ConfigError(f"{name} must be > 0 or None, got {v}")
        self.rpm, self.tpm, self.burst_seconds, self.clock = rpm, tpm, burst_seconds, clock
        self._lock = threading.Lock()
        now = clock()
        self._req = [self._cap(rpm, 1.0), now]  # [level, last update]
        self._tok = [self._cap(tpm, 1.0), now]

    def _cap(self, per_minute: float | None, minimum: float) -> float:
        return 0.0 if per_minute is None else max(minimum, per_minute / 60.0 * self.burst_seconds)

    @staticmethod
    def _take(bucket: list[float], per_minute: float, cap: float, cost: float, now: float) -> float:
        rate = per_minute / 60.0
        bucket[0] = min(cap, bucket[0] + (now - bucket[1]) * rate) - cost
        bucket[1] = now
        return 0.0 if bucket[0] >= 0 else -bucket[0] / rate

    def reserve(self, tokens: float = 0.0) -> float:
        """Book one request; returns the seconds to wait before sending it."""
        with self._lock:
            now = self.clock()
            wait_s = 0.0
            if self.rpm is not None:
                wait_s = self._take(self._req, self.rpm, self._cap(self.rpm, 1.0), 1.0, now)
            if self.tpm is not None:
                cap = self._cap(self.tpm, 1.0)
                wait_s = max(wait_s, self._take(self._tok, self.tpm, cap, tokens, now))
            return wait_s

    def adjust(self, delta_tokens: float) -> None:
        """Charge (or refund, if negative) tokens once the real usage is known."""
        if self.tpm is None or not delta_tokens:
            return
        with self._lock:
            self._tok[0] = min(self._cap(self.tpm, 1.0), self._tok[0] - delta_tokens)

    def acquire(self, tokens: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> float:
        """Book one request and sleep until it may be sent; returns the time slept."""
        wait_s = self.reserve(tokens)
        if wait_s > 0:
            sleep(wait_s)
        return wait_s


# ----------------------------------------------------------------------------- budget


class QueryBudget:
    """A hard cap on paid queries, safe under threads: ``reserve`` is atomic.

    A reserved slot is never given back, even when the query fails: a query that timed
    out may have been billed, and the cap must hold whatever happened.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 0:
            raise ConfigError(f"query budget must be >= 0 or None, got {limit}")
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def reserve(self) -> int:
        """Take one slot; returns how many are now used.

        Raises:
            BudgetExceededError: no slot left (the message gives the limit and the count).
        """
        with self._lock:
            if self.limit is not None and self.used >= self.limit:
                raise BudgetExceededError(self.limit, self.used)
            self.used += 1
            return self.used

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


# ----------------------------------------------------------------------------- log


_SECRET_RE = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)")


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove API keys (given ones and anything shaped like one) from a message."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return _SECRET_RE.sub("***", text)


class QueryLog:
    """Append-only JSONL log of queries, one line per query, flushed as it is written.

    Lines hold the cache key (a hash), the prompt, the answer, costs and errors; never
    image bytes or API keys. A crash loses at most the line being written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._lock = threading.Lock()

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            if self._fh.closed:
                return
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


# ----------------------------------------------------------------------------- engine


@dataclass(frozen=True)
class Query:
    """One request: images (RGB uint8), a prompt, optional candidate answers."""

    images: Sequence[np.ndarray]
    prompt: str
    choices: Sequence[str] | None = None


@dataclass
class Prepared:
    """A query as a backend will send it: the exact image bytes and backend payload."""

    payloads: list[bytes]
    prompt: str
    choices: list[str] | None
    images: list[np.ndarray]
    body: Any = None
    token_estimate: float = 0.0


@dataclass
class Reply:
    """What one successful attempt returned: the answer and the token usage."""

    answer: Answer
    usage: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class SendingBlackBox(Protocol):
    """A black box that splits a query into ``prepare`` (encode once) and ``send``
    (one attempt, no retries). HTTP backends implement it; others are called whole."""

    def prepare(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None
    ) -> Prepared: ...

    def send(self, prepared: Prepared) -> Reply: ...


@dataclass
class EngineConfig:
    """How the engine runs queries. Defaults are safe for a paid service.

    Attributes:
        concurrency: queries in flight at once (retry backoff included).
        max_queries: hard budget of paid queries (None: unlimited); cache hits are free.
        rpm: requests per minute (None: unlimited).
        tpm: tokens per minute (None: unlimited), by estimate corrected with usage.
        retry: the retry policy.
        seed: seed of the backoff jitter.
    """

    concurrency: int = 8
    max_queries: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")


@dataclass
class EngineStats:
    """Accounting of one engine: paid queries, cache hits, retries, tokens, errors."""

    queries: int = 0
    cache_hits: int = 0
    deduplicated: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_tokens"] = self.total_tokens
        return d

    def summary(self) -> str:
        """One line for the CLI: what the run cost."""
        s = (
            f"{self.queries} paid quer{'y' if self.queries == 1 else 'ies'}, "
            f"{self.cache_hits} cache hit{'' if self.cache_hits == 1 else 's'}, "
            f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}"
        )
        if self.total_tokens:
            s += f", {self.prompt_tokens} prompt + {self.completion_tokens} completion tokens"
        if self.failed:
            s += f", {self.failed} failed"
        return s


class QueryEngine:
    """Runs queries against one black box with cache, budget, limits, retries and a log.

    Usable as a black box itself (``query``) and for batches (``query_many``,
    ``aquery_many`` from async code). Blocking work runs on a pool of ``concurrency``
    worker threads; the async methods await it without blocking the event loop.

    Args:
        blackbox: any :class:`BlackBox`. If it implements ``prepare``/``send`` (the HTTP
            backends), the engine retries single attempts; otherwise ``query`` is called.
        config: concurrency, budget, rate limits and retry policy.
        cache: a :class:`ResponseCache` or the path of its file (None: no cache).
        log_path: JSONL query log, appended (None: no log).
    """

    def __init__(
        self,
        blackbox: BlackBox,
        config: EngineConfig | None = None,
        cache: ResponseCache | str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.blackbox = blackbox
        self.config = config or EngineConfig()
        self.cache = ResponseCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self._own_cache = isinstance(cache, (str, os.PathLike))
        self.log = QueryLog(log_path) if log_path is not None else None
        self.budget = QueryBudget(self.config.max_queries)
        self.limiter = RateLimiter(self.config.rpm, self.config.tpm)
        self.stats = EngineStats()
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[Answer]] = {}
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="veil-query")
        self._sends = isinstance(blackbox, SendingBlackBox)
        self._serial = threading.Lock() if not getattr(blackbox, "thread_safe", False) else None
        self._seq = 0
        self.model, self.params = cache_identity(blackbox)

    # -- public API

    def query(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None = None
    ) -> Answer:
        """One query (blocking): cached, budgeted, rate-limited and retried."""
        return self._pool.submit(self._run, Query(images, prompt, choices)).result()

    def query_many(
        self, queries: Sequence[Query], return_exceptions: bool = False
    ) -> list[Answer | BaseException]:
        """Run queries concurrently; answers in input order.

        On the first error (budget reached, wrong key, ...) the queries not yet started
        are cancelled, those in flight finish and are cached, and the error is raised;
        with ``return_exceptions`` every query runs and errors take their answer's place.
        """
        futs = [self._pool.submit(self._run, q) for q in queries]
        if not return_exceptions:
            done, pending = wait(futs, return_when=FIRST_EXCEPTION)
            if pending:
                for f in pending:
                    f.cancel()
                wait(pending)
        out: list[Answer | BaseException] = []
        for f in futs:
            if f.cancelled():
                continue
            e = f.exception()
            if e is not None and not return_exceptions:
                raise e
            out.append(e if e is not None else f.result())
        return out

    async def aquery(
        self, images: Sequence[np.ndarray], prompt: str, choices: Sequence[str] | None = None
    ) -> Answer:
        """Async :meth:`query`: awaits a worker thread without blocking the loop."""
        return await asyncio.wrap_future(self._pool.submit(self._run, Query(images, prompt, choices)))

    async def aquery_many(self, queries: Sequence[Query]) -> list[Answer]:
        """Async :meth:`query_many`; on the first error the rest are cancelled."""
        tasks = [asyncio.ensure_future(self.aquery(q.images, q.prompt, q.choices)) for q in queries]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def close(self) -> None:
        """Finish queries in flight (their answers are cached), then close log and cache."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.log is not None:
            self.log.close()
        if self.cache is not None and self._own_cache:
            self.cache.close()
        close = getattr(self.blackbox, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> QueryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one query

    def _prepare(self, q: Query) -> Prepared:
        if not q.images:
            raise ValueError("a black-box query needs at least one image")
        choices = list(q.choices) if q.choices else None
        if self._sends:
            return self.blackbox.prepare(q.images, q.prompt, choices)  # type: ignore[attr-defined]
        images = list(q.images)
        return Prepared(payloads_for(self.blackbox, images), q.prompt, choices, images)

    def _run(self, q: Query) -> Answer:
        t0 = time.monotonic()
        p = self._prepare(q)
        key = request_key(p.payloads, p.prompt, self.model, self.params, p.choices)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                with self._lock:
                    self.stats.cache_hits += 1
                self._log(key, p, "hit", t0, answer=hit.answer)
                return hit.answer
        with self._lock:
            owner = key not in self._inflight
            if owner:
                fut: Future[Answer] = Future()
                self._inflight[key] = fut
            else:
                fut = self._inflight[key]
                self.stats.deduplicated += 1
        if not owner:
            return fut.result()
        try:
            answer = self._pay(key, p, t0)
        except BaseException as e:
            fut.set_exception(e)
            raise
        else:
            fut.set_result(answer)
            return answer
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _pay(self, key: str, p: Prepared, t0: float) -> Answer:
        try:
            self.budget.reserve()
        except BudgetExceededError as e:
            self._log(key, p, "budget", t0, error=e)
            raise
        attempts = 0

        def attempt() -> Reply:
            nonlocal attempts
            attempts += 1
            with self._lock:
                self.stats.attempts += 1
            self.limiter.acquire(p.token_estimate)
            reply = self._send(p)
            total = reply.usage.get("prompt_tokens", 0) + reply.usage.get("completion_tokens", 0)
            if total:
                self.limiter.adjust(total - p.token_estimate)
            return reply

        def on_retry(n: int, e: BaseException, delay: float) -> None:
            with self._lock:
                self.stats.retries += 1
                name = type(e).__name__
                self.stats.errors[name] = self.stats.errors.get(name, 0) + 1

        try:
            with self._lock:
                rng = random.Random(self._rng.random())
            reply = call_with_retries(attempt, self.config.retry, rng, on_retry=on_retry)
        except BaseException as e:
            with self._lock:
                self.stats.failed += 1
                name = type(e).__name__
                self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
            self._log(key, p, "error", t0, attempts=attempts, error=e)
            raise
        if self.cache is not None:
            self.cache.put(key, reply.answer, self.model, p.prompt, reply.usage)
        with self._lock:
            self.stats.queries += 1
            self.stats.prompt_tokens += int(reply.usage.get("prompt_tokens", 0))
            self.stats.completion_tokens += int(reply.usage.get("completion_tokens", 0))
        self._log(key, p, "ok", t0, attempts=attempts, answer=reply.answer, usage=reply.usage)
        return reply.answer

    def _send(self, p: Prepared) -> Reply:
        if self._sends:
            return self.blackbox.send(p)  # type: ignore[attr-defined]
        if self._serial is None:
            return Reply(self.blackbox.query(p.images, p.prompt, p.choices))
        with self._serial:
            return Reply(self.blackbox.query(p.images, p.prompt, p.choices))

    def _log(
        self,
        key: str,
        p: Prepared,
        status: str,
        t0: float,
        attempts: int = 0,
        answer: Answer | None = None,
        usage: Mapping[str, int] | None = None,
        error: BaseException | None = None,
    ) -> None:
        if self.log is None:
            return
        with self._lock:
            self._seq += 1
            seq = self._seq
        rec: dict[str, Any] = {
            "n": seq,
            "time": time.time(),
            "key": key,
            "model": self.model,
            "prompt": p.prompt,
            "choices": p.choices,
            "images": len(p.payloads),
            "image_bytes": sum(len(b) for b in p.payloads),
            "status": status,
            "cached": status == "hit",
            "attempts": attempts,
            "latency_s": round(time.monotonic() - t0, 4),
        }
        if answer is not None:
            rec["answer"] = answer.text
            rec["logprobs"] = answer.logprobs
        if usage:
            rec["usage"] = dict(usage)
        if error is not None:
            secrets = getattr(self.blackbox, "_secrets", lambda: ())()
            rec["error"] = f"{type(error).__name__}: {scrub(str(error), secrets)}"
        self.log.write(rec)


# ----------------------------------------------------------------------------- one-shot use


def build_backend(name: str = "reference", **options: Any) -> BlackBox:
    """A black box by registry name; ``openai`` takes :class:`OpenAIConfig` fields
    (options that are None are left at their defaults).

    Raises:
        UnknownNameError: ``name`` is not registered.
        ConfigError: a bad option, or no API key for a remote service.
    """
    from veil.blackbox.base import create_blackbox

    opts = {k: v for k, v in options.items() if v is not None}
    if name == "openai":
        from veil.blackbox.openai_backend import OpenAIBlackBox

        return OpenAIBlackBox(**opts)
    return create_blackbox(name, **opts)


def ask(
    image: np.ndarray,
    question: str,
    blackbox: BlackBox,
    choices: Sequence[str] | None = None,
    anonymizer: Callable[[np.ndarray], np.ndarray] | None = None,
    cache: ResponseCache | str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    max_queries: int | None = None,
) -> tuple[Answer, EngineStats]:
    """One protected query: anonymize ``image``, ask ``question``, return the answer and
    what it cost. ``choices`` default to those listed in the question, if any."""
    from veil.data.questions import format_prompt, parse_prompt

    q, parsed = parse_prompt(question)
    choices = list(choices) if choices else parsed
    prompt = format_prompt(q, tuple(choices)) if choices else question
    protected = anonymizer(image) if anonymizer is not None else image
    engine = QueryEngine(blackbox, EngineConfig(concurrency=1, max_queries=max_queries), cache, log_path)
    try:
        answer = engine.query([protected], prompt, choices)
    finally:
        engine.close()
    return answer, engine.stats
