"""Langfuse observations and trace objects: kinds, levels, messages, usage, trace facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from investigator.ingest import langfuse
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Span, TraceInfo
from investigator.store import Store

DATA = Path(__file__).parent / "data"
OBSERVATIONS = DATA / "langfuse_observations.json"
TRACES = DATA / "langfuse_traces.jsonl"
SUPPORT_TRACE = "4f8a2c1e9b3d7f60a5c8e1b2d4f6a809"
ACCOUNT_TRACE = "0d3e6b1a-94c2-4f7e-8a55-2c9b7e4f1d60"
AGENT_ID = "a3f1c9e27b4d5086"


def _parse(records: list[Any]) -> list[Any]:
    return [result for record in records for result in langfuse.parse(record)]


def _observations() -> dict[str, dict[str, Any]]:
    page = json.loads(OBSERVATIONS.read_text())
    return {r["name"]: r for r in _parse(page["data"]) if isinstance(r, dict)}


def _trace_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TRACES.read_text().splitlines() if line.strip()]


def test_observation_page_parses_every_observation_and_rejects_the_bad_ones() -> None:
    page = json.loads(OBSERVATIONS.read_text())
    assert set(page) == {"data", "meta"} and page["meta"]["totalItems"] == 9
    assert all(langfuse.sniff(r) for r in page["data"])
    results = _parse(page["data"])
    spans = [r for r in results if isinstance(r, dict)]
    for span in spans:
        Span.model_validate(span)
    assert [(s["name"], s["kind"]) for s in spans] == [
        ("support-agent", "agent"),
        ("plan-step", "llm"),
        ("lookup_order", "tool"),
        ("kb-search", "retriever"),
        ("answer-step", "llm"),
        ("refund-limit-check", "guardrail"),
        ("handoff-to-human", "unknown"),
    ]
    assert {s["trace_id"] for s in spans} == {SUPPORT_TRACE}
    assert [s["parent_id"] for s in spans] == [None] + [AGENT_ID] * 6
    assert sorted(r.reason for r in results if isinstance(r, Rejected)) == [
        "RecordError: field 'id' is missing",
        "RecordError: field 'startTime': not a timestamp: '2025-05-20T09:15:06.3XXZ'",
    ]


def test_generation_requesting_a_tool_has_canonical_messages_model_usage_and_prompt_version() -> None:
    plan = _observations()["plan-step"]
    assert [m["role"] for m in json.loads(plan["input"])] == ["system", "user"]
    assert json.loads(plan["output"]) == [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_7HnR2xKp4VwM9sLq1TcB6yDe", "name": "lookup_order", "arguments": '{"order_id": "A-1001"}'}
            ],
        }
    ]
    assert plan["model"] == "gpt-4o-2024-08-06"
    assert (plan["tokens_in"], plan["tokens_out"]) == (512, 22)
    assert plan["cost"] == 0.0015
    assert plan["status"] == "ok" and plan["status_message"] is None
    assert plan["start_time"] == "2025-05-20T09:15:02.016000Z"
    assert plan["hints"] == {
        "agent_version": "2.4.0",
        "prompt_version": "support-system@7",
        "environment": "production",
    }
    assert plan["attributes"]["modelParameters.max_tokens"] == 512
    assert plan["attributes"]["langfuse.completionStartTime"] == "2025-05-20T09:15:02.856Z"


def test_generation_at_level_error_is_a_failed_llm_span_with_the_status_message() -> None:
    answer = _observations()["answer-step"]
    assert answer["kind"] == "llm" and answer["status"] == "error"
    assert answer["status_message"].startswith("Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o")
    assert answer["output"] is None
    history = json.loads(answer["input"])
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool"]
    assert history[3]["tool_call_id"] == "call_7HnR2xKp4VwM9sLq1TcB6yDe"
    [event] = answer["events"]
    assert event["name"] == "exception" and event["time"] == answer["end_time"]
    assert "rate_limit_exceeded" in event["attributes"]["exception.message"]


def test_warning_level_keeps_status_ok_and_the_message() -> None:
    guard = _observations()["refund-limit-check"]
    assert guard["status"] == "ok"
    assert guard["status_message"] == "refund of 349.00 USD exceeds auto-approval limit 200.00; escalated"
    assert guard["events"] == []
    assert guard["attributes"]["langfuse.level"] == "WARNING"


def test_tool_observation_names_the_tool_and_keeps_its_arguments_and_result() -> None:
    observations = _observations()
    tool = observations["lookup_order"]
    assert tool["tool_name"] == "lookup_order"
    assert json.loads(tool["tool_args"]) == {"order_id": "A-1001"}
    assert json.loads(tool["output"])["status"] == "delivered"
    assert tool["tokens_in"] is None and tool["model"] is None
    assert observations["support-agent"]["agent"] == "support-agent"
    assert observations["kb-search"]["input"] == "refund policy damaged item over $200"
    assert observations["handoff-to-human"]["end_time"] is None
    assert observations["handoff-to-human"]["status"] == "ok"


def test_trace_object_yields_trace_facts_then_its_nested_observations() -> None:
    records = _trace_records()
    assert all(langfuse.sniff(r) for r in records)
    results = list(langfuse.parse(records[0]))
    info = results[0]
    assert isinstance(info, TraceInfo)
    assert info.trace_id == ACCOUNT_TRACE and info.name == "account-agent"
    assert info.session_id == "sess_2025-05-20_dana" and info.user_id == "u_51720"
    assert info.start_time == "2025-05-20T11:02:44.120000Z"
    assert info.hints["agent_version"] == "account-agent@1.8.0"
    assert info.hints["service_version"] == "2025.05.2"
    assert info.hints["tags"] == ["account", "beta"]
    assert info.hints["metadata"] == {"channel": "web", "region": "eu-west-1"}
    spans = results[1:]
    assert [(s["name"], s["kind"], s["status"]) for s in spans] == [
        ("AgentExecutor", "chain", "ok"),
        ("ChatOpenAI", "llm", "ok"),
        ("find_customer", "chain", "error"),
    ]
    for span in spans:
        Span.model_validate(span)


def test_langchain_generation_output_keeps_the_malformed_arguments_the_model_wrote() -> None:
    spans = [r for r in langfuse.parse(_trace_records()[0]) if isinstance(r, dict)]
    generation = spans[1]
    [message] = json.loads(generation["output"])
    assert message["tool_calls"] == [
        {"id": "call_Ab3De5Fg7Hi9Jk1Lm3No5Pq7", "name": "find_customer", "arguments": '{"email":"dana@example.com"'}
    ]
    assert (generation["tokens_in"], generation["tokens_out"]) == (188, 21)
    assert generation["model"] == "gpt-4o-mini"
    failed = spans[2]
    assert failed["status_message"] == "JSONDecodeError: Expecting ',' delimiter: line 1 column 30 (char 29)"
    assert failed["events"][0]["attributes"]["exception.type"] == "JSONDecodeError"


def test_trace_listing_with_observation_ids_gives_only_the_trace_facts() -> None:
    results = list(langfuse.parse(_trace_records()[1]))
    assert len(results) == 1 and isinstance(results[0], TraceInfo)
    assert results[0].trace_id == SUPPORT_TRACE
    assert results[0].hints["agent_version"] == "2.4.0"


def test_trace_without_id_and_bad_nested_observation_are_rejected_with_the_field_named() -> None:
    [rejected] = langfuse.parse(_trace_records()[2])
    assert isinstance(rejected, Rejected) and rejected.reason == "field 'id' is missing"
    trace = {
        "id": "t-1",
        "timestamp": "2025-05-20T10:00:00.000Z",
        "observations": [
            {"id": "o-1", "type": "SPAN", "name": "ok", "startTime": "2025-05-20T10:00:00.100Z"},
            {"id": "o-2", "type": "SPAN", "name": "bad", "startTime": "soon"},
        ],
    }
    info, good, bad = langfuse.parse(trace)
    assert isinstance(info, TraceInfo)
    assert good["trace_id"] == "t-1" and good["status"] == "unset"
    assert isinstance(bad, Rejected)
    assert bad.location == "observations[1]" and "'startTime'" in bad.reason and bad.raw["id"] == "o-2"


def test_usage_falls_back_from_usage_details_to_usage_in_tokens() -> None:
    base = {"id": "g", "traceId": "t", "type": "GENERATION", "startTime": "2025-05-20T10:00:00Z", "input": "hi"}
    [older] = langfuse.parse({**base, "usage": {"input": 30, "output": 7, "total": 37, "unit": "TOKENS"}})
    assert (older["tokens_in"], older["tokens_out"]) == (30, 7)
    assert json.loads(older["input"]) == [{"role": "user", "content": "hi"}]
    [chars] = langfuse.parse({**base, "usage": {"input": 300, "output": 70, "unit": "CHARACTERS"}})
    assert (chars["tokens_in"], chars["tokens_out"]) == (None, None)


def test_langfuse_files_ingest_through_the_pipeline_and_trace_facts_apply(store: Store) -> None:
    report = ingest_paths(store, [str(OBSERVATIONS), str(TRACES)])
    assert report.files == {str(OBSERVATIONS): "langfuse", str(TRACES): "langfuse"}
    assert report.summary() == {"ingested": 10, "duplicates": 0, "updated": 0, "quarantined": 3, "traces": 2}
    support = store.get_trace(SUPPORT_TRACE)
    assert support is not None
    assert support.name == "support-chat" and support.session_id == "sess_7f3a2b"
    assert support.span_count == 7 and support.error_count == 1
    assert support.agent_version == "2.4.0" and support.prompt_version == "support-system@7"
    assert support.tags == ["refund", "support"]
    assert store.get_span(SUPPORT_TRACE, "e5f7a9b1c3d52468").status == "error"
