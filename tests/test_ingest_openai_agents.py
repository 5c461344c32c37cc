"""The OpenAI Agents SDK adapter, on what the SDK writes.

Real runs (tests/agents_sdk_run.py): the SDK's `Runner` drives a triage agent (function tool,
input guardrail, handoff) and a billing agent (a refund tool that raises) against a scripted
OpenAI-compatible server on loopback, over the Responses API, Chat Completions, and Chat Completions
streamed. What is ingested is what the SDK wrote: the bodies its `BackendSpanExporter` POSTed, as
saved; the `trace.export()` / `span.export()` dicts a TracingProcessor collected; and the JSONL of
`InvestigatorTracingProcessor`. Every expected value is read from those exports or from the replies
the model server sent. The nested (`{"traces": [...]}`) and flattened (`span_data_*`) shapes are
written by export tools, not by the SDK: the tests build them from the captured real exports.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from agents.tracing import handoff_span, trace
from agents.tracing.span_data import (
    CustomSpanData,
    FunctionSpanData,
    MCPListToolsSpanData,
    SpeechGroupSpanData,
    SpeechSpanData,
    TranscriptionSpanData,
    TurnSpanData,
)
from agents_sdk_run import (
    REQUEST_MODEL,
    Recording,
    Reply,
    Run,
    record_support_runs,
    sdk_tracing,
)

from investigator.ingest import openai_agents, reader
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths, ingest_records
from investigator.models import Span
from investigator.store import Store

# The span kind each SDK span_data type is stored as (the contract of base.py).
KINDS = {
    "agent": "agent",
    "custom": "chain",
    "function": "tool",
    "generation": "llm",
    "guardrail": "guardrail",
    "handoff": "chain",
    "response": "llm",
}


@pytest.fixture
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return record_support_runs(tmp_path_factory)


def _body_rows(recording: Recording) -> list[dict[str, Any]]:
    return [row for path in recording.exporter_files for row in orjson.loads(path.read_bytes())["data"]]


def _span_rows(rows: list[dict[str, Any]], trace_id: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows if r["object"] == "trace.span" and r["trace_id"] == trace_id}


def _by_type(rows: dict[str, dict[str, Any]], span_type: str) -> list[dict[str, Any]]:
    return [r for r in rows.values() if r["span_data"]["type"] == span_type]


def _assert_stored_as_exported(store: Store, rows: list[dict[str, Any]]) -> None:
    """Every exported span is stored with the parent, times, kind, status, tool and usage the
    SDK wrote; every exported trace with its workflow, group and metadata."""
    for row in rows:
        if row["object"] == "trace":
            stored_trace = store.get_trace(row["id"])
            assert stored_trace is not None
            assert (stored_trace.name, stored_trace.session_id) == (row["workflow_name"], row["group_id"])
            assert (stored_trace.agent_version, stored_trace.prompt_version, stored_trace.user_id) == (
                row["metadata"]["agent_version"],
                row["metadata"]["prompt_version"],
                row["metadata"]["user_id"],
            )
            continue
        span = store.get_span(row["trace_id"], row["id"])
        assert span is not None, row["id"]
        data = row["span_data"]
        assert span.parent_id == row["parent_id"]
        assert _instant(span.start_time) == _instant(row["started_at"])
        assert _instant(span.end_time) == _instant(row["ended_at"])
        assert span.kind == KINDS[data["type"]]
        assert span.status == ("error" if row["error"] else "ok")
        assert span.status_message == (row["error"]["message"] if row["error"] else None)
        if data["type"] == "function":
            assert (span.tool_name, span.tool_args, span.output) == (data["name"], data["input"], data["output"])
        if data["type"] in ("response", "generation"):
            assert (span.tokens_in, span.tokens_out) == (data["usage"]["input_tokens"], data["usage"]["output_tokens"])


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _function_calls(reply: Reply) -> list[tuple[str, str, str]]:
    """(call id, name, arguments) of the tool calls a model reply made, as the server wrote them."""
    if reply.api == "/v1/responses":
        return [(o["call_id"], o["name"], o["arguments"]) for o in reply.body["output"] if o["type"] == "function_call"]
    calls = reply.body["choices"][0]["message"].get("tool_calls") or []
    return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]


def _llm_spans(store: Store, run: Run) -> list[Span]:
    return sorted((s for s in store.spans(run.trace_id) if s.kind == "llm"), key=lambda s: s.start_time or "")


# ---------------------------------------------------------------- the SDK's exporter and processors


def test_exporter_bodies_ingest_as_saved(store: Store, recording: Recording) -> None:
    rows = _body_rows(recording)
    report = ingest_paths(store, [str(p) for p in recording.exporter_files])
    assert set(report.files.values()) == {"openai-agents"}
    assert (report.ingested, report.quarantined, report.traces) == (
        sum(r["object"] == "trace.span" for r in rows),
        0,
        len(recording.runs),
    )
    _assert_stored_as_exported(store, rows)


def test_collected_exports_are_the_exporter_rows_and_ingest_alike(store: Store, recording: Recording) -> None:
    def key(row: dict[str, Any]) -> bytes:
        return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)

    assert sorted(map(key, recording.exports)) == sorted(map(key, _body_rows(recording)))
    report = ingest_records(store, recording.exports, fmt="openai-agents", source="collector")
    assert report.quarantined == 0
    _assert_stored_as_exported(store, recording.exports)


def test_exported_response_spans_take_tokens_from_usage_and_invent_no_model(store: Store, recording: Recording) -> None:
    run = recording.run("responses")
    ingest_paths(store, [str(p) for p in recording.exporter_files])
    spans = _llm_spans(store, run)
    assert [s.attributes["response_id"] for s in spans] == [r.body["id"] for r in run.replies]
    assert [(s.tokens_in, s.tokens_out) for s in spans] == [
        (r.body["usage"]["input_tokens"], r.body["usage"]["output_tokens"]) for r in run.replies
    ]
    cached = [r.body["usage"]["input_tokens_details"]["cached_tokens"] for r in run.replies]
    assert [s.attributes.get("cached_tokens", 0) for s in spans] == cached
    # The SDK's export of a response span holds no model and no messages: none are made up.
    assert {(s.name, s.model, s.input, s.output) for s in spans} == {("response", None, None, None)}


def test_response_spans_recorded_with_their_response_take_model_and_messages(
    store: Store, recording: Recording
) -> None:
    run = recording.run("responses")
    report = ingest_paths(store, [str(recording.processor_file)])
    assert report.quarantined == 0
    spans = _llm_spans(store, run)
    assert [s.model for s in spans] == [r.body["model"] for r in run.replies]
    assert [(s.tokens_in, s.tokens_out) for s in spans] == [
        (r.body["usage"]["input_tokens"], r.body["usage"]["output_tokens"]) for r in run.replies
    ]
    for span, reply in zip(spans, run.replies, strict=True):
        output = json.loads(span.output or "[]")
        calls = [(c["id"], c["name"], c["arguments"]) for m in output for c in m.get("tool_calls", [])]
        assert calls == _function_calls(reply)
        assert json.loads(span.input or "[]")[0] == {"role": "system", "content": reply.body["instructions"]}
    final = json.loads(spans[-1].output or "[]")
    assert final == [{"role": "assistant", "content": run.final_output}]
    # The last request carried every earlier call and its result back to the model.
    last_input = json.loads(spans[-1].input or "[]")
    replied = {m["tool_call_id"]: m["content"] for m in last_input if m["role"] == "tool"}
    assert list(replied) == [call_id for reply in run.replies[:-1] for call_id, _, _ in _function_calls(reply)]


def test_tool_spans_keep_the_calls_the_model_made(store: Store, recording: Recording) -> None:
    ingest_paths(store, [str(p) for p in recording.exporter_files])
    for run in recording.runs:
        made = [(name, args) for reply in run.replies for _, name, args in _function_calls(reply)]
        tools = sorted((s for s in store.spans(run.trace_id) if s.kind == "tool"), key=lambda s: s.start_time or "")
        # The handoff call is a handoff span, not a tool span; every other call is one tool span.
        assert [(s.tool_name, s.tool_args) for s in tools] == [c for c in made if c[0] != "transfer_to_billing_agent"]
        assert all(s.input == s.tool_args for s in tools)


def test_a_raising_tool_is_an_error_span_with_the_sdks_message(store: Store, recording: Recording) -> None:
    ingest_paths(store, [str(p) for p in recording.exporter_files])
    for run in recording.runs:
        (failed_row,) = [r for r in _span_rows(_body_rows(recording), run.trace_id).values() if r["error"]]
        span = store.get_span(run.trace_id, failed_row["id"])
        assert span is not None
        assert (span.kind, span.tool_name, span.status) == ("tool", "refund_order", "error")
        assert span.status_message == failed_row["error"]["message"]
        assert span.attributes["error.data"] == failed_row["error"]["data"]
        assert span.output == failed_row["span_data"]["output"]
        stored_trace = store.get_trace(run.trace_id)
        assert stored_trace is not None and stored_trace.error_count == 1


def test_handoff_guardrail_and_agents_follow_the_span_tree(store: Store, recording: Recording) -> None:
    ingest_paths(store, [str(p) for p in recording.exporter_files])
    for run in recording.runs:
        rows = _span_rows(_body_rows(recording), run.trace_id)
        (handoff_row,) = _by_type(rows, "handoff")
        handoff = store.get_span(run.trace_id, handoff_row["id"])
        assert handoff is not None
        assert (handoff.attributes["from_agent"], handoff.attributes["to_agent"]) == (
            handoff_row["span_data"]["from_agent"],
            handoff_row["span_data"]["to_agent"],
        )
        (guardrail_row,) = _by_type(rows, "guardrail")
        guardrail = store.get_span(run.trace_id, guardrail_row["id"])
        assert guardrail is not None
        assert (guardrail.name, guardrail.attributes["triggered"]) == (
            guardrail_row["span_data"]["name"],
            guardrail_row["span_data"]["triggered"],
        )
        # Each span belongs to the agent span above it in the SDK's tree.
        agents = {r["id"]: r["span_data"]["name"] for r in _by_type(rows, "agent")}
        for row in rows.values():
            parent = row["parent_id"]
            while parent is not None and parent not in agents:
                parent = rows[parent]["parent_id"]
            if parent is not None:
                span = store.get_span(run.trace_id, row["id"])
                assert span is not None and span.agent == agents[parent], row["span_data"]


def test_generation_spans_carry_model_tokens_and_canonical_messages(store: Store, recording: Recording) -> None:
    run = recording.run("chat")
    ingest_records(store, recording.rows(run.trace_id), fmt="openai-agents", source="collector")
    rows = _by_type(_span_rows(recording.exports, run.trace_id), "generation")
    spans = _llm_spans(store, run)
    assert [s.span_id for s in spans] == [r["id"] for r in rows]
    for span, row, reply in zip(spans, rows, run.replies, strict=True):
        assert span.model == row["span_data"]["model"] == REQUEST_MODEL
        assert span.attributes["model_config"]["temperature"] == row["span_data"]["model_config"]["temperature"]
        assert (span.tokens_in, span.tokens_out) == (
            reply.body["usage"]["prompt_tokens"],
            reply.body["usage"]["completion_tokens"],
        )
        (message,) = json.loads(span.output or "[]")
        assert [(c["id"], c["name"], c["arguments"]) for c in message.get("tool_calls", [])] == _function_calls(reply)
        assert message.get("content") == reply.body["choices"][0]["message"]["content"]
        sent = row["span_data"]["input"]
        assert [m["role"] for m in json.loads(span.input or "[]")] == [m["role"] for m in sent]
    last_input = json.loads(spans[-1].input or "[]")
    replies = [m for m in last_input if m["role"] == "tool"]
    tool_rows = sorted(
        (r for r in _span_rows(recording.exports, run.trace_id).values() if r["span_data"]["type"] == "function"),
        key=lambda r: r["started_at"],
    )
    # What each tool returned (as the SDK recorded it) is what the next request sent the model.
    assert [m["content"] for m in replies if m["tool_call_id"] != _handoff_call(run)] == [
        r["span_data"]["output"] for r in tool_rows
    ]


def _handoff_call(run: Run) -> str:
    return next(cid for reply in run.replies for cid, name, _ in _function_calls(reply) if name.startswith("transfer"))


def test_streamed_generation_output_reads_as_messages(store: Store, recording: Recording) -> None:
    run = recording.run("chat", stream=True)
    rows = _by_type(_span_rows(recording.exports, run.trace_id), "generation")
    # Streaming, the SDK records the Responses API object it built from the chunks as the output.
    assert all(r["span_data"]["output"][0]["object"] == "response" for r in rows)
    ingest_records(store, recording.rows(run.trace_id), fmt="openai-agents", source="collector")
    spans = _llm_spans(store, run)
    for span, reply in zip(spans, run.replies, strict=True):
        output = json.loads(span.output or "[]")
        assert [(c["id"], c["name"], c["arguments"]) for m in output for c in m.get("tool_calls", [])] == (
            _function_calls(reply)
        )
        assert (span.tokens_in, span.tokens_out) == (
            reply.body["usage"]["prompt_tokens"],
            reply.body["usage"]["completion_tokens"],
        )
    assert json.loads(spans[-1].output or "[]") == [{"role": "assistant", "content": run.final_output}]


# ------------------------------------------------------------------- shapes written by export tools


def _nested(rows: list[dict[str, Any]], drop_trace_id: bool) -> dict[str, Any]:
    """The captured rows as a nested export: each trace row with its span rows under `spans`."""
    traces = []
    for row in rows:
        if row["object"] == "trace":
            spans = [
                {k: v for k, v in r.items() if not (drop_trace_id and k == "trace_id")}
                for r in rows
                if r["object"] == "trace.span" and r["trace_id"] == row["id"]
            ]
            traces.append({**row, "spans": spans})
    return {"traces": traces}


def _flattened(row: dict[str, Any], json_text: bool) -> dict[str, Any]:
    """A captured span row flattened as an export tool writes it: `span_data_<field>` columns,
    the object fields as JSON text when `json_text`."""
    flat = {k: v for k, v in row.items() if k != "span_data"}
    for key, value in row["span_data"].items():
        flat[f"span_data_{key}"] = json.dumps(value) if json_text and isinstance(value, dict) else value
    return flat


def test_a_nested_export_stores_what_the_sdk_exported(store: Store, recording: Recording, tmp_path: Path) -> None:
    """Built from the captured exports (export tools write this shape, the SDK does not): one JSON
    document whose spans leave out the trace id they share with their trace, and one trace a line."""
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(_nested(recording.exports, drop_trace_id=True), indent=2))
    report = ingest_paths(store, [str(path)])
    assert report.files == {str(path): "openai-agents"}
    spans = sum(r["object"] == "trace.span" for r in recording.exports)
    assert (report.ingested, report.quarantined, report.traces) == (spans, 0, len(recording.runs))
    _assert_stored_as_exported(store, recording.exports)
    # One nested trace a line, and the SDK's own rows, are the same rows again.
    lines = tmp_path / "traces.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in _nested(recording.exports, False)["traces"]))
    for again in (
        ingest_paths(store, [str(lines)]),
        ingest_records(store, recording.exports, fmt="openai-agents", source="collector"),
    ):
        assert (again.duplicates, again.updated, again.ingested, again.quarantined) == (spans, 0, 0, 0)


def test_a_nested_export_too_large_to_load_whole_still_ingests_whole(
    store: Store, recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same nested document as above, read as if it were too large to load at once (such a
    document once came out as no records at all)."""
    monkeypatch.setattr(reader, "WHOLE_DOCUMENT_LIMIT", 10)
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(_nested(recording.exports, drop_trace_id=True)))
    report = ingest_paths(store, [str(path)])
    spans = sum(r["object"] == "trace.span" for r in recording.exports)
    assert (report.ingested, report.quarantined, report.traces) == (spans, 0, len(recording.runs))
    _assert_stored_as_exported(store, recording.exports)


def test_flattened_span_data_columns_store_what_the_sdk_exported(
    store: Store, recording: Recording, tmp_path: Path
) -> None:
    """Built from the captured exports (export tools flatten rows this way, the SDK does not);
    every other row carries its object fields as JSON text."""
    path = tmp_path / "spans.jsonl"
    lines = [
        row if row["object"] == "trace" else _flattened(row, json_text=index % 2 == 1)
        for index, row in enumerate(recording.exports)
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(lines) - len(recording.runs), 0)
    _assert_stored_as_exported(store, recording.exports)
    again = ingest_records(store, recording.exports, fmt="openai-agents", source="collector")
    assert (again.duplicates, again.updated) == (report.ingested, 0)


def test_bad_nested_and_flattened_records_are_quarantined_where_they_are(
    store: Store, recording: Recording, tmp_path: Path
) -> None:
    nested_rows = recording.rows(recording.run("responses").trace_id)
    export = _nested(nested_rows, drop_trace_id=False)
    broken = export["traces"][0]["spans"][3]
    del broken["id"]
    export["traces"].append("not a trace")
    nested = tmp_path / "traces.json"
    nested.write_text(json.dumps(export, indent=2))
    flat_rows = [_flattened(r, json_text=False) for r in recording.rows(recording.run("chat").trace_id)[1:]]
    del flat_rows[1]["span_data_type"]
    flat = tmp_path / "spans.jsonl"
    flat.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in flat_rows))

    report = ingest_paths(store, [str(nested), str(flat)])
    assert (report.ingested, report.quarantined) == (len(nested_rows) - 2 + len(flat_rows) - 1, 3)
    quarantined = {(q.file, q.line, q.location): (q.reason, json.loads(q.raw)) for q in store.quarantined()}
    assert quarantined == {
        (str(nested), None, "document.traces[0].spans[3]"): ("RecordError: missing id", broken),
        (str(nested), None, "document.traces[1]"): ('expected a trace object ({"object": "trace", …})', "not a trace"),
        (str(flat), 2, None): ("RecordError: missing span_data_type", flat_rows[1]),
    }


# ----------------------------------------------------------------- single rows from SDK span data


def _span_record(span_data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "object": "trace.span",
        "id": "span_0c1d2e3f4a5b6c7d8e9f0a1b",
        "trace_id": "trace_4f1d9c0b7e2a4c6f9b3e8d5a1c7f2e90",
        "parent_id": "span_9a3c51e07d2b4f68a1e0c3b7",
        "started_at": "2025-03-14T09:21:07.412918+00:00",
        "ended_at": "2025-03-14T09:21:08.106344+00:00",
        "span_data": span_data,
        "error": None,
        **extra,
    }


def _one(record: dict[str, Any]) -> dict[str, Any]:
    results = list(openai_agents.parse(record))
    assert len(results) == 1 and isinstance(results[0], dict), results
    Span.model_validate(results[0])
    return results[0]


def test_an_unended_span_is_unset() -> None:
    with sdk_tracing(), trace("Customer support"):
        pending = handoff_span(from_agent="Triage Agent", to_agent="Billing Agent")
        pending.start()
        exported = pending.export()
        pending.finish()
    assert exported is not None and exported["ended_at"] is None
    row = _one(exported)
    assert (row["status"], row["end_time"]) == ("unset", None)
    assert _instant(row["start_time"]) == _instant(exported["started_at"])


def test_remaining_span_types_map_to_kinds() -> None:
    mcp = _one(_span_record(MCPListToolsSpanData(server="github", result=["search_issues", "create_issue"]).export()))
    assert (mcp["kind"], mcp["tool_name"], mcp["attributes"]["server"]) == ("tool", "mcp_list_tools", "github")
    assert json.loads(mcp["output"]) == ["search_issues", "create_issue"]
    custom = _one(_span_record(CustomSpanData("vector_lookup", {"index": "kb-v3", "hits": 4}).export()))
    assert (custom["kind"], custom["name"], custom["attributes"]["data"]["hits"]) == ("chain", "vector_lookup", 4)
    turn = _one(_span_record(TurnSpanData(turn=2, agent_name="Billing Agent").export()))
    assert (turn["kind"], turn["name"], turn["agent"]) == ("chain", "turn", "Billing Agent")
    stt = _one(
        _span_record(
            TranscriptionSpanData(input="UklGRiQA", output="I was charged twice", model="gpt-4o-transcribe").export()
        )
    )
    assert (stt["kind"], stt["model"], stt["output"]) == ("llm", "gpt-4o-transcribe", "I was charged twice")
    assert "UklGRiQA" not in stt["input"]
    tts = _one(
        _span_record(
            SpeechSpanData(input="Your refund is on its way.", output="AAAA", model="gpt-4o-mini-tts").export()
        )
    )
    assert (tts["kind"], tts["input"]) == ("llm", "Your refund is on its way.")
    group = _one(_span_record(SpeechGroupSpanData(input="Your refund is on its way.").export()))
    assert group["kind"] == "chain"


def test_function_span_with_mcp_data_and_span_metadata() -> None:
    data = FunctionSpanData("search_issues", '{"q": "refund bug"}', [], mcp_data={"server": "github"}).export()
    row = _one(_span_record(data, metadata={"agent_harness_id": "h-17"}))
    assert (row["tool_name"], row["tool_args"], row["output"]) == ("search_issues", '{"q": "refund bug"}', "[]")
    assert row["attributes"]["mcp_data"] == {"server": "github"}
    assert row["attributes"]["metadata"] == {"agent_harness_id": "h-17"}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"object": "trace", "workflow_name": "Customer support"}, "id"),
        ({**_span_record({"type": "agent", "name": "A"}), "id": None}, "id"),
        ({**_span_record({"type": "agent", "name": "A"}), "trace_id": ""}, "trace_id"),
        ({**_span_record({"type": "agent"}), "span_data": None}, "span_data"),
        ({**_span_record({"type": "agent"}), "span_data": "agent"}, "span_data: expected an object"),
        (_span_record({"name": "A"}), "span_data.type"),
        (_span_record({"type": "agent", "name": "A"}, error="boom"), "error"),
        (_span_record({"type": "agent", "name": "A"}, started_at="yesterday"), "timestamp"),
        ({"object": "trace", "id": "trace_1", "metadata": ["not", "a", "dict"]}, "metadata"),
        ({"object": "trace", "id": "trace_1", "spans": {"span_1": {}}}, "spans: expected an array"),
        ({"object": "trace", "id": "trace_1", "spans": [{"object": "trace", "id": "x"}]}, "expected 'trace.span'"),
    ],
)
def test_bad_rows_are_rejected_naming_the_field(record: dict[str, Any], field: str) -> None:
    results = list(openai_agents.parse(record))
    rejected = [r for r in results if isinstance(r, Rejected)]
    assert len(rejected) == 1 and field in rejected[0].reason, results


def test_sniff_claims_only_agents_sdk_records() -> None:
    assert openai_agents.sniff({"object": "trace", "id": "trace_1"})
    assert openai_agents.sniff({"object": "trace.span", "id": "span_1"})
    assert openai_agents.sniff({"traces": [{"object": "trace", "id": "trace_1", "spans": []}]})
    assert not openai_agents.sniff({"traces": []})
    assert not openai_agents.sniff({"traces": [{"id": "t", "observations": []}]})
    assert not openai_agents.sniff({"object": "response", "id": "resp_1"})
    assert not openai_agents.sniff({"trace_id": "a", "span_id": "b"})
    assert not openai_agents.sniff(["trace"])
