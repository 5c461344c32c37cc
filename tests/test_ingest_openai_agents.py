"""The OpenAI Agents SDK adapter: trace and span export rows, every span_data type, bad rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from agents.tracing.span_data import (
    CustomSpanData,
    MCPListToolsSpanData,
    SpeechGroupSpanData,
    SpeechSpanData,
    TranscriptionSpanData,
    TurnSpanData,
)

from investigator.ingest import openai_agents
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Span, TraceInfo
from investigator.store import Store

DATA = Path(__file__).parent / "data" / "openai_agents_export.jsonl"
TRACE = "trace_4f1d9c0b7e2a4c6f9b3e8d5a1c7f2e90"
TRIAGE = "span_9a3c51e07d2b4f68a1e0c3b7"
BILLING = "span_d27f08b46c1e4a93b5f2e1a0"


def _parse_file() -> tuple[list[TraceInfo], dict[str, dict[str, Any]], list[Rejected]]:
    infos, spans, rejected = [], {}, []
    for line in DATA.read_bytes().splitlines():
        record = orjson.loads(line)
        assert openai_agents.sniff(record)
        for result in openai_agents.parse(record):
            if isinstance(result, TraceInfo):
                infos.append(result)
            elif isinstance(result, Rejected):
                rejected.append(result)
            else:
                Span.model_validate(result)
                spans[result["span_id"]] = result
    return infos, spans, rejected


def _span_record(span_data: dict[str, Any], error: dict[str, Any] | None = None, **extra: Any) -> dict:
    return {
        "object": "trace.span",
        "id": "span_0c1d2e3f4a5b6c7d8e9f0a1b",
        "trace_id": TRACE,
        "parent_id": TRIAGE,
        "started_at": "2025-03-14T09:21:07.412918+00:00",
        "ended_at": "2025-03-14T09:21:08.106344+00:00",
        "span_data": span_data,
        "error": error,
        **extra,
    }


def _one(record: dict[str, Any]) -> dict[str, Any]:
    results = list(openai_agents.parse(record))
    assert len(results) == 1 and isinstance(results[0], dict), results
    Span.model_validate(results[0])
    return results[0]


def test_customer_support_export_maps_every_row() -> None:
    infos, spans, rejected = _parse_file()
    assert rejected == []
    assert len(infos) == 1 and len(spans) == 11
    kinds = sorted(s["kind"] for s in spans.values())
    assert kinds == ["agent"] * 2 + ["chain"] + ["guardrail"] + ["llm"] * 4 + ["tool"] * 3
    assert {s["trace_id"] for s in spans.values()} == {TRACE}


def test_trace_row_becomes_trace_info_with_slice_hints() -> None:
    (info,), _, _ = _parse_file()
    assert info.trace_id == TRACE
    assert info.name == "Customer support"
    assert info.session_id == "conv_7b2e41c9d05f4a86b3e1c2d4"
    assert info.user_id == "cus_Q8n2LmV4xT"
    assert info.hints["agent_version"] == "support-bot@2.4.1"
    assert info.hints["prompt_version"] == "triage-v7"
    assert info.hints["metadata"]["channel"] == "web_chat"


def test_parents_agents_and_ids_are_kept_as_written() -> None:
    _, spans, _ = _parse_file()
    assert spans[TRIAGE]["parent_id"] is None and spans[BILLING]["parent_id"] is None
    assert spans[TRIAGE]["agent"] == "Triage Agent" and spans[BILLING]["agent"] == "Billing Agent"
    assert spans[TRIAGE]["attributes"]["handoffs"] == ["Billing Agent"]
    assert spans[TRIAGE]["attributes"]["tools"] == ["lookup_order", "get_charge_history"]
    children = {sid for sid, s in spans.items() if s["parent_id"] == TRIAGE}
    assert len(children) == 6 and all(sid.startswith("span_") for sid in children)
    # Only agent spans say which agent they are; the store fills the children.
    assert all(spans[sid]["agent"] is None for sid in children)
    assert spans[TRIAGE]["start_time"] == "2025-03-14T09:21:07.411802Z"
    assert spans[TRIAGE]["end_time"] == "2025-03-14T09:21:20.121034Z"


def test_generation_spans_carry_model_tokens_and_canonical_messages() -> None:
    _, spans, _ = _parse_file()
    first = spans["span_5c8e2a71b9d04f36a2c7e1d8"]
    assert first["kind"] == "llm" and first["model"] == "gpt-4o-2024-08-06"
    assert (first["tokens_in"], first["tokens_out"]) == (412, 58)
    assert [m["role"] for m in json.loads(first["input"])] == ["system", "user"]
    (message,) = json.loads(first["output"])
    assert message == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_Xk3vN8pQ2rT5wY7zA1bC4dE6",
                "name": "lookup_order",
                "arguments": '{"order_id":"A10492"}',
            },
            {
                "id": "call_Hm9sJ2kL5nP8qR1tV4wX7yZ0",
                "name": "get_charge_history",
                "arguments": '{"order_id":"A10492","days":30}',
            },
        ],
    }
    assert first["attributes"]["model_config"] == {
        "temperature": 0.2,
        "parallel_tool_calls": True,
        "base_url": "https://api.openai.com/v1/",
    }
    second = json.loads(spans["span_73f9b1e4c0a24d8e9f6b2c15"]["input"])
    tool_replies = [m for m in second if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_replies] == [
        "call_Xk3vN8pQ2rT5wY7zA1bC4dE6",
        "call_Hm9sJ2kL5nP8qR1tV4wX7yZ0",
    ]
    assert tool_replies[1]["content"].startswith("An error occurred while running the tool.")
    assert spans["span_73f9b1e4c0a24d8e9f6b2c15"]["attributes"]["cached_tokens"] == 384
    final = json.loads(spans["span_6b1e3d7a9c2f40e8b5d4a1f3"]["output"])
    assert final[0]["role"] == "assistant" and "re_3PqL9x2eZvKa81Ty" in final[0]["content"]
    assert "tool_calls" not in final[0]


def test_function_spans_keep_arguments_exactly_and_errors_become_status() -> None:
    _, spans, _ = _parse_file()
    lookup = spans["span_0b7d3f92a6c14e58b1d9f2a4"]
    assert (lookup["kind"], lookup["tool_name"], lookup["status"]) == ("tool", "lookup_order", "ok")
    assert lookup["tool_args"] == lookup["input"] == '{"order_id":"A10492"}'
    assert json.loads(lookup["output"])["charges"] == 2
    refund = spans["span_f0c4b8e26a1d43975e8b3a6c"]
    assert refund["tool_args"] == '{"order_id":"A10492","amount":149.0,"reason":"duplicate_charge"}'
    failed = spans["span_e41a6c2d8b7f49a0c3e5d1b9"]
    assert failed["status"] == "error"
    assert failed["status_message"] == "Error running tool (non-fatal)"
    assert failed["attributes"]["error.data"]["error"].startswith("PaymentsAPIError: 503")
    statuses = [s["status"] for s in spans.values()]
    assert statuses.count("error") == 1 and statuses.count("ok") == 10


def test_handoff_and_guardrail_spans() -> None:
    _, spans, _ = _parse_file()
    handoff = spans["span_a8c2e5f17d3b4069b4e1c7d2"]
    assert handoff["kind"] == "chain"
    assert handoff["attributes"]["from_agent"] == "Triage Agent"
    assert handoff["attributes"]["to_agent"] == "Billing Agent"
    guardrail = spans["span_1e6b0c94f3a24d7e8c05b9a2"]
    assert (guardrail["kind"], guardrail["name"]) == ("guardrail", "support_topic_guardrail")
    assert guardrail["attributes"]["triggered"] is False


def test_export_file_ingests_into_the_store(store: Store) -> None:
    report = ingest_paths(store, [str(DATA)])
    assert report.files == {str(DATA): "openai-agents"}
    assert (report.ingested, report.quarantined, report.traces) == (11, 0, 1)
    trace = store.get_trace(TRACE)
    assert trace is not None
    assert trace.name == "Customer support" and trace.session_id == "conv_7b2e41c9d05f4a86b3e1c2d4"
    assert (trace.agent_version, trace.prompt_version) == ("support-bot@2.4.1", "triage-v7")
    assert trace.error_count == 1 and trace.span_count == 11
    assert store.get_span(TRACE, "span_f0c4b8e26a1d43975e8b3a6c").agent == "Billing Agent"


def test_unended_span_is_unset() -> None:
    row = _one(_span_record({"type": "handoff", "from_agent": "A", "to_agent": "B"}, ended_at=None))
    assert row["status"] == "unset" and row["end_time"] is None


def test_response_span_with_responses_api_objects() -> None:
    response = {
        "id": "resp_68c1f0a2b3d4e5f6",
        "object": "response",
        "model": "gpt-4.1-2025-04-14",
        "instructions": "You are the triage agent.",
        "status": "completed",
        "output": [
            {
                "id": "fc_68c1f0a9",
                "type": "function_call",
                "call_id": "call_Yt5rE2wQ",
                "name": "lookup_order",
                "arguments": '{"order_id":"A10492"}',
                "status": "completed",
            }
        ],
        "usage": {"input_tokens": 301, "output_tokens": 22, "total_tokens": 323},
    }
    data = {
        "type": "response",
        "response_id": "resp_68c1f0a2b3d4e5f6",
        "usage": None,
        "response": response,
        "input": [{"role": "user", "content": "Where is order A10492?"}],
    }
    row = _one(_span_record(data))
    assert (row["kind"], row["model"], row["tokens_in"], row["tokens_out"]) == (
        "llm",
        "gpt-4.1-2025-04-14",
        301,
        22,
    )
    assert json.loads(row["input"]) == [
        {"role": "system", "content": "You are the triage agent."},
        {"role": "user", "content": "Where is order A10492?"},
    ]
    assert json.loads(row["output"]) == [
        {
            "role": "assistant",
            "tool_calls": [{"id": "call_Yt5rE2wQ", "name": "lookup_order", "arguments": '{"order_id":"A10492"}'}],
        }
    ]
    bare = _one(
        _span_record({"type": "response", "response_id": "resp_1", "usage": {"input_tokens": 9, "output_tokens": 3}})
    )
    assert (bare["kind"], bare["attributes"]["response_id"], bare["tokens_in"]) == ("llm", "resp_1", 9)


def test_streamed_generation_output_is_a_response_object() -> None:
    data = {
        "type": "generation",
        "input": [{"role": "user", "content": "hi"}],
        "output": [
            {
                "id": "__fake_id__",
                "object": "response",
                "model": "gpt-4o-mini",
                "output": [
                    {
                        "id": "__fake_id__",
                        "type": "message",
                        "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": "Hello!", "annotations": []}],
                    }
                ],
                "usage": {"input_tokens": 8, "output_tokens": 3, "total_tokens": 11},
            }
        ],
        "model": "gpt-4o-mini",
        "model_config": {},
        "usage": {"requests": 1, "input_tokens": 8, "output_tokens": 3, "total_tokens": 11},
    }
    row = _one(_span_record(data))
    assert json.loads(row["output"]) == [{"role": "assistant", "content": "Hello!"}]
    assert (row["tokens_in"], row["tokens_out"]) == (8, 3)


def test_remaining_span_types_map_to_kinds() -> None:
    mcp = _one(_span_record(MCPListToolsSpanData(server="github", result=["search_issues", "create_issue"]).export()))
    assert (mcp["kind"], mcp["tool_name"], mcp["attributes"]["server"]) == (
        "tool",
        "mcp_list_tools",
        "github",
    )
    assert json.loads(mcp["output"]) == ["search_issues", "create_issue"]
    custom = _one(_span_record(CustomSpanData("vector_lookup", {"index": "kb-v3", "hits": 4}).export()))
    assert (custom["kind"], custom["name"], custom["attributes"]["data"]["hits"]) == (
        "chain",
        "vector_lookup",
        4,
    )
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
    data = {
        "type": "function",
        "name": "search_issues",
        "input": '{"q": "refund bug"}',
        "output": "[]",
        "mcp_data": {"server": "github"},
    }
    row = _one(_span_record(data, metadata={"agent_harness_id": "h-17"}))
    assert row["attributes"]["mcp_data"] == {"server": "github"}
    assert row["attributes"]["metadata"] == {"agent_harness_id": "h-17"}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"object": "trace", "workflow_name": "Customer support"}, "id"),
        ({**_span_record({"type": "agent", "name": "A"}), "id": None}, "id"),
        ({**_span_record({"type": "agent", "name": "A"}), "trace_id": ""}, "trace_id"),
        ({**_span_record({"type": "agent"}), "span_data": None}, "span_data"),
        (_span_record({"name": "A"}), "span_data.type"),
        (_span_record({"type": "agent", "name": "A"}, error="boom"), "error"),
        (_span_record({"type": "agent", "name": "A"}, started_at="yesterday"), "timestamp"),
        ({"object": "trace", "id": "trace_1", "metadata": ["not", "a", "dict"]}, "metadata"),
    ],
)
def test_bad_rows_are_rejected_naming_the_field(record: dict[str, Any], field: str) -> None:
    (result,) = openai_agents.parse(record)
    assert isinstance(result, Rejected)
    assert field in result.reason


def test_sniff_claims_only_agents_sdk_rows() -> None:
    assert openai_agents.sniff({"object": "trace", "id": "trace_1"})
    assert openai_agents.sniff({"object": "trace.span", "id": "span_1"})
    assert not openai_agents.sniff({"object": "response", "id": "resp_1"})
    assert not openai_agents.sniff({"trace_id": "a", "span_id": "b"})
    assert not openai_agents.sniff(["trace"])
