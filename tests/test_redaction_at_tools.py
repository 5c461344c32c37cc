"""Nothing personal or secret leaves the machine through the judge's tools: every tool that shows
trace text to a remote model shows placeholders instead, in every field it shows."""

from __future__ import annotations

import json

import pytest

from investigator.clustering import Cluster
from investigator.ingest.base import span_row
from investigator.models import DimensionScore, Issue, TraceScores
from investigator.store import Store
from investigator.tools.context import ToolContext
from investigator.tools.registry import TOOLS, call_tool

TRACE = "6a0f3c1e9b2d4f7a8c5e1b3d9f0a2c4e"
ROOT, STEP, TOOL = "aa00000000000001", "aa00000000000002", "aa00000000000003"
EMAIL = "jane.doe+billing@example.com"  # plus-addressed, as support mailboxes often are
OTHER_EMAIL = "r.okafor@acme-payments.co.uk"
API_KEY = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
PHONE = "+1 415 555 0132"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
SECRETS = (EMAIL, OTHER_EMAIL, API_KEY, AWS_KEY, PHONE, TOKEN)


def _at(seconds: float) -> str:
    return f"2025-07-01T08:15:{seconds:09.6f}Z"


def _rows() -> list[dict]:
    question = json.dumps([{"role": "user", "content": f"Refund me and mail {EMAIL}; call {PHONE} if stuck"}])
    return [
        span_row(
            TRACE,
            ROOT,
            name="billing_agent",
            kind="agent",
            agent="billing_agent",
            status="ok",
            start_time=_at(0),
            end_time=_at(9),
            input=question,
            source_format="otlp-json",
        ),
        span_row(
            TRACE,
            STEP,
            parent_id=ROOT,
            name="ChatOpenAI",
            kind="llm",
            status="ok",
            start_time=_at(1),
            end_time=_at(2),
            model="gpt-4o",
            input=question,
            source_format="otlp-json",
            output=json.dumps([{"role": "assistant", "content": f"Using key {API_KEY} for the refund API"}]),
            attributes={"aws.access_key_id": AWS_KEY},
        ),
        span_row(
            TRACE,
            TOOL,
            parent_id=ROOT,
            name="issue_refund",
            kind="tool",
            status="error",
            start_time=_at(3),
            end_time=_at(4),
            tool_name="issue_refund",
            source_format="otlp-json",
            tool_args=json.dumps({"notify": OTHER_EMAIL, "phone": PHONE}),
            input=json.dumps({"notify": OTHER_EMAIL, "phone": PHONE}),
            status_message=f"refund declined for account {EMAIL}: card on file expired",
            events=[
                {
                    "name": "exception",
                    "time": _at(4),
                    "attributes": {"exception.message": f"401 from gateway with Authorization: Bearer {TOKEN}"},
                }
            ],
        ),
    ]


@pytest.fixture
def ctx(store: Store) -> ToolContext:
    store.write_batch(_rows())
    store.refresh_traces([TRACE])
    issue = Issue(
        trace_id=TRACE,
        span_id=TOOL,
        category="recovery.ignored_error",
        severity="high",
        confidence=0.9,
        evidence=f"refund declined for account {EMAIL}",
        description="declined",
        source="rule:recovery",
    )
    five = DimensionScore(score=5, reason="fine")
    scores = TraceScores(
        trace_id=TRACE,
        factual_grounding=five,
        privacy_and_safety=five,
        instruction_adherence=five,
        optimal_plan_execution=five,
        source="rule",
    )
    store.save_analysis([(TRACE, [issue], scores, "doc")], rules_version="test")
    cluster = Cluster(
        id="c_refund",
        trace_ids=[TRACE],
        size=1,
        keywords=["refund"],
        categories={"recovery.ignored_error": 1},
        representative_trace_ids=[TRACE],
        prevalence=0.1,
        severity_weighted_prevalence=0.3,
        impact_score=0.03,
    )
    return ToolContext(store=store, run_id="run_redact", cluster=cluster, trace_ids={TRACE}, model_name="openai/gpt-4o")


# Every tool that shows trace text, with calls that show each field that holds a secret.
READING_CALLS: dict[str, list[dict]] = {
    "cluster_overview": [{}],
    "trace_outline": [{"trace_id": TRACE}],
    "read_span": [{"trace_id": TRACE, "span_id": s} for s in (ROOT, STEP, TOOL)]
    + [{"trace_id": TRACE, "span_id": STEP, "field": f} for f in ("input", "output", "attributes")]
    + [{"trace_id": TRACE, "span_id": TOOL, "field": f} for f in ("input", "events")],
    "read_span_exact": [
        {"trace_id": TRACE, "span_id": s, "field": f}
        for s, f in (
            (STEP, "input"),
            (STEP, "output"),
            (STEP, "attributes"),
            (TOOL, "tool_args"),
            (TOOL, "status_message"),
            (TOOL, "events"),
        )
    ],
    "get_children": [{"trace_id": TRACE, "span_id": ROOT}],
    "get_spans_by_type": [{"kind": k} for k in ("agent", "llm", "tool")] + [{"kind": "tool", "trace_id": TRACE}],
    "search_spans": [{"query": q} for q in ("declined", "refund", "gateway", "Using key", "notify")],
}
NOT_READING = {"investigate_subset", "submit_finding", "submit_scores", "submit_summary"}


def test_every_tool_that_shows_trace_text_is_covered_here() -> None:
    assert set(READING_CALLS) | NOT_READING == set(TOOLS)


@pytest.mark.parametrize("tool", sorted(READING_CALLS))
def test_a_remote_model_never_sees_a_secret_through_this_tool(ctx: ToolContext, tool: str) -> None:
    shown = [call_tool(ctx, tool, args) for args in READING_CALLS[tool]]
    assert not any(r.startswith("error") for r in shown), shown
    for result in shown:
        leaked = [s for s in SECRETS if s in result]
        assert not leaked, f"{tool} showed {leaked}: {result}"
    assert any("<" in r and "_1>" in r for r in shown), f"{tool} showed no placeholder, so it showed no trace text"


def test_read_span_masks_each_kind_with_its_own_placeholder(ctx: ToolContext) -> None:
    step = call_tool(ctx, "read_span", {"trace_id": TRACE, "span_id": STEP})
    assert "Using key <API_KEY_1> for the refund API" in step
    assert "mail <EMAIL_1>; call <PHONE_1> if stuck" in step
    assert '"aws.access_key_id": "<API_KEY_2>"' in step
    tool = call_tool(ctx, "read_span", {"trace_id": TRACE, "span_id": TOOL})
    assert "refund declined for account <EMAIL_1>: card on file expired" in tool  # one placeholder per trace
    assert "<EMAIL_2>" in tool and "Bearer <BEARER_TOKEN_1>" in tool


def test_search_snippets_are_masked(ctx: ToolContext) -> None:
    found = call_tool(ctx, "search_spans", {"query": "declined"})
    assert f"span_id={TOOL}" in found
    assert "account <EMAIL_1>" in found and EMAIL not in found


def test_the_offline_investigator_reads_the_original_text(ctx: ToolContext) -> None:
    ctx.model_name = "offline"
    shown = "\n".join(call_tool(ctx, tool, args) for tool, calls in READING_CALLS.items() for args in calls)
    assert all(secret in shown for secret in SECRETS)


def test_redaction_can_be_forced_on_for_the_offline_investigator(ctx: ToolContext) -> None:
    ctx.model_name, ctx.redact = "offline", True
    shown = call_tool(ctx, "read_span", {"trace_id": TRACE, "span_id": TOOL})
    assert EMAIL not in shown and "<EMAIL_1>" in shown


def test_a_masked_quote_is_accepted_and_stored_as_the_original(ctx: ToolContext) -> None:
    call_tool(ctx, "read_span", {"trace_id": TRACE, "span_id": TOOL})
    reply = call_tool(
        ctx,
        "submit_finding",
        {
            "title": "Declined refunds",
            "category": "recovery.ignored_error",
            "severity": "high",
            "confidence": 0.8,
            "description": "The refund is declined.",
            "root_cause": "Expired card.",
            "fix_layer": "prompt",
            "immediate_fix": f"Ask for a new card (trace {TRACE}).",
            "trace_ids": [TRACE],
            "evidence": [{"trace_id": TRACE, "span_id": TOOL, "quote": "refund declined for account <EMAIL_1>"}],
        },
    )
    assert reply.startswith("accepted")
    assert ctx.findings[0].evidence[0].quote == f"refund declined for account {EMAIL}"


def test_a_placeholder_from_another_trace_does_not_unlock_a_quote(ctx: ToolContext) -> None:
    call_tool(ctx, "read_span", {"trace_id": TRACE, "span_id": TOOL})
    assert ctx.unredacted("account <EMAIL_1>", "some-other-trace") == []
    assert ctx.unredacted("account <EMAIL_9>", TRACE) == []
    assert ctx.unredacted("account <EMAIL_1>", TRACE) == [f"account {EMAIL}"]
