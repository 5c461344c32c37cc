"""`investigator run`: every stage, from trace files to ranked findings, recorded as one run.

Ingest (when paths are given) → labels → rules layer → cluster the window's suspect traces → a judge
per cluster (a model, or the offline investigator) → findings ranked by impact × confidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from investigator.clustering import Cluster, ClusterSettings
from investigator.history import apply_history
from investigator.models import Finding
from investigator.runs import Run, cluster_window, finish_run, save_clusters, start_run
from investigator.store import Store


@dataclass
class RunSettings:
    paths: list[str] = field(default_factory=list)
    fmt: str = "auto"
    labels: str | None = None
    since: str | None = None
    until: str | None = None
    model: str = "offline"
    summarizer_model: str | None = None
    max_clusters: int = 10
    budget_usd: float = 2.0
    max_turns: int = 30
    concurrency: int = 2
    record: str | None = None
    replay: str | None = None
    min_cluster_size: int = 5
    embeddings: bool = False


@dataclass
class RunResult:
    run: Run
    clusters: list[Cluster]
    findings: list[Finding]
    counts: dict


def execute_run(store: Store, settings: RunSettings, stage: Callable[[str], None] | None = None) -> RunResult:
    """Run every stage; `stage` is told the name of each stage as it starts (for progress)."""
    from investigator.errors import InputError
    from investigator.ingest.pipeline import ingest_paths
    from investigator.judge.investigate import investigate_clusters
    from investigator.judge.settings import JudgeSettings
    from investigator.labels import load_labels
    from investigator.providers.recording import recording
    from investigator.rules import run_rules

    say = stage or (lambda _name: None)
    counts: dict = {}
    if settings.paths:
        say("ingest")
        report = ingest_paths(store, settings.paths, settings.fmt)
        problem = report.failure()
        if problem:
            raise InputError(problem)
        counts["ingest"] = report.summary()
    if settings.labels:
        say("labels")
        counts["labels"] = load_labels(store, settings.labels).rows
    say("rules")
    counts["rules"] = run_rules(store).summary()
    run = start_run(store, settings.since, settings.until, _recorded_settings(settings), store.input_fingerprint())
    try:
        say("clusters")
        clusters, population, suspects = cluster_window(
            store, settings.since, settings.until,
            ClusterSettings(min_cluster_size=settings.min_cluster_size, embeddings=settings.embeddings),
        )
        save_clusters(store, run.id, clusters)
        counts.update(traces=population, suspects=suspects, clusters=sum(not c.noise for c in clusters))
        say("judge")
        mode = "record" if settings.record else "replay" if settings.replay else None
        # Recording and replaying go one cluster at a time: the cassette is one shared file.
        judge = JudgeSettings(model=settings.model, summarizer_model=settings.summarizer_model,
                              max_turns=settings.max_turns, max_usd=settings.budget_usd,
                              max_clusters=settings.max_clusters,
                              concurrency=1 if mode else settings.concurrency)
        with recording(mode, settings.record or settings.replay):
            investigations = investigate_clusters(store, clusters, judge, run.id)
        counts["investigations"] = [
            {"cluster_id": i.cluster_id, "stopped_by": i.stopped_by, "turns": i.turns, "tokens_in": i.tokens_in,
             "tokens_out": i.tokens_out, "cached_tokens": i.cached_tokens, "cost_usd": round(i.cost_usd, 6),
             "findings": len(i.findings), "error": i.error}
            for i in investigations
        ]
        counts["cost_usd"] = round(sum(i.cost_usd for i in investigations), 6)
    except BaseException:
        finish_run(store, run, "failed", counts)
        raise
    findings = apply_history(store, run.id)
    counts["findings"] = len(findings)
    finish_run(store, run, "completed", counts)
    return RunResult(run, clusters, findings, counts)


def _recorded_settings(settings: RunSettings) -> dict:
    """What decides the analysis (not where the input came from, nor record/replay plumbing)."""
    data = dict(settings.__dict__)
    for key in ("paths", "fmt", "labels", "record", "replay"):
        data.pop(key)
    return data
