"""How the store's writes are grouped into transactions: each write in its own, or, during a bulk
load, in groups.

A bulk load is for many new spans arriving in a store that holds none (the first ingest of a large
export). During it the spans' secondary indexes are dropped and built once at the end (keeping
them up to date row by row costs more than building them), the rollback journal replaces the
write-ahead log (one long WAL transaction grows superlinearly at a million spans), and writes are
committed in groups. The unique identity index stays, since duplicates are found through it. The
dropped indexes' definitions are kept in `meta` until they are rebuilt, so a load that is killed
halfway gets them back the next time the store opens.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from investigator.store.common import CACHE_KB

BULK_COMMIT_WRITES = 16  # writes (batches) per commit during a bulk load
_DEFERRED_KEY = "deferred_indexes"
_INDEX_SORT_KB = 16 * 1024


class Loading:
    """Transactions for writes, and the bulk-load mode."""

    conn: sqlite3.Connection
    _bulk_writes: int | None = None  # writes since the last commit, during a bulk load

    @contextmanager
    def write_transaction(self) -> Iterator[None]:
        """One write: its own transaction, or, during a bulk load, a savepoint in the load's open
        transaction (a failed write is undone alone, as it would be by its own transaction)."""
        if self._bulk_writes is None:
            with self.conn:
                self.conn.execute("BEGIN")
                yield
            return
        self.conn.execute("SAVEPOINT write")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO write")
            raise
        finally:
            self.conn.execute("RELEASE write")
        self._bulk_writes += 1
        if self._bulk_writes >= BULK_COMMIT_WRITES:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN")
            self._bulk_writes = 0

    @contextmanager
    def bulk_load(self) -> Iterator[bool]:
        """Write the spans of the block in bulk-load mode when the store holds no span yet; yields
        whether it does. What was written stays written if the block raises."""
        if self._bulk_writes is not None or self.conn.execute("SELECT 1 FROM spans LIMIT 1").fetchone():
            yield False
            return
        deferred = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans'"
            " AND sql IS NOT NULL AND name <> 'spans_identity'"
        ).fetchall()
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [_DEFERRED_KEY, orjson.dumps(dict(deferred)).decode()],
            )
            for name, _ in deferred:
                self.conn.execute(f'DROP INDEX "{name}"')
        switched = self._set_journal("DELETE") == "delete"
        self._bulk_writes = 0
        self.conn.execute("BEGIN")
        try:
            yield True
        finally:
            self._bulk_writes = None
            self.conn.execute("COMMIT")
            self.restore_deferred_indexes()
            if switched:
                self._set_journal("WAL")

    def restore_deferred_indexes(self) -> None:
        """Build the indexes a bulk load dropped, if any are missing."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [_DEFERRED_KEY]).fetchone()
        if row is None:
            return
        # The sort that builds an index holds a page cache's worth of rows and spills the rest to
        # temporary files. Spilled to memory, as the store keeps its temporary tables, it grows with
        # the table (365 MB at a million spans); to disk with a 16 MB buffer, it stays at that
        # (and built these indexes in 3.4 s against 4.3 s with the store's 64 MB cache).
        self.conn.execute("PRAGMA temp_store=FILE")
        self.conn.execute(f"PRAGMA cache_size=-{_INDEX_SORT_KB}")
        try:
            with self.conn:
                self.conn.execute("BEGIN")
                present = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
                for name, sql in orjson.loads(row[0]).items():
                    if name not in present:
                        self.conn.execute(sql)
                self.conn.execute("DELETE FROM meta WHERE key = ?", [_DEFERRED_KEY])
        finally:
            self.conn.execute("PRAGMA temp_store=MEMORY")
            self.conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")

    def _set_journal(self, mode: str) -> str:
        """Switch the journal mode; the mode now in force (unchanged while another connection has
        the store open in WAL mode)."""
        try:
            return str(self.conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]).lower()
        except sqlite3.OperationalError:
            return "wal"
