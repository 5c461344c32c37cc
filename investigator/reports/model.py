"""The report of a run, as data: what every output format renders.

The JSON form carries `schema_version`; its JSON Schema (generated from these models) ships in
`investigator/schemas/report.schema.json`. It holds nothing that varies between two runs of the same
analysis on the same input (no timestamps, no latencies), so offline and replayed runs give
byte-identical JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.feature_extraction.text import TfidfVectorizer

from investigator.clustering import Cluster
from investigator.history import finding_states, reported_findings
from investigator.models import SCORE_DIMENSIONS, Finding
from investigator.outline import children_map, preview
from investigator.reports.masked import ReportMasking
from investigator.runs import get_run, load_clusters
from investigator.store import Store

SCHEMA_VERSION = "1.0"
TREND_RUNS = 30  # a finding's trend covers at most its last this many runs


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunInfo(_Model):
    id: str
    window_start: str | None
    window_end: str | None
    model: str
    status: str
    traces: int
    suspects: int
    clusters: int
    findings: int
    cost_usd: float
    stopped_by: dict[str, str | None]
    # What a query source (ClickHouse, Phoenix) scanned for the window and sent; empty for files.
    source: dict[str, int] = {}


class ClusterView(_Model):
    id: str
    size: int
    noise: bool
    keywords: list[str]
    categories: dict[str, int]
    representative_trace_ids: list[str]
    prevalence: float
    impact_score: float
    cohorts: list[dict[str, Any]]
    trace_ids: list[str]
    map_xy: tuple[float, float]  # its place on the report's 2-D map of clusters, each axis in [0, 1]


class SpanNode(_Model):
    span_id: str
    parent_id: str | None
    depth: int
    kind: str
    name: str
    status: str
    duration_ms: float | None
    preview: str


class TraceView(_Model):
    trace_id: str
    name: str | None
    status: str
    spans: list[SpanNode]


class ScoreSummary(_Model):
    mean: float | None
    histogram: dict[str, int]


class TrendPoint(_Model):
    run_id: str
    trace_count: int


class Report(_Model):
    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    findings: list[Finding]
    clusters: list[ClusterView]
    traces: list[TraceView]
    scores: dict[str, ScoreSummary]
    trends: dict[str, list[TrendPoint]]  # finding id → its traces in each run it was in, oldest first


def build_report(store: Store, run_id: str | None = None, redact: bool = True) -> Report:
    """The report of a run (default: the latest), its personal data and secrets masked unless
    `redact` is False."""
    run = get_run(store, run_id)
    if run is None:
        raise LookupError(f"no run {run_id!r}" if run_id else "no run yet: run `investigator run` first")
    masking = ReportMasking(store) if redact else None
    findings = reported_findings(store, run.id)
    if masking:
        findings = [masking.finding(f) for f in findings]
    clusters = load_clusters(store, run.id)
    cited = sorted({e.trace_id for f in findings for e in f.evidence})
    investigations = run.counts.get("investigations", [])
    info = RunInfo(
        id=run.id, window_start=run.window_start, window_end=run.window_end,
        model=str(run.settings.get("judge", {}).get("model", "offline")), status=run.status,
        traces=run.counts.get("traces", 0), suspects=run.counts.get("suspects", 0),
        clusters=run.counts.get("clusters", 0), findings=len(findings),
        cost_usd=run.counts.get("cost_usd", 0.0),
        stopped_by={i["cluster_id"]: i["stopped_by"] for i in investigations},
        source=run.counts.get("source", {}),
    )
    return Report(
        run=info,
        findings=findings,
        clusters=[_cluster(c, xy, masking) for c, xy in zip(clusters, _map_positions(clusters), strict=True)],
        traces=[_trace(store, t, masking) for t in cited],
        scores=_scores(store, [t for c in clusters for t in c.trace_ids]),
        trends=_trends(store, run.id, findings),
    )


def _cluster(cluster: Cluster, map_xy: tuple[float, float], masking: ReportMasking | None) -> ClusterView:
    cohorts = [replace(c, value=masking.cohort_value(c.value)) if masking else c for c in cluster.cohorts]
    return ClusterView(
        id=cluster.id, size=cluster.size, noise=cluster.noise, keywords=cluster.keywords,
        categories=cluster.categories, representative_trace_ids=cluster.representative_trace_ids,
        prevalence=cluster.prevalence, impact_score=cluster.impact_score,
        cohorts=[c.__dict__ for c in cohorts], trace_ids=cluster.trace_ids, map_xy=map_xy,
    )


def _map_positions(clusters: list[Cluster]) -> list[tuple[float, float]]:
    """Each cluster's place on a 2-D map of what the clusters hold: TF-IDF over its keywords,
    categories and category families, projected on the first two principal axes (signs fixed, so
    the map is the same on every run), then scaled into [0, 1] × [0, 1] by one factor for both axes,
    centred, so distances keep their proportions. Clusters that do not differ (one cluster, or none
    with a keyword or category) sit at (0.5, 0.5)."""
    documents = [[*c.keywords, *c.categories, *{k.split(".")[0] for k in c.categories}] for c in clusters]
    if not any(documents):
        return [(0.5, 0.5)] * len(clusters)
    vectors = TfidfVectorizer(analyzer=lambda tokens: tokens).fit_transform(documents).toarray()
    u, s, _ = np.linalg.svd(vectors - vectors.mean(axis=0), full_matrices=False)
    xy = np.zeros((len(clusters), 2))
    xy[:, : min(2, len(s))] = u[:, :2] * s[:2]
    xy = np.round(xy, 9)  # below rounding noise, so signs and a flat axis do not depend on it
    xy *= np.where(xy[np.abs(xy).argmax(axis=0), [0, 1]] < 0, -1, 1)
    low, extent = xy.min(axis=0), np.ptp(xy, axis=0)
    scale = extent.max() or 1.0
    scaled = (xy - low) / scale + (1 - extent / scale) / 2
    return [(round(float(x), 4), round(float(y), 4)) for x, y in scaled]


def _trends(store: Store, run_id: str, findings: list[Finding]) -> dict[str, list[TrendPoint]]:
    """Each finding's trace count in every run it was in, oldest first, up to this run (at most
    TREND_RUNS of them); a run outside the history (one that failed) is its own only point."""
    states = finding_states(store)
    trends = {}
    for finding in findings:
        counts = states[finding.id].trace_counts if finding.id in states else []
        runs = [r for r, _ in counts]
        counts = counts[: runs.index(run_id) + 1] if run_id in runs else [(run_id, finding.impact.trace_count)]
        trends[finding.id] = [TrendPoint(run_id=r, trace_count=n) for r, n in counts[-TREND_RUNS:]]
    return trends


def _trace(store: Store, trace_id: str, masking: ReportMasking | None) -> TraceView:
    trace = store.get_trace(trace_id)
    spans = store.spans(trace_id)
    roots, children = children_map(spans)
    nodes: list[SpanNode] = []

    def walk(span: Any, depth: int) -> None:
        shown = masking.span(span) if masking else span
        nodes.append(SpanNode(span_id=span.span_id, parent_id=span.parent_id, depth=depth, kind=span.kind,
                              name=shown.name, status=span.status, duration_ms=span.duration_ms,
                              preview=preview(shown, 120)))
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    name = trace.name if trace else None
    return TraceView(trace_id=trace_id, name=masking.text(name, trace_id) if masking and name else name,
                     status=trace.status if trace else "unset", spans=nodes)


def _scores(store: Store, trace_ids: list[str]) -> dict[str, ScoreSummary]:
    """The four scores across the suspect traces (the judge's where it scored, else the rules')."""
    wanted = set(trace_ids)
    best: dict[str, Any] = {}
    for scores in store.scores():
        if scores.trace_id in wanted and (scores.trace_id not in best or scores.source != "rules"):
            best[scores.trace_id] = scores
    out = {}
    for dimension in SCORE_DIMENSIONS:
        values = [getattr(s, dimension).score for _, s in sorted(best.items())]
        counts = Counter(values)
        out[dimension] = ScoreSummary(
            mean=round(sum(values) / len(values), 3) if values else None,
            histogram={str(k): counts.get(k, 0) for k in range(1, 6)},
        )
    return out


def report_schema() -> dict[str, Any]:
    """The JSON Schema of the JSON report (shipped as investigator/schemas/report.schema.json)."""
    schema = Report.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://trace-investigator.dev/schemas/report-{SCHEMA_VERSION}.json"
    return schema
