"""The rules layer over the store: detectors, per-trace scores and compact documents.

Incremental: a trace already analysed by the same detector versions is skipped unless its spans
changed since (ingest forgets the analysis of every trace it changes). Population statistics for
the outlier detectors are computed over every stored span, from timings only. Large backlogs are
analysed by worker processes, one chunk of traces each, and each worker stores what it finds
(one transaction per chunk; SQLite serialises the writers).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from investigator.detectors import PopulationStats, TraceView, all_detectors, rules_version, run_detectors
from investigator.detectors.outliers import performance_notes
from investigator.detectors.population import Samples, samples
from investigator.documents import build_document
from investigator.models import Issue, TraceScores
from investigator.redact import Redactor
from investigator.scoring import score_trace
from investigator.store import Store

# Small chunks keep both workers busy to the end (a worker finishing early idles for at most one
# chunk) and cost little: each is one read query and one write transaction.
CHUNK_TRACES = 125
PARALLEL_MIN_TRACES = 2 * CHUNK_TRACES  # one chunk has nothing to share; forked workers start in ms
MAX_WORKERS = 4


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
                "rules_version": self.rules_version}


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
    wanted = list(trace_ids) if trace_ids is not None else store.trace_ids()
    done = set() if force else store.analysed(version)
    todo = [t for t in wanted if t not in done]
    report.skipped = len(wanted) - len(todo)
    if not todo:
        return report
    chunks = [todo[i : i + CHUNK_TRACES] for i in range(0, len(todo), CHUNK_TRACES)]
    workers = _workers() if len(todo) >= PARALLEL_MIN_TRACES and store.path != ":memory:" else 1
    if workers > 1:
        with _context().Pool(workers, initializer=_init_worker, initargs=(store.path, redactor, version)) as pool:
            # The workers read a share of the span timings each, then analyse chunks.
            shares = [(k, workers) for k in range(workers)]
            population = PopulationStats.from_samples(pool.map(_samples_in_worker, shares))
            saved = pool.imap(_analyse_in_worker, [(chunk, population) for chunk in chunks])
            _tally(saved, report, on_progress)
    else:
        population = PopulationStats.build(store.span_timings())
        redactor = redactor or Redactor()
        saved = (_analyse_and_save(store, chunk, population, redactor, version) for chunk in chunks)
        _tally(saved, report, on_progress)
    return report


Result = tuple[str, list[Issue], TraceScores, str]


def analyse(store: Store, trace_ids: list[str], population: PopulationStats, redactor: Redactor) -> list[Result]:
    """Issues, scores and the compact document of each trace."""
    spans = store.spans_of(trace_ids)
    traces = store.traces_of(trace_ids)
    detectors = all_detectors()
    results = []
    for trace_id in trace_ids:
        trace = traces.get(trace_id)
        if trace is None or not spans[trace_id]:
            continue
        view = TraceView(trace, spans[trace_id], population)
        issues = run_detectors(view, detectors)
        document = build_document(trace, view.spans, issues, redactor, notes=performance_notes(view))
        results.append((trace_id, issues, score_trace(view, issues), document))
    return results


class Saved(NamedTuple):
    """What analysing one chunk stored."""

    analysed: int
    issues: int
    traces_with_issues: int
    refused: list[Issue]


def _analyse_and_save(store: Store, trace_ids: list[str], population: PopulationStats, redactor: Redactor,
                      version: str) -> Saved:
    results = analyse(store, trace_ids, population, redactor)
    refused = store.save_analysis(results, version)
    issues = sum(len(r[1]) for r in results) - len(refused)
    return Saved(len(results), issues, sum(1 for r in results if r[1]), refused)


def _tally(saved: Iterable[Saved], report: RulesReport, on_progress: Callable[[int], None] | None) -> None:
    for chunk in saved:
        report.analysed += chunk.analysed
        report.issues += chunk.issues
        report.traces_with_issues += chunk.traces_with_issues
        report.refused.extend(chunk.refused)
        if on_progress:
            on_progress(chunk.analysed)


def _workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _context() -> multiprocessing.context.BaseContext:
    """Forked workers start at once, with everything this process imported and compiled; forking
    is only safe while this process runs a single thread, else they are spawned afresh."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


_worker_state: dict[str, object] = {}


def _init_worker(path: str, redactor: Redactor | None, version: str) -> None:
    # A forked worker opens its own connection: the parent's must not be used across a fork.
    _worker_state.update(store=Store(path), redactor=redactor or Redactor(), version=version)
    # Analysis allocates many containers and leaves no reference cycles (a test holds it to that),
    # so everything it frees goes by reference counting, and the cyclic collector would only
    # re-walk the chunk's live spans: workers collect after each chunk instead of during it. What
    # a worker starts with is never collected (nor touched, so forked memory stays shared).
    gc.freeze()
    gc.disable()


def _samples_in_worker(share: tuple[int, int]) -> Samples:
    return samples(_worker_state["store"].span_timings(*share))  # type: ignore[attr-defined]


def _analyse_in_worker(task: tuple[list[str], PopulationStats]) -> Saved:
    """Each worker stores its own chunks: results never travel back through this process."""
    trace_ids, population = task
    state = _worker_state
    try:
        return _analyse_and_save(state["store"], trace_ids, population, state["redactor"], state["version"])  # type: ignore[arg-type]
    finally:
        gc.collect()
