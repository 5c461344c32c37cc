"""Investigate clusters: one bounded judge loop per cluster, most impactful first, and what it found
stored as findings, per-trace issues and trace scores."""

from __future__ import annotations

import hashlib
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from investigator.clustering import Cluster
from investigator.findings import merge
from investigator.judge.graph import Spend, run_graph
from investigator.judge.settings import JudgeSettings
from investigator.models import SCORE_DIMENSIONS, DimensionScore, Finding, Issue, TraceScores
from investigator.prompts import load_prompt
from investigator.providers import ModelConfig
from investigator.providers.pricing import model_options
from investigator.store import Store
from investigator.summarizer import make_summarizer
from investigator.taxonomy import default_taxonomy
from investigator.tools.context import ToolContext, ToolResult
from investigator.tools.registry import call_tool


@dataclass
class Investigation:
    cluster_id: str
    findings: list[Finding]
    scores: list[TraceScores]
    summary: dict[str, Any] | None
    stopped_by: str | None
    turns: int
    tokens_in: int
    tokens_out: int
    cached_tokens: int
    cost_usd: float
    source: str
    error: str | None = None
    children: list[Investigation] = field(default_factory=list)


def system_prompt(settings: JudgeSettings) -> str:
    taxonomy = default_taxonomy()
    codes = "\n".join(f"- {c.code}: {c.meaning}" for c in sorted(taxonomy.codes.values(), key=lambda c: c.code))
    return load_prompt("judge_system").substitute(taxonomy=codes, max_turns=settings.max_turns)


def first_message(ctx: ToolContext, size: int, question: str | None) -> ToolResult:
    """The investigation's opening message: the task and the cluster overview (whose typed data it
    carries)."""
    overview = call_tool(ctx, "cluster_overview", {})
    asked = f"\nThe question for this investigation: {question}" if question else ""
    return ToolResult(load_prompt("judge_overview").substitute(size=size, question=asked, overview=overview),
                      overview.data)


def investigate_cluster(
    store: Store,
    cluster: Cluster,
    settings: JudgeSettings,
    run_id: str,
    depth: int = 0,
    trace_ids: list[str] | None = None,
    question: str | None = None,
    spend: Spend | None = None,
) -> Investigation:
    """Investigate one cluster (or, below depth 0, a subset of it) within the settings' budgets.
    Only the top-level investigation stores its results; a child's findings flow up to its parent."""
    subset = sorted(trace_ids) if trace_ids else list(cluster.trace_ids)
    summarizer_config = (
        ModelConfig(model=settings.summarizer_model, temperature=model_options().temperature)
        if settings.summarizer_model else None
    )
    ctx = ToolContext(
        store=store, run_id=run_id, cluster=cluster, trace_ids=set(subset), depth=depth,
        summarizer=make_summarizer(store, summarizer_config, run_id), model_name=settings.model,
    )
    own = Spend()
    children: list[Investigation] = []

    def recurse(ids: list[str], child_question: str) -> list[Finding]:
        child = investigate_cluster(store, cluster, settings.for_subset(), run_id, depth + 1, ids, child_question, own)
        children.append(child)
        return child.findings

    if depth < settings.max_depth:
        ctx.recurse = recurse
    opening = first_message(ctx, len(subset), question)
    messages = [
        {"role": "system", "content": system_prompt(settings)},
        {"role": "user", "content": str(opening), "data": opening.data},
    ]
    thread = f"{run_id}:{cluster.id}:{depth}"
    if trace_ids:
        thread += ":" + hashlib.sha1(" ".join(subset).encode()).hexdigest()[:8]
    state = run_graph(ctx, settings, messages, run_id, cluster.id, thread, own)
    findings = [Finding.model_validate(f) for f in state["findings"]]
    scores = [TraceScores.model_validate(s) for s in state["scores"]]
    findings = [f.model_copy(update={"scores": finding_scores(f, scores)}) for f in findings]
    result = Investigation(
        cluster_id=cluster.id, findings=findings, scores=scores, summary=state["summary"],
        stopped_by=state["stopped_by"], turns=state["turns"], tokens_in=state["tokens_in"],
        tokens_out=state["tokens_out"], cached_tokens=state["cached_tokens"], cost_usd=state["cost"],
        source=ctx.source, error=state.get("error"), children=children,
    )
    if spend is not None:
        spend.tokens_in += result.tokens_in
        spend.tokens_out += result.tokens_out
        spend.cached_tokens += result.cached_tokens
        spend.cost += result.cost_usd
    if depth == 0:
        store_results(store, run_id, result)
    return result


def finding_scores(finding: Finding, scores: list[TraceScores]) -> dict[str, DimensionScore]:
    """Per dimension, the median score of the finding's scored traces, with the worst trace's reason."""
    cited = set(finding.trace_ids)
    mine = [s for s in scores if s.trace_id in cited]
    if not mine:
        return {}
    out: dict[str, DimensionScore] = {}
    for dimension in SCORE_DIMENSIONS:
        values = [getattr(s, dimension) for s in mine]
        worst = min(values, key=lambda d: d.score)
        out[dimension] = DimensionScore(score=int(statistics.median_low([v.score for v in values])),
                                        reason=worst.reason)
    return out


def store_results(store: Store, run_id: str, result: Investigation) -> None:
    """Findings into `findings`, their evidence as per-trace issues, and the trace scores, in one
    transaction. Running the same analysis again replaces what it stored before."""
    with store.immediate():
        for finding in result.findings:
            earlier = store.finding_of(run_id, finding.id)
            if earlier:  # the same family, found in another cluster of this run
                finding = merge(earlier, finding, store)
            store.save_finding(run_id, finding)
            for evidence in finding.evidence:
                issue = Issue(trace_id=evidence.trace_id, span_id=evidence.span_id, category=finding.category,
                              severity=finding.severity, confidence=finding.confidence, evidence=evidence.quote,
                              description=finding.title, source=result.source)
                store.add_issue(issue)
        for scores in result.scores:
            store.save_scores(scores)


def _order(clusters: list[Cluster]) -> list[Cluster]:
    """Most impactful first, noise last; ties by id so the order never depends on the input order."""
    return sorted(clusters, key=lambda c: (c.noise, -c.impact_score, c.id))


def investigate_clusters(
    store: Store, clusters: list[Cluster], settings: JudgeSettings, run_id: str
) -> list[Investigation]:
    """Investigate the most impactful clusters (at most `settings.max_clusters`), concurrently."""
    chosen = _order(clusters)[: settings.max_clusters]
    if store.path == ":memory:" or settings.concurrency <= 1:
        return [investigate_cluster(store, c, settings, run_id) for c in chosen]

    def one(cluster: Cluster) -> Investigation:
        own = Store(store.path)
        try:
            return investigate_cluster(own, cluster, settings, run_id)
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        return list(pool.map(one, chosen))
