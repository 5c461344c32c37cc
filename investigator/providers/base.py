"""The provider abstraction: one `generate(messages, tools, config)` for every model.

Messages and tools are OpenAI chat-format dicts whatever the backend; each provider converts them
to its own wire format and returns a `ModelOutput`. The module-level `generate` is the single entry
point the rest of the investigator calls: it resolves the provider by name, retries transient
failures (the only place in the code base that retries), trips a per-provider circuit breaker when a
backend keeps failing, and logs every attempt into the store's `llm_calls` table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from investigator.errors import ProviderError, TransientProviderError
from investigator.timefmt import now_iso

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from investigator.store import Store

Message = dict[str, Any]
ToolSpec = dict[str, Any]

MAX_ATTEMPTS = 5
MAX_BACKOFF_S = 60.0
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN_S = 60.0
SLEEP: Callable[[float], None] = time.sleep  # the default backoff sleep; tests may replace it


class ToolCall(BaseModel):
    """One function call the model asked for. Arguments that were not valid JSON arrive as
    `{"_raw": "<the string>"}` so the tool layer can tell the model what was wrong."""

    id: str
    name: str
    arguments: dict[str, Any]


class ModelOutput(BaseModel):
    """What one model call produced, with the usage needed for budgets and the call log."""

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    model: str
    stop_reason: str | None = None
    priced: bool = True  # False: no price is known for the model, so cost_usd is 0 for want of one
    refusal: str | None = None  # the model declined to answer (Anthropic `refusal`, OpenAI `message.refusal`)
    truncated: bool = False  # the output limit cut the reply: its tool calls may be incomplete
    context_exceeded: bool = False  # the conversation no longer fits the model's context window
    # The assistant turn as its provider must get it back, keyed by wire format ("anthropic": the
    # content blocks as received, thinking and signatures included; "litellm": the fields litellm
    # echoes, such as thinking_blocks and Gemini thought signatures). Providers that need none leave it.
    echo: dict[str, Any] | None = None


class ModelConfig(BaseModel):
    """Which model to call and how. `model` is "provider/model" ("anthropic/claude-sonnet-4-5",
    "openai/gpt-4o"), or "offline" / "scripted". `cache_prefix` is the number of leading messages
    that stay the same from call to call and may be marked for prompt caching. `temperature` is
    sent only when set: reasoning models reject any value. `thinking_tokens` is added to
    `max_tokens` for models that think, as their thinking counts against the output limit."""

    model: str
    max_tokens: int = 4096
    temperature: float | None = None
    cache_prefix: int = 0
    timeout_s: float = 120.0
    thinking_tokens: int = 8192


@runtime_checkable
class Provider(Protocol):
    """A backend that turns a conversation into one model output."""

    name: str

    def generate(
        self, messages: list[Message], tools: list[ToolSpec], config: ModelConfig
    ) -> ModelOutput: ...


RETRYABLE_STATUS = frozenset({408, 409, 429})


def classify_http_error(
    detail: str, status: int | None, headers: Any = None, code: str | None = None
) -> ProviderError:
    """The error to raise for an HTTP failure: transient (retried) or final.

    As the providers' own SDKs do: `x-should-retry: true|false` decides when the server sends it;
    else 408, 409, 429 and 5xx are transient. A 429 that says the account is out of quota
    (`insufficient_quota`) is final: waiting does not refill it. The wait is `retry-after-ms`,
    else `retry-after`."""
    should = _header(headers, "x-should-retry")
    if code == "insufficient_quota" or "insufficient_quota" in detail:
        transient = False
    elif should in ("true", "false"):
        transient = should == "true"
    else:
        transient = status is not None and (status in RETRYABLE_STATUS or status >= 500)
    if not transient:
        return ProviderError(detail)
    return TransientProviderError(detail, retry_after=retry_after_from(headers), status=status)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.title())
    except AttributeError:
        return None
    return None if value is None else str(value).strip().lower()


def retry_after_from(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` (milliseconds) or `retry-after` (seconds or a date)."""
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(_header(headers, "retry-after"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header value (seconds or an HTTP date); None when unusable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds)


def provider_key(model: str) -> str:
    """The circuit-breaker key of a model name: its provider prefix ("openai/gpt-4o" → "openai")."""
    return model.split("/", 1)[0] if "/" in model else model


@dataclass
class _BreakerState:
    failures: int = 0
    opened_at: float | None = None


class CircuitBreaker:
    """Fails fast once `threshold` calls in a row to a provider have failed, for `cooldown_s` seconds.

    A call counts once, however many attempts its retries made: one call that met five 529s is
    one failure, so one unlucky cluster does not cut every other cluster off the provider. After
    the cooldown one trial call goes through; its success closes the breaker, its failure opens it
    again. Only calls that failed transiently count: a bad request says nothing about the backend.
    """

    def __init__(
        self,
        threshold: int = BREAKER_THRESHOLD,
        cooldown_s: float = BREAKER_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._states: dict[str, _BreakerState] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Raise ProviderError when the breaker for `key` is open."""
        with self._lock:
            state = self._states.get(key)
            if state is None or state.opened_at is None:
                return
            remaining = state.opened_at + self.cooldown_s - self.clock()
            if remaining > 0:
                raise ProviderError(
                    f"provider {key!r}: {state.failures} calls in a row failed; "
                    f"not calling it again for {remaining:.0f} s"
                )
            state.opened_at = None  # half-open: let one trial call through

    def success(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)

    def failure(self, key: str) -> None:
        with self._lock:
            state = self._states.setdefault(key, _BreakerState())
            state.failures += 1
            if state.failures >= self.threshold:
                state.opened_at = self.clock()

    def is_open(self, key: str) -> bool:
        with self._lock:
            state = self._states.get(key)
            return bool(
                state and state.opened_at is not None
                and state.opened_at + self.cooldown_s > self.clock()
            )

    def reset(self) -> None:
        with self._lock:
            self._states.clear()


BREAKER = CircuitBreaker()


class CallLog:
    """Writes one row per model call attempt into the store's `llm_calls` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        *,
        model: str,
        purpose: str,
        run_id: str | None = None,
        cluster_id: str | None = None,
        output: ModelOutput | None = None,
        latency_ms: float = 0.0,
        error: str | None = None,
    ) -> None:
        self.store.log_call(
            run_id=run_id, cluster_id=cluster_id, purpose=purpose, model=model,
            tokens_in=output.tokens_in if output else 0, tokens_out=output.tokens_out if output else 0,
            cached_tokens=output.cached_tokens if output else 0, cost_usd=output.cost_usd if output else 0.0,
            latency_ms=round(latency_ms, 3), error=error, created_at=now_iso(),
        )


def _wait(state: RetryCallState) -> float:
    """Backoff before the next attempt: the server's Retry-After when given, else 1, 2, 4, 8 … s;
    both capped at MAX_BACKOFF_S."""
    error = state.outcome.exception() if state.outcome else None
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), MAX_BACKOFF_S)
    return min(2.0 ** (state.attempt_number - 1), MAX_BACKOFF_S)


def generate(
    messages: list[Message],
    tools: list[ToolSpec],
    config: ModelConfig,
    *,
    store: Store | None = None,
    run_id: str | None = None,
    cluster_id: str | None = None,
    purpose: str = "judge",
    sleep: Callable[[float], None] | None = None,
    breaker: CircuitBreaker | None = None,
) -> ModelOutput:
    """Call the model named by `config.model` and return its output.

    Transient failures are retried up to MAX_ATTEMPTS times with capped exponential backoff,
    honouring Retry-After; every attempt, failed or not, is logged when `store` is given. Raises
    ProviderError when the call fails for good or the provider's circuit breaker is open; a call
    whose attempts all failed transiently counts once against the breaker. `sleep`
    and `breaker` exist for tests (defaults: module-level SLEEP, i.e. time.sleep, and the
    process-wide BREAKER).
    """
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt  # loads only when a model is called

    from investigator.providers import get_provider
    from investigator.providers.recording import unrecorded_request

    breaker = breaker or BREAKER
    key = provider_key(config.model)
    log = CallLog(store) if store is not None else None
    try:
        provider = get_provider(config.model)
    except ProviderError:
        raise
    except ImportError as exc:
        raise ProviderError(f"{config.model}: provider unavailable: {exc}") from exc

    try:
        breaker.check(key)
    except ProviderError as exc:
        if log:
            log.record(model=config.model, purpose=purpose, run_id=run_id, cluster_id=cluster_id, error=str(exc))
        raise

    def attempt() -> ModelOutput:
        started = time.perf_counter()
        try:
            output = provider.generate(messages, tools, config)
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000.0
            final = unrecorded_request(exc)
            if log:
                log.record(model=config.model, purpose=purpose, run_id=run_id,
                           cluster_id=cluster_id, latency_ms=latency,
                           error=str(final) if final else f"{type(exc).__name__}: {exc}")
            if final is not None:
                raise final from exc
            raise
        breaker.success(key)
        if log:
            log.record(model=config.model, purpose=purpose, run_id=run_id, cluster_id=cluster_id,
                       output=output, latency_ms=(time.perf_counter() - started) * 1000.0)
        return output

    retrying = Retrying(
        stop=stop_after_attempt(MAX_ATTEMPTS),
        wait=_wait,
        retry=retry_if_exception_type(TransientProviderError),
        sleep=sleep if sleep is not None else SLEEP,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except TransientProviderError as exc:
        breaker.failure(key)
        raise ProviderError(
            f"{config.model}: gave up after {MAX_ATTEMPTS} attempts: {exc}"
        ) from exc
    except ProviderError:
        raise
    except Exception as exc:  # a provider bug or an SDK error it did not map
        raise ProviderError(f"{config.model}: {type(exc).__name__}: {exc}") from exc
