"""Anthropic through its native SDK, with prompt caching.

The investigator speaks OpenAI chat format; this module converts a conversation to the Messages
API shape (system prompt apart, tool calls as `tool_use` blocks, tool results as `tool_result`
blocks in a user turn) and marks the stable prefix for caching: the system prompt, the tool
definitions and the last message of the first `config.cache_prefix` messages each get
`cache_control: {"type": "ephemeral"}`, so a long investigation pays full price for that prefix once;
a rolling breakpoint on the newest message lets each turn read the previous turns from the cache.
"""

from __future__ import annotations

import json
import os
import threading
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

_EPHEMERAL = {"type": "ephemeral"}
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def _text_of(content: Any) -> str:
    """OpenAI message content (a string or a list of parts) as plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {"_raw": raw}
    return value if isinstance(value, dict) else {"_raw": raw}


def convert_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """OpenAI function specs → Anthropic tool definitions; the last one carries the cache mark,
    which caches every tool definition before it too."""
    converted = []
    for spec in tools:
        fn = spec.get("function", spec)
        converted.append({
            "name": fn["name"],
            "description": fn.get("description", ""),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        })
    if converted:
        converted[-1]["cache_control"] = dict(_EPHEMERAL)
    return converted


def convert_messages(
    messages: list[Message], cache_prefix: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI chat messages → (system blocks, Anthropic messages).

    Consecutive tool results and user turns merge into one user message, as the Messages API
    wants alternating roles with all results of a turn's tool calls in the next user message.
    """
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    prefix_mark: dict[str, Any] | None = None  # the block that closes the cacheable prefix

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for index, message in enumerate(messages):
        role = message.get("role")
        blocks: list[dict[str, Any]] = []
        if role == "system":
            system.append({"type": "text", "text": _text_of(message.get("content"))})
            continue
        if role == "tool":
            blocks.append({"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                           "content": _text_of(message.get("content"))})
            push("user", blocks)
        elif role == "assistant":
            text = _text_of(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message.get("tool_calls") or []:
                fn = call.get("function", {})
                blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": fn.get("name", ""),
                               "input": _arguments(fn.get("arguments"))})
            if not blocks:
                blocks.append({"type": "text", "text": "(no content)"})
            push("assistant", blocks)
        else:
            # the API rejects empty text blocks
            blocks.append({"type": "text", "text": _text_of(message.get("content")) or "(empty)"})
            push("user", blocks)
        if index < cache_prefix:
            prefix_mark = blocks[-1]
    if system:
        system[-1]["cache_control"] = dict(_EPHEMERAL)
    if prefix_mark is not None:
        prefix_mark["cache_control"] = dict(_EPHEMERAL)
        last = out[-1]["content"][-1] if out and out[-1]["content"] else None
        if last is not None and last is not prefix_mark:
            # A rolling breakpoint at the end of the conversation: the next turn reads all of this
            # turn from the cache and pays only for what it adds (4 breakpoints: the API's limit).
            last["cache_control"] = dict(_EPHEMERAL)
    return system, out


def _cost(model: str, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> float:
    """Dollar cost from litellm's bundled price table (never fetched); 0 when the model is unknown."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:  # pragma: no cover - litellm is a dependency
        return 0.0
    prices = litellm.model_cost.get(model) or litellm.model_cost.get(f"anthropic/{model}")
    if not prices:
        return 0.0
    base_in = prices.get("input_cost_per_token") or 0.0
    return round(
        input_tokens * base_in
        + output_tokens * (prices.get("output_cost_per_token") or 0.0)
        + cache_read * (prices.get("cache_read_input_token_cost") or base_in)
        + cache_write * (prices.get("cache_creation_input_token_cost") or base_in),
        8,
    )


def parse_message(message: Any, requested_model: str) -> ModelOutput:
    """An Anthropic Message (SDK object) → ModelOutput. tokens_in counts every input token,
    cached or not, like OpenAI's prompt_tokens; cached_tokens is the part read from the cache."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=_arguments(block.input)))
    usage = message.usage
    cache_read = getattr(usage, "cache_read_input_tokens", None) or 0
    cache_write = getattr(usage, "cache_creation_input_tokens", None) or 0
    plain_in = usage.input_tokens or 0
    out_tokens = usage.output_tokens or 0
    return ModelOutput(
        text="".join(texts) or None,
        tool_calls=calls,
        tokens_in=plain_in + cache_read + cache_write,
        tokens_out=out_tokens,
        cached_tokens=cache_read,
        cost_usd=_cost(requested_model, plain_in, out_tokens, cache_read, cache_write),
        model=f"anthropic/{message.model}",
        stop_reason=message.stop_reason,
    )


class AnthropicProvider:
    """Calls the Messages API. The SDK's own retries are off: `providers.generate` retries."""

    name = "anthropic"

    def __init__(self) -> None:
        self._clients: dict[tuple[str | None, str | None, float], Any] = {}
        self._lock = threading.Lock()

    def _client(self, timeout_s: float) -> Any:
        import anthropic

        from investigator.providers.recording import REPLAY_KEY, replaying

        api_key = os.environ.get("ANTHROPIC_API_KEY") or (REPLAY_KEY if replaying() else None)
        if not api_key:
            raise ProviderError("ANTHROPIC_API_KEY is not set; set it or run with --offline")
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
        key = (api_key, base_url, timeout_s)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = anthropic.Anthropic(
                    api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
                )
            return self._clients[key]

    def generate(self, messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> ModelOutput:
        import anthropic

        model = config.model.split("/", 1)[1]
        system, converted = convert_messages(messages, config.cache_prefix)
        # No temperature: the Messages API of current Claude models fixes sampling itself and the
        # SDK no longer takes the parameter.
        params: dict[str, Any] = {"model": model, "max_tokens": config.max_tokens, "messages": converted}
        if system:
            params["system"] = system
        if tools:
            params["tools"] = convert_tools(tools)
        client = self._client(config.timeout_s)
        try:
            message = client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            status = exc.status_code
            detail = f"anthropic {status}: {_error_message(exc)}"
            if status in _RETRYABLE_STATUS or status >= 500:
                retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
                raise TransientProviderError(detail, retry_after=retry_after, status=status) from exc
            raise ProviderError(detail) from exc
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
            raise TransientProviderError(f"anthropic: {type(exc).__name__}: {exc}") from exc
        return parse_message(message, model)


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{error.get('type', 'error')}: {error['message']}"
    return str(exc)
