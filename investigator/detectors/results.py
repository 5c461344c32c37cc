"""What a tool returned, out of the envelopes instrumentation records it in.

Instrumentation often records a tool's result wrapped: as the serialised chat message the
framework fed back to the model (`{"type": "tool", "data": {"content": ..., "status": "error"}}`,
`{"role": "tool", "content": ...}`), or as the Python repr of a dict (`str(result)`,
`{'results': []}`). Detectors judge the content; the envelope's own status says whether the
framework reported the call as failed. Quotes still come from the recorded text.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

_MAX_LITERAL = 200_000  # longer reprs are left as text (literal_eval cost grows with size)


class ToolResult(NamedTuple):
    text: str | None
    failed: bool  # the envelope marks the call as failed


@lru_cache(maxsize=8192)  # several detectors ask about the same result
def tool_result(output: str | None) -> ToolResult:
    """The content of a recorded tool result (JSON when the record was a Python literal)."""
    if not output:
        return ToolResult(output, False)
    stripped = output.strip()
    if stripped[:1] not in ("{", "["):
        return ToolResult(output, False)
    value, was_json = _parse(stripped)
    if value is None:
        return ToolResult(output, False)
    message = _message(value)
    if message is not None:
        content = message.get("content")
        text = content if isinstance(content, str) else orjson.dumps(content, default=str).decode()
        return ToolResult(text, str(message.get("status", "")).lower() == "error")
    return ToolResult(output if was_json else orjson.dumps(value, default=str).decode(), False)


def _parse(text: str) -> tuple[Any, bool]:
    try:
        return orjson.loads(text), True
    except orjson.JSONDecodeError:
        pass
    if len(text) > _MAX_LITERAL:
        return None, False
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, False
    return (value, False) if isinstance(value, (dict, list)) else (None, False)


def _message(value: Any) -> dict[str, Any] | None:
    """The tool message a result is wrapped in, if it is one."""
    if not isinstance(value, dict):
        return None
    data = value.get("data")
    if value.get("type") == "tool" and isinstance(data, dict) and "content" in data:
        return data
    if (value.get("role") == "tool" or value.get("type") == "tool") and "content" in value:
        return value
    return None
