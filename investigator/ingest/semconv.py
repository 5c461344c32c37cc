"""OpenInference and OpenTelemetry GenAI attribute conventions → normalised span fields.

Both conventions are written as flat dotted keys (`llm.input_messages.0.message.role`,
`gen_ai.usage.input_tokens`). `map_attributes` reads whichever is present — current and deprecated
GenAI names, OpenLLMetry's flattened prompts, Traceloop entity keys — and returns the fields they
imply plus the attributes that were not folded into a field.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from investigator.ingest.base import as_float, as_int, as_text, kind_from, maybe_json

_FOLDED_PREFIXES = (
    "llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.",
)  # fmt: skip
_FOLDED_KEYS = frozenset({
    "input.value", "output.value", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.prompt", "gen_ai.completion",
    "traceloop.entity.input", "traceloop.entity.output",
})  # fmt: skip
_MESSAGE_KEY = re.compile(r"^(llm\.(?:input|output)_messages|gen_ai\.(?:prompt|completion))\.(\d+)\.(.+)$")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Rebuild a message list from flattened `prefix.N.…` keys (OpenInference or OpenLLMetry)."""
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _MESSAGE_KEY.match(key)
        if not match or match.group(1) != prefix:
            continue
        by_index.setdefault(int(match.group(2)), {})[match.group(3)] = value
    messages = []
    for index in sorted(by_index):
        fields = {k.removeprefix("message."): v for k, v in by_index[index].items()}
        messages.append(_message_from_fields(fields))
    return messages


def _message_from_fields(fields: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": fields.get("role") or "user"}
    content = fields.get("content")
    if content is None:
        parts = [
            v for k, v in sorted(fields.items(), key=lambda kv: kv[0])
            if k.startswith("contents.") and k.endswith("message_content.text")
        ]  # fmt: skip
        content = "\n".join(str(p) for p in parts) if parts else None
    if content is not None:
        message["content"] = content if isinstance(content, str) else _dumps(content)
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        match = re.match(r"^tool_calls\.(\d+)\.(?:tool_call\.)?(.+)$", key)
        if not match:
            continue
        call = calls.setdefault(int(match.group(1)), {})
        name = match.group(2)
        if name in ("function.name", "name"):
            call["name"] = value
        elif name in ("function.arguments", "arguments"):
            call["arguments"] = value if isinstance(value, str) else _dumps(value)
        elif name == "id":
            call["id"] = value
    if calls:
        message["tool_calls"] = [_tool_call(calls[i]) for i in sorted(calls)]
    for source, target in (("tool_call_id", "tool_call_id"), ("name", "name")):
        if fields.get(source):
            message[target] = fields[source]
    return message


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    out = {k: call[k] for k in ("id", "name", "arguments") if call.get(k) is not None}
    out.setdefault("arguments", "")
    return out


def genai_messages(value: Any) -> list[dict[str, Any]] | None:
    """GenAI `gen_ai.input.messages` / `gen_ai.output.messages` (messages with typed `parts`), or a
    plain chat-message list, as canonical messages."""
    value = maybe_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        return None
    messages = []
    for item in value:
        if "message" in item and isinstance(item["message"], dict):  # a choice
            item = item["message"]
        message: dict[str, Any] = {"role": item.get("role") or "assistant"}
        texts, calls = [], []
        for part in item.get("parts") or []:
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("content", "")))
            elif kind == "tool_call":
                calls.append(_tool_call({"id": part.get("id"), "name": part.get("name"),
                                         "arguments": as_text(part.get("arguments"))}))  # fmt: skip
            elif kind == "tool_call_response":
                message["tool_call_id"] = part.get("id")
                texts.append(as_text(part.get("response")) or "")
        content = item.get("content")
        if content is not None and not texts:
            texts.append(content if isinstance(content, str) else _dumps(content))
        if texts:
            message["content"] = "\n".join(texts)
        for call in item.get("tool_calls") or []:
            function = call.get("function") or call
            calls.append(_tool_call({"id": call.get("id"), "name": function.get("name"),
                                     "arguments": as_text(function.get("arguments"))}))  # fmt: skip
        if calls:
            message["tool_calls"] = calls
        for key in ("tool_call_id", "name"):
            if item.get(key) and key not in message:
                message[key] = item[key]
        messages.append(message)
    return messages


def _kind(attrs: dict[str, Any], has_model: bool, has_messages: bool, tool_name: Any) -> str:
    word = _first(attrs, "openinference.span.kind", "gen_ai.operation.name", "traceloop.span.kind")
    kind = kind_from(word)
    if kind != "unknown":
        return kind
    if has_model and has_messages:
        return "llm"
    if tool_name:
        return "tool"
    return "unknown"


def map_attributes(attrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (normalised span fields, attributes not folded into a field)."""
    model = _first(attrs, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model")
    tool_name = _first(attrs, "tool.name", "gen_ai.tool.name", "tool_call.function.name")
    input_messages = (
        _indexed_messages(attrs, "llm.input_messages")
        or _indexed_messages(attrs, "gen_ai.prompt")
        or genai_messages(attrs.get("gen_ai.input.messages"))
        or genai_messages(attrs.get("gen_ai.prompt"))
    )
    system = genai_messages(attrs.get("gen_ai.system_instructions"))
    if input_messages and system is None and isinstance(attrs.get("gen_ai.system_instructions"), str):
        input_messages = [{"role": "system", "content": attrs["gen_ai.system_instructions"]}, *input_messages]
    output_messages = (
        _indexed_messages(attrs, "llm.output_messages")
        or _indexed_messages(attrs, "gen_ai.completion")
        or genai_messages(attrs.get("gen_ai.output.messages"))
        or genai_messages(attrs.get("gen_ai.completion"))
    )
    kind = _kind(attrs, bool(model), bool(input_messages or output_messages), tool_name)

    fields: dict[str, Any] = {"kind": kind, "model": model}
    plain_in = _first(attrs, "input.value", "traceloop.entity.input", "gen_ai.tool.call.arguments")
    plain_out = _first(attrs, "output.value", "traceloop.entity.output", "gen_ai.tool.call.result")
    fields["input"] = _dumps(input_messages) if input_messages else as_text(plain_in)
    fields["output"] = _dumps(output_messages) if output_messages else as_text(plain_out)
    if kind == "tool" or tool_name:
        fields["tool_name"] = tool_name or attrs.get("traceloop.entity.name")
        args = _first(attrs, "tool_call.function.arguments", "gen_ai.tool.call.arguments", "tool.parameters")
        if args is None and kind == "tool":
            args = plain_in
        fields["tool_args"] = as_text(args)
    fields["tokens_in"] = as_int(
        _first(attrs, "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    )
    fields["tokens_out"] = as_int(
        _first(attrs, "llm.token_count.completion", "gen_ai.usage.output_tokens",
               "gen_ai.usage.completion_tokens")
    )  # fmt: skip
    fields["cost"] = as_float(_first(attrs, "llm.cost.total", "gen_ai.usage.cost"))
    fields["agent"] = _first(attrs, "agent.name", "gen_ai.agent.name")
    if kind == "agent" and not fields["agent"]:
        fields["agent"] = None
    fields["session_id"] = as_text(_first(attrs, "session.id", "gen_ai.conversation.id"))
    fields["user_id"] = as_text(_first(attrs, "user.id", "enduser.id"))
    fields["hints"] = _hints(attrs)
    rest = {
        k: v for k, v in attrs.items()
        if k not in _FOLDED_KEYS and not k.startswith(_FOLDED_PREFIXES)
    }  # fmt: skip
    return fields, rest


def _hints(attrs: dict[str, Any]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    agent_version = _first(attrs, "agent.version", "app.version", "service.version.agent", "deployment.version")
    if agent_version is not None:
        hints["agent_version"] = str(agent_version)
    prompt_version = _first(attrs, "prompt.version", "llm.prompt_template.version", "gen_ai.prompt.version")
    if prompt_version is not None:
        hints["prompt_version"] = str(prompt_version)
    environment = _first(attrs, "deployment.environment.name", "deployment.environment")
    if environment is not None:
        hints["environment"] = str(environment)
    if attrs.get("service.version") is not None:
        hints["service_version"] = str(attrs["service.version"])
    tags = maybe_json(attrs.get("tag.tags"))
    if tags:
        hints["tags"] = [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]
    metadata = maybe_json(attrs.get("metadata"))
    if isinstance(metadata, dict) and metadata:
        hints["metadata"] = metadata
        for key in ("agent_version", "prompt_version"):
            if key in metadata and key not in hints:
                hints[key] = str(metadata[key])
    return hints
