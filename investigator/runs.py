"""Runs: one analysis of a window of traces, with its settings, counts and clusters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from investigator.clustering import Cluster, ClusterSettings, Cohort, cluster_traces, is_suspect
from investigator.store import Store
from investigator.timefmt import now_iso


@dataclass
class Run:
    id: str
    started_at: str
    finished_at: str | None = None
    status: str = "running"
    window_start: str | None = None
    window_end: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    replaced: str | None = None  # when this run replaces an identical earlier one: when that one started


def start_run(
    store: Store,
    window_start: str | None,
    window_end: str | None,
    settings: dict[str, Any],
    fingerprint: str | None = None,
) -> Run:
    """Record a new run. With a `fingerprint` of the input, the id is derived from the window, the
    settings and that fingerprint: running the same analysis of the same data again replaces the
    earlier run (and its clusters and findings) instead of adding a copy."""
    started = now_iso()
    if fingerprint is not None:
        key = orjson.dumps([window_start, window_end, settings, fingerprint], option=orjson.OPT_SORT_KEYS)
        run_id = "run_" + hashlib.sha1(key).hexdigest()[:12]
    else:
        digest = hashlib.sha1(f"{started}|{window_start}|{window_end}".encode()).hexdigest()[:6]
        run_id = f"run_{started[:19].replace('-', '').replace(':', '')}_{digest}"
    run = Run(id=run_id, started_at=started, window_start=window_start, window_end=window_end, settings=settings)
    run.replaced = store.replace_run(run_id, started, window_start, window_end, settings)
    return run


def finish_run(store: Store, run: Run, status: str, counts: dict[str, Any]) -> None:
    run.status, run.counts, run.finished_at = status, counts, now_iso()
    store.finish_run(run.id, status, counts, run.finished_at)


def get_run(store: Store, run_id: str | None = None) -> Run | None:
    """A run by id, or the latest one."""
    row = store.run_row(run_id)
    return Run(**row) if row else None


def save_clusters(store: Store, run_id: str, clusters: list[Cluster]) -> None:
    store.save_clusters(run_id, [(c.id, c.as_dict()) for c in clusters])


def load_clusters(store: Store, run_id: str) -> list[Cluster]:
    clusters = []
    for value in store.cluster_data(run_id):
        value["cohorts"] = [Cohort(**c) for c in value["cohorts"]]
        clusters.append(Cluster(**value))
    return clusters


def cluster_window(
    store: Store,
    since: str | None = None,
    until: str | None = None,
    settings: ClusterSettings | None = None,
) -> tuple[list[Cluster], int, int]:
    """Cluster the suspect traces of a window; returns (clusters, traces in window, suspects). A
    window a query source sent only part of (its suspects and a sample) counts as large as the
    source counted it."""
    population = list(store.list_traces(since=since, until=until))
    ids = [t.trace_id for t in population]
    issues: dict[str, list] = {}
    for issue in store.issues(ids):
        issues.setdefault(issue.trace_id, []).append(issue)
    suspects = [t for t in population if is_suspect(t, issues.get(t.trace_id, []))]
    documents = store.documents([t.trace_id for t in suspects])
    size = max(store.source_window_traces(since, until) or 0, len(population))
    clusters = cluster_traces(suspects, documents, issues, population, settings, window_traces=size)
    return clusters, size, len(suspects)
