"""Span-per-line JSONL: Phoenix dataframe exports, generic flattened spans, OTel Python `to_json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from investigator.ingest import spans_jsonl
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths
from investigator.ingest.semconv import map_attributes
from investigator.models import Span
from investigator.store import Store

PHOENIX = Path(__file__).parent / "data" / "phoenix_spans.jsonl"
ORDER_TRACE = "6f1c2a4e8b0d4f7e9a3c5b1d2e4f6a8c"
BILLING_TRACE = "1e7a9c3b5d2f4a6c8e0b1d3f5a7c9e2b"
FAQ_TRACE = "8d3b6c1f2a4e5d7b9c0e1f2a3b4c5d6e"


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PHOENIX.read_text().splitlines()]


def _rows() -> dict[str, dict[str, Any]]:
    rows = {}
    for record in _records():
        (row,) = spans_jsonl.parse(record)
        assert not isinstance(row, Rejected), row
        Span.model_validate(row)
        rows[row["span_id"]] = row
    return rows


def test_sniff_claims_each_phoenix_shape_and_leaves_other_formats() -> None:
    assert all(spans_jsonl.sniff(r) for r in _records())
    assert spans_jsonl.sniff({"context.trace_id": "t1", "context.span_id": "s1"})
    assert not spans_jsonl.sniff({"object": "trace.span", "trace_id": "trace_1", "id": "span_1"})
    assert not spans_jsonl.sniff({"run_type": "llm", "trace_id": "t", "id": "r"})
    assert not spans_jsonl.sniff({"id": "o1", "traceId": "t1", "type": "GENERATION", "span_id": "x"})
    assert not spans_jsonl.sniff({"resourceSpans": []})
    assert not spans_jsonl.sniff({"trace_id": "t1"})


def test_dataframe_export_rebuilds_the_agent_run() -> None:
    rows = {k: v for k, v in _rows().items() if v["trace_id"] == ORDER_TRACE}
    assert [(r["kind"], r["name"]) for r in rows.values()] == [
        ("agent", "order_status_agent"),
        ("llm", "ChatOpenAI"),
        ("tool", "get_order_status"),
        ("llm", "ChatOpenAI"),
    ]
    root = rows["a1f0c3e5b7d94e21"]
    assert root["parent_id"] is None and root["agent"] == "order_status_agent"
    assert {r["parent_id"] for r in rows.values() if r is not root} == {"a1f0c3e5b7d94e21"}
    assert root["start_time"] == "2025-03-04T09:15:02.118000Z"  # epoch milliseconds
    assert (root["session_id"], root["user_id"]) == ("f3b1e5c2-7d4a-4b8e-9c21-0a6d5e8f1b34", "user_20931")
    assert root["hints"]["tags"] == ["orders", "beta"]
    assert root["hints"]["agent_version"] == "order-bot@4.2.0"
    # Absent columns are null in a dataframe export; they are not attributes.
    assert "tool.name" not in root["attributes"]


def test_dataframe_message_columns_become_canonical_messages() -> None:
    rows = _rows()
    call = rows["b2e1d4f6c8a05f32"]
    assert call["model"] == "gpt-4o-mini"
    assert (call["tokens_in"], call["tokens_out"]) == (412, 18)  # pandas wrote 412.0
    assert json.loads(call["output"]) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_9bXr2KtQ7mWp4LzHc1Ns8VfE",
                    "name": "get_order_status",
                    "arguments": '{"order_number": "58812"}',
                }
            ],
        }
    ]
    final = json.loads(rows["d4c3f6b8a0e27b54"]["input"])
    assert [m["role"] for m in final] == ["system", "user", "assistant", "tool"]
    assert final[3]["tool_call_id"] == "call_9bXr2KtQ7mWp4LzHc1Ns8VfE"
    tool = rows["c3d2e5a7f9b16a43"]
    assert (tool["tool_name"], tool["tool_args"]) == ("get_order_status", '{"order_number": "58812"}')
    assert json.loads(tool["output"])["carrier"] == "UPS"


def test_nested_attributes_and_string_token_counts_are_read() -> None:
    rows = _rows()
    llm = rows["6a4f2d0b8c3e5f71"]
    assert llm["trace_id"] == BILLING_TRACE and llm["kind"] == "llm"
    assert llm["model"] == "claude-3-5-sonnet-20241022"
    assert (llm["tokens_in"], llm["tokens_out"]) == (2191, 64)
    (message,) = json.loads(llm["output"])
    assert message["tool_calls"][0]["name"] == "charge_card"
    assert message["tool_calls"][0]["id"] == "toolu_01D7FSyq4Bw7Kmq2TrhFzB3o"
    assert llm["service"] == "billing-agent"
    assert llm["hints"] == {"environment": "production", "service_version": "1.8.0"}
    assert llm["attributes"]["otel.scope.name"] == "openinference.instrumentation.langchain"
    agent = rows["5f3e1c9a7b2d4e60"]
    assert (agent["kind"], agent["agent"], agent["status"]) == ("agent", "BillingAgent", "unset")
    assert agent["hints"]["prompt_version"] == "billing-v3"


def test_error_tool_span_takes_its_message_from_the_exception_event() -> None:
    tool = _rows()["7b5a3e1c9d4f6082"]
    assert (tool["kind"], tool["tool_name"], tool["status"]) == ("tool", "charge_card", "error")
    assert tool["status_message"] == "Your card was declined."
    assert tool["tool_args"] == '{"invoice_id": "INV-2291", "amount_cents": 12900}'
    (event,) = tool["events"]
    assert event["name"] == "exception" and event["time"] == "2025-03-04T09:20:15.979870Z"
    assert event["attributes"]["exception.type"] == "stripe._error.CardError"


def test_otel_python_to_json_shape_strips_0x_and_reads_description() -> None:
    rows = _rows()
    task, chat = rows["2c4e6a8b0d1f3e5a"], rows["3d5f7b9c1e2a4f6b"]
    assert task["trace_id"] == chat["trace_id"] == FAQ_TRACE
    assert (task["kind"], task["parent_id"]) == ("chain", None)
    assert chat["parent_id"] == "2c4e6a8b0d1f3e5a"
    assert (chat["kind"], chat["model"], chat["status"]) == ("llm", "gpt-4o-mini", "error")
    assert chat["status_message"] == "RateLimitError: Error code: 429 - Rate limit reached for gpt-4o-mini"
    assert chat["service"] == "faq-bot"


def test_phoenix_span_kind_column_decides_when_attributes_do_not() -> None:
    document = {"document": {"id": "kb-12", "content": "Refunds within 30 days.", "score": 0.83}}
    record = {
        "context": {"trace_id": "t9", "span_id": "s9"},
        "parent_id": "s1",
        "span_kind": "RETRIEVER",
        "name": "VectorStoreRetriever",
        "start_time": "2025-03-04T09:00:00+00:00",
        "status_code": "OK",
        "attributes": {"input": {"value": "refund policy"}, "retrieval": {"documents": [document]}},
    }
    (row,) = spans_jsonl.parse(record)
    Span.model_validate(row)
    assert (row["kind"], row["parent_id"], row["status"]) == ("retriever", "s1", "ok")
    assert json.loads(row["output"]) == [{"id": "kb-12", "content": "Refunds within 30 days.", "score": 0.83}]
    assert row["attributes"]["retrieval.documents.0.document.id"] == "kb-12"


def test_nested_metadata_dict_still_yields_version_hints() -> None:
    record = {
        "trace_id": "t3",
        "span_id": "s3",
        "name": "agent",
        "start_time": 1741079702118,
        "attributes": {
            "openinference": {"span": {"kind": "AGENT"}},
            "metadata": {"agent_version": "4.2.0", "prompt_version": "p9", "team": "cx"},
        },
    }
    (row,) = spans_jsonl.parse(record)
    assert row["hints"] == {
        "metadata": {"agent_version": "4.2.0", "prompt_version": "p9", "team": "cx"},
        "agent_version": "4.2.0",
        "prompt_version": "p9",
    }


def test_corrupt_line_is_quarantined_while_the_rest_ingest(store: Store, tmp_path: Path) -> None:
    lines = PHOENIX.read_text().splitlines()
    broken = json.loads(lines[5])
    broken["start_time"] = "yesterday-ish"
    lines.insert(2, json.dumps(broken))
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = ingest_paths(store, [str(path)])
    assert report.files == {str(path): "spans-jsonl"}
    assert report.summary() == {
        "ingested": 9,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 0,
        "quarantined": 1,
        "traces": 3,
    }
    (quarantined,) = store.quarantined()
    assert quarantined.line == 3 and "yesterday-ish" in quarantined.reason
    assert store.get_span(BILLING_TRACE, "7b5a3e1c9d4f6082").status == "error"
    trace = store.get_trace(ORDER_TRACE)
    assert trace is not None and trace.span_count == 4


def test_map_attributes_kind_fallback_plain_prompt_text_and_default_roles() -> None:
    assert map_attributes({"llm.model_name": "m", "llm.input_messages.0.message.content": "hi"})["kind"] == "llm"
    assert map_attributes({"gen_ai.tool.name": "search"})["kind"] == "tool"
    assert map_attributes({"llm.model_name": "m"})["kind"] == "unknown"
    legacy = map_attributes(
        {
            "gen_ai.prompt": "Translate: bonjour",
            "gen_ai.completion": "hello",
            "gen_ai.request.model": "gpt-3.5-turbo-instruct",
            "gen_ai.operation.name": "text_completion",
            "gen_ai.prompt.version": "7",
        }
    )
    assert (legacy["kind"], legacy["input"], legacy["output"]) == ("llm", "Translate: bonjour", "hello")
    assert legacy["hints"]["prompt_version"] == "7"
    assert legacy["attributes"]["gen_ai.prompt.version"] == "7"
    assert "gen_ai.prompt" not in legacy["attributes"]
    roleless = map_attributes(
        {
            "llm.model_name": "m",
            "llm.input_messages.0.message.content": "hi",
            "llm.output_messages.0.message.content": "hello",
        }
    )
    assert json.loads(roleless["input"]) == [{"role": "user", "content": "hi"}]
    assert json.loads(roleless["output"]) == [{"role": "assistant", "content": "hello"}]


def test_a_damaged_first_line_does_not_hide_the_json_lines_after_it(store: Store, tmp_path: Path) -> None:
    lines = PHOENIX.read_text().splitlines()
    path = tmp_path / "spans.jsonl"
    path.write_text("\n" + lines[0][: len(lines[0]) // 2] + "\n" + "\n".join(lines[1:]) + "\n")
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(lines) - 1, 1)
    (bad,) = store.quarantined()
    assert (bad.line, bad.raw) == (2, lines[0][: len(lines[0]) // 2])
    assert bad.reason.startswith("invalid JSON: ")
