"""A finding's id names one failure family: a taxonomy code at one component (the tool or agent
its evidence sits in). The same family keeps its id whichever cluster, run or window it turns up
in; a different component or code is a different finding."""

from __future__ import annotations

import json
import re

import pytest

from investigator.clustering import Cluster
from investigator.findings import load_findings
from investigator.ingest.base import span_row
from investigator.judge.investigate import Investigation, store_results
from investigator.store import Store
from investigator.tools.context import ToolContext
from investigator.tools.registry import call_tool

TRACES = [f"{n:x}" * 32 for n in range(1, 5)]
ERROR = "HTTP 503 Service Unavailable"


def _at(seconds: float) -> str:
    return f"2025-08-04T12:00:{seconds:09.6f}Z"


def _rows(trace_id: str) -> list[dict]:
    return [
        span_row(
            trace_id,
            _span(trace_id, 1),
            name="billing_agent",
            kind="agent",
            agent="billing_agent",
            start_time=_at(0),
            end_time=_at(9),
            source_format="otlp-json",
        ),
        span_row(
            trace_id,
            _span(trace_id, 2),
            parent_id=_span(trace_id, 1),
            name="get_invoice",
            kind="tool",
            tool_name="get_invoice",
            status="error",
            status_message=f"get_invoice: {ERROR}",
            start_time=_at(1),
            end_time=_at(2),
            source_format="otlp-json",
        ),
        span_row(
            trace_id,
            _span(trace_id, 3),
            parent_id=_span(trace_id, 1),
            name="issue_refund",
            kind="tool",
            tool_name="issue_refund",
            status="error",
            status_message=f"issue_refund: {ERROR}",
            start_time=_at(3),
            end_time=_at(4),
            source_format="otlp-json",
        ),
        span_row(
            trace_id,
            _span(trace_id, 4),
            parent_id=_span(trace_id, 1),
            name="ChatOpenAI",
            kind="llm",
            model="gpt-4o",
            output=json.dumps([{"role": "assistant", "content": "All done, your refund is on its way."}]),
            start_time=_at(5),
            end_time=_at(6),
            source_format="otlp-json",
        ),
    ]


def _span(trace_id: str, n: int) -> str:
    return f"{trace_id[:14]}{n:02x}"


@pytest.fixture
def filled(store: Store) -> Store:
    store.write_batch([row for t in TRACES for row in _rows(t)])
    store.refresh_traces(TRACES)
    return store


def _ctx(store: Store, cluster_id: str, traces: list[str], run_id: str = "run_a") -> ToolContext:
    cluster = Cluster(
        id=cluster_id,
        trace_ids=traces,
        size=len(traces),
        keywords=["503"],
        categories={"execution.service_error": len(traces)},
        representative_trace_ids=traces[:1],
        prevalence=0.2,
        severity_weighted_prevalence=0.6,
        impact_score=0.12,
    )
    return ToolContext(store=store, run_id=run_id, cluster=cluster, trace_ids=set(traces))


def _submit(ctx: ToolContext, cited: list[tuple[str, int, str]], category: str = "execution.service_error") -> str:
    reply = call_tool(
        ctx,
        "submit_finding",
        {
            "title": "Billing backend unavailable",
            "category": category,
            "severity": "high",
            "confidence": 0.8,
            "description": "Billing tools fail with 503.",
            "root_cause": "The billing backend is down.",
            "immediate_fix": f"Retry with backoff (trace {cited[0][0]}).",
            "fix_layer": "tool",
            "evidence": [{"trace_id": t, "span_id": _span(t, n), "quote": q} for t, n, q in cited],
            "trace_ids": sorted({t for t, _, _ in cited}),
        },
    )
    match = re.fullmatch(r"accepted finding (f_[0-9a-f]{10})( \(replaces.*\))?", reply)
    assert match, reply
    return match[1]


def test_the_same_code_at_different_tools_is_two_findings(filled: Store) -> None:
    ctx = _ctx(filled, "c_1", TRACES[:2])
    at_invoice = _submit(ctx, [(TRACES[0], 2, ERROR)])
    at_refund = _submit(ctx, [(TRACES[0], 3, ERROR)])
    assert at_invoice != at_refund
    assert len(ctx.findings) == 2


def test_different_codes_at_the_same_tool_are_two_findings(filled: Store) -> None:
    ctx = _ctx(filled, "c_1", TRACES[:2])
    assert _submit(ctx, [(TRACES[0], 2, ERROR)]) != _submit(
        ctx, [(TRACES[0], 2, ERROR)], "execution.tool_misconfigured"
    )


def test_the_same_family_in_two_clusters_and_two_runs_has_one_id(filled: Store) -> None:
    first = _submit(_ctx(filled, "c_1", TRACES[:2]), [(TRACES[0], 2, ERROR)])
    other_cluster = _submit(_ctx(filled, "c_2", TRACES[2:]), [(TRACES[3], 2, "get_invoice: HTTP 503")])
    next_run = _submit(_ctx(filled, "c_9", TRACES[1:3], run_id="run_b"), [(TRACES[1], 2, "Service Unavailable")])
    assert first == other_cluster == next_run


def test_an_id_does_not_depend_on_the_order_evidence_is_cited_in(filled: Store) -> None:
    cited = [(TRACES[0], 2, ERROR), (TRACES[1], 3, ERROR)]  # one at each tool: a tie
    forward = _submit(_ctx(filled, "c_1", TRACES[:2]), cited)
    backward = _submit(_ctx(filled, "c_1", TRACES[:2]), cited[::-1])
    assert forward == backward


def test_the_component_is_the_tool_most_of_the_evidence_sits_in(filled: Store) -> None:
    ctx = _ctx(filled, "c_1", TRACES)
    mostly_refund = _submit(ctx, [(TRACES[0], 2, ERROR), (TRACES[1], 3, ERROR), (TRACES[2], 3, ERROR)])
    only_refund = _submit(_ctx(filled, "c_2", TRACES), [(TRACES[3], 3, ERROR)])
    only_invoice = _submit(_ctx(filled, "c_3", TRACES), [(TRACES[3], 2, ERROR)])
    assert mostly_refund == only_refund != only_invoice


def test_a_model_step_is_attributed_to_its_agent_not_to_the_tools_beside_it(filled: Store) -> None:
    quote = "All done, your refund is on its way."
    at_step = _submit(_ctx(filled, "c_1", TRACES), [(TRACES[0], 4, quote)], "recovery.ignored_error")
    at_agent_step_elsewhere = _submit(_ctx(filled, "c_2", TRACES), [(TRACES[2], 4, quote)], "recovery.ignored_error")
    at_tool = _submit(_ctx(filled, "c_3", TRACES), [(TRACES[0], 3, ERROR)], "recovery.ignored_error")
    assert at_step == at_agent_step_elsewhere != at_tool


def test_ids_stay_what_earlier_versions_stored(filled: Store) -> None:
    """Ids are kept in the history of every store: a change to how they are made would make every
    family look new. These are the ids of `execution.service_error` at tool `get_invoice` and of
    `recovery.ignored_error` at agent `billing_agent`."""
    assert _submit(_ctx(filled, "c_1", TRACES), [(TRACES[0], 2, ERROR)]) == "f_bd8bf78883"
    quote = "All done, your refund is on its way."
    assert _submit(_ctx(filled, "c_1", TRACES), [(TRACES[0], 4, quote)], "recovery.ignored_error") == "f_67a2407189"


def test_one_family_found_in_two_clusters_is_stored_once_with_both_clusters_evidence(filled: Store) -> None:
    one, two = _ctx(filled, "c_1", TRACES[:2]), _ctx(filled, "c_2", TRACES[2:])
    _submit(one, [(TRACES[0], 2, ERROR)])
    _submit(two, [(TRACES[3], 2, ERROR)])
    _submit(two, [(TRACES[3], 3, ERROR)])
    for ctx in (one, two):
        store_results(
            filled,
            "run_a",
            Investigation(
                cluster_id=ctx.cluster.id,
                findings=ctx.findings,
                scores=[],
                summary=None,
                stopped_by="summary",
                turns=1,
                tokens_in=0,
                tokens_out=0,
                cached_tokens=0,
                cost_usd=0.0,
                source="offline",
            ),
        )
    stored = load_findings(filled, "run_a")
    assert len(stored) == 2
    invoice = next(f for f in stored if {e.span_id for e in f.evidence} == {_span(TRACES[0], 2), _span(TRACES[3], 2)})
    assert invoice.trace_ids == [TRACES[0], TRACES[3]] and invoice.impact.trace_count == 2
