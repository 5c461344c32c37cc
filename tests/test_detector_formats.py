"""Malformed model output and invalid tool arguments are blamed on the LLM span that wrote them."""

from __future__ import annotations

import json

from span_builders import at, call, llm, span, tool, view

from investigator.detectors.arguments import detect_invalid_arguments
from investigator.detectors.formats import detect_format_violation
from investigator.models import Span

REFUND_SCHEMA = {
    "type": "function",
    "function": {
        "name": "issue_refund",
        "description": "Refund an order, fully or partly.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["order_id", "amount"],
            "additionalProperties": False,
        },
    },
}


def model_step(span_id: str, arguments: str, **fields) -> Span:
    attrs = {"llm.tools.0.tool.json_schema": json.dumps(REFUND_SCHEMA), "llm.provider": "openai"}
    return llm(
        span_id,
        1.0,
        2.0,
        [{"role": "user", "content": "Refund order A-10442, it arrived broken."}],
        [{"role": "assistant", "tool_calls": [call("call_Qx81fZ", "issue_refund", arguments)]}],
        attributes=attrs,
        **fields,
    )


def test_arguments_breaking_the_schema_are_flagged_at_the_llm_span() -> None:
    step = model_step("5e1a9c0b3d7f2a64", '{"order_id": "A-10442", "amount": "42.00"}')
    issues = list(detect_invalid_arguments(view(step)))
    assert [(i.span_id, i.category) for i in issues] == [("5e1a9c0b3d7f2a64", "reasoning.invalid_tool_arguments")]
    assert "expected number, got string" in issues[0].description
    assert issues[0].evidence == '{"order_id": "A-10442", "amount": "42.00"}'  # as the model wrote it, unescaped


def test_missing_required_field_is_flagged() -> None:
    step = model_step("5e1a9c0b3d7f2a64", '{"order_id": "A-10442"}')
    issues = list(detect_invalid_arguments(view(step)))
    assert "missing required field 'amount'" in issues[0].description


def test_unparseable_arguments_are_flagged_without_a_schema() -> None:
    step = llm(
        "5e1a9c0b3d7f2a64",
        1.0,
        2.0,
        [{"role": "user", "content": "Where is my parcel?"}],
        [{"role": "assistant", "tool_calls": [call("call_9", "track_shipment", "{'tracking_number': '1Z999'}")]}],
    )
    issues = list(detect_invalid_arguments(view(step)))
    assert [(i.span_id, i.confidence) for i in issues] == [("5e1a9c0b3d7f2a64", 0.9)]


def test_valid_arguments_are_not_flagged() -> None:
    step = model_step("5e1a9c0b3d7f2a64", '{"amount": 42.0, "order_id": "A-10442"}')
    result = tool(
        "7a2b3c4d5e6f7081",
        2.1,
        2.5,
        "issue_refund",
        '{"amount": 42.0, "order_id": "A-10442"}',
        '{"refund_id": "re_3OqK", "status": "succeeded"}',
    )
    assert list(detect_invalid_arguments(view(step, result))) == []


def test_tool_rejection_is_blamed_on_the_model_call_that_wrote_the_arguments() -> None:
    step = llm(
        "5e1a9c0b3d7f2a64",
        1.0,
        2.0,
        [{"role": "user", "content": "Refund A-10442"}],
        [{"role": "assistant", "tool_calls": [call("call_Qx81fZ", "issue_refund", '{"order": "A-10442"}')]}],
    )
    message = "1 validation error for issue_refund_args\norder_id\n  Field required [type=missing]"
    rejected = tool(
        "7a2b3c4d5e6f7081",
        2.1,
        2.2,
        "issue_refund",
        '{"order": "A-10442"}',
        None,
        status="error",
        status_message=message,
        events=[
            {
                "name": "exception",
                "time": at(2.2),
                "attributes": {
                    "exception.type": "pydantic_core._pydantic_core.ValidationError",
                    "exception.message": message,
                },
            }
        ],
    )
    issues = list(detect_invalid_arguments(view(step, rejected)))
    assert [i.span_id for i in issues] == ["5e1a9c0b3d7f2a64"]


def test_parse_error_is_blamed_on_the_model_output_not_the_parser() -> None:
    answer = llm(
        "5e1a9c0b3d7f2a64",
        1.0,
        3.0,
        [{"role": "user", "content": "Summarise the report as JSON"}],
        [{"role": "assistant", "content": '{"answer": "Revenue grew 12%", "confidence": high}'}],
    )
    parser = span(
        "9f8e7d6c5b4a3928",
        "chain",
        "JsonOutputParser",
        3.0,
        3.01,
        status="error",
        status_message='OutputParserException: Invalid json output: {"answer": "Revenue grew 12%", "confidence": high}',
        events=[
            {
                "name": "exception",
                "time": at(3.01),
                "attributes": {
                    "exception.type": "langchain_core.exceptions.OutputParserException",
                    "exception.message": "Invalid json output",
                },
            }
        ],
    )
    issues = list(detect_format_violation(view(answer, parser)))
    assert [(i.span_id, i.category) for i in issues] == [("5e1a9c0b3d7f2a64", "reasoning.format_violation")]
    assert issues[0].evidence == '{"answer": "Revenue grew 12%", "confidence": high}'  # the content, unescaped


def test_non_json_answer_to_a_json_response_format_is_flagged() -> None:
    params = json.dumps({"temperature": 0, "response_format": {"type": "json_object"}})
    answer = llm(
        "5e1a9c0b3d7f2a64",
        1.0,
        3.0,
        [{"role": "user", "content": "Classify this ticket"}],
        [{"role": "assistant", "content": "Category: billing. Priority: high."}],
        attributes={"llm.invocation_parameters": params},
    )
    assert [i.category for i in detect_format_violation(view(answer))] == ["reasoning.format_violation"]


def test_fenced_json_answer_to_a_json_response_format_is_accepted() -> None:
    params = json.dumps({"response_format": {"type": "json_object"}})
    answer = llm(
        "5e1a9c0b3d7f2a64",
        1.0,
        3.0,
        [{"role": "user", "content": "Classify this ticket"}],
        [{"role": "assistant", "content": '```json\n{"category": "billing"}\n```'}],
        attributes={"llm.invocation_parameters": params},
    )
    assert list(detect_format_violation(view(answer))) == []
