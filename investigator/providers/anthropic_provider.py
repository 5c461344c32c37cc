"""Anthropic through its native SDK, with prompt caching and thinking.

The investigator speaks OpenAI chat format; this module converts a conversation to the Messages
API shape (system prompt apart, tool calls as `tool_use` blocks, tool results as `tool_result`
blocks in a user turn). What the API requires of that shape, and what this module does for it:

- An assistant turn is echoed exactly as it was received: its content blocks travel with the
  message (`echo["anthropic"]`), so thinking blocks and their signatures come back unchanged and
  first, as models that think (the Claude 5 family, by default) require. Whitespace-only text
  blocks ("\\n\\n" before a tool_use) are dropped: the API refuses them.
- Models that think get `config.thinking_tokens` more `max_tokens`: thinking counts against it.
- Cache marks (`cache_control: {"type": "ephemeral"}`, at most four) go on the tool definitions,
  the system prompt, the last block of the first `config.cache_prefix` messages (the stable
  prefix) and the newest block (a rolling breakpoint, so each turn reads the previous ones from
  the cache); never on a thinking block, and only where the prefix up to the mark reaches the
  model's minimum cacheable length (a shorter one is not cached, and would spend a breakpoint).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from typing import Any, get_type_hints

from investigator.providers.base import (
    Message,
    ModelConfig,
    ModelOutput,
    ProviderError,
    ToolCall,
    ToolSpec,
    TransientProviderError,
    classify_http_error,
)
from investigator.providers.pricing import model_info, price_of

_EPHEMERAL = {"type": "ephemeral"}
_THINKING_TYPES = frozenset({"thinking", "redacted_thinking"})
_MAX_BREAKPOINTS = 4
# Claude 5-family names, for models litellm's table does not list yet: they think by default.
_THINKS_BY_DEFAULT = re.compile(r"claude-(opus|sonnet|haiku|fable|mythos)-5")
_DEFAULT_MIN_CACHEABLE = 1024


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


def thinks_by_default(model: str) -> bool:
    """Whether `model` (with or without "anthropic/") thinks unless told not to."""
    name = model.split("/", 1)[-1]
    info = model_info(f"anthropic/{name}")
    if "thinking_on_by_default" in info:
        return bool(info["thinking_on_by_default"])
    return bool(_THINKS_BY_DEFAULT.search(name))


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix the model caches, from litellm's table (1024 when it does not say)."""
    name = model.split("/", 1)[-1]
    return int(model_info(f"anthropic/{name}").get("prompt_cache_min_tokens") or _DEFAULT_MIN_CACHEABLE)


def estimate_tokens(value: Any) -> int:
    """A rough token count of a JSON value (four characters a token), to place cache marks."""
    return len(json.dumps(value, ensure_ascii=False)) // 4


def _blank(text: Any) -> bool:
    return not isinstance(text, str) or not text.strip()


def convert_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """OpenAI function specs → Anthropic tool definitions (unmarked; `mark_cache` marks them)."""
    converted = []
    for spec in tools:
        fn = spec.get("function", spec)
        converted.append({
            "name": fn["name"],
            "description": fn.get("description", ""),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        })
    return converted


def echoed_blocks(message: Message) -> list[dict[str, Any]] | None:
    """The content blocks of an assistant turn as the API sent them, minus whitespace-only text."""
    blocks = (message.get("echo") or {}).get("anthropic")
    if not isinstance(blocks, list):
        return None
    return [copy.deepcopy(b) for b in blocks if not (b.get("type") == "text" and _blank(b.get("text")))]


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks = echoed_blocks(message)
    if blocks is not None:
        return blocks
    blocks = []
    text = _text_of(message.get("content"))
    if not _blank(text):
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        fn = call.get("function", {})
        blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": fn.get("name", ""),
                       "input": _arguments(fn.get("arguments"))})
    return blocks


def convert_messages(
    messages: list[Message], cache_prefix: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """OpenAI chat messages → (system blocks, Anthropic messages, index of the first message after
    the cacheable prefix in the converted list).

    Consecutive tool results and user turns merge into one user message, as the Messages API
    wants alternating roles with all results of a turn's tool calls in the next user message
    (tool results first). An assistant turn with nothing to say is left out: the API refuses
    empty content.
    """
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    prefix_end = 0

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            text = _text_of(message.get("content"))
            if not _blank(text):
                system.append({"type": "text", "text": text})
        elif role == "tool":
            text = _text_of(message.get("content"))
            push("user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                           "content": text if not _blank(text) else "(no output)"}])
        elif role == "assistant":
            blocks = _assistant_blocks(message)
            if blocks:
                push("assistant", blocks)
        else:
            text = _text_of(message.get("content"))
            push("user", [{"type": "text", "text": text if not _blank(text) else "(empty)"}])
        if index < cache_prefix:
            prefix_end = len(out)
    return system, out, prefix_end


def _markable(blocks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last block of `blocks` that may carry a cache mark (thinking blocks may not)."""
    return next((b for b in reversed(blocks) if b.get("type") not in _THINKING_TYPES), None)


def mark_cache(
    tools: list[dict[str, Any]], system: list[dict[str, Any]], messages: list[dict[str, Any]],
    prefix_end: int, min_tokens: int,
) -> int:
    """Put the cache marks (see the module docstring) and return how many were placed. The
    prefix a mark closes is everything before it in the API's order: tools, system, messages."""
    marks: list[tuple[dict[str, Any], int]] = []  # (block, tokens of the prefix up to it)
    running = 0
    if tools:
        running += estimate_tokens(tools)
        marks.append((tools[-1], running))
    if system:
        running += estimate_tokens(system)
        marks.append((system[-1], running))
    if prefix_end:
        running += estimate_tokens(messages[:prefix_end])
        block = _markable(messages[prefix_end - 1]["content"])
        if block is not None:
            marks.append((block, running))
    if messages and len(messages) > prefix_end:
        running += estimate_tokens(messages[prefix_end:])
        block = _markable(messages[-1]["content"])
        if block is not None:
            marks.append((block, running))
    placed = 0
    for block, tokens in marks[-_MAX_BREAKPOINTS:]:
        if tokens >= min_tokens and "cache_control" not in block:
            block["cache_control"] = dict(_EPHEMERAL)
            placed += 1
    return placed


def build_request(messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> dict[str, Any]:
    """The Messages API request body for one call (`messages.create` keyword arguments)."""
    model = config.model.split("/", 1)[1]
    system, converted, prefix_end = convert_messages(messages, config.cache_prefix)
    tool_defs = convert_tools(tools)
    mark_cache(tool_defs, system, converted, prefix_end if config.cache_prefix else 0, min_cacheable_tokens(model))
    max_tokens = config.max_tokens + (config.thinking_tokens if thinks_by_default(model) else 0)
    params: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": converted}
    if system:
        params["system"] = system
    if tool_defs:
        params["tools"] = tool_defs
    return params


_BLOCK_PARAMS: dict[str, frozenset[str]] = {}


def _param_keys(block_type: str) -> frozenset[str] | None:
    """The keys the request type of a content block takes, so a response block echoes as a valid
    request block (response-only fields such as `citations: null` or `caller` left out)."""
    if not _BLOCK_PARAMS:
        from anthropic.types import (
            RedactedThinkingBlockParam,
            TextBlockParam,
            ThinkingBlockParam,
            ToolUseBlockParam,
        )

        for name, param in (("text", TextBlockParam), ("tool_use", ToolUseBlockParam),
                            ("thinking", ThinkingBlockParam), ("redacted_thinking", RedactedThinkingBlockParam)):
            _BLOCK_PARAMS[name] = frozenset(get_type_hints(param))
    return _BLOCK_PARAMS.get(block_type)


def _as_param(block: Any) -> dict[str, Any]:
    data = block.model_dump(mode="json", exclude_none=True) if hasattr(block, "model_dump") else dict(block)
    keys = _param_keys(data.get("type", ""))
    return {k: v for k, v in data.items() if keys is None or k in keys}


def _cost(model: str, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> float | None:
    """Dollar cost from the configured price or litellm's bundled table; None when neither knows the model."""
    price = price_of(f"anthropic/{model}")
    return None if price is None else price.cost(input_tokens, output_tokens, cache_read, cache_write)


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
    cost = _cost(requested_model, plain_in, out_tokens, cache_read, cache_write)
    text = "".join(texts)
    stop = message.stop_reason
    return ModelOutput(
        text=text if text.strip() else None,
        tool_calls=calls,
        tokens_in=plain_in + cache_read + cache_write,
        tokens_out=out_tokens,
        cached_tokens=cache_read,
        cost_usd=cost or 0.0,
        priced=cost is not None,
        model=f"anthropic/{message.model}",
        stop_reason=stop,
        refusal=(text.strip() or "the model declined to continue") if stop == "refusal" else None,
        truncated=stop == "max_tokens",
        context_exceeded=stop == "model_context_window_exceeded",
        echo={"anthropic": [_as_param(b) for b in message.content]},
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

        if config.temperature is not None:
            # The SDK's MessageCreateParams has no sampling parameters, and Claude ≥ 4.7 refuses them.
            raise ProviderError(f"{config.model}: the Messages API takes no temperature here; run without it")
        params = build_request(messages, tools, config)
        client = self._client(config.timeout_s)
        try:
            message = client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            detail = f"anthropic {exc.status_code}: {_error_message(exc)}"
            raise classify_http_error(detail, exc.status_code, exc.response.headers) from exc
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
            raise TransientProviderError(f"anthropic: {type(exc).__name__}: {exc}") from exc
        return parse_message(message, params["model"])


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{error.get('type', 'error')}: {error['message']}"
    return str(exc)
