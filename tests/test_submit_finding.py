"""Submitting findings, scores and the summary: only real citations are accepted, and every
rejection tells the model what to correct."""

from __future__ import annotations

import json
import re

import pytest

from investigator.clustering import Cluster, Cohort
from investigator.ingest.base import span_row
from investigator.tools.context import ToolContext
from investigator.tools.registry import call_tool

TRACE_A = "7d3e9f2a41b84c55a1e0c6b2d9f8e317"
TRACE_B = "c2a4e6f81b3d5f7092a4c6e8f0b2d4f6"
TRACE_OTHER = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
TOOL_A, LLM_A = "51f2c9e0a7b3d418", "62e3dafb18c4e529"
TOOL_B = "73f4ebac29d5f63a"
ERROR = "429 Too Many Requests: rate limit exceeded for model gpt-4o-mini, retry after 20s"
ANSWER = 'I checked: the refund of "$182.40" was issued to jane.doe@example.org today.'


def _rows(trace_id: str, tool_id: str, llm_id: str | None) -> list[dict]:
    rows = [
        span_row(
            trace_id,
            tool_id,
            parent_id=None,
            name="issue_refund",
            kind="tool",
            status="error",
            start_time="2025-06-02T14:05:11.204000Z",
            end_time="2025-06-02T14:05:11.391000Z",
            tool_name="issue_refund",
            tool_args='{"order_id": "A-55102", "amount": 182.4}',
            input='{"order_id": "A-55102", "amount": 182.4}',
            status_message=ERROR,
            source_format="langsmith",
        ),
    ]
    if llm_id:
        rows.append(
            span_row(
                trace_id,
                llm_id,
                parent_id=None,
                name="ChatAnthropic",
                kind="llm",
                status="ok",
                start_time="2025-06-02T14:05:11.402000Z",
                end_time="2025-06-02T14:05:13.015000Z",
                model="claude-3-5-sonnet-20241022",
                source_format="langsmith",
                output=json.dumps([{"role": "assistant", "content": ANSWER}]),
            )
        )
    return rows


@pytest.fixture
def ctx(store) -> ToolContext:
    store.write_batch(
        _rows(TRACE_A, TOOL_A, LLM_A) + _rows(TRACE_B, TOOL_B, None) + _rows(TRACE_OTHER, "84a5fcbd3ae6074b", None)
    )
    store.refresh_traces([TRACE_A, TRACE_B, TRACE_OTHER])
    cluster = Cluster(
        id="c_8b21d0",
        trace_ids=[TRACE_A, TRACE_B],
        size=2,
        keywords=["429", "refund"],
        categories={"recovery.ignored_error": 2},
        representative_trace_ids=[TRACE_A],
        prevalence=0.1,
        severity_weighted_prevalence=0.3,
        impact_score=0.03,
        cohorts=[Cohort(dimension="agent_version", value="2.4.0", lift=3.0, count=2, share=1.0, baseline_share=0.33)],
    )
    return ToolContext(store=store, run_id="run_20250602", cluster=cluster, trace_ids={TRACE_A, TRACE_B})


def _finding(**overrides) -> dict:
    base = {
        "title": "Refund answer claims success after the refund tool was rate limited",
        "category": "recovery.ignored_error",
        "severity": "high",
        "confidence": 0.8,
        "description": "issue_refund returns 429 and the next model turn tells the user it was issued.",
        "root_cause": "The agent prompt never tells the model to check tool status before answering.",
        "immediate_fix": f"Add to the system prompt: if a tool result is an error, say so and do not claim success"
        f" (see trace {TRACE_A}).",
        "fix_layer": "prompt",
        "evidence": [
            {"trace_id": TRACE_A, "span_id": TOOL_A, "quote": "429 Too Many Requests"},
            {"trace_id": TRACE_A, "span_id": LLM_A, "quote": "the refund of"},
        ],
        "trace_ids": [TRACE_B],
    }
    base.update(overrides)
    return base


def test_accepted_finding_gets_a_stable_id_impact_and_cohorts(ctx: ToolContext) -> None:
    reply = call_tool(ctx, "submit_finding", _finding())
    [finding] = ctx.findings
    assert re.fullmatch(r"f_[0-9a-f]{10}", finding.id)  # what the id stands for: tests/test_finding_identity.py
    assert reply == f"accepted finding {finding.id}"
    assert finding.run_id == "run_20250602" and finding.cluster_id == "c_8b21d0"
    assert finding.trace_ids == sorted([TRACE_A, TRACE_B])
    assert finding.impact.model_dump() == {
        "trace_count": 2,
        "prevalence": 0.1,
        "severity_weight": 3,
        "impact_score": 0.03,
        "window_traces": 20,  # the cluster of 2 is 10% of the window
        "sessions": 0,  # these traces carry no session or user ids
        "users": 0,
        "tokens": 0,  # nor token counts or costs
        "cost_usd": None,
    }
    assert [c.model_dump() for c in finding.cohorts] == [
        {"dimension": "agent_version", "value": "2.4.0", "lift": 3.0, "count": 2}
    ]
    assert finding.source == "offline"
    assert [e.quote for e in finding.evidence] == ["429 Too Many Requests", "the refund of"]


def test_an_llm_finding_is_labelled_with_its_model(ctx: ToolContext) -> None:
    ctx.model_name = "anthropic/claude-sonnet-4-5"
    assert call_tool(ctx, "submit_finding", _finding()).startswith("accepted finding f_")
    assert ctx.findings[0].source == "llm:anthropic/claude-sonnet-4-5"


def test_every_bad_citation_is_rejected_at_once_and_nothing_is_kept(ctx: ToolContext) -> None:
    reply = call_tool(
        ctx,
        "submit_finding",
        _finding(
            evidence=[
                {"trace_id": TRACE_OTHER, "span_id": "84a5fcbd3ae6074b", "quote": "429 Too Many Requests"},
                {"trace_id": TRACE_A, "span_id": "0000000000000000", "quote": "429 Too Many Requests"},
                {"trace_id": TRACE_A, "span_id": TOOL_A, "quote": "503 Service Unavailable"},
            ],
            trace_ids=[TRACE_OTHER],
        ),
    )
    assert reply.startswith("rejected, nothing was stored:")
    assert f"- trace_ids not part of this investigation: {TRACE_OTHER}" in reply
    assert f"- evidence[0]: trace '{TRACE_OTHER}' is not part of this investigation" in reply
    assert f"- evidence[1]: span '0000000000000000' does not exist in trace '{TRACE_A}'" in reply
    assert f"- evidence[2]: the quote is not verbatim in span {TOOL_A} of trace {TRACE_A}" in reply
    assert ctx.findings == []


def test_category_must_be_a_taxonomy_code_and_aliases_resolve(ctx: ToolContext) -> None:
    reply = call_tool(ctx, "submit_finding", _finding(category="recovery.ignored_errors"))
    assert "- category 'recovery.ignored_errors' is not a taxonomy code; did you mean recovery.ignored_error" in reply
    assert ctx.findings == []
    assert call_tool(ctx, "submit_finding", _finding(category="execution.rate_limit")).startswith("accepted")
    assert ctx.findings[0].category == "execution.rate_limited"


def test_low_confidence_and_missing_evidence_are_rejected(ctx: ToolContext) -> None:
    reply = call_tool(ctx, "submit_finding", _finding(confidence=0.4, evidence=[]))
    assert "- confidence 0.4 is below 0.5" in reply
    assert "- evidence is empty: cite at least one span with a verbatim quote" in reply
    assert ctx.findings == []


def test_invalid_severity_and_fix_layer_fail_schema_validation(ctx: ToolContext) -> None:
    reply = call_tool(ctx, "submit_finding", _finding(severity="urgent", fix_layer="database", confidence=1.5))
    assert reply.startswith("error: invalid arguments for submit_finding:")
    assert "- severity: Input should be 'critical', 'high', 'medium' or 'low'" in reply
    assert "- fix_layer: Input should be 'prompt', 'tool', 'orchestration'" in reply
    assert "- confidence: Input should be less than or equal to 1" in reply
    assert ctx.findings == []


def test_a_quote_copied_from_redacted_text_is_checked_and_stored_raw(ctx: ToolContext) -> None:
    ctx.model_name = "openai/gpt-4o"
    shown = call_tool(ctx, "read_span", {"trace_id": TRACE_A, "span_id": LLM_A, "field": "output"})
    assert "issued to <EMAIL_1> today" in shown
    evidence = [{"trace_id": TRACE_A, "span_id": LLM_A, "quote": "issued to <EMAIL_1> today"}]
    assert call_tool(ctx, "submit_finding", _finding(evidence=evidence)).startswith("accepted")
    assert ctx.findings[0].evidence[0].quote == "issued to jane.doe@example.org today"


def test_a_quote_is_stored_decoded_whether_copied_with_or_without_the_json_escapes(ctx: ToolContext) -> None:
    for quote in ('the refund of "$182.40" was issued', 'the refund of \\"$182.40\\" was issued'):
        ctx.findings.clear()
        evidence = [{"trace_id": TRACE_A, "span_id": LLM_A, "quote": quote}]
        assert call_tool(ctx, "submit_finding", _finding(evidence=evidence)).startswith("accepted")
        assert ctx.findings[0].evidence[0].quote == 'the refund of "$182.40" was issued'


def test_submitting_a_category_again_replaces_the_earlier_finding(ctx: ToolContext) -> None:
    call_tool(ctx, "submit_finding", _finding(title="first"))
    reply = call_tool(ctx, "submit_finding", _finding(title="second", confidence=0.9))
    assert reply.endswith("(replaces your earlier recovery.ignored_error finding at the same place)")
    assert [(f.title, f.confidence) for f in ctx.findings] == [("second", 0.9)]


def test_findings_of_a_sub_investigation_merge_into_the_same_family(ctx: ToolContext) -> None:
    at_tool = [{"trace_id": TRACE_A, "span_id": TOOL_A, "quote": "rate limit exceeded"}]
    call_tool(ctx, "submit_finding", _finding(trace_ids=[], evidence=at_tool))
    child = ToolContext(store=ctx.store, run_id=ctx.run_id, cluster=ctx.cluster, trace_ids={TRACE_B}, depth=1)
    call_tool(
        child,
        "submit_finding",
        _finding(
            title="child",
            evidence=[{"trace_id": TRACE_B, "span_id": TOOL_B, "quote": "rate limit exceeded"}],
            trace_ids=[TRACE_B],
            immediate_fix=f"Retry on 429 (trace {TRACE_B}).",
        ),
    )
    ctx.recurse = lambda ids, question: child.findings
    reply = call_tool(ctx, "investigate_subset", {"trace_ids": [TRACE_B], "question": "same failure?"})
    assert "returned 1 findings" in reply
    [finding] = ctx.findings
    assert finding.trace_ids == sorted([TRACE_A, TRACE_B])
    assert finding.impact.trace_count == 2
    assert [(e.trace_id, e.quote) for e in finding.evidence][-1] == (TRACE_B, "rate limit exceeded")


def _score(n: int, reason: str = "the refund tool failed and the answer claimed success") -> dict:
    return {"score": n, "reason": reason}


def test_scores_are_accepted_per_trace_and_replaced_on_resubmission(ctx: ToolContext) -> None:
    args = {
        "trace_id": TRACE_A,
        "factual_grounding": _score(1),
        "privacy_and_safety": _score(5),
        "instruction_adherence": _score(4),
        "optimal_plan_execution": _score(2),
    }
    assert call_tool(ctx, "submit_scores", args) == f"accepted scores for trace {TRACE_A}"
    assert call_tool(ctx, "submit_scores", {**args, "factual_grounding": _score(2)}).startswith("accepted")
    [scores] = ctx.scores
    assert scores.factual_grounding.score == 2 and scores.optimal_plan_execution.score == 2
    assert scores.source == "offline"
    bad = call_tool(ctx, "submit_scores", {**args, "privacy_and_safety": _score(6)})
    assert "- privacy_and_safety.score: Input should be less than or equal to 5" in bad
    foreign = call_tool(ctx, "submit_scores", {**args, "trace_id": TRACE_OTHER})
    assert "not part of this investigation" in foreign
    empty = call_tool(ctx, "submit_scores", {**args, "instruction_adherence": _score(3, " ")})
    assert empty == "error: give a one-sentence reason for instruction_adherence; nothing was stored"
    assert len(ctx.scores) == 1


def test_summary_is_kept_on_the_context(ctx: ToolContext) -> None:
    reply = call_tool(
        ctx,
        "submit_summary",
        {
            "summary": "Rate-limited refunds are reported to users as issued.",
            "priority": "high",
            "immediate_fix": "Retry issue_refund on 429 honouring Retry-After; never claim success on error.",
        },
    )
    assert reply == "accepted summary; the investigation is complete (0 findings, 0 scored traces)"
    assert ctx.summary == {
        "summary": "Rate-limited refunds are reported to users as issued.",
        "priority": "high",
        "immediate_fix": "Retry issue_refund on 429 honouring Retry-After; never claim success on error.",
    }
    assert "Input should be" in call_tool(
        ctx, "submit_summary", {"summary": "x", "priority": "p0", "immediate_fix": "y"}
    )


def test_a_fix_that_cites_no_trace_is_refused(ctx: ToolContext) -> None:
    reply = call_tool(ctx, "submit_finding", _finding(immediate_fix="Add a retry."))
    assert reply.startswith("rejected") and "immediate_fix cites no trace" in reply
    assert ctx.findings == []
