"""Findings and reviews: each run's findings, and the verdicts people recorded on them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import orjson

from investigator.models import Finding

REVIEW_COLUMNS = "finding_id, verdict, of_id, note, reviewed_at"


class FindingTables:
    """Storing and reading findings and reviews."""

    conn: sqlite3.Connection

    def replace_findings(self, run_id: str, findings: Iterable[Finding]) -> None:
        """Make these the run's findings, in one transaction."""
        with self.conn:
            self.conn.execute("DELETE FROM findings WHERE run_id = ?", [run_id])
            for finding in findings:
                self.save_finding(run_id, finding)

    def save_finding(self, run_id: str, finding: Finding) -> None:
        """Store (or replace) one finding of a run (call inside a transaction)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO findings (id, run_id, cluster_id, category, severity, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [finding.id, run_id, finding.cluster_id, finding.category, finding.severity, finding.model_dump_json()],
        )

    def findings_of(self, run_id: str) -> list[Finding]:
        """A run's findings, by id."""
        return [Finding.model_validate(orjson.loads(data)) for (data,) in self.conn.execute(
            "SELECT data FROM findings WHERE run_id = ? ORDER BY id", [run_id]
        )]

    def finding_of(self, run_id: str, finding_id: str) -> Finding | None:
        """One finding of a run, if the run has it."""
        row = self.conn.execute(
            "SELECT data FROM findings WHERE run_id = ? AND id = ?", [run_id, finding_id]
        ).fetchone()
        return Finding.model_validate(orjson.loads(row[0])) if row else None

    def finding_ids_of(self, run_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM findings WHERE run_id = ? ORDER BY id", [run_id])]

    def find_finding(self, finding_id: str, run_id: str | None = None) -> Finding | None:
        """A finding by id, from the given run or the latest run that has it."""
        sql = "SELECT f.data FROM findings f JOIN runs r ON r.id = f.run_id WHERE f.id = ?"
        params: list[str] = [finding_id]
        if run_id:
            sql += " AND f.run_id = ?"
            params.append(run_id)
        row = self.conn.execute(sql + " ORDER BY r.started_at DESC LIMIT 1", params).fetchone()
        return Finding.model_validate(orjson.loads(row[0])) if row else None

    def add_review(self, finding_id: str, verdict: str, of_id: str | None, note: str | None,
                   reviewed_at: str) -> None:
        with self.conn:
            self.conn.execute(
                f"INSERT INTO reviews ({REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                [finding_id, verdict, of_id, note, reviewed_at],
            )

    def review_rows(self) -> list[tuple[str, str, str | None, str | None, str]]:
        """Every review as (finding id, verdict, of id, note, reviewed at), oldest first."""
        return [tuple(r) for r in self.conn.execute(f"SELECT {REVIEW_COLUMNS} FROM reviews ORDER BY id")]

    def pop_review(self, finding_id: str) -> tuple[str, str, str | None, str | None, str] | None:
        """Delete and return a finding's latest review; None when it has none."""
        row = self.conn.execute(
            f"SELECT id, {REVIEW_COLUMNS} FROM reviews WHERE finding_id = ? ORDER BY id DESC LIMIT 1", [finding_id]
        ).fetchone()
        if row is None:
            return None
        with self.conn:
            self.conn.execute("DELETE FROM reviews WHERE id = ?", [row[0]])
        return tuple(row[1:])
