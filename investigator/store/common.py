"""What the store's families of tables share: long id lists in chunks, JSON text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

CACHE_KB = 64 * 1024  # the page cache of each connection to the store

CHUNK = 500  # SQLite host-parameter chunk for IN (...) lists


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(items: Sequence[Any]) -> str:
    """The placeholders of an IN (...) list of these items."""
    return ", ".join("?" * len(items))


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
