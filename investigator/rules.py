"""The rules layer over the store: detectors, per-trace scores and compact documents.

Incremental: a trace already analysed by the same detector versions is skipped unless its spans
changed since (ingest forgets the analysis of every trace it changes). Population statistics for
the outlier detectors are computed over every stored span, from timings only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from investigator.detectors import PopulationStats, TraceView, rules_version, run_detectors
from investigator.documents import build_document
from investigator.models import Issue
from investigator.redact import Redactor
from investigator.scoring import score_trace
from investigator.store import Store

CHUNK_TRACES = 500


@dataclass
class RulesReport:
    analysed: int = 0
    skipped: int = 0
    issues: int = 0
    traces_with_issues: int = 0
    refused: list[Issue] = field(default_factory=list)
    rules_version: str = ""

    def summary(self) -> dict[str, int | str]:
        return {"analysed": self.analysed, "skipped": self.skipped, "issues": self.issues,
                "traces_with_issues": self.traces_with_issues, "refused": len(self.refused),
                "rules_version": self.rules_version}  # fmt: skip


def run_rules(
    store: Store,
    force: bool = False,
    trace_ids: Iterable[str] | None = None,
    redactor: Redactor | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RulesReport:
    """Analyse the stored traces (all, or `trace_ids`) that need it; returns what was done."""
    version = rules_version()
    report = RulesReport(rules_version=version)
    wanted = list(trace_ids) if trace_ids is not None else [
        r[0] for r in store.conn.execute("SELECT trace_id FROM traces ORDER BY trace_id")
    ]  # fmt: skip
    done = set() if force else store.analysed(version)
    todo = [t for t in wanted if t not in done]
    report.skipped = len(wanted) - len(todo)
    if not todo:
        return report
    population = PopulationStats.build(store.span_timings())
    redactor = redactor or Redactor()
    for start in range(0, len(todo), CHUNK_TRACES):
        chunk = todo[start : start + CHUNK_TRACES]
        spans = store.spans_of(chunk)
        results = []
        for trace_id in chunk:
            trace = store.get_trace(trace_id)
            if trace is None or not spans[trace_id]:
                continue
            view = TraceView(trace, spans[trace_id], population)
            issues = run_detectors(view)
            scores = score_trace(view, issues)
            document = build_document(trace, view.spans, issues, redactor)
            results.append((trace_id, issues, scores, document))
            report.issues += len(issues)
            report.traces_with_issues += bool(issues)
        report.refused.extend(store.save_analysis(results, version))
        report.analysed += len(results)
        if on_progress:
            on_progress(len(chunk))
    report.issues -= len(report.refused)
    return report
