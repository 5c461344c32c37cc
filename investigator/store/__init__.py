"""The store: one SQLite file holding spans and traces, the rules layer's results, runs, findings and
reviews, and the judge's model calls. This package is the only code that touches its connection:
one module per family of tables, each a set of named methods `Store` brings together, with the
migrations beside them.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _import_sqlite_utils_without_pandas() -> None:
    """sqlite-utils imports pandas whenever it is installed (chdb, an optional dependency, brings
    it), only to map pandas' types in inserts this store never makes; that cost 0.35 s and 70 MB in
    every process, ingest workers included. It is imported with pandas hidden from it, and pandas
    stays importable for everything else."""
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` raise ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]


_import_sqlite_utils_without_pandas()

from sqlite_utils import Database

from investigator.store.analysis import AnalysisTables
from investigator.store.calls import CallTables
from investigator.store.common import CACHE_KB
from investigator.store.findings import FindingTables
from investigator.store.loading import Loading
from investigator.store.migrations import migrations
from investigator.store.runs import RunTables
from investigator.store.spans import BatchCounts, SpanWrites
from investigator.store.traces import SpanReads


def default_db_path() -> str:
    return os.environ.get("INVESTIGATOR_DB") or "investigator.db"


class Store(Loading, SpanWrites, SpanReads, AnalysisTables, RunTables, FindingTables, CallTables):
    """The SQLite store. Opening it applies any pending migrations."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or default_db_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA page_size=16384")  # takes effect for a new file; big text rows
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")
        self.db = Database(conn)
        self.conn = conn
        migrations.apply(self.db)
        self.restore_deferred_indexes()  # a bulk load killed halfway dropped them

    @contextmanager
    def immediate(self) -> Iterator[None]:
        """One transaction that takes the write lock up front (so concurrent writers wait for it
        rather than fail halfway)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            yield

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BatchCounts", "Store", "default_db_path"]
