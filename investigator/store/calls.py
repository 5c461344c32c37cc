"""The judge's model calls and the summaries of long span fields: what each call cost, and the
summaries made once per span, field and model."""

from __future__ import annotations

import sqlite3
from typing import Any


class CallTables:
    """Logging model calls and caching summaries, and the judge's checkpoints beside them."""

    conn: sqlite3.Connection
    path: str

    def log_call(self, **call: Any) -> None:
        """One model call (or failed attempt): run_id, cluster_id, purpose, model, tokens_in,
        tokens_out, cached_tokens, cost_usd, latency_ms, error, created_at."""
        placeholders = ", ".join("?" * len(call))
        self.conn.execute(f"INSERT INTO llm_calls ({', '.join(call)}) VALUES ({placeholders})", list(call.values()))

    def cached_summary(self, trace_id: str, span_id: str, field: str, model: str) -> str | None:
        row = self.conn.execute(
            "SELECT summary FROM span_summaries WHERE trace_id = ? AND span_id = ? AND field = ? AND model = ?",
            [trace_id, span_id, field, model],
        ).fetchone()
        return row[0] if row else None

    def save_summary(self, trace_id: str, span_id: str, field: str, model: str, summary: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO span_summaries (trace_id, span_id, field, model, summary)"
                " VALUES (?, ?, ?, ?, ?)",
                [trace_id, span_id, field, model, summary],
            )

    def checkpoint_connection(self) -> sqlite3.Connection:
        """A connection of its own for the judge's checkpoints, kept in this same file (their
        `checkpoints` and `writes` tables), so an interrupted investigation resumes from the store."""
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn
