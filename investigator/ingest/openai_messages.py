"""OpenAI message shapes as the canonical messages of `base.py`.

Chat Completions messages (request params or `ChatCompletionMessage.model_dump()`, with
`tool_calls[].function.{name, arguments}` and `role: "tool"` replies) and Responses API input and
output items (`message`, `function_call`, `function_call_output`, hosted `*_call` items) become
`{"role", "content", "tool_calls": [{"id", "name", "arguments"}], "tool_call_id", "name"}` with
the arguments kept as the exact string the model wrote.
"""

from __future__ import annotations

from typing import Any

from investigator.ingest.base import as_text


def is_response(value: Any) -> bool:
    return isinstance(value, dict) and value.get("object") == "response"


def content_text(value: Any) -> Any:
    """Text parts (`text`, `input_text`, `output_text`, `refusal`) joined into one string;
    content with any other part (images, audio, files) is kept as the part list."""
    if not isinstance(value, list):
        return value
    texts = []
    for part in value:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
            texts.append(str(part.get("text") or ""))
        elif isinstance(part, dict) and part.get("type") == "refusal":
            texts.append(str(part.get("refusal") or ""))
        else:
            return value
    return "\n".join(texts)


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions message (request param or `ChatCompletionMessage.model_dump()`)."""
    out: dict[str, Any] = {"role": message.get("role") or "assistant"}
    content = content_text(message.get("content"))
    if content is None and message.get("refusal"):
        content = message["refusal"]
    if content is not None:
        out["content"] = content
    calls = []
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else call
        entry = {"id": call.get("id"), "name": function.get("name"), "arguments": function.get("arguments")}
        calls.append({k: v for k, v in entry.items() if v is not None})
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append(
            {k: v for k, v in (("name", legacy.get("name")), ("arguments", legacy.get("arguments"))) if v is not None}
        )
    if calls:
        out["tool_calls"] = calls
    for key in ("tool_call_id", "name"):
        if message.get(key) is not None:
            out[key] = message[key]
    return out


def from_items(items: list[Any]) -> list[dict[str, Any]]:
    """Responses API input/output items as canonical messages. Consecutive function calls join
    the assistant message before them; hosted tool calls keep their item type as the name."""
    messages: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            messages.append({"role": "user", "content": item})
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in (None, "message") and "role" in item:
            messages.append(chat_message(item))
        elif kind in ("function_call", "custom_tool_call") or (isinstance(kind, str) and kind.endswith("_call")):
            if kind in ("function_call", "custom_tool_call"):
                arguments = item.get("arguments", item.get("input"))
                name = item.get("name")
            else:
                arguments = as_text(item.get("arguments") or item.get("action") or item.get("queries"))
                name = item.get("name") or kind
            call = {"id": item.get("call_id") or item.get("id"), "name": name, "arguments": arguments}
            call = {k: v for k, v in call.items() if v is not None}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "tool_calls": [call]})
        elif isinstance(kind, str) and kind.endswith("_call_output"):
            output = item.get("output")
            messages.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": content_text(output)}
                if item.get("call_id")
                else {"role": "tool", "content": content_text(output)}
            )
    return messages


def messages_text(value: Any) -> str | None:
    """A generation's input/output: Chat Completions messages (or Responses items) as the
    canonical JSON array; anything else as its text."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        if any("type" in m and "role" not in m for m in value):
            return as_text(from_items(value))
        return as_text([chat_message(m) for m in value])
    return as_text(value)
