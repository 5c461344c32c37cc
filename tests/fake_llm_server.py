"""A local stand-in for the model providers' HTTP APIs, scripted per test, that holds requests to
the providers' documented rules.

It listens on 127.0.0.1 in a background thread and answers OpenAI chat completions (and Mistral's,
the same shape), Anthropic messages, Gemini generateContent, Bedrock Converse and Ollama chat, from
a queue of replies the test sets up: raw `Reply`s, or `Turn`s said in whatever wire format each
request came in. The reply builders produce bodies and headers shaped as the real services send
them: ids, usage blocks with cache fields, signed thinking blocks, thought signatures, error
envelopes, Retry-After.

Every request is kept (path, headers, JSON body) and checked: against the SDKs' request types
and the table of rules below (`RULES`, each citing its documentation). A request that breaks a
"reject" rule is answered 400 in the provider's error envelope, as the real service would; every
breach, "degrade" ones included, lands in `server.violations`, which tests assert empty.
"""

from __future__ import annotations

import base64
import collections.abc
import hashlib
import hmac
import json
import re
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import typing_extensions


@dataclass
class Reply:
    """One scripted HTTP answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# --- OpenAI chat-completions ------------------------------------------------------------------


def openai_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool call as OpenAI sends it: the arguments are a JSON *string*, possibly malformed."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai_completion(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    prompt_tokens: int = 1117,
    completion_tokens: int = 46,
    cached_tokens: int = 0,
    model: str = "gpt-4o-mini-2024-07-18",
    completion_id: str = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    created: int = 1741569952,
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }
    return Reply(200, body, {"x-request-id": "req_6f2ae3c5b1a84c0e9d7f3a1b2c4d5e6f", "openai-processing-ms": "412"})


def openai_rate_limited(retry_after: str = "2") -> Reply:
    body = {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini in organization org-XqVbq2c1R7mT on tokens per min "
            "(TPM): Limit 200000, Used 199862, Requested 1163. Please try again in 307ms. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    return Reply(
        429,
        body,
        {
            "retry-after": retry_after,
            "x-ratelimit-remaining-tokens": "0",
            "x-request-id": "req_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        },
    )


def openai_server_error() -> Reply:
    body = {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return Reply(500, body, {"x-request-id": "req_9f8e7d6c5b4a39281706f5e4d3c2b1a0"})


def openai_bad_request(message: str = "Invalid 'messages[1].content': string too long.") -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": None}}
    return Reply(400, body, {"x-request-id": "req_1b2c3d4e5f60718293a4b5c6d7e8f90a"})


# --- Anthropic messages -----------------------------------------------------------------------


def anthropic_message(
    *,
    text: str | None = None,
    tool_uses: list[dict[str, Any]] | None = None,
    content: list[dict[str, Any]] | None = None,
    input_tokens: int = 2095,
    output_tokens: int = 503,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    model: str = "claude-sonnet-4-6",
    message_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
) -> Reply:
    """A Messages API response; `tool_uses` are (id, name, input) dicts; `content` replaces both."""
    if content is None:
        content = []
        if text is not None:
            content.append({"type": "text", "text": text})
        for use in tool_uses or []:
            content.append({"type": "tool_use", "id": use["id"], "name": use["name"], "input": use["input"]})
    tool_uses = [b for b in content if b.get("type") == "tool_use"]
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if tool_uses else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        },
    }
    return Reply(
        200,
        body,
        {
            "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
            "anthropic-organization-id": "1b6a7c2e-5d4f-4e3a-9b8c-7d6e5f4a3b2c",
        },
    )


def anthropic_error(status: int, error_type: str, message: str, retry_after: str | None = None) -> Reply:
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fz",
    }
    headers = {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fz"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return Reply(status, body, headers)


def anthropic_rate_limited(retry_after: str = "3") -> Reply:
    return anthropic_error(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization (1b6a7c2e-5d4f-4e3a-9b8c-"
        "7d6e5f4a3b2c) of 30,000 input tokens per minute. For details, refer to: "
        "https://docs.claude.com/en/api/rate-limits.",
        retry_after,
    )


def anthropic_server_error() -> Reply:
    return anthropic_error(500, "api_error", "Internal server error")


def anthropic_overloaded() -> Reply:
    return anthropic_error(529, "overloaded_error", "Overloaded")


# --- The providers' rules -------------------------------------------------------------------
#
# What each provider refuses (kind "reject": the server answers 400 as the real service does) or
# what silently costs money or quality (kind "degrade": recorded in `server.violations`, which
# tests assert empty). Each rule cites the documentation it comes from, and carries a request
# that breaks it: tests/test_provider_rules.py checks that every rule catches its example, so a
# loosened rule fails there. Requests to /v1/messages and /v1/chat/completions are also checked
# against the SDKs' own request types (anthropic MessageCreateParams, openai CompletionCreateParams).

FAKE_THINKING_TOKENS = 4096  # what the fake "model" spends thinking per turn, out of max_tokens
SIGNING_KEY = b"fake-server-thinking-key"
REASONING_OPENAI = re.compile(r"^(o1|o3|o4|gpt-5)(?!.*-chat)")
MISTRAL_MODEL = re.compile(r"(mistral|magistral|devstral|codestral|ministral|pixtral)", re.IGNORECASE)
MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
# Claude models that refuse sampling parameters and prefill (litellm's table marks the same).
NO_SAMPLING_CLAUDE = re.compile(r"claude-(opus-4-[7-9]|(opus|sonnet|haiku|fable|mythos)-5)")
THINKS_BY_DEFAULT = re.compile(r"claude-(opus|sonnet|haiku|fable|mythos)-5")


def sign(thinking: str) -> str:
    """The signature the fake server gives a thinking text; a modified block no longer matches."""
    return base64.b64encode(hmac.new(SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()).decode()


def dialect(path: str, body: Any) -> str | None:
    """Which provider's wire format a request is in, from its path (and model, for Mistral)."""
    path = path.split("?", 1)[0]
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/chat/completions"):
        model = str((body or {}).get("model", "")) if isinstance(body, dict) else ""
        return "mistral" if MISTRAL_MODEL.search(model) else "openai"
    if ":generateContent" in path:
        return "gemini"
    if path.endswith("/converse"):
        return "bedrock"
    if path in ("/api/chat", "/api/generate"):
        return "ollama"
    return None


def model_of(path: str, body: dict[str, Any]) -> str:
    if isinstance(body, dict) and body.get("model"):
        return str(body["model"])
    match = re.search(r"/models?/([^/:]+)", path)
    return match[1] if match else ""


# A tiny checker of values against TypedDict request types: extra keys are refused, every
# element of an Iterable is checked (pydantic validates those lazily, and ignores extra keys).
def check_type(value: Any, tp: Any, where: str = "body") -> list[str]:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return []
    if isinstance(tp, typing.TypeAliasType if hasattr(typing, "TypeAliasType") else ()):
        return check_type(value, tp.__value__, where)
    if origin is typing.Annotated:
        return check_type(value, typing.get_args(tp)[0], where)
    if origin in (typing.Required, typing.NotRequired) if hasattr(typing, "Required") else False:
        return check_type(value, typing.get_args(tp)[0], where)
    if tp is type(None):
        return [] if value is None else [f"{where}: expected null"]
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        results = [check_type(value, option, where) for option in options]
        if any(not r for r in results):
            return []
        shaped = [(o, r) for o, r in zip(options, results, strict=True) if _same_shape(value, o)]
        tagged = [r for o, r in shaped if _tag_matches(value, o)]
        return min(tagged or [r for _, r in shaped] or results, key=len)
    if origin is typing.Literal:
        return [] if value in typing.get_args(tp) else [f"{where}: {value!r} is not one of {typing.get_args(tp)}"]
    if typing_extensions.is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        hints = typing_extensions.get_type_hints(tp, include_extras=True)
        # __required_keys__ is wrong under `from __future__ import annotations`: read Required[...] itself
        required = [k for k, h in hints.items() if typing.get_origin(h) is typing.Required
                    or (tp.__total__ and typing.get_origin(h) is not typing.NotRequired)]
        errors = [f"{where}.{k}: unexpected field" for k in value if k not in hints]
        errors += [f"{where}.{k}: required" for k in required if k not in value]
        for key, item in value.items():
            if key in hints:
                errors += check_type(item, hints[key], f"{where}.{key}")
        return errors
    if origin in (list, collections.abc.Iterable, collections.abc.Sequence) or (
        origin is not None and getattr(origin, "__name__", "") in ("SequenceNotStr",)
    ) or (isinstance(origin, type) and issubclass(origin, collections.abc.Iterable) and origin not in (dict, str)
          and not issubclass(origin, collections.abc.Mapping)):
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        (item_type,) = typing.get_args(tp)[:1] or (Any,)
        return [e for i, item in enumerate(value) for e in check_type(item, item_type, f"{where}.{i}")]
    if origin in (dict, collections.abc.Mapping) or tp in (dict, typing.Dict):  # noqa: UP006
        return [] if isinstance(value, dict) else [f"{where}: expected an object"]
    if tp is str:
        return [] if isinstance(value, str) else [f"{where}: expected a string"]
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    if tp is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where}: expected an integer"]
    if tp is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if number else [f"{where}: expected a number"]
    if isinstance(tp, type) and hasattr(tp, "model_fields"):
        return [f"{where}: a response type, not a request one"]  # SDK unions list both
    return []  # a type this checker does not know (files, binary content): not checked


def _same_shape(value: Any, option: Any) -> bool:
    """Whether a union member is of the value's kind (an object for a dict, an array for a list)."""
    if isinstance(value, dict):
        return typing_extensions.is_typeddict(option)
    if isinstance(value, list):
        origin = typing.get_origin(option)
        return isinstance(origin, type) and issubclass(origin, collections.abc.Iterable) and origin is not str
    return True


def _tag_matches(value: Any, option: Any) -> bool:
    """Whether a union member's `type`/`role` literal names the value's, to report its errors."""
    if not (isinstance(value, dict) and typing_extensions.is_typeddict(option)):
        return False
    hints = typing.get_type_hints(option)
    for key in ("type", "role"):
        if key in hints and key in value:
            literal = hints[key]
            while typing.get_origin(literal) in (typing.Required, typing.NotRequired):
                literal = typing.get_args(literal)[0]
            return typing.get_origin(literal) is typing.Literal and value[key] in typing.get_args(literal)
    return False


def sdk_request_errors(kind: str, body: Any) -> list[str]:
    """The errors of a request body against the SDK's request type ("anthropic" or "openai")."""
    if kind == "anthropic":
        from anthropic.types.message_create_params import MessageCreateParamsNonStreaming as Params
    else:
        from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming as Params
    return check_type(body, Params)


@dataclass(frozen=True)
class Rule:
    """One documented rule: `check(body, model)` lists what breaks it; `bad` is a body that does."""

    id: str
    dialect: str
    kind: str  # "reject" (400) or "degrade" (accepted, but costs money or quality)
    message: str  # the provider's own error text, where it has one
    check: Callable[[dict[str, Any], str], list[str]]
    bad: dict[str, Any]


def _anthropic_blocks(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every content block of a Messages request with where it is, tool_result contents included."""
    found: list[tuple[str, dict[str, Any]]] = []
    system = body.get("system")
    for i, block in enumerate(system if isinstance(system, list) else []):
        found.append((f"system.{i}", block))
    for m, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        for b, block in enumerate(content if isinstance(content, list) else []):
            found.append((f"messages.{m}.content.{b}", block))
            inner = block.get("content") if block.get("type") == "tool_result" else None
            for c, sub in enumerate(inner if isinstance(inner, list) else []):
                found.append((f"messages.{m}.content.{b}.content.{c}", sub))
    return found


def anthropic_thinks(body: dict[str, Any], model: str) -> bool:
    thinking = body.get("thinking") or {}
    if thinking.get("type") in ("enabled", "adaptive"):
        return True
    return bool(THINKS_BY_DEFAULT.search(model)) and thinking.get("type") != "disabled"


def _thinking_first(body: dict[str, Any], model: str) -> list[str]:
    messages = body.get("messages") or []
    if not anthropic_thinks(body, model) or not messages:
        return []
    last = messages[-1]
    content = last.get("content") if last.get("role") == "user" else None
    if not isinstance(content, list) or not any(b.get("type") == "tool_result" for b in content):
        return []
    index = max(i for i, m in enumerate(messages) if m.get("role") == "assistant") if any(
        m.get("role") == "assistant" for m in messages) else None
    if index is None:
        return []
    blocks = messages[index].get("content")
    first = blocks[0].get("type") if isinstance(blocks, list) and blocks else "text"
    if first in ("thinking", "redacted_thinking"):
        return []
    return [f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`."
            " When `thinking` is enabled, a final `assistant` message must start with a thinking block"
            " (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."]


def _thinking_unmodified(body: dict[str, Any], model: str) -> list[str]:
    return [f"{where}: Invalid `signature` in `thinking` block" for where, b in _anthropic_blocks(body)
            if b.get("type") == "thinking" and b.get("signature") != sign(str(b.get("thinking", "")))]


def _no_cache_on_thinking(body: dict[str, Any], model: str) -> list[str]:
    return [f"{where}.cache_control: thinking blocks cannot be marked for caching"
            for where, b in _anthropic_blocks(body)
            if b.get("type") in ("thinking", "redacted_thinking") and "cache_control" in b]


def _anthropic_marks(body: dict[str, Any]) -> list[tuple[str, int]]:
    """Each cache mark (where, estimated tokens of the prefix up to it), in the API's order."""
    parts: list[tuple[str, Any]] = [(f"tools.{i}", t) for i, t in enumerate(body.get("tools") or [])]
    parts += _anthropic_blocks(body)
    marks, running = [], 0
    for where, part in parts:
        running += len(json.dumps(part)) // 4
        if isinstance(part, dict) and "cache_control" in part:
            marks.append((where, running))
    return marks


def _max_breakpoints(body: dict[str, Any], model: str) -> list[str]:
    count = len(_anthropic_marks(body))
    return [f"A maximum of 4 blocks with cache_control may be provided. Found {count}."] if count > 4 else []


def _text_nonblank(body: dict[str, Any], model: str) -> list[str]:
    errors = []
    for where, block in _anthropic_blocks(body):
        if block.get("type") == "text" and not str(block.get("text", "")).strip():
            errors.append(f"{where}: text content blocks must contain non-whitespace text")
    for m, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        if content in ("", []) or (isinstance(content, str) and not content.strip()):
            errors.append(f"messages.{m}: all messages must have non-empty content except for the optional"
                          " final assistant message")
    return errors


def _tool_results_first(body: dict[str, Any], model: str) -> list[str]:
    errors = []
    for m, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message.get("content"), list) else []
        kinds = [b.get("type") for b in content]
        if message.get("role") == "user" and "tool_result" in kinds:
            last = len(kinds) - 1 - kinds[::-1].index("tool_result")
            if any(k != "tool_result" for k in kinds[:last]):
                errors.append(f"messages.{m}: tool_result blocks must come first in the user message's content,"
                              " before any text")
    return errors


def _tool_results_follow(body: dict[str, Any], model: str) -> list[str]:
    errors = []
    messages = body.get("messages") or []
    for m, message in enumerate(messages):
        content = message.get("content") if isinstance(message.get("content"), list) else []
        if message.get("role") != "assistant":
            continue
        uses = [b.get("id") for b in content if b.get("type") == "tool_use"]
        if not uses:
            continue
        following = messages[m + 1] if m + 1 < len(messages) else None
        answered = {b.get("tool_use_id") for b in (following or {}).get("content") or []
                    if isinstance(b, dict) and b.get("type") == "tool_result"}
        missing = [u for u in uses if u not in answered]
        if missing:
            errors.append(f"messages.{m + 1}: `tool_use` ids were found without `tool_result` blocks immediately"
                          f" after: {', '.join(map(str, missing))}")
    return errors


def _thinking_budget(body: dict[str, Any], model: str) -> list[str]:
    thinking = body.get("thinking") or {}
    if thinking.get("type") != "enabled":
        return []
    budget, limit = thinking.get("budget_tokens") or 0, body.get("max_tokens") or 0
    if budget < 1024:
        return ["thinking.budget_tokens: Input should be greater than or equal to 1024"]
    return [] if budget < limit else ["`max_tokens` must be greater than `thinking.budget_tokens`"]


def _no_sampling(body: dict[str, Any], model: str) -> list[str]:
    if not NO_SAMPLING_CLAUDE.search(model):
        return []
    return [f"{name}: is not supported for this model" for name in ("temperature", "top_p", "top_k") if name in body]


def _no_prefill(body: dict[str, Any], model: str) -> list[str]:
    messages = body.get("messages") or []
    if NO_SAMPLING_CLAUDE.search(model) and messages and messages[-1].get("role") == "assistant":
        return ["This model does not support assistant message prefill. The conversation must end with a user"
                " message."]
    return []


def _thinking_room(body: dict[str, Any], model: str) -> list[str]:
    if anthropic_thinks(body, model) and (body.get("max_tokens") or 0) < FAKE_THINKING_TOKENS + 1024:
        return [f"max_tokens {body.get('max_tokens')} leaves no room to answer after {FAKE_THINKING_TOKENS}"
                " tokens of thinking"]
    return []


def anthropic_min_cacheable(model: str) -> int:
    from investigator.providers.anthropic_provider import min_cacheable_tokens

    return min_cacheable_tokens(model)


def _cache_min_length(body: dict[str, Any], model: str) -> list[str]:
    minimum = anthropic_min_cacheable(model)
    return [f"{where}: a cache mark on a prefix of ~{tokens} tokens, under this model's {minimum}, is not cached"
            for where, tokens in _anthropic_marks(body) if tokens < minimum]


def _chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body.get("messages") or [] if isinstance(m, dict)]


def _reasoning_params(body: dict[str, Any], model: str) -> list[str]:
    if not REASONING_OPENAI.search(model):
        return []
    errors = []
    if "temperature" in body and body["temperature"] != 1:
        errors.append(f"Unsupported value: 'temperature' does not support {body['temperature']} with this model."
                      " Only the default (1) value is supported.")
    if "top_p" in body and body["top_p"] != 1:
        errors.append("Unsupported value: 'top_p' does not support this value with this model.")
    if "max_tokens" in body:
        errors.append("Unsupported parameter: 'max_tokens' is not supported with this model."
                      " Use 'max_completion_tokens' instead.")
    return errors


def _tool_messages_follow_calls(body: dict[str, Any], model: str) -> list[str]:
    errors, open_calls = [], set()
    for m, message in enumerate(_chat_messages(body)):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                errors.append(f"Invalid parameter: messages.[{m}] with role 'tool' must be a response to a preceeding"
                              " message with 'tool_calls'.")
            open_calls.discard(message.get("tool_call_id"))
            continue
        if open_calls:
            errors.append("An assistant message with 'tool_calls' must be followed by tool messages responding to"
                          f" each 'tool_call_id'. The following tool_call_ids did not have response messages:"
                          f" {', '.join(sorted(open_calls))}")
            open_calls = set()
        if role == "assistant":
            open_calls = {c.get("id") for c in message.get("tool_calls") or []}
    return errors


def _no_user_after_tool(body: dict[str, Any], model: str) -> list[str]:
    messages = _chat_messages(body)
    return [f"Unexpected role 'user' after role 'tool' (messages.{i})" for i in range(1, len(messages))
            if messages[i].get("role") == "user" and messages[i - 1].get("role") == "tool"]


def _mistral_tool_call_ids(body: dict[str, Any], model: str) -> list[str]:
    ids = [c.get("id") for m in _chat_messages(body) for c in m.get("tool_calls") or []]
    ids += [m.get("tool_call_id") for m in _chat_messages(body) if m.get("role") == "tool"]
    return [f"Tool call id was {i} but must be a-z, A-Z, 0-9, with a length of 9." for i in ids
            if not MISTRAL_ID.match(str(i))]


def _gemini_parts(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"contents[{c}].parts[{p}]", part) for c, content in enumerate(body.get("contents") or [])
            for p, part in enumerate(content.get("parts") or [])]


def _gemini_no_empty_text(body: dict[str, Any], model: str) -> list[str]:
    errors = [f"{where}: Unable to submit request because it has an empty text parameter."
              for where, part in _gemini_parts(body) if "text" in part and part["text"] == ""]
    errors += [f"contents[{c}].parts: contents.parts must not be empty."
               for c, content in enumerate(body.get("contents") or []) if not content.get("parts")]
    return errors


def _gemini_signature_kept(body: dict[str, Any], model: str) -> list[str]:
    """Function calls of model turns carry the signature the server issued for them."""
    errors = []
    for where, part in _gemini_parts(body):
        call = part.get("function_call") or part.get("functionCall")
        if call is None:
            continue
        signature = part.get("thoughtSignature") or part.get("thought_signature")
        if signature != sign(json.dumps([call.get("name"), call.get("args")], sort_keys=True)):
            errors.append(f"{where}: function call without the thought signature it was returned with")
    return errors


def _bedrock_blocks(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"system.{i}", b) for i, b in enumerate(body.get("system") or [])]
    for m, message in enumerate(body.get("messages") or []):
        found += [(f"messages.{m}.content.{b}", block) for b, block in enumerate(message.get("content") or [])]
    return found


def _bedrock_text_nonblank(body: dict[str, Any], model: str) -> list[str]:
    return [f"The text field in the ContentBlock object at {where} is blank. Add text to the text field,"
            " and try again." for where, block in _bedrock_blocks(body)
            if "text" in block and not str(block["text"]).strip()]


def _bedrock_cache_points(body: dict[str, Any]) -> int:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    return sum("cachePoint" in b for _, b in _bedrock_blocks(body)) + sum("cachePoint" in t for t in tools)


def _bedrock_max_cache_points(body: dict[str, Any], model: str) -> list[str]:
    count = _bedrock_cache_points(body)
    return [f"The number of cache points ({count}) exceeds the maximum of 4"] if count > 4 else []


def _bedrock_claude_cached(body: dict[str, Any], model: str) -> list[str]:
    if "claude" not in model or len(json.dumps(body)) // 4 < 4096 or _bedrock_cache_points(body):
        return []
    return ["a long Claude conversation on Bedrock without a cachePoint pays full price for its prefix every turn"]


def _ollama_chat_endpoint(body: dict[str, Any], model: str) -> list[str]:
    return ["/api/generate flattens the conversation and the tools into one prompt; use /api/chat"] if (
        "prompt" in body) else []


_TOOL_TURN = [{"role": "user", "content": "q"},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}]
_CHAT_TOOL_TURN = [{"role": "user", "content": "q"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "abcDEF123", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "abcDEF123", "content": "r"}]


def _with_last_assistant(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_TOOL_TURN[0], {"role": "assistant", "content": blocks}, _TOOL_TURN[2]]


RULES: list[Rule] = [
    # https://platform.claude.com/docs/en/build-with-claude/extended-thinking#preserving-thinking-blocks
    Rule("anthropic.thinking_first", "anthropic", "reject", "Expected `thinking` or `redacted_thinking`",
         _thinking_first, {"model": "claude-sonnet-5", "max_tokens": 16000, "messages": _TOOL_TURN}),
    # https://platform.claude.com/docs/en/build-with-claude/thinking-tool-workflows ("echo the assistant
    # message exactly as received"); ThinkingBlockParam: "a modified block results in a 400"
    Rule("anthropic.thinking_unmodified", "anthropic", "reject", "Invalid `signature` in `thinking` block",
         _thinking_unmodified, {"model": "claude-sonnet-5", "max_tokens": 16000, "messages": _with_last_assistant(
             [{"type": "thinking", "thinking": "edited", "signature": sign("original")},
              {"type": "tool_use", "id": "t1", "name": "f", "input": {}}])}),
    # https://platform.claude.com/docs/en/build-with-claude/prompt-caching#caching-with-thinking-blocks
    Rule("anthropic.no_cache_on_thinking", "anthropic", "reject", "thinking blocks cannot be marked for caching",
         _no_cache_on_thinking, {"model": "claude-sonnet-5", "max_tokens": 16000, "messages": _with_last_assistant(
             [{"type": "thinking", "thinking": "t", "signature": sign("t"), "cache_control": {"type": "ephemeral"}},
              {"type": "tool_use", "id": "t1", "name": "f", "input": {}}])}),
    # https://platform.claude.com/docs/en/build-with-claude/prompt-caching#structuring-your-prompt ("up to 4")
    Rule("anthropic.max_breakpoints", "anthropic", "reject", "A maximum of 4 blocks with cache_control",
         _max_breakpoints, {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [
             {"role": "user", "content": [{"type": "text", "text": "x" * 9000, "cache_control": {"type": "ephemeral"}}
                                          for _ in range(5)]}]}),
    # https://platform.claude.com/docs/en/api/messages (content blocks); the API answers "text content
    # blocks must contain non-whitespace text" (and empty messages "must have non-empty content")
    Rule("anthropic.text_nonblank", "anthropic", "reject", "text content blocks must contain non-whitespace text",
         _text_nonblank, {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": _with_last_assistant(
             [{"type": "text", "text": "\n\n"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {}}])}),
    # https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use#handling-results-from-client-tools
    Rule("anthropic.tool_results_follow", "anthropic", "reject", "`tool_use` ids were found without `tool_result`",
         _tool_results_follow, {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": _TOOL_TURN[:2] + [
             {"role": "user", "content": [{"type": "text", "text": "Budget left: 1 turns."}]}]}),
    # (same page: "tool_result blocks must come FIRST in the content array; any text must come AFTER")
    Rule("anthropic.tool_results_first", "anthropic", "reject", "tool_result blocks must come first",
         _tool_results_first, {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": _TOOL_TURN[:2] + [
             {"role": "user", "content": [{"type": "text", "text": "warning"},
                                          {"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}]}),
    # https://platform.claude.com/docs/en/build-with-claude/extended-thinking#how-to-use-extended-thinking
    # (budget_tokens ≥ 1024 and below max_tokens)
    Rule("anthropic.thinking_budget", "anthropic", "reject", "`max_tokens` must be greater than",
         _thinking_budget, {"model": "claude-sonnet-4-6", "max_tokens": 4096, "messages": _TOOL_TURN[:1],
                            "thinking": {"type": "enabled", "budget_tokens": 8000}}),
    # https://platform.claude.com/docs/en/about-claude/models/whats-new-claude-4-7 (sampling parameters
    # removed; litellm raises UnsupportedParamsError for the same models before any request)
    Rule("anthropic.no_sampling", "anthropic", "reject", "temperature: is not supported for this model",
         _no_sampling, {"model": "claude-opus-4-7", "max_tokens": 10, "messages": _TOOL_TURN[:1], "temperature": 0}),
    # https://platform.claude.com/docs/en/api/errors#prefill-not-supported
    Rule("anthropic.no_prefill", "anthropic", "reject", "does not support assistant message prefill",
         _no_prefill, {"model": "claude-sonnet-5", "max_tokens": 16000, "messages": _TOOL_TURN[:1] + [
             {"role": "assistant", "content": "The answer is"}]}),
    # https://platform.claude.com/docs/en/build-with-claude/extended-thinking#max-tokens-and-context-window-size
    # (thinking counts against max_tokens)
    Rule("anthropic.thinking_room", "anthropic", "degrade", "leaves no room to answer", _thinking_room,
         {"model": "claude-sonnet-5", "max_tokens": 4096, "messages": _TOOL_TURN[:1]}),
    # https://platform.claude.com/docs/en/build-with-claude/prompt-caching#cache-limitations (minimum length)
    Rule("anthropic.cache_min_length", "anthropic", "degrade", "is not cached", _cache_min_length,
         {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": [
             {"type": "text", "text": "short", "cache_control": {"type": "ephemeral"}}]}]}),
    # https://platform.openai.com/docs/guides/reasoning#limitations; the chat API reference marks
    # max_tokens "not compatible with o-series models" (https://platform.openai.com/docs/api-reference/chat/create)
    Rule("openai.reasoning_params", "openai", "reject", "Unsupported value: 'temperature'", _reasoning_params,
         {"model": "gpt-5", "messages": [{"role": "user", "content": "q"}], "temperature": 0.0}),
    # https://platform.openai.com/docs/guides/function-calling#handling-function-calls
    Rule("openai.tool_messages_follow_calls", "openai", "reject", "must be a response to a preceeding message",
         _tool_messages_follow_calls, {"model": "gpt-4o-mini", "messages": [
             {"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "x", "content": "r"}]}),
    # https://docs.mistral.ai/capabilities/function_calling (the tool result goes back to the model before
    # the next user turn); the API answers "Unexpected role 'user' after role 'tool'" (code 3230)
    Rule("mistral.no_user_after_tool", "mistral", "reject", "Unexpected role 'user' after role 'tool'",
         _no_user_after_tool, {"model": "mistral-large-latest", "messages": _CHAT_TOOL_TURN + [
             {"role": "user", "content": "Budget left: 1 turns."}]}),
    # https://docs.mistral.ai/capabilities/function_calling (tool call ids are the 9-character ones it returns)
    Rule("mistral.tool_call_ids", "mistral", "reject", "must be a-z, A-Z, 0-9, with a length of 9",
         _mistral_tool_call_ids, {"model": "mistral-large-latest", "messages": [
             {"role": "user", "content": "q"},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "call_0", "content": "r"}]}),
    # https://ai.google.dev/api/caching#Part (a Part holds data); the API answers "Unable to submit request
    # because it has an empty text parameter" / "contents.parts must not be empty"
    Rule("gemini.no_empty_text", "gemini", "reject", "empty text parameter", _gemini_no_empty_text,
         {"contents": [{"role": "user", "parts": [{"text": "q"}]},
                       {"role": "model", "parts": [{"text": ""}, {"function_call": {"name": "f", "args": {}}}]}]}),
    # https://ai.google.dev/gemini-api/docs/thought-signatures (return them exactly as received; Gemini 3
    # answers 400 without them, and a placeholder skips the validation but loses the reasoning)
    Rule("gemini.thought_signatures", "gemini", "degrade", "without the thought signature", _gemini_signature_kept,
         {"contents": [{"role": "user", "parts": [{"text": "q"}]},
                       {"role": "model", "parts": [{"function_call": {"name": "f", "args": {}},
                                                    "thoughtSignature": base64.b64encode(b"placeholder").decode()}]}]}),
    # https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html
    Rule("bedrock.text_nonblank", "bedrock", "reject", "is blank", _bedrock_text_nonblank,
         {"messages": [{"role": "user", "content": [{"text": "q"}]},
                       {"role": "assistant", "content": [{"text": "\n\n"}, {"toolUse": {
                           "toolUseId": "t1", "name": "f", "input": {}}}]}]}),
    # https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html (up to 4 cache checkpoints)
    Rule("bedrock.max_cache_points", "bedrock", "reject", "exceeds the maximum of 4", _bedrock_max_cache_points,
         {"messages": [{"role": "user", "content": [{"text": "q"}] + [{"cachePoint": {"type": "default"}}] * 5}]}),
    # https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html (Claude models cache on Bedrock)
    Rule("bedrock.claude_cached", "bedrock", "degrade", "without a cachePoint", _bedrock_claude_cached,
         {"messages": [{"role": "user", "content": [{"text": "x" * 20000}]}]}),
    # https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion (tools are a chat feature)
    Rule("ollama.chat_endpoint", "ollama", "degrade", "use /api/chat", _ollama_chat_endpoint,
         {"model": "qwen3", "prompt": "### System:\nsys\n\n### User:\nhi", "stream": False}),
]
RULES_BY_ID = {rule.id: rule for rule in RULES}
_BAD_MODELS = {"gemini": "gemini-3-flash-preview", "bedrock": "us.anthropic.claude-sonnet-4-6"}


def example_model(rule: Rule) -> str:
    return str(rule.bad.get("model") or _BAD_MODELS.get(rule.dialect, ""))


@dataclass
class Violation:
    rule: str
    kind: str
    path: str
    message: str


def violations(path: str, body: Any) -> list[Violation]:
    """Everything a request breaks: the SDK request types and the rules of its provider."""
    kind = dialect(path, body)
    if kind is None or not isinstance(body, dict):
        return []
    model = model_of(path, body)
    found: list[Violation] = []
    if kind in ("anthropic", "openai"):
        found += [Violation(f"{kind}.sdk_types", "reject", path, e) for e in sdk_request_errors(kind, body)]
    for rule in RULES:
        if rule.dialect == kind:
            found += [Violation(rule.id, rule.kind, path, m) for m in rule.check(body, model)]
    return found


def rejection(kind: str, messages: list[str]) -> Reply:
    """A 400 in the provider's own error envelope."""
    text = "; ".join(messages)
    if kind == "anthropic":
        return Reply(400, {"type": "error", "error": {"type": "invalid_request_error", "message": text},
                           "request_id": "req_011CSHoEeqs5C35K2UUqR400"})
    if kind == "gemini":
        return Reply(400, {"error": {"code": 400, "message": text, "status": "INVALID_ARGUMENT"}})
    if kind == "bedrock":
        return Reply(400, {"message": text}, {"x-amzn-errortype": "ValidationException"})
    if kind == "ollama":
        return Reply(400, {"error": text})
    if kind == "mistral":
        return Reply(400, {"object": "error", "message": text, "type": "invalid_request_message_order",
                           "param": None, "code": "3230"})
    return Reply(400, {"error": {"message": text, "type": "invalid_request_error", "param": None, "code": None}})

# --- Model turns in every wire format ---------------------------------------------------------


@dataclass
class Turn:
    """One reply of the fake model, said in whichever wire format the request came in: text,
    tool calls (name, arguments), and thinking (sent as a signed thinking block, a Bedrock
    reasoning block or an Ollama `thinking` field; Gemini signs its function calls).
    `stop` overrides the stop reason ("refusal", "max_tokens", …)."""

    text: str | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    thinking: str | None = None
    stop: str | None = None
    refusal: str | None = None
    input_tokens: int = 1200
    output_tokens: int = 60


def _call_id(kind: str, index: int, seed: str) -> str:
    digest = hashlib.sha1(f"{seed}:{index}".encode()).hexdigest()
    if kind == "mistral":
        return "".join(c for c in digest if c.isalnum())[:9]
    if kind in ("anthropic", "bedrock"):
        return f"toolu_{digest[:24]}"
    return f"call_{digest[:24]}"


def render(turn: Turn, kind: str, model: str, seed: str) -> Reply:
    """`turn` as the provider of `kind` would send it."""
    calls = [(name, args, _call_id(kind, i, seed)) for i, (name, args) in enumerate(turn.calls)]
    if kind == "anthropic":
        content: list[dict[str, Any]] = []
        if turn.thinking is not None:
            content.append({"type": "thinking", "thinking": turn.thinking, "signature": sign(turn.thinking)})
        if turn.text is not None:
            content.append({"type": "text", "text": turn.text})
        content += [{"type": "tool_use", "id": cid, "name": name, "input": args} for name, args, cid in calls]
        reply = anthropic_message(content=content, model=model, input_tokens=turn.input_tokens,
                                  output_tokens=turn.output_tokens, message_id=f"msg_{seed[:24]}")
        reply.body["stop_reason"] = turn.stop or ("tool_use" if calls else "end_turn")
        return reply
    if kind in ("openai", "mistral"):
        reply = openai_completion(
            content=turn.text, tool_calls=[openai_tool_call(cid, name, json.dumps(args)) for name, args, cid in calls]
            or None, model=model, prompt_tokens=turn.input_tokens, completion_tokens=turn.output_tokens,
            completion_id=f"chatcmpl-{seed[:29]}")
        choice = reply.body["choices"][0]
        if turn.refusal is not None:
            choice["message"]["refusal"] = turn.refusal
        if turn.stop:
            choice["finish_reason"] = {"max_tokens": "length", "refusal": "stop"}.get(turn.stop, turn.stop)
        return reply
    if kind == "gemini":
        parts: list[dict[str, Any]] = []
        if turn.thinking is not None:
            parts.append({"text": turn.thinking, "thought": True})
        if turn.text is not None:
            parts.append({"text": turn.text})
        parts += [{"functionCall": {"name": name, "args": args},
                   "thoughtSignature": sign(json.dumps([name, args], sort_keys=True))} for name, args, _ in calls]
        return Reply(200, {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": turn.stop or "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": turn.input_tokens, "candidatesTokenCount": turn.output_tokens,
                              "totalTokenCount": turn.input_tokens + turn.output_tokens},
            "modelVersion": model, "responseId": seed[:20],
        })
    if kind == "bedrock":
        blocks: list[dict[str, Any]] = []
        if turn.thinking is not None:
            blocks.append({"reasoningContent": {"reasoningText": {"text": turn.thinking,
                                                                  "signature": sign(turn.thinking)}}})
        if turn.text is not None:
            blocks.append({"text": turn.text})
        blocks += [{"toolUse": {"toolUseId": cid, "name": name, "input": args}} for name, args, cid in calls]
        return Reply(200, {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": turn.stop or ("tool_use" if calls else "end_turn"),
            "usage": {"inputTokens": turn.input_tokens, "outputTokens": turn.output_tokens,
                      "totalTokens": turn.input_tokens + turn.output_tokens},
            "metrics": {"latencyMs": 412},
        })
    if kind == "ollama":
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or ""}
        if turn.thinking is not None:
            message["thinking"] = turn.thinking
        if calls:
            message["tool_calls"] = [{"function": {"name": name, "arguments": args}} for name, args, _ in calls]
        return Reply(200, {"model": model, "created_at": "2025-03-10T09:12:31.538Z", "message": message,
                           "done": True, "done_reason": turn.stop or "stop", "total_duration": 912000000,
                           "prompt_eval_count": turn.input_tokens, "eval_count": turn.output_tokens})
    raise ValueError(f"no wire format {kind!r}")

# --- The server -------------------------------------------------------------------------------


class FakeLLMServer:
    """Serves scripted replies in order; when the script runs out it asks the responder, if any, and
    otherwise answers 500 with a note, so a test that makes an unexpected call fails visibly.
    With `enforce` (the default) a request that breaks a provider's rule is answered 400 and
    every breach is kept in `violations`."""

    def __init__(self, port: int = 0, responder: Callable[[Received], Reply] | None = None,
                 enforce: bool = True) -> None:
        self.responder = responder  # answers whatever the script does not
        self.enforce = enforce
        self.replies: list[Reply | Turn] = []
        self.received: list[Received] = []
        self.violations: list[Violation] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply | Turn) -> FakeLLMServer:
        with self._lock:
            self.replies.extend(replies)
        return self

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, received: Received) -> Reply:
        if received.path == "/api/show":  # Ollama's model card, which litellm reads before a chat
            with self._lock:
                self.received.append(received)
            return Reply(200, {"capabilities": ["completion", "tools", "thinking"], "details": {"family": "qwen3"},
                               "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960}})
        kind = dialect(received.path, received.body)
        found = violations(received.path, received.body) if self.enforce else []
        with self._lock:
            self.received.append(received)
            self.violations.extend(found)
            rejected = [v.message for v in found if v.kind == "reject"]
            if rejected:
                return rejection(kind or "openai", rejected)
            if self.replies:
                reply = self.replies.pop(0)
                if isinstance(reply, Turn):
                    seed = hashlib.sha1(json.dumps(received.body, sort_keys=True).encode()).hexdigest()
                    reply = render(reply, kind or "openai", model_of(received.path, received.body), seed)
                return reply
        if self.responder is not None:
            return self.responder(received)
        return Reply(
            500,
            {
                "error": {
                    "message": f"fake server: no scripted reply for {received.path}",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server._next(Received("POST", self.path, headers, body))
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
