"""Every provider other than Anthropic, through litellm.

litellm takes the OpenAI chat format the investigator already speaks and returns an OpenAI-shaped
response for any backend ("openai/gpt-4o-mini", "mistral/…", "ollama/…"). Its price table is the
copy bundled with the package, never fetched, and its own retries are off because
`providers.generate` retries.
"""

from __future__ import annotations

import json
import os
from typing import Any

from investigator.providers.base import (
    Message,
    ModelConfig,
    ModelOutput,
    ProviderError,
    ToolCall,
    ToolSpec,
    TransientProviderError,
    parse_retry_after,
)
from investigator.providers.recording import REPLAY_KEY, replaying

_BASE_URL_ENV = {"openai": "OPENAI_BASE_URL"}


def _has_key(prefix: str) -> bool:
    """Whether the usual key variable of a provider ("openai" → OPENAI_API_KEY) is set."""
    return bool(os.environ.get(f"{prefix.upper().replace('-', '_')}_API_KEY"))


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def _arguments(raw: Any) -> dict[str, Any]:
    """A tool call's argument string → dict; text that is not a JSON object is kept as `_raw`
    so the caller can show the model what it sent instead of failing the turn."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def parse_response(response: Any, litellm: Any, requested_model: str) -> ModelOutput:
    """A litellm ModelResponse (OpenAI shape) → ModelOutput."""
    choice = response.choices[0]
    message = choice.message
    calls = [
        ToolCall(
            id=_get(call, "id") or f"call_{index}",
            name=_get(_get(call, "function"), "name") or "",
            arguments=_arguments(_get(_get(call, "function"), "arguments")),
        )
        for index, call in enumerate(_get(message, "tool_calls") or [])
    ]
    usage = _get(response, "usage")
    details = _get(usage, "prompt_tokens_details")
    try:
        cost = float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown model or price: cost is unknown, not an error
        cost = 0.0
    model = _get(response, "model") or requested_model.split("/", 1)[-1]
    prefix = requested_model.split("/", 1)[0]
    return ModelOutput(
        text=_get(message, "content") or None,
        tool_calls=calls,
        tokens_in=_get(usage, "prompt_tokens", 0) or 0,
        tokens_out=_get(usage, "completion_tokens", 0) or 0,
        cached_tokens=_get(details, "cached_tokens", 0) or 0,
        cost_usd=round(cost, 8),
        model=model if model.startswith(f"{prefix}/") else f"{prefix}/{model}",
        stop_reason=_get(choice, "finish_reason"),
    )


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    for source in (getattr(exc, "litellm_response_headers", None), getattr(response, "headers", None)):
        if source is not None:
            try:
                value = source.get("retry-after") or source.get("Retry-After")
            except AttributeError:
                continue
            if value is not None:
                return parse_retry_after(value)
    return None


class LiteLLMProvider:
    """Calls `litellm.completion` and maps its errors onto retryable and final ones."""

    name = "litellm"

    def generate(self, messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> ModelOutput:
        litellm = _litellm()
        prefix = config.model.split("/", 1)[0]
        params: dict[str, Any] = {
            "model": config.model,
            "messages": messages,
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "timeout": config.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        if tools:
            params["tools"] = tools
        base_url = os.environ.get(_BASE_URL_ENV[prefix], "") if prefix in _BASE_URL_ENV else ""
        if base_url:
            params["api_base"] = base_url
        if replaying() and not _has_key(prefix):
            params["api_key"] = REPLAY_KEY
        try:
            response = litellm.completion(**params)
        except Exception as exc:
            raise _map_error(exc, litellm, config.model) from exc
        return parse_response(response, litellm, config.model)


def _map_error(exc: Exception, litellm: Any, model: str) -> ProviderError:
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(status, int):
        message = f"HTTP {status}: {message}"
    transient = (
        litellm.RateLimitError, litellm.InternalServerError, litellm.ServiceUnavailableError,
        litellm.BadGatewayError, litellm.Timeout, litellm.APIConnectionError,
    )
    if isinstance(exc, transient) or (isinstance(status, int) and (status in (408, 409, 429) or status >= 500)):
        return TransientProviderError(f"{model}: {message}", retry_after=_retry_after(exc), status=status)
    if isinstance(exc, litellm.AuthenticationError):
        return ProviderError(f"{model}: authentication failed; check the provider's API key ({message})")
    return ProviderError(f"{model}: {message}")
