"""`investigator run`: every stage, from trace files to ranked findings, recorded as one run.

Ingest (when paths are given) → labels → rules layer → cluster the window's suspect traces → a judge
per cluster (a model, or the offline investigator) → findings ranked by impact × confidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from investigator.clustering import Cluster, ClusterSettings
from investigator.history import apply_history
from investigator.judge.settings import JudgeSettings
from investigator.models import Finding
from investigator.runs import Run, cluster_window, finish_run, save_clusters, start_run
from investigator.store import Store


@dataclass
class RunSettings:
    """What to read, which window to analyse, and how to cluster and judge it."""

    paths: list[str] = field(default_factory=list)
    fmt: str = "auto"
    labels: str | None = None
    since: str | None = None
    until: str | None = None
    record: str | None = None
    replay: str | None = None
    clusters: ClusterSettings = field(default_factory=ClusterSettings)
    judge: JudgeSettings = field(default_factory=JudgeSettings)


# A schedule's options, as `schedule add` takes them, and the settings each one sets.
SCHEDULE_OPTIONS = {"model": "model", "max_clusters": "max_clusters", "budget_usd": "max_usd"}


def scheduled_settings(since: str, until: str, options: dict[str, Any]) -> RunSettings:
    """The settings of one window of a schedule with these options."""
    judge = {SCHEDULE_OPTIONS[k]: v for k, v in options.items() if k in SCHEDULE_OPTIONS}
    return RunSettings(since=since, until=until, labels=options.get("labels"), judge=JudgeSettings(**judge))


@dataclass
class RunResult:
    run: Run
    clusters: list[Cluster]
    findings: list[Finding]
    counts: dict


def execute_run(store: Store, settings: RunSettings, stage: Callable[[str], None] | None = None) -> RunResult:
    """Run every stage; `stage` is told the name of each stage as it starts (for progress)."""
    from investigator.errors import InputError
    from investigator.labels import load_labels
    from investigator.providers.recording import recording
    from investigator.rules import run_rules
    from investigator.sources import ingest_sources

    say = stage or (lambda _name: None)
    counts: dict = {}
    if settings.paths:
        say("ingest")
        report = ingest_sources(store, settings.paths, settings.fmt, settings.since, settings.until)
        problem = report.failure()
        if problem:
            raise InputError(problem)
        counts["ingest"] = report.summary()
        if report.pushdown:
            counts["source"] = report.pushdown
    if settings.labels:
        say("labels")
        counts["labels"] = load_labels(store, settings.labels).rows
    say("rules")
    counts["rules"] = run_rules(store).summary()
    run = start_run(store, settings.since, settings.until, _recorded_settings(settings), store.input_fingerprint())
    try:
        say("clusters")
        clusters, population, suspects = cluster_window(store, settings.since, settings.until, settings.clusters)
        save_clusters(store, run.id, clusters)
        counts.update(traces=population, suspects=suspects, clusters=sum(not c.noise for c in clusters))
        say("judge")
        # The judge's libraries (langgraph, langchain-core, httpx) load only when the judge stage starts.
        from investigator.judge.investigate import investigate_clusters

        mode = "record" if settings.record else "replay" if settings.replay else None
        # Recording and replaying go one cluster at a time: the cassette is one shared file.
        judge = replace(settings.judge, concurrency=1) if mode else settings.judge
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


def _recorded_settings(settings: RunSettings) -> dict[str, Any]:
    """What decides the analysis (not where the input came from, nor record/replay plumbing)."""
    return {"since": settings.since, "until": settings.until, "clusters": asdict(settings.clusters),
            "judge": asdict(settings.judge)}
