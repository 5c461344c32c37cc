"""Citations must be real: an evidence quote is accepted only when it is verbatim in the cited span."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from investigator.models import Span

MIN_QUOTE_CHARS = 3


def span_texts(span: Span) -> Iterator[str]:
    """Every field of a span a quote may come from: its text fields and its events' string values."""
    for value in (span.input, span.output, span.status_message, span.tool_args, span.name):
        if value:
            yield value
    for event in span.events:
        yield from _strings(event.get("attributes") or {})


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
    """True when `quote` (at least a few characters) appears verbatim in one field of `span`, or,
    with `shown`, in one field as `shown` turns it (a report's masked text)."""
    if not quote or len(quote.strip()) < MIN_QUOTE_CHARS:
        return False
    texts = span_texts(span) if shown is None else map(shown, span_texts(span))
    return any(quote in text for text in texts)
