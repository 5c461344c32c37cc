"""The rules layer's results: per-trace issues, scores and compact documents, and which traces are
analysed by which version of the rules."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
from sqlite_utils import Database

from investigator.evidence import quote_in_span
from investigator.models import SCORE_DIMENSIONS, Issue, TraceScores
from investigator.store.common import chunks, dumps
from investigator.timefmt import now_iso

_ISSUE_SQL = (
    "INSERT INTO issues"
    " (trace_id, span_id, category, severity, confidence, evidence, description, source, surfaced_span_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SCORES_SQL = (
    f"INSERT OR REPLACE INTO trace_scores (trace_id, source, {', '.join(SCORE_DIMENSIONS)}, reasons)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _issue_values(issue: Issue) -> list[Any]:
    return [issue.trace_id, issue.span_id, issue.category, issue.severity, issue.confidence, issue.evidence,
            issue.description, issue.source, issue.surfaced_span_id]


def _score_values(scores: TraceScores) -> list[Any]:
    reasons = {d: getattr(scores, d).reason for d in SCORE_DIMENSIONS}
    return [scores.trace_id, scores.source, *(getattr(scores, d).score for d in SCORE_DIMENSIONS), dumps(reasons)]


class AnalysisTables:
    """Storing and reading the rules layer's results."""

    conn: sqlite3.Connection
    db: Database

    def forget_analysis(self, trace_ids: Iterable[str]) -> None:
        """Traces whose spans changed must be analysed again by the next `detect` (in the caller's
        transaction: the one that changed them)."""
        for chunk in chunks(sorted(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            self.conn.execute(f"DELETE FROM analysis WHERE trace_id IN ({marks})", list(chunk))

    def analysed(self, rules_version: str) -> set[str]:
        """Traces already analysed by exactly this set of detector versions."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT trace_id FROM analysis WHERE rules_version = ?", [rules_version]
            )
        }

    def save_analysis(
        self,
        results: Sequence[tuple[str, Sequence[Issue], TraceScores, str]],
        rules_version: str,
    ) -> list[Issue]:
        """Replace the rules-layer issues, scores and document of each trace in one transaction.
        An issue whose span or evidence quote is not in the store is refused and returned."""
        refused: list[Issue] = []
        kept: list[Issue] = []
        for trace_id, issues, _, _ in results:
            for issue in issues:
                span = self.get_span(trace_id, issue.span_id) if issue.trace_id == trace_id else None
                (kept if span is not None and quote_in_span(span, issue.evidence) else refused).append(issue)
        now = now_iso()
        with self.db.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # rules workers write side by side: wait for the lock up front
            self.conn.executemany(
                "DELETE FROM issues WHERE trace_id = ? AND source LIKE 'rule:%'", [[r[0]] for r in results]
            )
            self.conn.executemany(_ISSUE_SQL, [_issue_values(i) for i in kept])
            self.conn.executemany(_SCORES_SQL, [_score_values(r[2]) for r in results])
            self.conn.executemany(
                "INSERT INTO documents (trace_id, text) VALUES (?, ?) ON CONFLICT(trace_id)"
                " DO UPDATE SET text = excluded.text",
                [[r[0], r[3]] for r in results],
            )
            self.conn.executemany(
                "INSERT INTO analysis (trace_id, rules_version, analysed_at) VALUES (?, ?, ?)"
                " ON CONFLICT(trace_id) DO UPDATE SET rules_version = excluded.rules_version,"
                " analysed_at = excluded.analysed_at",
                [[r[0], rules_version, now] for r in results],
            )
        return refused

    def add_issue(self, issue: Issue) -> None:
        """Store one per-trace issue, replacing one of the same span, code and source (call inside a
        transaction; the caller vouches for its quote)."""
        self.conn.execute(
            "DELETE FROM issues WHERE trace_id = ? AND span_id = ? AND category = ? AND source = ?",
            [issue.trace_id, issue.span_id, issue.category, issue.source],
        )
        self.conn.execute(_ISSUE_SQL, _issue_values(issue))

    def save_scores(self, scores: TraceScores) -> None:
        """Store one trace's scores under their source (call inside a transaction)."""
        self.conn.execute(_SCORES_SQL, _score_values(scores))

    def issues(self, trace_ids: Iterable[str] | None = None) -> list[Issue]:
        """Stored per-trace issues (all, or of these traces), in trace and span order."""
        columns = "trace_id, span_id, category, severity, confidence, evidence, description, source, surfaced_span_id"
        keys = columns.split(", ")
        if trace_ids is None:
            rows = self.conn.execute(f"SELECT {columns} FROM issues ORDER BY trace_id, id").fetchall()
        else:
            rows = []
            for chunk in chunks(list(trace_ids)):
                marks = ", ".join("?" * len(chunk))
                rows.extend(self.conn.execute(
                    f"SELECT {columns} FROM issues WHERE trace_id IN ({marks}) ORDER BY trace_id, id",
                    list(chunk),
                ))
        return [Issue(**dict(zip(keys, r, strict=True))) for r in rows]

    def scores(self) -> Iterator[TraceScores]:
        """Stored per-trace scores, in trace order."""
        for row in self.conn.execute(
            f"SELECT trace_id, source, {', '.join(SCORE_DIMENSIONS)}, reasons FROM trace_scores"
            " ORDER BY trace_id, source"
        ):
            reasons = orjson.loads(row[-1])
            yield TraceScores(
                trace_id=row[0],
                source=row[1],
                **{d: {"score": row[2 + i], "reason": reasons.get(d, "")}
                   for i, d in enumerate(SCORE_DIMENSIONS)},
            )

    def documents(self, trace_ids: Iterable[str]) -> dict[str, str]:
        """The compact documents of these traces (those that have one)."""
        out: dict[str, str] = {}
        for chunk in chunks(list(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            out.update(self.conn.execute(
                f"SELECT trace_id, text FROM documents WHERE trace_id IN ({marks})", list(chunk)
            ).fetchall())
        return out
