"""Citations must be real: an evidence quote is accepted only when it is verbatim in the cited span.

A quote is verbatim in a span when it is part of one of the span's texts (input, output, status
message, tool arguments, name, the string values of its events) or part of a string value inside
one of those texts that is JSON, decoded: a message's content or a call's arguments read as a trace
viewer shows them, not with the escapes of the JSON they are stored in. Quotes are kept in that
decoded form, so a reader finds them in the source as written (`{"order_id": "A1"}`, never
`{\\"order_id\\": \\"A1\\"}`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import orjson

from investigator.models import Span

MIN_QUOTE_CHARS = 3
QUOTED_FIELDS = ("output", "input", "status_message", "tool_args", "name")
_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def span_texts(span: Span) -> Iterator[str]:
    """Every text of a span a quote may come from: its fields and its events' string values, each
    as stored, followed by the decoded string values of the ones that are JSON."""
    for _, text in quotable_texts(span):
        yield text


def quotable_texts(span: Span) -> Iterator[tuple[str, str]]:
    """(field, text) for every text a quote may come from, the stored texts before the decoded
    string values inside them."""
    stored = [(name, value) for name in QUOTED_FIELDS if (value := getattr(span, name))]
    for event in span.events:
        stored.extend(("events", value) for value in _strings(event.get("attributes") or {}))
    yield from stored
    for name, text in stored:
        for value in decoded_strings(text):
            yield name, value


@lru_cache(maxsize=4096)  # the rules layer asks for the same span's texts once per quote it looks for
def decoded_strings(text: str) -> tuple[str, ...]:
    """The string values inside `text` when it is a JSON object or array, decoded; the values that
    are JSON in turn (arguments inside a message) are followed by theirs. Empty for other text."""
    if text.lstrip()[:1] not in ("{", "["):
        return ()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ()
    found: list[str] = []
    for item in _strings(value):
        if item and item != text:
            found.append(item)
            found.extend(decoded_strings(item))
    return tuple(dict.fromkeys(found))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def quote_in_span(span: Span, quote: str, shown: Callable[[str], str] | None = None) -> bool:
    """True when `quote` (at least a few characters) is verbatim in one of the span's texts (see
    `quotable_texts`), or, with `shown`, in one of them as `shown` turns it (a report's masked text)."""
    if not quote or len(quote.strip()) < MIN_QUOTE_CHARS:
        return False
    texts = span_texts(span) if shown is None else map(shown, span_texts(span))
    return any(quote in text for text in texts)


def readable_quote(span: Span, quote: str) -> str | None:
    """`quote` as a reader finds it in `span`: when it was copied from JSON as stored (escapes and
    all) and its decoded form is verbatim too, the decoded form; None when it is not in the span."""
    found = None
    candidate = quote
    while True:
        if quote_in_span(span, candidate):
            found = candidate
        decoded = _JSON_ESCAPE.sub(_unescape, candidate)
        if decoded == candidate:
            return found
        candidate = decoded


def _unescape(match: re.Match[str]) -> str:
    code = match[1]
    return chr(int(code[1:], 16)) if code[0] == "u" else _ESCAPES[code]
