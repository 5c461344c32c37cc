"""The store's bulk-load mode: secondary indexes dropped during the load and rebuilt after it (even
when the load was killed), the rollback journal during it and WAL after, grouped commits that other
connections see, and nothing already written lost when the load fails."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from investigator.ingest.base import span_row
from investigator.store import Store, loading
from investigator.store.common import CACHE_KB

INDEXES = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans' ORDER BY name"


def _journal(store: Store) -> str:
    return store.conn.execute("PRAGMA journal_mode").fetchone()[0]


def _spans(trace: str, count: int = 3) -> list[dict]:
    return [span_row(trace, f"s{i}", parent_id=f"s{i - 1}" if i else None, name=f"step {i}") for i in range(count)]


def test_a_bulk_load_drops_the_secondary_indexes_and_rebuilds_them_after(tmp_path: Path) -> None:
    store = Store(tmp_path / "bulk.db")
    before = store.conn.execute(INDEXES).fetchall()
    assert {name for name, _ in before} >= {"spans_identity", "spans_parent", "spans_timing"}
    with store.bulk_load() as bulk:
        assert bulk
        assert [name for name, _ in store.conn.execute(INDEXES)] == ["spans_identity"]
        assert _journal(store) == "delete"
        store.write_batch(_spans("t1"))
    assert store.conn.execute(INDEXES).fetchall() == before
    assert _journal(store) == "wal"
    assert store.get_trace("t1").span_count == 3
    # The rebuild sorts on disk with a small cache; the connection gets the store's own settings back.
    assert store.conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # memory
    assert store.conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KB


def test_the_index_rebuild_sorts_on_disk_with_a_small_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "bulk.db")
    seen: list[tuple[int, int]] = []
    real = store.conn

    class Watching:
        """The connection, noting the temp store and cache size each CREATE INDEX runs with."""

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql.startswith("CREATE INDEX"):
                seen.append((real.execute("PRAGMA temp_store").fetchone()[0],
                             real.execute("PRAGMA cache_size").fetchone()[0]))
            return real.execute(sql, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def __enter__(self) -> sqlite3.Connection:
            return real.__enter__()

        def __exit__(self, *exc: object) -> bool | None:
            return real.__exit__(*exc)

    with store.bulk_load():
        store.write_batch(_spans("t1"))
        monkeypatch.setattr(store, "conn", Watching())
    assert seen and all(mode == 1 and 0 > cache >= -loading._INDEX_SORT_KB for mode, cache in seen)


def test_a_store_holding_spans_is_loaded_as_usual(tmp_path: Path) -> None:
    store = Store(tmp_path / "bulk.db")
    store.write_batch(_spans("t1"))
    before = store.conn.execute(INDEXES).fetchall()
    with store.bulk_load() as bulk:
        assert not bulk
        assert store.conn.execute(INDEXES).fetchall() == before and _journal(store) == "wal"


def test_a_killed_load_gets_its_indexes_back_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "bulk.db"
    before = Store(path).conn.execute(INDEXES).fetchall()
    killed = (
        "import os, sys; from investigator.store import Store; from investigator.ingest.base import span_row\n"
        "store = Store(sys.argv[1]); load = store.bulk_load(); load.__enter__()\n"
        "store.write_batch([span_row('t1', 's1')])\n"
        "os._exit(9)  # killed halfway: the load never ends\n"
    )
    done = subprocess.run([sys.executable, "-c", killed, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert [name for name, _ in sqlite3.connect(path).execute(INDEXES)] == ["spans_identity"]
    reopened = Store(path)
    assert reopened.conn.execute(INDEXES).fetchall() == before
    assert reopened.conn.execute("SELECT count(*) FROM meta WHERE key = 'deferred_indexes'").fetchone() == (0,)


def test_writes_are_committed_in_groups_that_other_connections_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "BULK_COMMIT_WRITES", 2)
    path = tmp_path / "bulk.db"
    store = Store(path)
    reader = sqlite3.connect(path)
    with store.bulk_load():
        store.write_batch(_spans("t1"))
        store.write_batch(_spans("t2"))
        assert reader.execute("SELECT count(*) FROM spans").fetchone() == (6,)
        store.write_batch(_spans("t3"))
        assert reader.execute("SELECT count(*) FROM spans").fetchone() == (6,)
    assert reader.execute("SELECT count(*) FROM spans").fetchone() == (9,)


def test_a_failed_write_is_undone_alone_and_what_was_written_stays(tmp_path: Path) -> None:
    store = Store(tmp_path / "bulk.db")
    with pytest.raises(RuntimeError), store.bulk_load():
        store.write_batch(_spans("t1"))
        with store.write_transaction():
            store.conn.execute("DELETE FROM spans")
            raise RuntimeError("the write fails halfway")
    assert store.get_trace("t1").span_count == 3
    assert store.conn.execute("SELECT count(*) FROM spans").fetchone() == (3,)
