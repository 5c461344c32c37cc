"""Langfuse observations, trace objects, pages and UI downloads: kinds, levels, messages, usage, trace facts.

These shapes are written only by the Langfuse server (its public API and its UI's "Download trace as
JSON"), so the files in tests/data are built to the documented shapes: `langfuse_observations.json`
and `langfuse_traces.jsonl` to the v1 API reference (`GET /api/public/observations`,
`GET /api/public/traces[/{id}]`); `langfuse_observations_v2.json` to `GET /api/public/v2/observations`
(input/output as the raw JSON text that was ingested), checked below against the Langfuse SDK's own
client model of that response; `langfuse_trace_download.json` to the UI's legacy download
(`{"trace", "observations"}`, the trace repeating its observations without IO, metadata as JSON text)
of a trace an OTel GenAI framework (pydantic-ai) exported. The input/output text of the v2 page's
Langfuse SDK observations is what the SDK run in test_ingest_langfuse_sdk.py sends for the same calls.
What the SDK itself exports is tested there, on its real output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from investigator.ingest import langfuse
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths, ingest_records
from investigator.models import Span, TraceInfo
from investigator.store import Store

DATA = Path(__file__).parent / "data"
OBSERVATIONS = DATA / "langfuse_observations.json"
TRACES = DATA / "langfuse_traces.jsonl"
OBSERVATIONS_V2 = DATA / "langfuse_observations_v2.json"
DOWNLOAD = DATA / "langfuse_trace_download.json"
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
    assert report.summary() == {
        "ingested": 10,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 0,
        "quarantined": 3,
        "traces": 2,
    }
    support = store.get_trace(SUPPORT_TRACE)
    assert support is not None
    assert support.name == "support-chat" and support.session_id == "sess_7f3a2b"
    assert support.span_count == 7 and support.error_count == 1
    assert support.agent_version == "2.4.0" and support.prompt_version == "support-system@7"
    assert support.tags == ["refund", "support"]
    assert store.get_span(SUPPORT_TRACE, "e5f7a9b1c3d52468").status == "error"


def _v2_page() -> dict[str, Any]:
    return json.loads(OBSERVATIONS_V2.read_text())


def _v2(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A v2 API observation as written, and what the adapter makes of it."""
    record = next(r for r in _v2_page()["data"] if r["name"] == name)
    [span] = langfuse.parse(record)
    Span.model_validate(span)
    return record, span


def _download() -> dict[str, Any]:
    return json.loads(DOWNLOAD.read_text())


def test_v2_observation_page_matches_the_sdk_client_model_and_every_observation_parses() -> None:
    from langfuse.api import ObservationsV2Response
    from langfuse.api.core.pydantic_utilities import parse_obj_as

    page = _v2_page()
    parsed = parse_obj_as(ObservationsV2Response, page)
    assert [o.id for o in parsed.data] == [r["id"] for r in page["data"]]
    assert all(isinstance(r["input"], str) for r in page["data"])
    assert all(langfuse.sniff(r) for r in page["data"])
    spans = _parse(page["data"])
    assert [(s["name"], s["kind"]) for s in spans] == [
        ("support-agent", "agent"),
        ("OpenAI-generation", "llm"),
        ("claude-plan", "llm"),
        ("relay-tool-call", "tool"),
        ("running tool: lookup_order", "tool"),
        ("chat gpt-4o-mini", "llm"),
        ("classify-intent", "llm"),
    ]


def test_json_text_input_and_output_are_decoded_once_into_messages() -> None:
    record, span = _v2("OpenAI-generation")
    sent = json.loads(record["input"])["messages"]
    assert json.loads(span["input"]) == sent
    [call] = json.loads(record["output"])["tool_calls"]
    assert json.loads(span["output"]) == [
        {
            "role": "assistant",
            "tool_calls": [{"id": call["id"], "name": "lookup_order", "arguments": call["function"]["arguments"]}],
        }
    ]
    assert (span["tokens_in"], span["tokens_out"]) == (
        record["usageDetails"]["input"],
        record["usageDetails"]["output"],
    )
    assert span["cost"] == record["totalCost"] == record["costDetails"]["total"]
    assert span["attributes"]["modelParameters.max_tokens"] == "Infinity"
    assert span["hints"]["prompt_version"] == "support-system@7"


def test_json_text_that_holds_no_messages_is_kept_as_written_not_wrapped_as_a_message() -> None:
    record, span = _v2("classify-intent")
    assert span["input"] == record["input"] and span["output"] == record["output"]
    record, span = _v2("chat gpt-4o-mini")
    assert json.loads(span["input"]) == json.loads(record["input"])
    assert json.loads(span["output"]) == [{"role": "assistant", "content": record["output"]}]


def test_anthropic_content_blocks_output_is_one_assistant_message_with_its_tool_use() -> None:
    record, span = _v2("claude-plan")
    text, use = json.loads(record["output"])
    assert json.loads(span["output"]) == [
        {
            "role": "assistant",
            "content": text["text"],
            "tool_calls": [{"id": use["id"], "name": use["name"], "arguments": '{"order_id":"A-1001"}'}],
        }
    ]


def test_anthropic_message_output_keeps_its_text_and_tool_use() -> None:
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Lyon"}},
        ],
        "stop_reason": "tool_use",
    }
    record = {
        "id": "g",
        "traceId": "t",
        "type": "GENERATION",
        "startTime": "2025-05-20T10:00:00Z",
        "output": json.dumps(message),
    }
    [span] = langfuse.parse(record)
    assert json.loads(span["output"]) == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [{"id": "toolu_02", "name": "get_weather", "arguments": '{"city":"Lyon"}'}],
        }
    ]


def test_span_returning_a_tool_message_is_a_tool_span_named_for_its_tool() -> None:
    record, span = _v2("relay-tool-call")
    returned = json.loads(record["output"])
    assert (record["type"], span["kind"], span["tool_name"]) == ("SPAN", "tool", returned["name"])
    assert span["tool_args"] == record["input"]
    assert span["output"] == returned["content"]


def test_tool_name_comes_from_the_span_attributes_not_the_observation_name() -> None:
    record, span = _v2("running tool: lookup_order")
    attributes = json.loads(record["metadata"]["attributes"])
    assert record["type"] == "SPAN"
    assert (span["kind"], span["tool_name"]) == ("tool", attributes["gen_ai.tool.name"])
    assert span["tool_args"] == record["input"] and span["output"] == record["output"]
    for observation in _download()["observations"]:
        if observation["type"] == "TOOL":
            [tool] = _parse([observation])
            assert observation["name"] == "running tool: get_weather" and tool["tool_name"] == "get_weather"


def test_span_relaying_tool_messages_in_a_state_stays_a_chain() -> None:
    record = {
        "id": "s",
        "traceId": "t",
        "type": "SPAN",
        "name": "tools",
        "startTime": "2025-05-20T10:00:00Z",
        "output": json.dumps({"messages": [{"type": "tool", "content": "ok", "tool_call_id": "c1"}]}),
    }
    [span] = langfuse.parse(record)
    assert span["kind"] == "chain" and span["tool_name"] is None


def test_ui_download_yields_the_trace_then_each_observation_once() -> None:
    document = _download()
    assert langfuse.sniff(document) and "id" not in document
    trace = document["trace"]
    assert [o["id"] for o in trace["observations"]] == [o["id"] for o in document["observations"]]
    info, *spans = langfuse.parse(document)
    assert isinstance(info, TraceInfo)
    assert (info.trace_id, info.name, info.user_id) == (trace["id"], trace["name"], trace["userId"])
    assert info.hints["tags"] == trace["tags"] and info.hints["agent_version"] == trace["version"]
    assert [s["span_id"] for s in spans] == [o["id"] for o in document["observations"]]
    assert all(s["input"] is not None for s in spans)  # the full observations, not the trace's light copies


def test_download_keeps_genai_parts_messages_with_their_text_tool_calls_and_results() -> None:
    document = _download()
    spans = {s["span_id"]: s for s in _parse([document]) if isinstance(s, dict)}
    first, second = (o for o in document["observations"] if o["type"] == "GENERATION")
    [asked] = json.loads(first["output"])
    calls = [p for p in asked["parts"] if p["type"] == "tool_call"]
    [message] = json.loads(spans[first["id"]]["output"])
    assert message == {
        "role": "assistant",
        "tool_calls": [
            {"id": c["id"], "name": c["name"], "arguments": json.dumps(c["arguments"], separators=(",", ":"))}
            for c in calls
        ],
    }
    system, user = json.loads(first["input"])
    assert json.loads(spans[first["id"]]["input"]) == [
        {"role": "system", "content": system["parts"][0]["content"]},
        {"role": "user", "content": user["parts"][0]["content"]},
    ]
    results = [p for p in json.loads(second["input"])[-1]["parts"] if p["type"] == "tool_call_response"]
    history = json.loads(spans[second["id"]]["input"])
    assert history[2] == message
    assert history[3:] == [{"role": "tool", "tool_call_id": r["id"], "content": r["response"]} for r in results]


def test_download_tool_that_failed_is_an_error_tool_span_with_its_arguments() -> None:
    document = _download()
    failed = next(o for o in document["observations"] if o["level"] == "ERROR")
    [span] = _parse([failed])
    assert (span["kind"], span["status"], span["tool_name"]) == ("tool", "error", "get_weather")
    assert span["tool_args"] == failed["input"]
    assert span["status_message"] == failed["statusMessage"]
    assert span["events"][0]["attributes"]["exception.type"] == "ReadTimeout"


def test_newer_download_without_a_trace_object_gives_its_observations() -> None:
    observations = _download()["observations"]
    document = {"observations": observations, "scores": []}
    assert langfuse.sniff(document)
    spans = list(langfuse.parse(document))
    assert [s["span_id"] for s in spans] == [o["id"] for o in observations]
    assert {s["trace_id"] for s in spans} == {observations[0]["traceId"]}


def test_download_observation_that_is_not_an_object_is_rejected_with_its_location() -> None:
    document = _download()
    document["observations"].insert(1, 42)
    results = list(langfuse.parse(document))
    [rejected] = [r for r in results if isinstance(r, Rejected)]
    assert rejected.location == "observations[1]" and rejected.reason == "observation is not an object"
    assert sum(isinstance(r, dict) for r in results) == len(document["observations"]) - 1


def test_page_that_reaches_the_adapter_is_read_item_by_item_with_locations(store: Store) -> None:
    page = {**_v2_page(), "links": {"next": "/api/public/v2/observations?cursor=abc"}, "status": 200}
    page["data"] = [*page["data"][:2], {**page["data"][2], "startTime": "yesterday"}, *page["data"][3:]]
    assert langfuse.sniff(page)
    report = ingest_records(store, [page], "langfuse", "api-page")
    assert report.ingested == len(page["data"]) - 1
    [row] = store.quarantined()
    assert (row.file, row.location, row.format) == ("api-page", "[0].data[2]", "langfuse")
    assert row.reason == "RecordError: field 'startTime': not a timestamp: 'yesterday'"
    assert json.loads(row.raw)["name"] == "claude-plan"


def test_observation_jsonl_and_a_download_ingest_through_the_pipeline(store: Store, tmp_path: Path) -> None:
    lines = tmp_path / "observations.jsonl"
    observations = _v2_page()["data"]
    lines.write_text("".join(json.dumps(o) + "\n" for o in observations))
    report = ingest_paths(store, [str(lines), str(DOWNLOAD)])
    assert report.files == {str(lines): "langfuse", str(DOWNLOAD): "langfuse"}
    downloaded = _download()
    assert report.ingested == len(observations) + len(downloaded["observations"]) and report.quarantined == 0
    generation = next(o for o in observations if o["name"] == "OpenAI-generation")
    stored = store.get_span(generation["traceId"], generation["id"])
    assert stored is not None and stored.source_format == "langfuse"
    [call] = json.loads(stored.output or "")[0]["tool_calls"]
    assert call["name"] == "lookup_order"
    trace = store.get_trace(downloaded["trace"]["id"])
    assert trace is not None
    assert (trace.name, trace.session_id, trace.span_count, trace.error_count) == (
        downloaded["trace"]["name"],
        downloaded["trace"]["sessionId"],
        len(downloaded["observations"]),
        1,
    )
