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


_COLUMNS = ("id", "started_at", "finished_at", "status", "window_start", "window_end", "settings", "counts")


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
    earlier = store.conn.execute("SELECT started_at FROM runs WHERE id = ?", [run_id]).fetchone()
    run = Run(id=run_id, started_at=started, window_start=window_start, window_end=window_end, settings=settings,
              replaced=earlier[0] if earlier else None)
    with store.conn:
        for table in ("clusters", "findings"):
            store.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run.id])
        store.conn.execute("DELETE FROM runs WHERE id = ?", [run.id])
        store.conn.execute(
            f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run.id, run.started_at, None, run.status, window_start, window_end,
             orjson.dumps(settings).decode(), "{}"],
        )
    return run


def input_fingerprint(store: Store) -> str:
    """Changes whenever spans, labels or rules-layer results change."""
    row = store.conn.execute(
        "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM labels), (SELECT group_concat(rules_version) FROM"
        " (SELECT DISTINCT rules_version FROM analysis))"
    ).fetchone()
    digests = hashlib.sha1()
    for (digest,) in store.conn.execute("SELECT digest FROM spans ORDER BY trace_id, span_id"):
        digests.update(digest or b"")
    for name, value in store.conn.execute("SELECT trace_id || name, value FROM labels ORDER BY 1"):
        digests.update(f"{name}={value}".encode())
    return f"{row[0]}:{row[1]}:{row[2]}:{digests.hexdigest()}"


def finish_run(store: Store, run: Run, status: str, counts: dict[str, Any]) -> None:
    run.status, run.counts, run.finished_at = status, counts, now_iso()
    with store.conn:
        store.conn.execute(
            "UPDATE runs SET status = ?, counts = ?, finished_at = ? WHERE id = ?",
            [status, orjson.dumps(counts).decode(), run.finished_at, run.id],
        )


def get_run(store: Store, run_id: str | None = None) -> Run | None:
    """A run by id, or the latest one."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
    row = (
        store.conn.execute(sql + " WHERE id = ?", [run_id]).fetchone()
        if run_id
        else store.conn.execute(sql + " ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
    )
    if row is None:
        return None
    data = dict(zip(_COLUMNS, row, strict=True))
    data["settings"], data["counts"] = orjson.loads(data["settings"]), orjson.loads(data["counts"])
    return Run(**data)


def save_clusters(store: Store, run_id: str, clusters: list[Cluster]) -> None:
    with store.conn:
        store.conn.execute("DELETE FROM clusters WHERE run_id = ?", [run_id])
        store.conn.executemany(
            "INSERT INTO clusters (run_id, cluster_id, position, data) VALUES (?, ?, ?, ?)",
            [(run_id, c.id, i, orjson.dumps(c.as_dict()).decode()) for i, c in enumerate(clusters)],
        )


def load_clusters(store: Store, run_id: str) -> list[Cluster]:
    clusters = []
    for (data,) in store.conn.execute(
        "SELECT data FROM clusters WHERE run_id = ? ORDER BY position", [run_id]
    ):
        value = orjson.loads(data)
        value["cohorts"] = [Cohort(**c) for c in value["cohorts"]]
        clusters.append(Cluster(**value))
    return clusters


def cluster_window(
    store: Store,
    since: str | None = None,
    until: str | None = None,
    settings: ClusterSettings | None = None,
) -> tuple[list[Cluster], int, int]:
    """Cluster the suspect traces of a window; returns (clusters, traces in window, suspects)."""
    population = list(store.list_traces(since=since, until=until))
    ids = [t.trace_id for t in population]
    issues: dict[str, list] = {}
    for issue in store.issues(ids):
        issues.setdefault(issue.trace_id, []).append(issue)
    suspects = [t for t in population if is_suspect(t, issues.get(t.trace_id, []))]
    documents = store.documents([t.trace_id for t in suspects])
    clusters = cluster_traces(suspects, documents, issues, population, settings)
    return clusters, len(population), len(suspects)
