"""The Agents SDK tracing processor, driven by the SDK's real tracing API, and recording real agent
runs (the SDK's Runner against a scripted model server on loopback, tests/agents_sdk_run.py)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from agents.tracing import (
    add_trace_processor,
    agent_span,
    function_span,
    generation_span,
    guardrail_span,
    handoff_span,
    trace,
)
from agents_sdk_run import record_support_runs
from agents_sdk_run import sdk_tracing as fresh_sdk_tracing

from investigator.agents_processor import InvestigatorTracingProcessor
from investigator.evals.frameworks.model_server import RESPONSE_MODEL
from investigator.ingest import openai_agents
from investigator.ingest.base import Rejected
from investigator.models import Span, TraceInfo

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def sdk_tracing() -> Iterator[None]:
    """A fresh SDK trace provider with no default (network) exporter, restored afterwards."""
    with fresh_sdk_tracing():
        yield


def _support_run(fail_lookup: bool = True) -> str:
    """A triage agent that calls two tools (one failing) and hands off to billing."""
    with trace(
        "Customer support",
        group_id="conv_5e0c7a2f91d44b38a6c1",
        metadata={"agent_version": "support-bot@2.5.0", "prompt_version": "triage-v8"},
    ) as t:
        with agent_span(
            name="Triage Agent",
            handoffs=["Billing Agent"],
            tools=["lookup_order", "get_charge_history"],
            output_type="str",
        ):
            with guardrail_span("support_topic_guardrail", triggered=False):
                pass
            with generation_span(
                input=[
                    {"role": "system", "content": "Triage support requests."},
                    {"role": "user", "content": "I was charged twice for order A10492."},
                ],
                model=MODEL,
                model_config={"temperature": 0.2, "base_url": "https://api.openai.com/v1/"},
            ) as gen:
                gen.span_data.output = [
                    {
                        "content": None,
                        "refusal": None,
                        "role": "assistant",
                        "annotations": None,
                        "audio": None,
                        "function_call": None,
                        "tool_calls": [
                            {
                                "id": "call_a1B2c3D4",
                                "type": "function",
                                "function": {"name": "lookup_order", "arguments": '{"order_id":"A10492"}'},
                            }
                        ],
                    }
                ]
                gen.span_data.usage = {
                    "requests": 1,
                    "input_tokens": 120,
                    "output_tokens": 19,
                    "total_tokens": 139,
                }
            with function_span("lookup_order", input='{"order_id":"A10492"}') as tool:
                tool.span_data.output = {"order_id": "A10492", "charges": 2}
            with function_span("get_charge_history", input='{"order_id":"A10492"}') as failing:
                if fail_lookup:
                    failing.span_data.output = "An error occurred while running the tool. Please try again."
                    failing.set_error(
                        {
                            "message": "Error running tool (non-fatal)",
                            "data": {"tool_name": "get_charge_history", "error": "HTTP 503"},
                        }
                    )
            with handoff_span(from_agent="Triage Agent", to_agent="Billing Agent"):
                pass
        return t.trace_id


def _parse(rows: list[dict[str, Any]]) -> tuple[list[TraceInfo], list[dict[str, Any]]]:
    infos, spans = [], []
    for row in rows:
        for result in openai_agents.parse(row):
            assert not isinstance(result, Rejected), result
            if isinstance(result, TraceInfo):
                infos.append(result)
            else:
                Span.model_validate(result)
                spans.append(result)
    return infos, spans


def _read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_sdk_run_is_written_as_jsonl_the_adapter_reads_back(sdk_tracing: None, tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    processor = InvestigatorTracingProcessor(str(path))
    add_trace_processor(processor)
    trace_id = _support_run()
    # Lines are on disk once the trace ends, before any shutdown.
    rows = _read(path)
    assert [r["object"] for r in rows] == ["trace"] + ["trace.span"] * 6
    assert trace_id.startswith("trace_") and rows[0]["id"] == trace_id

    (info,), spans = _parse(rows)
    assert info.name == "Customer support" and info.session_id == "conv_5e0c7a2f91d44b38a6c1"
    assert info.hints["agent_version"] == "support-bot@2.5.0"
    by_kind = {}
    for span in spans:
        by_kind.setdefault(span["kind"], []).append(span)
    assert sorted((k, len(v)) for k, v in by_kind.items()) == [
        ("agent", 1),
        ("chain", 1),
        ("guardrail", 1),
        ("llm", 1),
        ("tool", 2),
    ]
    (agent,) = by_kind["agent"]
    assert agent["agent"] == "Triage Agent" and agent["parent_id"] is None
    assert all(s["parent_id"] == agent["span_id"] for s in spans if s is not agent)
    (llm,) = by_kind["llm"]
    assert (llm["model"], llm["tokens_in"], llm["tokens_out"]) == (MODEL, 120, 19)
    assert json.loads(llm["output"])[0]["tool_calls"] == [
        {"id": "call_a1B2c3D4", "name": "lookup_order", "arguments": '{"order_id":"A10492"}'}
    ]
    tools = {s["tool_name"]: s for s in by_kind["tool"]}
    assert tools["lookup_order"]["tool_args"] == '{"order_id":"A10492"}'
    assert tools["lookup_order"]["status"] == "ok"
    # The SDK exports a function's output with str(), so a dict arrives as its Python repr.
    assert tools["lookup_order"]["output"] == "{'order_id': 'A10492', 'charges': 2}"
    assert tools["get_charge_history"]["status"] == "error"
    assert tools["get_charge_history"]["status_message"] == "Error running tool (non-fatal)"
    assert by_kind["chain"][0]["attributes"]["to_agent"] == "Billing Agent"
    processor.shutdown()


def test_jsonl_appends_across_runs_and_reingests_as_a_no_op(sdk_tracing: None, tmp_path: Path, store: Any) -> None:
    from investigator.ingest.pipeline import ingest_paths

    path = tmp_path / "runs.jsonl"
    processor = InvestigatorTracingProcessor(path)
    add_trace_processor(processor)
    first, second = _support_run(), _support_run(fail_lookup=False)
    processor.shutdown()
    assert len(_read(path)) == 14
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined, report.traces) == (12, 0, 2)
    assert store.get_trace(first).error_count == 1
    assert store.get_trace(second).error_count == 0
    assert ingest_paths(store, [str(path)]).duplicates == 12


def test_concurrent_runs_write_whole_lines(sdk_tracing: None, tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    processor = InvestigatorTracingProcessor(path)
    add_trace_processor(processor)
    threads = [threading.Thread(target=lambda: [_support_run() for _ in range(5)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    processor.force_flush()
    rows = _read(path)
    assert len(rows) == 4 * 5 * 7
    assert len({r["id"] for r in rows if r["object"] == "trace"}) == 20
    processor.shutdown()


def test_recording_failures_never_reach_the_agent_run(
    sdk_tracing: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    processor = InvestigatorTracingProcessor(blocker / "runs.jsonl")
    add_trace_processor(processor)
    with caplog.at_level(logging.WARNING, logger="investigator.agents_processor"):
        trace_id = _support_run()
        processor.force_flush()
        processor.shutdown()
    assert trace_id.startswith("trace_")
    assert any("could not record" in r.getMessage() for r in caplog.records)


def test_store_mode_ingests_each_trace_when_it_ends(sdk_tracing: None, tmp_path: Path) -> None:
    store_module = pytest.importorskip("investigator.store", reason="investigator.store is not available yet")
    db = tmp_path / "runs.db"
    processor = InvestigatorTracingProcessor(str(db))
    add_trace_processor(processor)
    trace_id = _support_run()
    processor.shutdown()
    store = store_module.Store(db)
    try:
        stored = store.get_trace(trace_id)
        assert stored is not None
        assert (stored.name, stored.span_count, stored.error_count) == ("Customer support", 6, 1)
        assert (stored.agent_version, stored.prompt_version) == ("support-bot@2.5.0", "triage-v8")
        spans = {s.name: s for s in store.spans(trace_id)}
        assert spans["lookup_order"].agent == "Triage Agent"
        assert spans["lookup_order"].source_format == "openai-agents"
        assert spans[f"generation {MODEL}"].tokens_in == 120
    finally:
        store.close()


def test_store_instance_gets_late_spans_on_force_flush(sdk_tracing: None, store: Any) -> None:
    processor = InvestigatorTracingProcessor(store)
    add_trace_processor(processor)
    with trace("Nightly reconciliation") as t:
        late = function_span("post_ledger", input='{"batch": 7}')
        late.start()
    assert store.spans(t.trace_id) == []
    late.finish()  # ends after its trace: buffered until the next flush
    processor.force_flush()
    (span,) = store.spans(t.trace_id)
    assert (span.kind, span.tool_name, span.tool_args) == ("tool", "post_ledger", '{"batch": 7}')


def test_failed_store_write_keeps_records_for_the_next_flush(
    sdk_tracing: None, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from investigator.ingest import pipeline

    real = pipeline.ingest_records
    calls = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]))
        if len(calls) == 1:
            raise OSError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "ingest_records", flaky)
    processor = InvestigatorTracingProcessor(store)
    add_trace_processor(processor)
    trace_id = _support_run()  # the write at trace end fails; the run does not
    assert store.spans(trace_id) == []
    processor.force_flush()
    assert calls == [7, 7]
    assert len(store.spans(trace_id)) == 6


# ---- a real agent run (tests/agents_sdk_run.py: the SDK's Runner against a scripted model server)


def test_a_real_run_is_written_as_the_sdk_exports_it_plus_the_response_objects(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    recording = record_support_runs(tmp_path_factory)
    written = _read(recording.processor_file)
    added = [r["span_data"] for r in written if r["object"] == "trace.span" and "response" in r["span_data"]]
    as_exported = [
        {**r, "span_data": {k: v for k, v in r["span_data"].items() if k not in ("response", "input")}}
        if r["object"] == "trace.span" and r["span_data"]["type"] == "response"
        else r
        for r in written
    ]
    assert as_exported == recording.exports
    run = recording.run("responses")
    assert len(added) == len(run.replies)
    for data, reply in zip(added, run.replies, strict=True):
        # The response object the model server sent, and the input items the SDK sent it.
        assert (data["response_id"], data["response"]["id"]) == (reply.body["id"], reply.body["id"])
        assert data["response"]["model"] == reply.body["model"] == RESPONSE_MODEL
        assert data["response"]["output"] == reply.body["output"]
        assert data["response"]["usage"] == reply.body["usage"]
        assert data["input"] == reply.request["input"]


def test_store_mode_keeps_a_real_runs_models_and_messages(tmp_path_factory: pytest.TempPathFactory) -> None:
    from investigator.store import Store

    recording = record_support_runs(tmp_path_factory)
    with Store(recording.processor_db) as store:
        for run in recording.runs:
            stored = store.get_trace(run.trace_id)
            exported = [r for r in recording.rows(run.trace_id) if r["object"] == "trace.span"]
            assert stored is not None and (stored.span_count, stored.error_count) == (len(exported), 1)
        run = recording.run("responses")
        llm = sorted((s for s in store.spans(run.trace_id) if s.kind == "llm"), key=lambda s: s.start_time or "")
        assert [(s.model, s.tokens_in) for s in llm] == [
            (r.body["model"], r.body["usage"]["input_tokens"]) for r in run.replies
        ]
        assert json.loads(llm[-1].output or "[]") == [{"role": "assistant", "content": run.final_output}]
        assert store.get_trace(run.trace_id).model == RESPONSE_MODEL
