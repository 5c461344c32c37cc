"""OTLP/JSON export requests with OpenInference and OpenTelemetry GenAI attributes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from investigator.ingest import otlp
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Span
from investigator.store import Store

DATA = Path(__file__).parent / "data"
OPENINFERENCE = DATA / "otlp_openinference.json"
GENAI = DATA / "otlp_genai.jsonl"


def _request(path: Path = OPENINFERENCE) -> dict[str, Any]:
    return json.loads(path.read_text())


def _genai(line: int) -> dict[str, Any]:
    return json.loads(GENAI.read_text().splitlines()[line])


def _rows(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parse a request, validate every span row against the Span model, key rows by span id."""
    results = list(otlp.parse(record))
    assert not [r for r in results if isinstance(r, Rejected)]
    rows = {}
    for row in results:
        Span.model_validate(row)
        rows[row["span_id"]] = row
    return rows


def test_sniff_claims_export_requests_only() -> None:
    assert otlp.sniff(_request())
    assert otlp.sniff(_genai(0))
    assert not otlp.sniff({"trace_id": "a", "span_id": "b"})
    assert not otlp.sniff({"resourceSpans": {"not": "a list"}})
    assert not otlp.sniff([_request()])


def test_openinference_agent_run_keeps_tree_kinds_and_trace_facts() -> None:
    rows = _rows(_request())
    assert len(rows) == 6
    assert {r["trace_id"] for r in rows.values()} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    root = rows["00f067aa0ba902b7"]
    assert root["parent_id"] is None
    assert root["kind"] == "agent" and root["agent"] == "Support Agent"
    assert [r["kind"] for r in rows.values()] == ["agent", "llm", "tool", "llm", "tool", "llm"]
    assert {r["parent_id"] for r in rows.values() if r is not root} == {"00f067aa0ba902b7"}
    assert root["session_id"] == "conv_8f2c1e0b" and root["user_id"] == "cust_48213"
    assert root["service"] == "support-agent"
    assert root["start_time"] == "2025-03-04T09:15:02.118000Z"
    assert root["end_time"] == "2025-03-04T09:15:09.530000Z"
    assert root["status"] == "ok"
    assert root["hints"] == {
        "environment": "production",
        "service_version": "2.4.1",
        "tags": ["refunds", "tier-2"],
        "metadata": {"agent_version": "2025.03.2", "channel": "web"},
        "agent_version": "2025.03.2",
    }
    assert rows["53995c3f42cd8ad8"]["hints"]["prompt_version"] == "support-v14"


def test_openinference_llm_span_builds_canonical_messages_and_usage() -> None:
    first = _rows(_request())["53995c3f42cd8ad8"]
    assert first["model"] == "gpt-4o-2024-08-06"
    assert (first["tokens_in"], first["tokens_out"]) == (1432, 27)
    assert json.loads(first["input"])[1] == {
        "role": "user",
        "content": "I was charged twice for order A-10023, can you refund one of the charges?",
    }
    assert json.loads(first["output"]) == [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_Qm3vR8hJ2kLpX9aTbYc4", "name": "lookup_order", "arguments": '{"order_id":"A-10023"}'}
            ],
        }
    ]
    final = _rows(_request())["c1f3a9d2e8b74056"]
    messages = json.loads(final["input"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert messages[1]["content"].startswith("I was charged twice")  # from message.contents.0
    assert messages[5]["tool_call_id"] == "call_Zt7wE1nPq4sKd2yUvH9x"
    assert messages[5]["content"].endswith("refund window closed for charge ch_3PxK2M4bR7")
    assert json.loads(final["output"])[0]["content"].startswith("I'm sorry, I couldn't complete the refund")
    assert final["cost"] == pytest.approx(0.00474)


def test_folded_message_keys_leave_attributes_but_tool_schemas_stay() -> None:
    llm = _rows(_request())["53995c3f42cd8ad8"]["attributes"]
    assert not [k for k in llm if k.startswith(("llm.input_messages.", "llm.output_messages."))]
    assert "input.value" not in llm and "output.value" not in llm
    assert json.loads(llm["llm.tools.1.tool.json_schema"])["function"]["name"] == "issue_refund"
    assert json.loads(llm["llm.invocation_parameters"])["temperature"] == 0.2
    assert llm["llm.token_count.prompt_details.cache_read"] == 1024
    assert llm["otel.scope.name"] == "openinference.instrumentation.openai_agents"
    # Resource attributes describe the service, not the span.
    assert "telemetry.sdk.version" not in llm


def test_tool_spans_carry_name_args_result_and_schema() -> None:
    rows = _rows(_request())
    lookup = rows["8a3c60f7d188f8fa"]
    assert lookup["tool_name"] == "lookup_order"
    assert lookup["tool_args"] == '{"order_id":"A-10023"}'
    assert lookup["input"] == lookup["tool_args"]
    assert json.loads(lookup["output"])["charges"][1]["id"] == "ch_3PxK2M4bR7"
    assert json.loads(lookup["attributes"]["tool.parameters"])["required"] == ["order_id"]


def test_tool_error_status_and_exception_event_are_kept() -> None:
    refund = _rows(_request())["e457b5a2e4d86bd1"]
    assert refund["status"] == "error"
    assert refund["status_message"] == (
        "PaymentGatewayError: 402 Payment Required: refund window closed for charge ch_3PxK2M4bR7"
    )
    assert refund["output"] is None
    (event,) = refund["events"]
    assert event["name"] == "exception"
    assert event["time"] == "2025-03-04T09:15:07.219000Z"
    assert event["attributes"]["exception.type"] == "acme.payments.PaymentGatewayError"
    assert "payments.refund(charge_id" in event["attributes"]["exception.stacktrace"]


def test_corrupt_span_is_rejected_while_its_siblings_parse() -> None:
    request = _request()
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[2]["spanId"] = "not-an-id!"
    del spans[4]["startTimeUnixNano"]
    results = list(otlp.parse(request))
    rejected = [r for r in results if isinstance(r, Rejected)]
    assert [r.location for r in rejected] == [
        "resourceSpans[0].scopeSpans[0].spans[2]",
        "resourceSpans[0].scopeSpans[0].spans[4]",
    ]
    assert "spanId" in rejected[0].reason and "startTimeUnixNano" in rejected[1].reason
    assert rejected[0].raw is spans[2]
    parsed = [r["span_id"] for r in results if isinstance(r, dict)]
    assert parsed == ["00f067aa0ba902b7", "53995c3f42cd8ad8", "b7ad6b7169203331", "c1f3a9d2e8b74056"]


def test_current_genai_conventions_map_agent_chat_and_tool() -> None:
    rows = _rows(_genai(0))
    assert len(rows) == 4
    agent = rows["b9c7c989f97918e1"]
    assert (agent["kind"], agent["agent"]) == ("agent", "TravelPlanner")
    assert agent["session_id"] == "thread_Kd93hQzXb4mT1rVwNa7cLp0e"
    assert agent["hints"] == {"environment": "staging", "service_version": "0.9.0", "agent_version": "1.12.0"}
    chat = rows["7d1a4c5e2f3b8091"]
    assert chat["kind"] == "llm" and chat["parent_id"] == "b9c7c989f97918e1"
    assert chat["model"] == "gpt-4.1-mini-2025-04-14"
    assert (chat["tokens_in"], chat["tokens_out"]) == (812, 19)
    assert json.loads(chat["input"]) == [
        {"role": "system", "content": "You are TravelPlanner. Use tools for live data; never guess weather."},
        {"role": "user", "content": "What's the weather in Lisbon on Friday?"},
    ]
    assert json.loads(chat["output"])[0]["tool_calls"] == [
        {
            "id": "call_VSPygqKTWdrhaFErNvMV18Yl",
            "name": "get_weather",
            "arguments": '{"city":"Lisbon","date":"2025-10-17"}',
        }
    ]
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert "gen_ai.input.messages" not in chat["attributes"]
    tool = rows["3e2f1a0b9c8d7e6f"]
    assert (tool["kind"], tool["tool_name"]) == ("tool", "get_weather")
    assert tool["tool_args"] == '{"city":"Lisbon","date":"2025-10-17"}'
    assert json.loads(tool["output"])["forecast"] == "sunny"
    final = json.loads(rows["5a4b3c2d1e0f9a8b"]["input"])
    assert final[3] == {
        "role": "tool",
        "tool_call_id": "call_VSPygqKTWdrhaFErNvMV18Yl",
        "content": '{"city": "Lisbon", "date": "2025-10-17", "forecast": "sunny", "high_c": 24, "low_c": 16}',
    }


def test_deprecated_genai_and_openllmetry_names_map_with_string_numbers() -> None:
    rows = _rows(_genai(1))
    chat = rows["eee19b7ec3c1b173"]
    assert chat["kind"] == "llm" and chat["model"] == "gpt-4o-mini-2024-07-18"
    assert (chat["tokens_in"], chat["tokens_out"]) == (356, 22)
    assert [m["role"] for m in json.loads(chat["input"])] == ["system", "user"]
    (message,) = json.loads(chat["output"])
    assert message["tool_calls"] == [
        {
            "id": "call_hT5rK0pWq9zYx3LmN2vB8cDs",
            "name": "search_flights",
            "arguments": '{"origin":"SFO","destination":"JFK","date":"2025-05-03"}',
        }
    ]
    assert not [k for k in chat["attributes"] if k.startswith(("gen_ai.prompt.", "gen_ai.completion."))]
    assert chat["attributes"]["llm.request.functions.0.name"] == "search_flights"
    workflow = rows["eee19b7ec3c1b174"]
    assert workflow["kind"] == "chain"
    assert (workflow["session_id"], workflow["user_id"]) == ("sess_20250503_77", "u_1934")
    assert workflow["output"] == '"Sorry, flight search is unavailable right now."'
    assert workflow["hints"]["agent_version"] == "3.2.0"
    tool = rows["a1b2c3d4e5f60718"]
    assert (tool["kind"], tool["tool_name"]) == ("tool", "search_flights")
    assert json.loads(tool["tool_args"])["kwargs"]["destination"] == "JFK"
    # No status message was exported: the exception event supplies it.
    assert (tool["status"], tool["status_message"]) == ("error", "timed out")


def test_base64_ids_enum_names_and_event_content_are_decoded() -> None:
    rows = _rows(_genai(2))
    assert set(rows) == {"9a8b7c6d5e4f3a2b", "d75597dee50b0cac"}
    assert {r["trace_id"] for r in rows.values()} == {"a3ce929d0e0e47364bf92f3577b34da6"}
    kernel = rows["d75597dee50b0cac"]
    assert kernel["parent_id"] == "9a8b7c6d5e4f3a2b"
    assert kernel["status"] == "ok"
    assert kernel["kind"] == "llm"  # "chat.completions" is no known word: model + messages decide
    assert (kernel["tokens_in"], kernel["tokens_out"]) == (2191, 143)
    assert json.loads(kernel["input"])[0] == {
        "role": "system",
        "content": "Summarise support tickets in three bullet points.",
    }
    assert json.loads(kernel["output"])[0]["content"].startswith("- Login fails after password reset")
    azure = rows["9a8b7c6d5e4f3a2b"]
    assert azure["parent_id"] is None and azure["status"] == "unset"
    assert json.loads(azure["input"]) == [{"role": "user", "content": "Which team owns ticket #88213?"}]
    assert json.loads(azure["output"]) == [{"role": "assistant", "content": "The Identity team owns it."}]
    assert [e["name"] for e in azure["events"]] == ["gen_ai.user.message", "gen_ai.choice"]


def test_any_value_decodes_every_attribute_kind() -> None:
    attrs = otlp.attributes(
        [
            {"key": "s", "value": {"stringValue": "x"}},
            {"key": "i", "value": {"intValue": "9007199254740993"}},
            {"key": "d", "value": {"doubleValue": 0.25}},
            {"key": "b", "value": {"boolValue": True}},
            {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "p"}, {"intValue": "2"}]}}},
            {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": False}}]}}},
            {"key": "raw", "value": {"bytesValue": "3q2+7w=="}},
            {"key": "empty", "value": {}},
        ]
    )
    assert attrs == {
        "s": "x",
        "i": 9007199254740993,
        "d": 0.25,
        "b": True,
        "a": ["p", 2],
        "kv": {"k": False},
        "raw": "3q2+7w==",
        "empty": None,
    }


def test_legacy_instrumentation_library_spans_and_zero_parent_are_read() -> None:
    request = _request()
    resource_spans = request["resourceSpans"][0]
    scope_spans = resource_spans.pop("scopeSpans")
    for entry in scope_spans:
        entry["instrumentationLibrary"] = entry.pop("scope")
    resource_spans["instrumentationLibrarySpans"] = scope_spans
    scope_spans[0]["spans"][0]["parentSpanId"] = "0000000000000000"
    rows = _rows(request)
    assert len(rows) == 6
    root = rows["00f067aa0ba902b7"]
    assert root["parent_id"] is None
    assert root["attributes"]["otel.scope.name"] == "openinference.instrumentation.openai_agents"


def test_status_codes_in_every_encoding() -> None:
    assert otlp._status({"code": 2, "message": "boom"}) == ("error", "boom")
    assert otlp._status({"code": "STATUS_CODE_ERROR"}) == ("error", None)
    assert otlp._status({"code": "STATUS_CODE_OK"}) == ("ok", None)
    assert otlp._status({"code": 1}) == ("ok", None)
    assert otlp._status({}) == ("unset", None)


def test_ingesting_both_samples_stores_every_span(store: Store) -> None:
    report = ingest_paths(store, [str(OPENINFERENCE), str(GENAI)])
    assert report.summary() == {
        "ingested": 15,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 0,
        "quarantined": 0,
        "traces": 4,
    }
    assert set(report.files.values()) == {"otlp-json"}
    span = store.get_span("4bf92f3577b34da6a3ce929d0e0e4736", "e457b5a2e4d86bd1")
    assert span is not None and span.status == "error" and span.source_format == "otlp-json"
    trace = store.get_trace("4bf92f3577b34da6a3ce929d0e0e4736")
    assert trace is not None and trace.service == "support-agent" and trace.error_count == 1
