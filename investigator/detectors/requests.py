"""Tool calls a model requested, read from the shapes its output is recorded in besides message
`tool_calls`: the Python repr of a call object or message (`ResponseFunctionToolCall(arguments=
'{...}', name='x', ...)`, `{'content': None, 'tool_calls': [...]}`), and calls written as code
(`get_order(order_id='A-7')` in a code block a code agent runs).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson

_OBJECT = re.compile(r"\b\w+\(")
_NAME = re.compile(r"\bname=(['\"])([\w.\-]+)\1")
_ARGUMENTS = re.compile(r"\barguments=('(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\")")
_CALL_ID = re.compile(r"\bcall_id=(['\"])([\w\-]+)\1")


class Request(NamedTuple):
    id: str | None
    name: str
    arguments: str
    as_code: bool  # written as code: the arguments are a call's source, not JSON


def _balanced(text: str, open_at: int) -> str | None:
    """The text inside the parenthesis opening at `open_at`, up to its match."""
    depth, quote = 0, ""
    for index in range(open_at, min(len(text), open_at + 20_000)):
        char = text[index]
        if quote:
            if char == "\\":
                continue
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index]
    return None


def repr_requests(text: str) -> list[Request]:
    """Calls in the Python repr of a call object or of a message dict."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and "tool_calls" in stripped:
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if value is not None:
            return list(_dict_requests(value))
    found = []
    if "name=" not in text or "arguments=" not in text:
        return found
    for match in _OBJECT.finditer(text):
        inner = _balanced(text, match.end() - 1)
        if inner is None:
            continue
        name, arguments = _NAME.search(inner), _ARGUMENTS.search(inner)
        if name and arguments:
            call_id = _CALL_ID.search(inner)
            found.append(Request(call_id.group(2) if call_id else None, name.group(2),
                                 ast.literal_eval(arguments.group(1)), False))
    return found


def _dict_requests(value: Any) -> Iterator[Request]:
    if isinstance(value, list):
        for item in value:
            yield from _dict_requests(item)
        return
    if not isinstance(value, dict):
        return
    for call in value.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else call
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str) and name:
            if not isinstance(arguments, str):
                arguments = "" if arguments is None else orjson.dumps(arguments, default=str).decode()
            yield Request(call.get("id"), name, arguments, False)


def code_requests(text: str, tools: Iterable[str]) -> list[Request]:
    """Calls of the named tools written as code in a model's output, in the order written."""
    names = sorted({t for t in tools if t and re.fullmatch(r"[A-Za-z_]\w*", t)}, key=len, reverse=True)
    if not names or "(" not in text:
        return []
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")\s*\(")
    found = []
    for match in pattern.finditer(text):
        inner = _balanced(text, match.end() - 1)
        if inner is not None:
            found.append(Request(None, match.group(1), inner, True))
    return found
