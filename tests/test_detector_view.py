"""TraceView answers structural questions about a trace; the registry keeps only trustworthy issues."""

from __future__ import annotations

import json

import pytest
from span_builders import ROOT, call, llm, tool, view

from investigator.detectors import Detector, all_detectors, make_issue, rules_version, run_detectors
from investigator.detectors.schemas import tool_schemas, validate
from investigator.detectors.view import TraceView, parse_messages


def test_spans_are_ordered_by_start_time_whatever_the_input_order() -> None:
    late = tool("2222222222222222", 5.0, 5.5, "b", "{}", "ok")
    early = tool("1111111111111111", 1.0, 1.5, "a", "{}", "ok")
    assert [s.span_id for s in view(late, early).spans] == [ROOT, "1111111111111111", "2222222222222222"]


def test_next_llm_skips_enclosing_spans_and_prefers_the_same_agent() -> None:
    result = tool("1111111111111111", 1.0, 1.5, "lookup_order", "{}", "{}", agent="billing")
    other = llm("2222222222222222", 2.0, 2.5, [], [{"role": "assistant", "content": "x"}], agent="shipping")
    same = llm("3333333333333333", 3.0, 3.5, [], [{"role": "assistant", "content": "y"}], agent="billing")
    v = view(result, other, same)
    assert v.next_llm(result).span_id == "3333333333333333"
    assert v.parent(result).span_id == ROOT


def test_tool_calls_are_read_from_the_output_messages() -> None:
    step = llm(
        "1111111111111111",
        1.0,
        2.0,
        [{"role": "user", "content": "hi"}],
        [{"role": "assistant", "content": None, "tool_calls": [call("call_1", "search", '{"q": "x"}')]}],
    )
    v = view(step)
    assert [(c.id, c.name, c.arguments) for c in v.tool_calls(step)] == [("call_1", "search", '{"q": "x"}')]


def test_requesting_call_matches_the_tool_span_to_the_model_step() -> None:
    step = llm(
        "1111111111111111",
        1.0,
        2.0,
        [],
        [
            {
                "role": "assistant",
                "tool_calls": [call("call_1", "search", '{"q": "a"}'), call("call_2", "search", '{"q": "b"}')],
            }
        ],
    )
    result = tool("2222222222222222", 2.1, 2.5, "search", '{"q":"b"}', "[]")
    assert view(step, result).requesting_call(result).id == "call_2"


def test_plain_text_is_not_parsed_as_messages() -> None:
    assert parse_messages("Hello there") is None
    assert parse_messages('{"order_id": 1}') is None
    assert parse_messages('[{"role": "user", "content": "hi"}]') == [{"role": "user", "content": "hi"}]


def test_tool_schemas_are_found_in_genai_and_langsmith_shapes() -> None:
    definitions = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    genai = llm("1111111111111111", 1.0, 2.0, [], [], attributes={"gen_ai.tool.definitions": json.dumps(definitions)})
    langsmith = llm(
        "2222222222222222",
        1.0,
        2.0,
        [],
        [],
        attributes={
            "extra": {
                "invocation_params": {
                    "tools": [
                        {
                            "type": "function",
                            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
                        }
                    ]
                }
            }
        },
    )
    assert sorted(tool_schemas([genai, langsmith])) == ["get_weather", "lookup"]


def test_validator_reports_type_enum_and_extra_fields() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "mode": {"enum": ["fast", "slow"]}},
        "additionalProperties": False,
    }
    assert validate({"n": 1.5, "mode": "warp", "x": 1}, schema) == [
        "arguments.n: expected integer, got number",
        "arguments.mode: 'warp' is not one of ['fast', 'slow']",
        "arguments: unexpected field 'x'",
    ]
    assert validate({"n": 3, "mode": "fast"}, schema) == []


def test_issue_with_evidence_not_in_the_span_is_dropped() -> None:
    result = tool("1111111111111111", 1.0, 1.5, "search", '{"q": "a"}', '{"results": []}')

    def invent(v: TraceView):
        yield make_issue("invent", result, "execution.silent_failure", "no such text here", "made up", 0.9)
        yield make_issue("invent", result, "execution.not_found", '"results": []', "quoted", 0.9)

    issues = run_detectors(view(result), [Detector("invent", "1", ("execution.silent_failure",), invent)])
    assert [i.category for i in issues] == ["execution.not_found"]


def test_a_detector_that_raises_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    result = tool("1111111111111111", 1.0, 1.5, "search", '{"q": "a"}', '{"results": []}')

    def broken(v: TraceView):
        raise RuntimeError("bug")
        yield  # pragma: no cover

    def fine(v: TraceView):
        yield make_issue("fine", result, "execution.silent_failure", '"results": []', "empty", 0.7)

    issues = run_detectors(view(result), [Detector("broken", "1", (), broken), Detector("fine", "1", (), fine)])
    assert [i.source for i in issues] == ["rule:fine"]
    assert "detector broken failed" in caplog.text


def test_the_most_confident_duplicate_survives() -> None:
    result = tool("1111111111111111", 1.0, 1.5, "search", '{"q": "a"}', '{"results": []}')

    def twice(v: TraceView):
        yield make_issue("a", result, "execution.silent_failure", '"results": []', "weak", 0.5)
        yield make_issue("b", result, "execution.silent_failure", '"results": []', "strong", 0.8)

    issues = run_detectors(view(result), [Detector("x", "1", (), twice)])
    assert [(i.description, i.confidence) for i in issues] == [("strong", 0.8)]


def test_registry_lists_every_detector_and_versions_the_rule_set() -> None:
    names = {d.name for d in all_detectors()}
    assert {
        "error_status",
        "tool_result",
        "format_violation",
        "invalid_tool_arguments",
        "repeated_calls",
        "ignored_error",
        "resource_exhausted",
        "data_exposure",
        "prompt_injection",
        "refusal",
        "model_authored",
    } <= names
    assert rules_version().startswith("rules-") and len(rules_version()) == 16


def test_clean_trace_has_no_issues() -> None:
    ask = [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Where is order A-10442?"},
    ]
    plan = llm(
        "1111111111111111",
        0.5,
        1.2,
        ask,
        [{"role": "assistant", "tool_calls": [call("call_1", "lookup_order", '{"order_id": "A-10442"}')]}],
    )
    result = tool(
        "2222222222222222",
        1.3,
        1.6,
        "lookup_order",
        '{"order_id": "A-10442"}',
        '{"order_id": "A-10442", "status": "in_transit", "eta": "2025-03-18"}',
    )
    answer = llm(
        "3333333333333333",
        1.7,
        2.9,
        ask + [{"role": "tool", "tool_call_id": "call_1", "content": result.output}],
        [{"role": "assistant", "content": "Order A-10442 is in transit and should arrive on March 18."}],
    )
    assert run_detectors(view(plan, result, answer)) == []
