"""A span seen again: the same span, more of it, or a contradiction.

A span is identified by (trace_id, span_id). Seen again, every field the new sighting leaves empty
keeps what was known, and every field it fills that was empty is filled: the span is merged (the
ingest summary's "updated"). A field that both sightings fill, with different values, is a
conflict: nothing of the new sighting is stored (the first stored version is kept) and it goes to
quarantine with the differences. `kind` "unknown" and `status` "unset" are empty, like None, "",
{} and []. `attributes` and `hints` are merged key by key, the new sighting winning; `agent` (which
the store fills from the nearest agent ancestor) and `source_format` (what it was read from, which
keeps its first value) are not compared.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from investigator.ingest.base import SpanRow

_EMPTY_WORDS: dict[str, str] = {"kind": "unknown", "status": "unset"}
_MERGED_DICTS = frozenset({"attributes", "hints"})
_NOT_COMPARED = frozenset({"trace_id", "span_id", "agent", "source_format", *_MERGED_DICTS})
_SHOWN = 60  # characters of each differing value shown in a conflict


class Conflict(NamedTuple):
    """A sighting that contradicts the span already known: not stored."""

    index: int  # of the sighting in its batch (its first one there, when the batch saw the span twice)
    row: SpanRow  # what the sighting says
    differences: list[str]  # "name 'a' ≠ 'b'", one per field, stored value first


def informative(value: Any) -> bool:
    return value not in (None, "", {}, [])


def _filled(key: str, value: Any) -> bool:
    return informative(value) and _EMPTY_WORDS.get(key) != value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def differences(old: SpanRow, new: SpanRow) -> list[str]:
    """The fields both sightings fill with different values: empty means `new` can be merged into `old`."""
    return [
        f"{key} {_show(old.get(key))} ≠ {_show(value)}"
        for key, value in new.items()
        if key not in _NOT_COMPARED and value != old.get(key) and _filled(key, value) and _filled(key, old.get(key))
    ]


def merge_span(old: SpanRow, new: SpanRow) -> SpanRow:
    """`old` with what `new` adds: nothing known is replaced by nothing."""
    merged = dict(old)
    for key, value in new.items():
        if key in _MERGED_DICTS:
            merged[key] = {**(old.get(key) or {}), **(value or {})}
        elif _filled(key, value) and not (key == "source_format" and old.get(key)):
            merged[key] = value
    return merged
