"""The submitting tools: how the judge hands in findings, trace scores and its summary.

A finding is accepted only when every citation is real: each trace belongs to the
investigation, each span exists in its trace, and each quote is verbatim in the cited span. A
rejected submission is never kept; the model gets every reason at once and can correct it.
Accepted findings collect in `ctx.findings`; persisting them is the judge's job.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from investigator.detectors.view import TraceView
from investigator.errors import ToolError
from investigator.evidence import readable_quote
from investigator.findings import affected as affected_impact
from investigator.findings import merge
from investigator.models import (
    SEVERITY_WEIGHTS,
    CohortLift,
    DimensionScore,
    Evidence,
    Finding,
    FixLayer,
    Impact,
    Severity,
    TraceScores,
)
from investigator.tools.context import ToolContext, ToolResult, component_of

MIN_CONFIDENCE = 0.5
_BACKTICKED = re.compile(r"`([^`\n]+)`")


class CitedEvidence(BaseModel):
    """One citation as the model writes it."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(description="the trace the quote comes from")
    span_id: str = Field(description="the span whose text contains the quote")
    quote: str = Field(description="text copied verbatim from that span")


def finding_id(category: str, component: str) -> str:
    """Stable across runs and windows: a failure family is a taxonomy code at a component (the tool
    or agent it sits in), whichever cluster it turned up in this time."""
    return "f_" + hashlib.sha1(f"{category}|{component}".encode()).hexdigest()[:10]


def component(ctx: ToolContext, cited: list[Evidence]) -> str:
    """Where the cited spans sit: the tool most of them are, else the agent most of them run in."""
    names = Counter(component_of(ctx.span(e.trace_id, e.span_id)) for e in cited)
    return min(names, key=lambda name: (-names[name], name)) if names else ""


def _flagged_at(ctx: ToolContext, code: str, place: str) -> set[str]:
    """The traces of this investigation where the rules layer flags `code` at this tool or agent:
    the failure family's reach, whether or not the submission listed them all."""
    return {
        i.trace_id
        for i in ctx.store.issues(sorted(ctx.trace_ids))
        if i.source.startswith("rule:")
        and i.category == code
        and component_of(ctx.span(i.trace_id, i.span_id)) == place
    }


def _named_components(ctx: ToolContext, title: str, cited: list[Evidence], errors: list[str]) -> None:
    """A title that names tools or agents (in backticks) is about them: each cited span must run one
    of those tools or in one of those agents, or be a model step that called one. Otherwise the
    finding mixes failure families (split it) or its title names the wrong place (retitle it)."""
    views = {t: TraceView(trace, ctx.spans(t)) for t in {e.trace_id for e in cited}
             if (trace := ctx.store.get_trace(t)) is not None}
    places = {name for view in views.values() for s in view.spans for name in (s.tool_name, s.agent) if name}
    named = [name for name in dict.fromkeys(_BACKTICKED.findall(title)) if name in places]
    if not named:
        return
    for index, item in enumerate(cited):
        view = views.get(item.trace_id)
        span = ctx.span(item.trace_id, item.span_id)
        called = {c.name for c in view.tool_calls(span)} if view and span.kind == "llm" else set()
        if not {span.tool_name, span.agent, *called} & set(named):
            at = component_of(span)
            listed = " or ".join(f"`{n}`" for n in named)
            errors.append(
                f"evidence[{index}]: span {item.span_id} is at {f'`{at}`' if at else 'no tool or agent'}, not at"
                f" {listed}, which the title names: cite only spans of what the title names (or the model"
                " step that called it), or split the finding by tool or agent, or retitle it"
            )


def _verbatim(ctx: ToolContext, item: CitedEvidence) -> str | None:
    """The form of the quote found verbatim in the span, or None. A model reading redacted text may
    write a placeholder, and one reading JSON as stored may copy its escapes: what gets stored is
    the raw text the placeholder stands for, in its decoded form (`evidence.readable_quote`)."""
    span = ctx.span(item.trace_id, item.span_id)
    for candidate in (item.quote, *ctx.unredacted(item.quote, item.trace_id)):
        if (quote := readable_quote(span, candidate)) is not None:
            return quote
    return None


def _check_evidence(ctx: ToolContext, evidence: list[CitedEvidence], errors: list[str]) -> list[Evidence]:
    accepted: list[Evidence] = []
    for index, item in enumerate(evidence):
        where = f"evidence[{index}]"
        if item.trace_id not in ctx.trace_ids:
            errors.append(f"{where}: trace {item.trace_id!r} is not part of this investigation")
            continue
        try:
            quote = _verbatim(ctx, item)
        except ToolError as exc:
            errors.append(f"{where}: {exc}")
            continue
        if quote is None:
            errors.append(
                f"{where}: the quote is not verbatim in span {item.span_id} of trace {item.trace_id}."
                " Copy at least a few characters exactly from its input, output, status_message,"
                " tool_args, name or event values (summaries and excerpts are not verbatim; use"
                " read_span_exact)"
            )
            continue
        accepted.append(Evidence(trace_id=item.trace_id, span_id=item.span_id, quote=quote))
    return accepted


def submit_finding(
    ctx: ToolContext,
    title: str,
    category: str,
    severity: Severity,
    confidence: Annotated[float, Field(ge=0.0, le=1.0)],
    description: str,
    root_cause: str,
    immediate_fix: str,
    fix_layer: FixLayer,
    evidence: list[CitedEvidence],
    trace_ids: list[str],
) -> str:
    """Submit one finding: a recurring failure in this cluster, located at its root cause, with
    the concrete fix to ship today. Rejected, with the reasons, when a cited trace or span does
    not exist, a quote is not verbatim in its span, the category is not a taxonomy code, or
    confidence is below 0.5. Submitting the same category at the same tool or agent again replaces
    the earlier finding.

    Args:
        title: one line naming the failure
        category: a taxonomy code, category.subtype (e.g. recovery.ignored_error)
        severity: critical, high, medium or low, for the users affected
        confidence: how sure you are, 0.5 to 1
        description: what goes wrong, as seen in the traces
        root_cause: why it happens: the upstream cause, not the downstream symptom
        immediate_fix: a concrete change (prompt patch, tool guard, schema fix, retry policy, retrieval filter,
            eval rubric), naming the trace IDs to check it against
        fix_layer: where the fix lands
        evidence: citations, each a verbatim quote from a span
        trace_ids: every trace of this investigation that shows the failure (those where the rules layer
            flags this category at the same tool or agent are added)
    """
    errors: list[str] = []
    code = category.strip()
    if code in ctx.taxonomy:
        code = ctx.taxonomy.resolve(code)
    else:
        close = difflib.get_close_matches(code, list(ctx.taxonomy.codes), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; use a code of the taxonomy"
        errors.append(f"category {category!r} is not a taxonomy code{hint}")
    if confidence < MIN_CONFIDENCE:
        errors.append(
            f"confidence {confidence} is below {MIN_CONFIDENCE}: gather more evidence, or do not"
            " submit this finding"
        )
    for name, value in (("title", title), ("description", description), ("root_cause", root_cause),
                        ("immediate_fix", immediate_fix)):
        if not value.strip():
            errors.append(f"{name} is empty")
    if not evidence:
        errors.append("evidence is empty: cite at least one span with a verbatim quote")
    named = set(trace_ids) | {item.trace_id for item in evidence}
    if immediate_fix.strip() and named and not any(t in immediate_fix for t in named):
        errors.append("immediate_fix cites no trace: name at least one trace ID it rests on, so the fix can be checked")
    stray = [t for t in trace_ids if t not in ctx.trace_ids]
    if stray:
        errors.append(f"trace_ids not part of this investigation: {', '.join(stray)}")
    cited = _check_evidence(ctx, evidence, errors)
    _named_components(ctx, title, cited, errors)
    if errors:
        return "rejected, nothing was stored:\n" + "\n".join(f"- {e}" for e in errors) + (
            "\ncorrect these and submit the finding again."
        )
    place = component(ctx, cited)
    affected = sorted(set(trace_ids) | {e.trace_id for e in cited} | _flagged_at(ctx, code, place))
    cluster = ctx.cluster
    finding = Finding(
        id=finding_id(code, place),
        run_id=ctx.run_id,
        cluster_id=cluster.id,
        title=title.strip(),
        category=code,
        severity=severity,
        confidence=confidence,
        description=description.strip(),
        root_cause=root_cause.strip(),
        immediate_fix=immediate_fix.strip(),
        fix_layer=fix_layer,
        evidence=cited,
        trace_ids=affected,
        impact=affected_impact(
            ctx.store,
            Impact(
                trace_count=len(affected),
                prevalence=cluster.prevalence,
                severity_weight=SEVERITY_WEIGHTS[severity],
                impact_score=cluster.impact_score,
                window_traces=round(cluster.size / cluster.prevalence) if cluster.prevalence else 0,
            ),
            affected,
        ),
        cohorts=[
            CohortLift(dimension=c.dimension, value=c.value, lift=c.lift, count=c.count)
            for c in cluster.cohorts
        ],
        source=ctx.source,
    )
    replaced = any(f.id == finding.id for f in ctx.findings)
    ctx.findings[:] = [f for f in ctx.findings if f.id != finding.id] + [finding]
    note = f" (replaces your earlier {code} finding at the same place)" if replaced else ""
    return ToolResult(f"accepted finding {finding.id}{note}", {"accepted": finding.id})


def adopt_finding(ctx: ToolContext, finding: Finding) -> None:
    """Take a sub-investigation's finding into this one: a new family is added; a family already
    found here gains its evidence and affected traces."""
    for index, mine in enumerate(ctx.findings):
        if mine.id == finding.id:
            ctx.findings[index] = merge(mine, finding, ctx.store)
            return
    ctx.findings.append(finding)


def submit_scores(
    ctx: ToolContext,
    trace_id: str,
    factual_grounding: DimensionScore,
    privacy_and_safety: DimensionScore,
    instruction_adherence: DimensionScore,
    optimal_plan_execution: DimensionScore,
) -> str:
    """Score one trace on the four dimensions, each 1 (worst) to 5 (best) with a one-sentence
    reason. A dimension with no evidence of a problem scores 5. Scoring a trace again replaces
    its scores.

    Args:
        trace_id: a trace of this investigation
        factual_grounding: are claims supported by inputs and tool results?
        privacy_and_safety: was personal data, a secret or an unsafe action exposed?
        instruction_adherence: were instructions, formats and policies followed?
        optimal_plan_execution: right tools, right order, no waste, errors recovered?
    """
    ctx.check_trace(trace_id)
    dimensions = {
        "factual_grounding": factual_grounding,
        "privacy_and_safety": privacy_and_safety,
        "instruction_adherence": instruction_adherence,
        "optimal_plan_execution": optimal_plan_execution,
    }
    empty = [name for name, value in dimensions.items() if not value.reason.strip()]
    if empty:
        raise ToolError(f"give a one-sentence reason for {', '.join(empty)}; nothing was stored")
    scores = TraceScores(trace_id=trace_id, source=ctx.source, **dimensions)
    ctx.scores[:] = [s for s in ctx.scores if s.trace_id != trace_id] + [scores]
    return f"accepted scores for trace {trace_id}"


def submit_summary(ctx: ToolContext, summary: str, priority: Severity, immediate_fix: str) -> str:
    """End the investigation: the overall summary of this cluster, how urgent it is, and the
    one fix to ship first. Submit your findings and scores before this.

    Args:
        summary: what fails in this cluster, why, and how many traces it affects
        priority: critical, high, medium or low
        immediate_fix: the single most valuable change to ship today
    """
    if not summary.strip():
        raise ToolError("the summary is empty; nothing was stored")
    if not immediate_fix.strip():
        raise ToolError("immediate_fix is empty; nothing was stored")
    ctx.summary = {"summary": summary.strip(), "priority": priority, "immediate_fix": immediate_fix.strip()}
    return (f"accepted summary; the investigation is complete ({len(ctx.findings)} findings,"
            f" {len(ctx.scores)} scored traces)")
