"""What a reader can check of an evidence quote, decoded here independently of the product's code."""

from __future__ import annotations

import json

from investigator.models import Issue, Span


def assert_quoted_as_a_reader_finds_it(span: Span, issue: Issue) -> None:
    """The quote is verbatim in one of the span's texts as stored, or in a string value inside one
    that is JSON, decoded; and it does not keep the escapes of the JSON it was stored in."""
    fields = [span.input, span.output, span.status_message, span.tool_args, span.name]
    fields += [str(v) for e in span.events for v in (e.get("attributes") or {}).values()]
    texts = [text for f in fields if f for text in (f, *_decoded(f))]
    assert any(issue.evidence in text for text in texts), issue
    unescaped = _unescaped(issue.evidence)
    assert unescaped == issue.evidence or not any(unescaped in text for f in fields if f for text in _decoded(f)), issue
    # Escaped quotes are taken from the JSON they are stored in only when the text itself has them.
    readable = [text for f in fields if f for text in (_decoded(f) or [f])]
    assert '\\"' not in issue.evidence or any(issue.evidence in text for text in readable), issue


def _decoded(text: str) -> list[str]:
    """The string values inside `text` if it is JSON, and inside those that are JSON in turn."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and item != text:
            found += [item, *_decoded(item)]
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _unescaped(quote: str) -> str:
    try:
        return json.loads(f'"{quote}"')
    except ValueError:
        return quote
