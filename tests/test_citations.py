"""A citation is accepted only when its quote is verbatim in the very span it cites: not in a
sibling span, not in another trace, not after changing case or whitespace, and never a quote so
short that it would match almost anything."""

from __future__ import annotations

import json

import pytest

from investigator.clustering import Cluster
from investigator.evidence import quote_in_span
from investigator.ingest.base import span_row
from investigator.store import Store
from investigator.tools.context import ToolContext
from investigator.tools.registry import call_tool

TRACE = "3f1c9a7e5b2d4c6e8a0b1c2d3e4f5a6b"
OTHER_TRACE = "8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"
TOOL, ANSWER, SIBLING = "1a2b3c4d5e6f7081", "2b3c4d5e6f708192", "3c4d5e6f708192a3"
ERROR = "Payment gateway declined: card_expired (code 54)"
REPLY = "Your payment went through.\n\nThe  receipt was e-mailed to you."


def _at(seconds: float) -> str:
    return f"2025-05-09T10:00:{seconds:09.6f}Z"


def _rows(trace_id: str) -> list[dict]:
    return [
        span_row(
            trace_id,
            TOOL,
            name="charge_card",
            kind="tool",
            status="error",
            start_time=_at(1),
            end_time=_at(2),
            tool_name="charge_card",
            tool_args='{"order": "Q-7710"}',
            status_message=ERROR,
            source_format="otlp-json",
            attributes={"gateway.region": "eu-west-1"},
            events=[{"name": "exception", "time": _at(2), "attributes": {"exception.type": "GatewayDeclined"}}],
        ),
        span_row(
            trace_id,
            ANSWER,
            name="ChatOpenAI",
            kind="llm",
            status="ok",
            start_time=_at(3),
            end_time=_at(4),
            model="gpt-4o-mini",
            source_format="otlp-json",
            output=json.dumps([{"role": "assistant", "content": REPLY}]),
        ),
        span_row(
            trace_id,
            SIBLING,
            name="send_receipt",
            kind="tool",
            status="ok",
            start_time=_at(5),
            end_time=_at(6),
            tool_name="send_receipt",
            output="receipt queued for delivery",
            source_format="otlp-json",
        ),
    ]


@pytest.fixture
def ctx(store: Store) -> ToolContext:
    store.write_batch(_rows(TRACE) + _rows(OTHER_TRACE))
    store.refresh_traces([TRACE, OTHER_TRACE])
    cluster = Cluster(
        id="c_pay",
        trace_ids=[TRACE, OTHER_TRACE],
        size=2,
        keywords=["declined"],
        categories={"recovery.ignored_error": 2},
        representative_trace_ids=[TRACE],
        prevalence=0.2,
        severity_weighted_prevalence=0.6,
        impact_score=0.12,
    )
    return ToolContext(store=store, run_id="run_cite", cluster=cluster, trace_ids={TRACE, OTHER_TRACE})


def _submit(
    ctx: ToolContext, *evidence: tuple[str, str, str], title: str = "Declined payments are reported as successful"
) -> str:
    return call_tool(
        ctx,
        "submit_finding",
        {
            "title": title,
            "category": "recovery.ignored_error",
            "severity": "high",
            "confidence": 0.8,
            "description": "charge_card is declined and the model tells the user the payment went through.",
            "root_cause": "The prompt never asks the model to check the tool's status.",
            "immediate_fix": f"Tell the model to report a declined charge (trace {TRACE}).",
            "fix_layer": "prompt",
            "evidence": [{"trace_id": t, "span_id": s, "quote": q} for t, s, q in evidence],
            "trace_ids": [TRACE],
        },
    )


def test_a_quote_verbatim_in_the_cited_span_is_accepted_and_stored_as_it_appears(ctx: ToolContext) -> None:
    reply = _submit(ctx, (TRACE, TOOL, "declined: card_expired"), (TRACE, ANSWER, "Your payment went through."))
    assert reply.startswith("accepted finding f_")
    assert [(e.span_id, e.quote) for e in ctx.findings[0].evidence] == [
        (TOOL, "declined: card_expired"),
        (ANSWER, "Your payment went through."),
    ]


def test_a_quote_from_a_sibling_span_of_the_same_trace_is_rejected(ctx: ToolContext) -> None:
    reply = _submit(ctx, (TRACE, TOOL, "receipt queued for delivery"))
    assert reply.startswith("rejected, nothing was stored:")
    assert f"evidence[0]: the quote is not verbatim in span {TOOL} of trace {TRACE}" in reply
    assert ctx.findings == []


def test_a_quote_in_another_trace_of_the_investigation_is_rejected_for_this_one(ctx: ToolContext) -> None:
    ctx.store.write_batch(
        [
            span_row(
                OTHER_TRACE,
                "4d5e6f708192a3b4",
                name="notify",
                kind="tool",
                output="notified the fraud desk",
                source_format="otlp-json",
            )
        ]
    )
    ctx.store.refresh_traces([OTHER_TRACE])
    reply = _submit(ctx, (TRACE, TOOL, "notified the fraud desk"))
    assert reply.startswith("rejected") and ctx.findings == []
    assert _submit(ctx, (OTHER_TRACE, "4d5e6f708192a3b4", "notified the fraud desk")).startswith("accepted")


@pytest.mark.parametrize("quote", ["5", "54", " 54", " (c"])
def test_quotes_under_three_visible_characters_are_rejected_even_when_present(ctx: ToolContext, quote: str) -> None:
    span = ctx.span(TRACE, TOOL)
    assert quote in span.status_message
    assert not quote_in_span(span, quote)
    assert _submit(ctx, (TRACE, TOOL, quote)).startswith("rejected")


def test_a_three_character_quote_is_the_shortest_accepted(ctx: ToolContext) -> None:
    span = ctx.span(TRACE, TOOL)
    assert quote_in_span(span, "(co") and quote_in_span(span, "e 5")
    assert _submit(ctx, (TRACE, TOOL, "(co")).startswith("accepted")


@pytest.mark.parametrize("quote", ["payment gateway declined", "CARD_EXPIRED", "Payment Gateway Declined"])
def test_a_quote_in_other_case_is_rejected(ctx: ToolContext, quote: str) -> None:
    assert not quote_in_span(ctx.span(TRACE, TOOL), quote)
    assert _submit(ctx, (TRACE, TOOL, quote)).startswith("rejected")


@pytest.mark.parametrize(
    "quote",
    [
        "Your payment went through. The receipt",  # the span has "\n\n" and a double space
        "The receipt was e-mailed",
        "Payment  gateway declined",
        "declined:card_expired",
    ],
)
def test_a_quote_with_changed_whitespace_is_rejected(ctx: ToolContext, quote: str) -> None:
    assert not any(quote_in_span(ctx.span(TRACE, s), quote) for s in (TOOL, ANSWER))
    assert _submit(ctx, (TRACE, ANSWER, quote)).startswith("rejected")
    assert _submit(ctx, (TRACE, TOOL, quote)).startswith("rejected")


def test_quotes_come_from_text_fields_and_event_values_but_not_from_attributes(ctx: ToolContext) -> None:
    span = ctx.span(TRACE, TOOL)
    assert quote_in_span(span, "GatewayDeclined")  # an event attribute's value
    assert quote_in_span(span, '"order": "Q-7710"')  # tool arguments
    assert quote_in_span(span, "charge_card")  # the span's name
    assert not quote_in_span(span, "exception.type")  # an event attribute's key
    assert not quote_in_span(span, "gateway.region") and not quote_in_span(span, "eu-west-1")
    assert _submit(ctx, (TRACE, TOOL, "eu-west-1")).startswith("rejected")


def test_an_empty_quote_is_rejected(ctx: ToolContext) -> None:
    assert not quote_in_span(ctx.span(TRACE, TOOL), "")
    assert _submit(ctx, (TRACE, TOOL, "")).startswith("rejected")


def test_one_bad_citation_rejects_the_whole_finding(ctx: ToolContext) -> None:
    reply = _submit(ctx, (TRACE, TOOL, "declined: card_expired"), (TRACE, ANSWER, "the payment was declined"))
    assert reply.startswith("rejected") and "evidence[1]" in reply and "evidence[0]" not in reply
    assert ctx.findings == []


def test_a_quote_of_json_text_is_kept_as_a_reader_finds_it_decoded(ctx: ToolContext) -> None:
    stored = ctx.span(TRACE, ANSWER).output
    escaped = "went through.\\n\\nThe  receipt"  # what the output holds, copied with its JSON escapes
    assert escaped in stored
    decoded = "went through.\n\nThe  receipt"
    assert decoded not in stored and quote_in_span(ctx.span(TRACE, ANSWER), decoded)
    for quote in (escaped, decoded):
        ctx.findings.clear()
        assert _submit(ctx, (TRACE, ANSWER, quote)).startswith("accepted")
        assert [e.quote for e in ctx.findings[0].evidence] == [decoded]


def test_json_keys_and_structure_are_not_decoded_values(ctx: ToolContext) -> None:
    span = ctx.span(TRACE, ANSWER)
    assert not quote_in_span(span, "went through.\\n\\nThe receipt")  # escapes undone but spacing changed
    assert not quote_in_span(span, '"content": "Your payment went through.\n')  # decoded text in raw JSON


def test_a_title_naming_a_tool_cites_only_spans_about_that_tool(ctx: ToolContext) -> None:
    title = "Declined charges are reported as successful at tool `charge_card`"
    reply = _submit(ctx, (TRACE, TOOL, ERROR), (TRACE, ANSWER, "Your payment went through."), title=title)
    assert reply.startswith("rejected") and "evidence[1]: span " + ANSWER in reply and "evidence[0]" not in reply
    assert ctx.findings == []
    assert _submit(ctx, (TRACE, TOOL, ERROR), title=title).startswith("accepted")
    # A name in backticks that is no tool or agent of the cited traces is left alone.
    reply = _submit(ctx, (TRACE, ANSWER, "Your payment went through."), title="Answers say `done`")
    assert reply.startswith("accepted")
