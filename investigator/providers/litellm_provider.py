"""Every provider other than native Anthropic, through litellm.

litellm takes the OpenAI chat format the investigator already speaks and returns an OpenAI-shaped
response for any backend ("openai/gpt-4o-mini", "mistral/…", "gemini/…", "bedrock/…",
"ollama_chat/…"). Its own retries are off because `providers.generate` retries. What this module
adds, per route, so that the request is one the provider accepts:

- Sampling parameters only when the user set them (`config.temperature`).
- An assistant turn that only called tools has `content: None` (Gemini refuses empty text parts),
  and one with nothing at all is not sent.
- The fields a provider needs echoed travel with the assistant turn and go back only to the
  routes that read them: Claude's `thinking_blocks` (Anthropic, Bedrock, Vertex), Gemini's thought
  signatures (`provider_specific_fields`); OpenAI-compatible servers refuse unknown fields.
- Claude on Bedrock and Vertex gets the same prompt-cache marks as the native provider.
- `ollama/` (litellm's /api/generate, which flattens tools into the prompt) becomes `ollama_chat/`.
- A local OpenAI-compatible server (vLLM, llama.cpp, Ollama at a loopback or private address)
  needs no key: a placeholder is sent when none is set.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
from typing import Any
from urllib.parse import urlsplit

from investigator.providers.base import (
    Message,
    ModelConfig,
    ModelOutput,
    ProviderError,
    ToolCall,
    ToolSpec,
    TransientProviderError,
    classify_http_error,
    retry_after_from,
)
from investigator.providers.pricing import configured_price, model_info, price_of
from investigator.providers.recording import REPLAY_KEY, replaying

_BASE_URL_ENV = {
    "openai": "OPENAI_BASE_URL",
    "mistral": "MISTRAL_API_BASE",
    "gemini": "GEMINI_API_BASE",
    "hosted_vllm": "HOSTED_VLLM_API_BASE",
    "ollama_chat": "OLLAMA_API_BASE",
    "llamafile": "LLAMAFILE_API_BASE",
    "lm_studio": "LM_STUDIO_API_BASE",
}
# Routes that serve models on the user's own machine or network: never a key to demand.
KEYLESS_ROUTES = frozenset({"ollama", "ollama_chat", "hosted_vllm", "llamafile", "lm_studio"})
LOCAL_KEY = "no-key-local-server"
_GEMINI_ROUTES = ("gemini", "vertex_ai")


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def route_model(model: str) -> str:
    """The litellm model name to call: `ollama/x` is served by Ollama's chat endpoint."""
    return "ollama_chat/" + model.split("/", 1)[1] if model.startswith("ollama/") else model


def is_claude_route(model: str) -> bool:
    """Claude behind litellm (Anthropic, Bedrock, Vertex): thinking blocks and cache marks apply."""
    prefix, _, name = model.partition("/")
    return "claude" in name.lower() and prefix in ("anthropic", "bedrock", "vertex_ai", "vertex_ai_beta")


def is_gemini_route(model: str) -> bool:
    prefix, _, name = model.partition("/")
    return prefix == "gemini" or (prefix in _GEMINI_ROUTES and "gemini" in name.lower())


def base_url_for(model: str) -> str:
    prefix = model.split("/", 1)[0]
    return os.environ.get(_BASE_URL_ENV[prefix], "") if prefix in _BASE_URL_ENV else ""


def is_local_url(url: str) -> bool:
    """Whether `url` names this machine or a private network (where a self-hosted server lives)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def needs_no_key(model: str) -> bool:
    """A keyless local server answers this model: a self-hosting route, or the OpenAI route
    pointed (OPENAI_BASE_URL) at a loopback or private address."""
    prefix = route_model(model).split("/", 1)[0]
    if prefix in KEYLESS_ROUTES:
        return True
    url = base_url_for(model)
    return bool(url) and is_local_url(url)


def _has_key(prefix: str) -> bool:
    """Whether the usual key variable of a provider ("openai" → OPENAI_API_KEY) is set."""
    return bool(os.environ.get(f"{prefix.upper().replace('-', '_')}_API_KEY"))


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


def _plain(value: Any) -> Any:
    """An SDK object (pydantic or litellm's own types) as plain JSON data."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _echo(message: Any) -> dict[str, Any] | None:
    """What of a response message must go back with it: thinking blocks and provider fields
    (Gemini's thought signatures), per tool call and for the whole message."""
    echo: dict[str, Any] = {}
    for name in ("thinking_blocks", "provider_specific_fields"):
        value = _plain(_get(message, name))
        if value:
            echo[name] = value
    per_call = [_plain(_get(call, "provider_specific_fields")) or {} for call in _get(message, "tool_calls") or []]
    if any(per_call):
        echo["tool_calls"] = per_call
    return {"litellm": echo} if echo else None


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


# What of a message is sent: the chat format's own fields. Whatever else the loop keeps with a
# message (the provider's raw reply to echo back, a tool result's typed `data`) stays here:
# OpenAI-compatible servers refuse unknown fields.
_CHAT_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})


def wire_messages(messages: list[Message], model: str, cache_prefix: int = 0) -> list[dict[str, Any]]:
    """The conversation as litellm should get it for `model`: plain OpenAI chat messages, with
    the echoed fields the route reads and, for Claude, cache marks."""
    claude, gemini = is_claude_route(model), is_gemini_route(model)
    out: list[dict[str, Any]] = []
    prefix_end = 0
    for index, message in enumerate(messages):
        sent = {k: copy.deepcopy(v) for k, v in message.items() if k in _CHAT_FIELDS}
        if sent.get("tool_calls"):
            sent["tool_calls"] = [{k: v for k, v in call.items() if k in ("id", "type", "function")}
                                  for call in sent["tool_calls"]]
        if message.get("role") == "assistant":
            text = _text_of(sent.get("content"))
            sent["content"] = text if text.strip() else None
            echo = (message.get("echo") or {}).get("litellm") or {}
            if claude and echo.get("thinking_blocks"):
                sent["thinking_blocks"] = copy.deepcopy(echo["thinking_blocks"])
            if gemini:
                if echo.get("provider_specific_fields"):
                    sent["provider_specific_fields"] = copy.deepcopy(echo["provider_specific_fields"])
                for call, fields in zip(sent.get("tool_calls") or [], echo.get("tool_calls") or [], strict=False):
                    if fields:
                        call["provider_specific_fields"] = copy.deepcopy(fields)
            if sent["content"] is None and not sent.get("tool_calls") and not sent.get("thinking_blocks"):
                continue  # nothing to send: providers refuse an empty assistant turn
        out.append(sent)
        if index < cache_prefix:
            prefix_end = len(out)
    if claude:
        _mark_claude(out, prefix_end, model)
    return out


def _mark_claude(messages: list[dict[str, Any]], prefix_end: int, model: str) -> None:
    """Cache marks for Claude behind litellm, on the system prompt, the end of the stable prefix
    and the newest message (litellm turns them into `cache_control` or Bedrock `cachePoint`s)."""
    from investigator.providers.anthropic_provider import estimate_tokens, min_cacheable_tokens

    minimum = min_cacheable_tokens(model.split("/")[-1].split(".")[-1].split("@")[0])
    targets = [i for i, m in enumerate(messages) if m.get("role") == "system"][-1:]
    if prefix_end:
        targets.append(prefix_end - 1)
    if len(messages) > prefix_end:
        targets.append(len(messages) - 1)
    for index in dict.fromkeys(targets):
        message = messages[index]
        if estimate_tokens(messages[: index + 1]) < minimum:
            continue
        content = message.get("content")
        if isinstance(content, str) and content.strip():
            message["content"] = [{"type": "text", "text": content, "cache_control": {"type": "ephemeral"}}]
        elif isinstance(content, list) and content and isinstance(content[-1], dict):
            content[-1]["cache_control"] = {"type": "ephemeral"}


def _tools_for(tools: list[ToolSpec], model: str) -> list[ToolSpec]:
    if not tools or not is_claude_route(model):
        return tools
    from investigator.providers.anthropic_provider import estimate_tokens, min_cacheable_tokens

    marked = copy.deepcopy(tools)
    if estimate_tokens(marked) >= min_cacheable_tokens(model.split("/")[-1].split(".")[-1].split("@")[0]):
        marked[-1]["cache_control"] = {"type": "ephemeral"}
    return marked


def reasons(model: str) -> bool:
    """Whether `model` may think before it answers; its thinking counts against the output limit
    (Claude's max_tokens, OpenAI's max_completion_tokens, Gemini's maxOutputTokens)."""
    info = model_info(model)
    if info.get("supports_reasoning") or info.get("thinking_on_by_default"):
        return True
    from investigator.providers.anthropic_provider import thinks_by_default

    return is_claude_route(model) and thinks_by_default(model.split("/")[-1].split(".")[-1])


def build_params(messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> dict[str, Any]:
    """The keyword arguments of `litellm.completion` for one call."""
    model = route_model(config.model)
    params: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(messages, model, config.cache_prefix),
        "max_tokens": config.max_tokens + (config.thinking_tokens if reasons(model) else 0),
        "timeout": config.timeout_s,
        "num_retries": 0,
        "max_retries": 0,
    }
    if config.temperature is not None:
        params["temperature"] = config.temperature
    if tools:
        params["tools"] = _tools_for(tools, model)
    base_url = base_url_for(model)
    if base_url:
        params["api_base"] = base_url
    prefix = model.split("/", 1)[0]
    if not _has_key(prefix):
        if replaying():
            params["api_key"] = REPLAY_KEY
        elif needs_no_key(model) and prefix not in ("ollama", "ollama_chat"):  # the OpenAI client wants one
            params["api_key"] = LOCAL_KEY
    return params


def _cost(response: Any, litellm: Any, model: str, usage: Any, cached: int) -> float | None:
    price = configured_price(model)
    prompt = _get(usage, "prompt_tokens", 0) or 0
    completion = _get(usage, "completion_tokens", 0) or 0
    if price is not None:
        return price.cost(max(0, prompt - cached), completion, cached)
    try:
        cost = litellm.completion_cost(completion_response=response)
    except Exception:  # unknown model or price: cost is unknown, not an error
        cost = None
    if cost is None or (not cost and price_of(model) is None):
        return None
    return float(cost)


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
    cached = _get(details, "cached_tokens", 0) or 0
    cost = _cost(response, litellm, route_model(requested_model), usage, cached)
    model = _get(response, "model") or requested_model.split("/", 1)[-1]
    prefix = requested_model.split("/", 1)[0]
    text = _get(message, "content") or ""
    finish = _get(choice, "finish_reason")
    refusal = _get(message, "refusal") or None
    if finish == "content_filter" and not refusal:
        refusal = "the provider's content filter stopped the reply"
    return ModelOutput(
        text=text if isinstance(text, str) and text.strip() else None,
        tool_calls=calls,
        tokens_in=_get(usage, "prompt_tokens", 0) or 0,
        tokens_out=_get(usage, "completion_tokens", 0) or 0,
        cached_tokens=cached,
        cost_usd=round(cost or 0.0, 8),
        priced=cost is not None,
        model=model if model.startswith(f"{prefix}/") else f"{prefix}/{model}",
        stop_reason=finish,
        refusal=refusal,
        truncated=finish in ("length", "max_tokens"),
        echo=_echo(message),
    )


class LiteLLMProvider:
    """Calls `litellm.completion` and maps its errors onto retryable and final ones."""

    name = "litellm"

    def generate(self, messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> ModelOutput:
        litellm = _litellm()
        params = build_params(messages, tools, config)
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
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ProviderError(f"{model}: the conversation no longer fits the context window ({message})")
    if isinstance(exc, litellm.AuthenticationError):
        return ProviderError(f"{model}: authentication failed; check the provider's API key ({message})")
    if isinstance(exc, litellm.UnsupportedParamsError):
        return ProviderError(f"{model}: {message}")
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    body = getattr(exc, "body", None)
    code = (body.get("code") or body.get("type")) if isinstance(body, dict) else None
    error = classify_http_error(f"{model}: {message}", status if isinstance(status, int) else None, headers,
                                code if isinstance(code, str) else None)
    if isinstance(error, TransientProviderError):
        return error
    transient = (
        litellm.RateLimitError, litellm.InternalServerError, litellm.ServiceUnavailableError,
        litellm.BadGatewayError, litellm.Timeout, litellm.APIConnectionError,
    )
    said_final = code == "insufficient_quota" or str(headers and headers.get("x-should-retry")).lower() == "false"
    if isinstance(exc, transient) and not said_final:  # timeouts and dropped connections carry no status
        return TransientProviderError(f"{model}: {message}", retry_after=retry_after_from(headers), status=status)
    return error
