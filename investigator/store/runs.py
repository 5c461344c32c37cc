"""Runs, their clusters, and schedules: what was analysed when, with which settings and counts,
the windows each schedule has finished, and what query sources counted in a window."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import orjson

from investigator.store.common import dumps

RUN_COLUMNS = ("id", "started_at", "finished_at", "status", "window_start", "window_end", "settings", "counts")


class RunTables:
    """Storing and reading runs, clusters and schedules."""

    conn: sqlite3.Connection

    def record_source_window(self, source: str, since: str, until: str, traces: int, spans: int) -> None:
        """What a query source counted in [since, until) (it sent only part of those traces)."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO source_windows (source, since, until, traces, spans) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (source, since, until) DO UPDATE SET traces = excluded.traces, spans = excluded.spans",
                [source, since, until, traces, spans],
            )

    def source_window_traces(self, since: str | None, until: str | None) -> int | None:
        """How many traces the query sources counted in exactly this window; None when none did."""
        row = self.conn.execute(
            "SELECT sum(traces) FROM source_windows WHERE since = ? AND until = ?", [since or "", until or ""]
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def replace_run(self, run_id: str, started_at: str, window_start: str | None, window_end: str | None,
                    settings: dict[str, Any]) -> str | None:
        """Record a run as started, replacing a run of the same id with its clusters and findings;
        returns when the replaced run had started (None when there was none)."""
        earlier = self.conn.execute("SELECT started_at FROM runs WHERE id = ?", [run_id]).fetchone()
        with self.conn:
            for table in ("clusters", "findings"):
                self.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            self.conn.execute("DELETE FROM runs WHERE id = ?", [run_id])
            self.conn.execute(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, started_at, None, "running", window_start, window_end, dumps(settings), "{}"],
            )
        return earlier[0] if earlier else None

    def finish_run(self, run_id: str, status: str, counts: dict[str, Any], finished_at: str) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET status = ?, counts = ?, finished_at = ? WHERE id = ?",
                [status, dumps(counts), finished_at, run_id],
            )

    def run_row(self, run_id: str | None = None) -> dict[str, Any] | None:
        """A run by id, or the latest started, as a dict of its columns (settings and counts decoded)."""
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        row = (
            self.conn.execute(sql + " WHERE id = ?", [run_id]).fetchone()
            if run_id
            else self.conn.execute(sql + " ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
        )
        if row is None:
            return None
        data = dict(zip(RUN_COLUMNS, row, strict=True))
        data["settings"], data["counts"] = orjson.loads(data["settings"]), orjson.loads(data["counts"])
        return data

    def runs_in_order(self) -> list[tuple[str, str | None, str | None]]:
        """(id, window start, window end) of the runs that completed or are running, in window order."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT id, window_start, window_end FROM runs WHERE status = 'completed' OR status = 'running'"
            " ORDER BY coalesce(window_end, started_at), started_at, id"
        )]

    def input_fingerprint(self) -> str:
        """Changes whenever spans, labels or rules-layer results change."""
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM labels), (SELECT group_concat(rules_version)"
            " FROM (SELECT DISTINCT rules_version FROM analysis))"
        ).fetchone()
        digests = hashlib.sha1()
        for (digest,) in self.conn.execute("SELECT digest FROM spans ORDER BY trace_id, span_id"):
            digests.update(digest or b"")
        for name, value in self.conn.execute("SELECT trace_id || name, value FROM labels ORDER BY 1"):
            digests.update(f"{name}={value}".encode())
        return f"{row[0]}:{row[1]}:{row[2]}:{digests.hexdigest()}"

    def save_clusters(self, run_id: str, clusters: list[tuple[str, dict[str, Any]]]) -> None:
        """Replace a run's clusters: (cluster id, its data), in rank order."""
        with self.conn:
            self.conn.execute("DELETE FROM clusters WHERE run_id = ?", [run_id])
            self.conn.executemany(
                "INSERT INTO clusters (run_id, cluster_id, position, data) VALUES (?, ?, ?, ?)",
                [(run_id, cluster_id, i, dumps(data)) for i, (cluster_id, data) in enumerate(clusters)],
            )

    def cluster_data(self, run_id: str) -> list[dict[str, Any]]:
        """A run's clusters' data, in rank order."""
        return [orjson.loads(data) for (data,) in self.conn.execute(
            "SELECT data FROM clusters WHERE run_id = ? ORDER BY position", [run_id]
        )]

    def add_schedule(self, name: str, every: str, source: str, options: dict[str, Any], watermark: str,
                     created_at: str) -> None:
        with self.conn:
            if self.conn.execute("SELECT 1 FROM schedules WHERE name = ?", [name]).fetchone():
                raise ValueError(f"a schedule named {name!r} exists; remove it first")
            self.conn.execute(
                "INSERT INTO schedules (name, every, source, options, watermark, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [name, every, source, dumps(options), watermark, created_at],
            )

    def schedule_rows(self) -> list[tuple[str, str, str, dict[str, Any], str | None]]:
        """(name, every, source, options, watermark) of every schedule, by name."""
        return [
            (r[0], r[1], r[2], orjson.loads(r[3]), r[4])
            for r in self.conn.execute("SELECT name, every, source, options, watermark FROM schedules ORDER BY name")
        ]

    def remove_schedule(self, name: str) -> bool:
        with self.conn:
            return self.conn.execute("DELETE FROM schedules WHERE name = ?", [name]).rowcount > 0

    def set_watermark(self, name: str, watermark: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE schedules SET watermark = ? WHERE name = ?", [watermark, name])
