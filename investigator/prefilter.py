"""Which of several regexes could match a text, decided in one pass over it.

The rules layer runs dozens of regexes over every span's text, and almost no text matches any of
them. Hyperscan compiles the patterns together in prefilter mode and reports, in one scan, each
pattern that may match (lookarounds and backreferences are approximated, so it reports a superset:
never fewer patterns than Python's `re` would match). The exact Python regex then runs only on
the texts where its pattern may match.

Only patterns compiled with `re.ASCII` are prefiltered: for them Hyperscan's UTF-8 mode agrees
with Python on what `\\d`, `\\w`, `\\s`, `\\b` and `.` match. Any other pattern, one Hyperscan
cannot compile, a text that is not valid UTF-8, and every text on a machine without Hyperscan (its
wheels are for x86-64) make every pattern a candidate: slower, never a different result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import threading
from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import orjson

try:
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None

log = logging.getLogger(__name__)


class Prefilter:
    """Candidate patterns per text. Picklable: the Hyperscan database is compiled on first use."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        self.patterns = list(patterns)

    def __getstate__(self) -> dict[str, Any]:
        return {"patterns": self.patterns}

    def candidates(self, text: str) -> frozenset[int]:
        """Indexes of the patterns that may match somewhere in `text`."""
        database, always = self._compiled
        if database is None:
            return always
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, so Hyperscan cannot read it
            return frozenset(range(len(self.patterns)))
        found = set(always)
        # Positional arguments: the binding parses keywords slowly, and this runs for every text.
        database.scan(data, _collect, 0, found, _scratch(database))
        return frozenset(found)

    @property
    def unfiltered(self) -> frozenset[int]:
        """Indexes of the patterns that are candidates for every text (not prefiltered)."""
        return self._compiled[1]

    def matching(self, text: str) -> frozenset[int]:
        """Indexes of the patterns that do match somewhere in `text` (Python's `re` decides)."""
        return frozenset(i for i in self.candidates(text) if self.patterns[i].search(text))

    @cached_property
    def _compiled(self) -> tuple[Any, frozenset[int]]:
        """(database or None, patterns that are candidates for every text)."""
        return _compile(tuple((p.pattern, p.flags) for p in self.patterns))


@lru_cache(maxsize=32)
def _compile(patterns: tuple[tuple[str, int], ...]) -> tuple[Any, frozenset[int]]:
    """Compiled once per process for each set of patterns, and kept on disk between processes:
    a compile takes a few tenths of a second, loading a compiled database a millisecond."""
    every = frozenset(range(len(patterns)))
    ascii_ids = [i for i, (_, flags) in enumerate(patterns) if flags & re.ASCII]
    if hyperscan is None or not ascii_ids:
        return None, every
    path = _cache_path(patterns)
    cached = _load(path)
    if cached is not None:
        return cached
    try:
        usable = ascii_ids
        database = _database(patterns, usable)
    except hyperscan.error:  # some pattern is beyond Hyperscan: find which, prefilter the rest
        usable = [i for i in ascii_ids if _compiles(patterns[i])]
        if not usable:
            return None, every
        database = _database(patterns, usable)
    unfiltered = every - frozenset(usable)
    _save(path, database, unfiltered)
    return database, unfiltered


def _cache_path(patterns: tuple[tuple[str, int], ...]) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trace-investigator" / "prefilter"
    key = orjson.dumps([hyperscan.__version__, platform.machine(), patterns])
    return root / f"{hashlib.sha256(key).hexdigest()[:32]}.hsdb"


def _load(path: Path) -> tuple[Any, frozenset[int]] | None:
    """A database compiled earlier on this machine; None when absent, unreadable or not for this CPU."""
    try:
        header, _, body = path.read_bytes().partition(b"\n")
        database = hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK)
        hyperscan.Scratch(database)  # refuses a database compiled for another CPU
        return database, frozenset(orjson.loads(header))
    except (OSError, ValueError, hyperscan.error) as exc:
        if path.exists():
            log.debug("recompiling the prefilter: cached %s unusable (%s)", path, exc)
        return None


def _save(path: Path, database: Any, unfiltered: frozenset[int]) -> None:
    """Write atomically; a cache that cannot be written only costs the next process a compile."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_bytes(orjson.dumps(sorted(unfiltered)) + b"\n" + hyperscan.dumpb(database))
        os.replace(scratch, path)
    except OSError as exc:
        log.debug("prefilter cache not written: %s", exc)


def _database(patterns: tuple[tuple[str, int], ...], ids: list[int]) -> Any:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[_prefilter_source(patterns[i]) for i in ids],
        ids=ids,
        elements=len(ids),
        flags=[_flags(patterns[i]) for i in ids],
    )
    return database


_THREAD = threading.local()


def _scratch(database: Any) -> Any:
    """This thread's scratch space for `database`: a scan needs one that no other scan is using
    (judge investigations redact from several threads at once)."""
    spaces = _THREAD.__dict__.setdefault("spaces", {})
    space = spaces.get(id(database))
    if space is None:
        space = spaces[id(database)] = hyperscan.Scratch(database)
    return space


def _collect(pattern_id: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(pattern_id)


def _prefilter_source(pattern: tuple[str, int]) -> bytes:
    # A positive lookbehind becomes text the match consumes: "(?<=X)Y" matching means "XY" occurs.
    return pattern[0].replace("(?<=", "(?:").encode()


def _flags(pattern: tuple[str, int]) -> int:
    flags = (
        hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_ALLOWEMPTY | hyperscan.HS_FLAG_SINGLEMATCH
        | hyperscan.HS_FLAG_UTF8
    )
    if pattern[1] & re.IGNORECASE:
        flags |= hyperscan.HS_FLAG_CASELESS
    if pattern[1] & re.DOTALL:
        flags |= hyperscan.HS_FLAG_DOTALL
    if pattern[1] & re.MULTILINE:
        flags |= hyperscan.HS_FLAG_MULTILINE
    return flags


def _compiles(pattern: tuple[str, int]) -> bool:
    try:
        _database((pattern,), [0])
    except hyperscan.error as exc:
        log.debug("no prefilter for %r: %s", pattern[0][:60], exc)
        return False
    return True
