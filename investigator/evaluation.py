"""Measure the investigator against a labelled dataset (`investigator eval DATASET`).

A dataset is a directory with `traces/` (any supported format), `labels.jsonl` (eval labels and
outcomes), `truth.jsonl` (per trace: the injected issues as `(span_id, category, severity,
rule_detectable)` and the expected four scores) and `manifest.json`. Issues are compared as
`(trace, span, category)` triples: precision over everything the investigator reported, recall over
the truth issues a rule can see (and, for reference, over all truth issues).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from scipy.stats import spearmanr

from investigator.errors import DatasetError
from investigator.models import SCORE_DIMENSIONS, Issue, TraceScores

Triple = tuple[str, str, str]


@dataclass
class TruthIssue:
    span_id: str
    category: str
    severity: str
    rule_detectable: bool


@dataclass
class TruthTrace:
    trace_id: str
    family: str
    issues: list[TruthIssue]
    scores: dict[str, int]
    outcome: str = ""  # clean, recovered or faulty, when the dataset says

    @property
    def clean(self) -> bool:
        return self.outcome == "clean" if self.outcome else self.family == "clean" and not self.issues


def load_truth(dataset: Path) -> dict[str, TruthTrace]:
    path = dataset / "truth.jsonl"
    if not path.is_file():
        raise DatasetError(f"{dataset}: no truth.jsonl (is this a labelled dataset?)")
    truth: dict[str, TruthTrace] = {}
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                issues = [
                    TruthIssue(i["span_id"], i["category"], i["severity"], bool(i.get("rule_detectable", True)))
                    for i in row.get("issues", [])
                ]
                truth[row["trace_id"]] = TruthTrace(
                    row["trace_id"], row.get("family", ""), issues, row.get("scores") or {}, row.get("outcome", "")
                )
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{number}: bad truth row: {exc}") from exc
    return truth


def _prf(predicted: set[Any], acceptable: set[Any], required: set[Any]) -> dict[str, float]:
    """Precision of `predicted` against what is acceptable (any true item), recall of the
    `required` items (the ones the scored layer is expected to find)."""
    hits = len(predicted & acceptable)
    found = len(predicted & required)
    precision = hits / len(predicted) if predicted else 1.0
    recall = found / len(required) if required else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "predicted": len(predicted), "correct": hits, "expected": len(required),
            "found": found}


@dataclass
class EvalReport:
    traces: int
    pairs: dict[str, float]
    pairs_all_truth: dict[str, float]
    categories: dict[str, float]
    location_accuracy: float
    per_category: dict[str, dict[str, float]]
    per_detector: dict[str, dict[str, float]]
    score_correlation: dict[str, float | None]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "traces": self.traces,
            "pairs": self.pairs,
            "pairs_all_truth": self.pairs_all_truth,
            "categories": self.categories,
            "location_accuracy": self.location_accuracy,
            "per_category": self.per_category,
            "per_detector": self.per_detector,
            "score_correlation": self.score_correlation,
            **self.extra,
        }


def score_issues(
    truth: dict[str, TruthTrace],
    issues: list[Issue],
    scores: list[TraceScores],
    detector_codes: dict[str, tuple[str, ...]] | None = None,
) -> EvalReport:
    """Compare reported issues and scores with the truth, over the traces the truth covers.
    `detector_codes` (source → codes it can emit) lets per-detector recall count the truth
    issues of the detector's own codes."""
    predicted_by_source: dict[Triple, set[str]] = defaultdict(set)
    for issue in issues:
        if issue.trace_id in truth:
            predicted_by_source[(issue.trace_id, issue.span_id, issue.category)].add(issue.source)
    predicted = set(predicted_by_source)
    all_truth = {(t.trace_id, i.span_id, i.category) for t in truth.values() for i in t.issues}
    detectable = {
        (t.trace_id, i.span_id, i.category) for t in truth.values() for i in t.issues if i.rule_detectable
    }

    def of(items: set[Triple], category: str) -> set[Triple]:
        return {x for x in items if x[2] == category}

    per_category: dict[str, dict[str, float]] = {}
    for category in sorted({c for *_, c in predicted | detectable}):
        per_category[category] = _prf(of(predicted, category), of(all_truth, category), of(detectable, category))

    emitted: dict[str, set[Triple]] = defaultdict(set)
    for triple, sources in predicted_by_source.items():
        for source in sources:
            emitted[source].add(triple)
    codes = detector_codes or {}
    per_detector = {}
    for source in sorted(set(emitted) | set(codes)):
        own = codes.get(source)
        expected = {x for x in detectable if x[2] in own} if own else emitted[source] & detectable
        per_detector[source] = _prf(emitted.get(source, set()), all_truth, expected)

    def categories(items: set[Triple]) -> set[tuple[str, str]]:
        return {(t, c) for t, _, c in items}

    def spans(items: set[Triple]) -> set[tuple[str, str]]:
        return {(t, s) for t, s, _ in items}

    true_spans = spans(detectable)
    return EvalReport(
        traces=len(truth),
        pairs=_prf(predicted, all_truth, detectable),
        pairs_all_truth=_prf(predicted, all_truth, all_truth),
        categories=_prf(categories(predicted), categories(all_truth), categories(detectable)),
        location_accuracy=round(len(spans(predicted) & true_spans) / len(true_spans), 4)
        if true_spans
        else 1.0,
        per_category=per_category,
        per_detector=per_detector,
        score_correlation=_score_correlation(truth, scores),
        extra={"clean_runs": _clean_runs(truth, issues)},
    )


def _clean_runs(truth: dict[str, TruthTrace], issues: list[Issue]) -> dict[str, Any]:
    """What was flagged on runs with nothing wrong (the goal is nothing)."""
    clean = {t for t, row in truth.items() if row.clean}
    flagged = [i for i in issues if i.trace_id in clean]
    return {
        "runs": len(clean),
        "issues": len(flagged),
        "runs_flagged": len({i.trace_id for i in flagged}),
        "by_category": dict(Counter(i.category for i in flagged).most_common()),
    }


def _score_correlation(
    truth: dict[str, TruthTrace], scores: list[TraceScores]
) -> dict[str, float | None]:
    """Spearman correlation per dimension between the reported and the expected scores."""
    by_trace = {s.trace_id: s for s in scores if s.trace_id in truth}
    out: dict[str, float | None] = {}
    for dimension in SCORE_DIMENSIONS:
        pairs = [
            (getattr(by_trace[t], dimension).score, truth[t].scores[dimension])
            for t in by_trace
            if dimension in truth[t].scores
        ]
        if len(pairs) < 3:
            out[dimension] = None
            continue
        got, expected = np.array(pairs).T
        if got.std() == 0 or expected.std() == 0:
            out[dimension] = None
            continue
        out[dimension] = round(float(spearmanr(got, expected).statistic), 4)
    return out


def run_eval(store: Any, dataset: Path) -> EvalReport:
    """Ingest a labelled dataset into `store`, run the rules layer, and score it against the truth."""
    from investigator.ingest.pipeline import ingest_paths
    from investigator.labels import load_labels
    from investigator.rules import run_rules

    truth = load_truth(dataset)
    traces_dir = dataset / "traces"
    if not traces_dir.is_dir():
        raise DatasetError(f"{dataset}: no traces/ directory")
    ingested = ingest_paths(store, [str(traces_dir)])
    if (dataset / "labels.jsonl").is_file():
        load_labels(store, str(dataset / "labels.jsonl"))
    run_rules(store)
    from investigator.detectors import all_detectors

    codes = {d.source: d.codes for d in all_detectors()}
    missing = set(truth) - store.existing_trace_ids(truth)
    issues = store.issues(truth)
    scores = [s for s in store.scores() if s.trace_id in truth]
    report = score_issues(truth, issues, scores, codes)
    from investigator.runs import cluster_window

    clusters, _, suspects = cluster_window(store)
    report.extra["clusters"] = cluster_quality(clusters, suspects, truth)
    report.extra["findings"] = finding_quality(store, clusters, truth)
    report.extra["ingest"] = ingested.summary()
    report.extra["traces_missing_from_store"] = len(missing)
    return report


def cluster_quality(clusters: list[Any], suspects: int, truth: dict[str, TruthTrace]) -> dict[str, Any]:
    """Compare the clusters of the dataset's suspect traces with the injected fault families:
    adjusted Rand index and purity over the faulty traces that were clustered."""
    from sklearn.metrics import adjusted_rand_score

    assigned = {t: c.id for c in clusters for t in c.trace_ids}
    faulty = [t for t, row in truth.items() if row.family not in ("clean", "") and t in assigned]
    if not faulty:
        return {"clusters": 0, "suspects": suspects}
    predicted = [assigned[t] for t in faulty]
    expected = [truth[t].family for t in faulty]
    pure = 0
    for cluster in clusters:
        families = [truth[t].family for t in cluster.trace_ids if t in truth]
        if families and not cluster.noise:
            pure += max(families.count(f) for f in set(families))
    in_clusters = sum(1 for c in clusters if not c.noise for t in c.trace_ids if t in truth)
    return {
        "clusters": sum(not c.noise for c in clusters),
        "suspects": suspects,
        "noise": sum(c.size for c in clusters if c.noise),
        "clean_traces_flagged": sum(1 for t in assigned if t in truth and truth[t].family == "clean"),
        "adjusted_rand_index": round(float(adjusted_rand_score(expected, predicted)), 4),
        "purity": round(pure / in_clusters, 4) if in_clusters else 0.0,
    }


def finding_quality(
    store: Any, clusters: list[Any], truth: dict[str, TruthTrace], min_traces: int = 3
) -> dict[str, Any]:
    """Investigate every cluster with the offline investigator and compare its findings with the
    injected faults: how many cited traces and evidence spans really have the finding's category,
    and how many recurring fault categories (in at least `min_traces` traces) some finding names."""
    from investigator.evidence import quote_in_span
    from investigator.judge.investigate import investigate_clusters
    from investigator.judge.settings import JudgeSettings
    from investigator.runs import start_run

    run = start_run(store, None, None, {"eval": "findings"})
    investigations = investigate_clusters(store, clusters, JudgeSettings(max_clusters=len(clusters)), run.id)
    findings = [f for i in investigations for f in i.findings]
    has = {(t, i.category) for t, row in truth.items() for i in row.issues}
    at = {(t, i.span_id, i.category) for t, row in truth.items() for i in row.issues}
    traces = [(t, f.category) for f in findings for t in f.trace_ids]
    evidence = [(e, f.category) for f in findings for e in f.evidence]
    verbatim = sum(1 for e, _ in evidence if (s := store.get_span(e.trace_id, e.span_id)) and quote_in_span(s, e.quote))
    recurring = {c for c, n in Counter(c for _, c in has).items() if n >= min_traces}
    named = {f.category for f in findings}
    return {
        "findings": len(findings),
        "clusters_investigated": len(investigations),
        "cited_trace_precision": round(sum(p in has for p in traces) / len(traces), 4) if traces else 0.0,
        "evidence_span_precision": round(
            sum((e.trace_id, e.span_id, c) in at for e, c in evidence) / len(evidence), 4) if evidence else 0.0,
        "evidence_verbatim": round(verbatim / len(evidence), 4) if evidence else 0.0,
        "recurring_categories": len(recurring),
        "recurring_category_recall": round(len(recurring & named) / len(recurring), 4) if recurring else 0.0,
        "recurring_categories_missed": sorted(recurring - named),
    }
