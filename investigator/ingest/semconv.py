"""OpenInference and OpenTelemetry GenAI attribute conventions → normalised span fields.

Both conventions are written as flat dotted keys (`llm.input_messages.0.message.role`,
`gen_ai.usage.input_tokens`). `map_attributes` reads whichever is present — OpenInference, current
and deprecated GenAI names, OpenLLMetry's flattened prompts, Traceloop entity keys — and returns the
fields they imply plus the attributes that were not folded into `input`/`output`. The OTLP and
spans-JSONL adapters share it, so a span means the same whichever file it arrived in.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from investigator.ingest.base import as_float, as_int, as_text, kind_from, maybe_json

# Keys whose content becomes `input`/`output`; dropped from the leftover attributes.
_FOLDED_KEYS = frozenset({
    "input.value", "output.value", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.prompt", "gen_ai.completion",
    "traceloop.entity.input", "traceloop.entity.output",
})
_MESSAGE_KEY = re.compile(
    r"^(llm\.input_messages|llm\.output_messages|gen_ai\.prompt|gen_ai\.completion)\.(\d+)\.(.+)$"
)
_TOOL_CALL_KEY = re.compile(r"^tool_calls\.(\d+)\.(?:tool_call\.)?(.+)$")
_CONTENT_PART_KEY = re.compile(r"^contents\.(\d+)\.message_content\.text$")
_DOCUMENT_KEY = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(id|content|score|metadata)$")

_KIND_KEYS = ("openinference.span.kind", "gen_ai.operation.name", "traceloop.span.kind", "llm.request.type")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


def _indexed_messages(
    groups: dict[str, dict[int, dict[str, Any]]], prefix: str, role: str
) -> list[dict[str, Any]]:
    """Rebuild a message list from flattened `prefix.N.…` keys (OpenInference or OpenLLMetry)."""
    by_index = groups.get(prefix) or {}
    return [
        _message_from_fields({k.removeprefix("message."): v for k, v in by_index[i].items()}, role)
        for i in sorted(by_index)
    ]


def _message_from_fields(fields: dict[str, Any], default_role: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": fields.get("role") or default_role}
    content = fields.get("content")
    if content is None:
        parts = sorted(
            (int(m.group(1)), v)
            for k, v in fields.items()
            if (m := _CONTENT_PART_KEY.match(k)) and v is not None
        )
        content = "\n".join(str(v) for _, v in parts) if parts else None
    if content is not None:
        message["content"] = content if isinstance(content, str) else _dumps(content)
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        match = _TOOL_CALL_KEY.match(key)
        if not match:
            continue
        call = calls.setdefault(int(match.group(1)), {})
        name = match.group(2)
        if name in ("function.name", "name"):
            call["name"] = value
        elif name in ("function.arguments", "arguments"):
            call["arguments"] = as_text(value)
        elif name == "id":
            call["id"] = value
    if calls:
        message["tool_calls"] = [_tool_call(calls[i]) for i in sorted(calls)]
    for key in ("tool_call_id", "name"):
        if fields.get(key):
            message[key] = fields[key]
    return message


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    out = {k: call[k] for k in ("id", "name", "arguments") if call.get(k) is not None}
    out.setdefault("arguments", "")
    return out


def _content_text(content: Any) -> str | None:
    """Message content as text: strings as is, OpenAI/GenAI content-part lists joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = [
            p.get("text", p.get("content")) for p in content if p.get("type") in ("text", "input_text", "output_text")
        ]
        if texts and len(texts) == len(content):
            return "\n".join(str(t) for t in texts)
    return _dumps(content)


def genai_messages(value: Any, default_role: str = "assistant") -> list[dict[str, Any]] | None:
    """GenAI `gen_ai.input.messages` / `gen_ai.output.messages` (messages with typed `parts`), a
    list of choices, or a plain chat-message list, as canonical messages; None if not messages."""
    value = maybe_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        return None
    messages = []
    for item in value:
        if isinstance(maybe_json(item.get("message")), dict):  # a choice
            item = maybe_json(item["message"])
        message: dict[str, Any] = {"role": item.get("role") or default_role}
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in item.get("parts") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("content", "")))
            elif kind == "tool_call":
                calls.append(_tool_call({"id": part.get("id"), "name": part.get("name"),
                                         "arguments": as_text(part.get("arguments"))}))
            elif kind == "tool_call_response":
                message["tool_call_id"] = part.get("id")
                texts.append(as_text(part.get("response")) or "")
        content = _content_text(item.get("content"))
        if content is not None and not texts:
            texts.append(content)
        if texts:
            message["content"] = "\n".join(texts)
        for call in maybe_json(item.get("tool_calls")) or []:
            if not isinstance(call, dict):
                continue
            function = call.get("function") if isinstance(call.get("function"), dict) else call
            calls.append(_tool_call({"id": call.get("id"), "name": function.get("name"),
                                     "arguments": as_text(function.get("arguments"))}))
        if calls:
            message["tool_calls"] = calls
        for key in ("tool_call_id", "name"):
            if item.get(key) and key not in message:
                message[key] = item[key]
        messages.append({k: v for k, v in message.items() if v is not None})
    return messages


def _system_message(value: Any) -> dict[str, Any] | None:
    """`gen_ai.system_instructions`: a list of parts (current spec) or plain text."""
    value = maybe_json(value)
    if value in (None, "", []):
        return None
    if isinstance(value, list):
        texts = [str(p.get("content", "")) if isinstance(p, dict) else str(p) for p in value]
        return {"role": "system", "content": "\n".join(texts)}
    return {"role": "system", "content": value if isinstance(value, str) else _dumps(value)}


def _documents(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    docs: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _DOCUMENT_KEY.match(key)
        if match and value is not None:
            docs.setdefault(int(match.group(1)), {})[match.group(2)] = maybe_json(value)
    return [docs[i] for i in sorted(docs)]


def convention_kind(attrs: dict[str, Any]) -> str:
    """The kind a convention key states outright, else "unknown"."""
    for key in _KIND_KEYS:
        kind = kind_from(attrs.get(key))
        if kind != "unknown":
            return kind
    return "unknown"


def map_attributes(attrs: dict[str, Any], name: str = "", kind_hint: Any = None) -> dict[str, Any]:
    """Map flat dotted attributes onto span fields.

    Returns a dict with `kind, model, tool_name, tool_args, input, output, tokens_in, tokens_out,
    cost, agent, session_id, user_id, hints` and `attributes` (what was not folded into input or
    output). `name` (the span name) and `kind_hint` (a format's own kind word, used when no
    convention key says) only fill gaps."""
    groups: dict[str, dict[int, dict[str, Any]]] = {}
    rest: dict[str, Any] = {}
    for key, value in attrs.items():
        match = _MESSAGE_KEY.match(key)
        if match:
            groups.setdefault(match.group(1), {}).setdefault(int(match.group(2)), {})[match.group(3)] = value
        elif key not in _FOLDED_KEYS and value is not None:
            rest[key] = value

    model = _first(attrs, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model",
                   "embedding.model_name", "reranker.model_name")
    input_messages = (
        _indexed_messages(groups, "llm.input_messages", "user")
        or _indexed_messages(groups, "gen_ai.prompt", "user")
        or genai_messages(attrs.get("gen_ai.input.messages"), "user")
        or genai_messages(attrs.get("gen_ai.prompt"), "user")
        or []
    )
    system = _system_message(attrs.get("gen_ai.system_instructions"))
    if system and not any(m.get("role") == "system" for m in input_messages):
        input_messages = [system, *input_messages]
    output_messages = (
        _indexed_messages(groups, "llm.output_messages", "assistant")
        or _indexed_messages(groups, "gen_ai.completion", "assistant")
        or genai_messages(attrs.get("gen_ai.output.messages"), "assistant")
        or genai_messages(attrs.get("gen_ai.completion"), "assistant")
    )

    traceloop_kind = kind_from(attrs.get("traceloop.span.kind"))
    tool_name = _first(attrs, "tool.name", "gen_ai.tool.name", "tool_call.function.name")
    if tool_name is None and traceloop_kind == "tool":
        tool_name = attrs.get("traceloop.entity.name")
    kind = convention_kind(attrs)
    if kind == "unknown":
        kind = kind_from(kind_hint)
    if kind == "unknown":
        if model and (input_messages or output_messages):
            kind = "llm"
        elif tool_name:
            kind = "tool"
    if kind == "tool" and tool_name is None and name.startswith("execute_tool "):
        tool_name = name.removeprefix("execute_tool ").strip() or None

    plain_in = _first(attrs, "input.value", "traceloop.entity.input")
    plain_out = _first(attrs, "output.value", "traceloop.entity.output")
    if kind == "tool":
        plain_in = plain_in if plain_in is not None else attrs.get("gen_ai.tool.call.arguments")
        plain_out = plain_out if plain_out is not None else attrs.get("gen_ai.tool.call.result")
    if plain_in is None and isinstance(attrs.get("gen_ai.prompt"), str):
        plain_in = attrs["gen_ai.prompt"]
    if plain_out is None and isinstance(attrs.get("gen_ai.completion"), str):
        plain_out = attrs["gen_ai.completion"]
    if plain_out is None and kind == "retriever":
        documents = _documents(attrs)
        plain_out = documents or None

    fields: dict[str, Any] = {
        "kind": kind,
        "model": as_text(model),
        "tool_name": None,
        "tool_args": None,
        "input": _dumps(input_messages) if input_messages else as_text(plain_in),
        "output": _dumps(output_messages) if output_messages else as_text(plain_out),
    }
    if kind == "tool":
        fields["tool_name"] = as_text(tool_name)
        args = _first(attrs, "tool_call.function.arguments", "gen_ai.tool.call.arguments")
        fields["tool_args"] = as_text(args if args is not None else plain_in)
    fields["tokens_in"] = as_int(_first(
        attrs, "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
        "llm.usage.prompt_tokens",
    ))
    fields["tokens_out"] = as_int(_first(
        attrs, "llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
    ))
    fields["cost"] = _cost(attrs)
    agent = _first(attrs, "agent.name", "gen_ai.agent.name")
    if agent is None and kind == "agent":
        agent = attrs.get("traceloop.entity.name") or name.removeprefix("invoke_agent ").strip() or None
    fields["agent"] = as_text(agent)
    fields["session_id"] = as_text(_first(
        attrs, "session.id", "gen_ai.conversation.id", "traceloop.association.properties.session_id"
    ))
    fields["user_id"] = as_text(_first(
        attrs, "user.id", "enduser.id", "traceloop.association.properties.user_id"
    ))
    fields["hints"] = hints_from(attrs)
    fields["attributes"] = rest
    return fields


def _cost(attrs: dict[str, Any]) -> float | None:
    total = as_float(_first(attrs, "llm.cost.total", "gen_ai.usage.cost"))
    if total is not None:
        return total
    parts = [as_float(attrs.get(k)) for k in ("llm.cost.prompt", "llm.cost.completion")]
    if any(p is not None for p in parts):
        return sum(p for p in parts if p is not None)
    return None


def hints_from(attrs: dict[str, Any]) -> dict[str, Any]:
    """Trace-level slicing facts (versions, environment, tags, metadata) from span or resource attributes."""
    hints: dict[str, Any] = {}
    agent_version = _first(attrs, "agent.version", "gen_ai.agent.version", "app.version", "deployment.version")
    if agent_version is not None:
        hints["agent_version"] = str(agent_version)
    prompt_version = _first(attrs, "prompt.version", "llm.prompt_template.version", "gen_ai.prompt.version",
                            "traceloop.prompt.version")
    if prompt_version is not None:
        hints["prompt_version"] = str(prompt_version)
    environment = _first(attrs, "deployment.environment.name", "deployment.environment")
    if environment is not None:
        hints["environment"] = str(environment)
    if attrs.get("service.version") not in (None, ""):
        hints["service_version"] = str(attrs["service.version"])
    tags = maybe_json(attrs.get("tag.tags"))
    if tags:
        hints["tags"] = [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]
    metadata = maybe_json(attrs.get("metadata"))
    if not isinstance(metadata, dict):  # nested exports arrive flattened as metadata.*
        metadata = {k.removeprefix("metadata."): v for k, v in attrs.items() if k.startswith("metadata.")}
    if metadata:
        hints["metadata"] = metadata
        for key in ("agent_version", "prompt_version"):
            if metadata.get(key) not in (None, "") and key not in hints:
                hints[key] = str(metadata[key])
    return hints


def _event_message(role: str, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """A GenAI message event (`gen_ai.user.message` …): the body sits in `gen_ai.event.content`
    as JSON, or directly in the event attributes."""
    body = maybe_json(attrs.get("gen_ai.event.content"))
    if not isinstance(body, dict):
        body = attrs
    item = {
        "role": body.get("role") or role,
        "content": body.get("content"),
        "tool_calls": body.get("tool_calls"),
        "tool_call_id": body.get("id") if role == "tool" else None,
    }
    return genai_messages(item, role) or []


def content_from_events(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Input and output carried in GenAI span events rather than attributes: the deprecated
    `gen_ai.content.prompt/completion`, per-message events and `gen_ai.choice`, and the current
    `gen_ai.client.inference.operation.details`. Returns canonical message JSON (or text)."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    texts_in: list[str] = []
    texts_out: list[str] = []
    for event in events:
        name, attrs = event.get("name") or "", event.get("attributes") or {}
        if name == "gen_ai.content.prompt":
            messages = genai_messages(attrs.get("gen_ai.prompt"), "user")
            inputs.extend(messages or [])
            if messages is None and isinstance(attrs.get("gen_ai.prompt"), str):
                texts_in.append(attrs["gen_ai.prompt"])
        elif name == "gen_ai.content.completion":
            messages = genai_messages(attrs.get("gen_ai.completion"), "assistant")
            outputs.extend(messages or [])
            if messages is None and isinstance(attrs.get("gen_ai.completion"), str):
                texts_out.append(attrs["gen_ai.completion"])
        elif name.startswith("gen_ai.") and name.endswith(".message"):
            inputs.extend(_event_message(name.removeprefix("gen_ai.").removesuffix(".message"), attrs))
        elif name == "gen_ai.choice":
            body = maybe_json(attrs.get("gen_ai.event.content"))
            choice = body if isinstance(body, dict) else {"message": maybe_json(attrs.get("message")) or attrs}
            outputs.extend(genai_messages(choice, "assistant") or [])
        elif name == "gen_ai.client.inference.operation.details":
            mapped = map_attributes(attrs)
            if mapped["input"]:
                inputs.extend(orjson.loads(mapped["input"]) if mapped["input"].startswith("[") else [])
            if mapped["output"]:
                outputs.extend(orjson.loads(mapped["output"]) if mapped["output"].startswith("[") else [])
    input_text = _dumps(inputs) if inputs else ("\n".join(texts_in) or None)
    output_text = _dumps(outputs) if outputs else ("\n".join(texts_out) or None)
    return input_text, output_text
