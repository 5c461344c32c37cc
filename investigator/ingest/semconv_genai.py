"""OpenTelemetry GenAI message bodies → canonical messages (see `base` for the message shape).

The current conventions write messages as JSON with typed parts (`gen_ai.input.messages`,
`gen_ai.output.messages`, `gen_ai.system_instructions`); older ones as one event per message
(`gen_ai.user.message`, `gen_ai.tool.message`, `gen_ai.choice`, …), as `gen_ai.content.prompt` /
`.completion` events, or as the `gen_ai.client.inference.operation.details` event. pydantic-ai
(logfire) adds its own spellings, read here too: a tool result part carries `result` where the
spec says `response`, and its version-1 format keeps the message events as a JSON list in the
`events` span attribute (`all_messages_events` on the agent run span), each with its `event.name`.

A `tool_call_response` part becomes a message of its own, `{"role": "tool", "tool_call_id", …}`,
whichever message carried it (pydantic-ai before its format version 6 puts them in `user` messages).
"""

from __future__ import annotations

from typing import Any

import orjson

from investigator.ingest.base import as_text, maybe_json

Messages = list[dict[str, Any]]


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """A canonical tool call; arguments as the text recorded (structured arguments serialised)."""
    call = {"id": call_id, "name": name, "arguments": as_text(arguments)}
    out = {k: v for k, v in call.items() if v is not None}
    out.setdefault("arguments", "")
    return out


def content_text(content: Any) -> str | None:
    """Message content as text: strings as is, OpenAI/GenAI content-part lists joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = [
            p.get("text", p.get("content")) for p in content if p.get("type") in ("text", "input_text", "output_text")
        ]
        if texts and len(texts) == len(content):
            return "\n".join(str(t) for t in texts)
    return dumps(content)


def _tool_result(part: dict[str, Any]) -> dict[str, Any]:
    result = part.get("response", part.get("result"))
    message = {"role": "tool", "tool_call_id": part.get("id"), "name": part.get("name"),
               "content": as_text(result) or ""}
    return {k: v for k, v in message.items() if v is not None}


def _from_item(item: dict[str, Any], default_role: str) -> Messages:
    """One GenAI message (typed `parts`, or OpenAI-style `content`/`tool_calls`) as canonical
    messages: the message itself, then one per tool result it carried, in part order."""
    role = item.get("role") or default_role
    out: Messages = []
    texts: list[str] = []
    calls: list[dict[str, Any]] = []

    def close() -> None:
        if texts or calls:
            message: dict[str, Any] = {"role": role}
            if texts:
                message["content"] = "\n".join(texts)
            if calls:
                message["tool_calls"] = list(calls)
            out.append(message)
            texts.clear()
            calls.clear()

    for part in item.get("parts") or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("content", "")))
        elif kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            close()
            out.append(_tool_result(part))
    content = content_text(item.get("content"))
    if content is not None and not texts and not out:
        texts.append(content)
    for call in maybe_json(item.get("tool_calls")) or []:
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else call
            calls.append(tool_call(call.get("id"), function.get("name"), function.get("arguments")))
    had_results = bool(out)
    close()
    if not out:
        out.append({"role": role})
    if not had_results:
        for key in ("tool_call_id", "name"):
            if item.get(key):
                out[-1].setdefault(key, item[key])
    return out


def genai_messages(value: Any, default_role: str = "assistant") -> Messages | None:
    """GenAI `gen_ai.input.messages` / `gen_ai.output.messages` (messages with typed `parts`), a
    list of choices, or a plain chat-message list, as canonical messages; None if not messages."""
    value = maybe_json(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        return None
    messages: Messages = []
    for item in value:
        if isinstance(maybe_json(item.get("message")), dict):  # a choice
            item = maybe_json(item["message"])
        messages.extend(_from_item(item, default_role))
    return messages


def system_message(value: Any) -> dict[str, Any] | None:
    """`gen_ai.system_instructions`: a list of parts (current spec) or plain text."""
    value = maybe_json(value)
    if value in (None, "", []):
        return None
    if isinstance(value, list):
        texts = [str(p.get("content", "")) if isinstance(p, dict) else str(p) for p in value]
        return {"role": "system", "content": "\n".join(texts)}
    return {"role": "system", "content": value if isinstance(value, str) else dumps(value)}


def with_system(system: dict[str, Any] | None, messages: Messages) -> Messages:
    """The messages, led by the system message when they hold none of their own."""
    if system and not any(m.get("role") == "system" for m in messages):
        return [system, *messages]
    return messages


def logfire_events(value: Any) -> list[dict[str, Any]] | None:
    """pydantic-ai's version-1 `events` / `all_messages_events` attribute as span events
    (`{"name", "attributes"}`); None when the value is not such a list."""
    value = maybe_json(value)
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(e, dict) and isinstance(e.get("event.name"), str) for e in value):
        return None
    return [
        {"name": e["event.name"], "attributes": {k: v for k, v in e.items() if k != "event.name"}} for e in value
    ]


def _event_message(role: str, attrs: dict[str, Any]) -> Messages:
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
        "name": body.get("name") if role == "tool" else None,
    }
    return genai_messages(item, role) or []


def event_messages(events: list[dict[str, Any]]) -> tuple[Messages, Messages, list[str], list[str]]:
    """The input and output messages (and plain texts, in and out) that GenAI events carry."""
    inputs: Messages = []
    outputs: Messages = []
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
            system = system_message(attrs.get("gen_ai.system_instructions"))
            inputs.extend(with_system(system, genai_messages(attrs.get("gen_ai.input.messages"), "user") or []))
            outputs.extend(genai_messages(attrs.get("gen_ai.output.messages"), "assistant") or [])
    return inputs, outputs, texts_in, texts_out


def content_from_events(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Input and output carried in GenAI span events rather than attributes: the deprecated
    `gen_ai.content.prompt/completion`, per-message events and `gen_ai.choice`, and the current
    `gen_ai.client.inference.operation.details`. Returns canonical message JSON (or text)."""
    inputs, outputs, texts_in, texts_out = event_messages(events)
    input_text = dumps(inputs) if inputs else ("\n".join(texts_in) or None)
    output_text = dumps(outputs) if outputs else ("\n".join(texts_out) or None)
    return input_text, output_text
