"""Findings of a run: loading them back and ranking them by what they cost."""

from __future__ import annotations

from investigator.models import SEVERITY_WEIGHTS, Finding, Impact
from investigator.store import Store

SEVERITY_ORDER = ("low", "medium", "high", "critical")


def expected_harm(finding: Finding) -> float:
    """Severity weight × traces affected × confidence: a critical finding outranks a medium one of
    similar reach, and a sure finding an unsure one."""
    return SEVERITY_WEIGHTS[finding.severity] * finding.impact.trace_count * finding.confidence


def rank_key(finding: Finding) -> tuple:
    """Expected harm, most first; ties by severity, then id, so the order is stable."""
    return (-expected_harm(finding), -SEVERITY_WEIGHTS[finding.severity], finding.id)


def affected(store: Store, impact: Impact, trace_ids: list[str]) -> Impact:
    """`impact` for these affected traces: how many, the distinct sessions and users among them, and
    the tokens and cost of their model calls."""
    traces = store.traces_of(trace_ids).values()
    tokens, cost = store.model_usage(trace_ids)
    return impact.model_copy(update={
        "trace_count": len(trace_ids),
        "sessions": len({t.session_id for t in traces if t.session_id}),
        "users": len({t.user_id for t in traces if t.user_id}),
        "tokens": tokens,
        "cost_usd": cost,
    })


def load_findings(store: Store, run_id: str) -> list[Finding]:
    """A run's findings, most harmful first."""
    return sorted(store.findings_of(run_id), key=rank_key)


def at_or_above(findings: list[Finding], severity: str) -> list[Finding]:
    floor = SEVERITY_ORDER.index(severity)
    return [f for f in findings if SEVERITY_ORDER.index(f.severity) >= floor]


def merge(kept: Finding, other: Finding, store: Store) -> Finding:
    """One finding from two reports of the same family: the report that ranks higher (expected
    harm), with the other's evidence and affected traces added. Which is kept does not depend on
    which was reported first (clusters are investigated concurrently), so a run stores the same
    finding whatever order they finish in."""
    kept, other = sorted((kept, other), key=lambda f: (-expected_harm(f), f.model_dump_json()))
    by_citation = {(e.trace_id, e.span_id, e.quote): e for e in [*kept.evidence, *other.evidence]}
    evidence = [by_citation[k] for k in sorted(by_citation)]
    traces = sorted(set(kept.trace_ids) | set(other.trace_ids))
    impact = affected(store, kept.impact, traces)
    return kept.model_copy(update={"evidence": evidence, "trace_ids": traces, "impact": impact})
