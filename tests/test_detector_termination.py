"""A final answer that declines the task, with no failure to explain it, is premature termination."""

from __future__ import annotations

import json

from span_builders import call, llm, tool, view

from investigator.detectors.termination import detect_refusal, detect_unused_tools

ASK = [{"role": "user", "content": "Can you change the delivery address on order A-10442?"}]


def test_unexplained_refusal_is_flagged() -> None:
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "I'm sorry, but I can't help with that request."}],
    )
    issues = list(detect_refusal(view(final)))
    assert [(i.span_id, i.category, i.confidence) for i in issues] == [
        ("5e1a9c0b3d7f2a64", "planning.premature_termination", 0.6)
    ]


def test_apology_after_a_tool_failure_is_not_a_refusal() -> None:
    failed = tool(
        "7a2b3c4d5e6f7081",
        1.0,
        1.5,
        "update_order",
        '{"order_id": "A-10442"}',
        None,
        status="error",
        status_message="HTTPStatusError: Server error '503 Service Unavailable'",
    )
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "I'm sorry, I can't update the order right now."}],
    )
    assert list(detect_refusal(view(failed, final))) == []


def test_asking_for_missing_details_is_not_a_refusal() -> None:
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "I can't change it without the new address. Could you share it?"}],
    )
    assert list(detect_refusal(view(final))) == []


def test_normal_answer_is_not_a_refusal() -> None:
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "Done: order A-10442 now ships to 12 Elm St."}],
    )
    assert list(detect_refusal(view(final))) == []


SCHEMA = json.dumps(
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    }
)


def test_agent_that_answers_without_using_any_of_its_tools_is_flagged() -> None:
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "From what I can tell this is settled. Anything else?"}],
        attributes={"llm.tools.0.tool.json_schema": SCHEMA},
    )
    issues = list(detect_unused_tools(view(final)))
    assert [(i.span_id, i.category, i.confidence) for i in issues] == [
        ("5e1a9c0b3d7f2a64", "planning.premature_termination", 0.55)
    ]


def test_agent_that_looked_something_up_is_not_flagged() -> None:
    plan = llm(
        "1111111111111111",
        1.0,
        1.5,
        ASK,
        [{"role": "assistant", "tool_calls": [call("call_1", "lookup_order", '{"order_id": "A-10442"}')]}],
        attributes={"llm.tools.0.tool.json_schema": SCHEMA},
    )
    result = tool("2222222222222222", 1.6, 1.9, "lookup_order", '{"order_id": "A-10442"}', '{"status": "processing"}')
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "Done: the address is updated."}],
        attributes={"llm.tools.0.tool.json_schema": SCHEMA},
    )
    assert list(detect_unused_tools(view(plan, result, final))) == []


def test_agent_without_tools_may_answer_directly() -> None:
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "You can change it in Settings > Addresses."}],
    )
    assert list(detect_unused_tools(view(final))) == []


def test_refusal_phrased_without_i_cannot_is_flagged() -> None:
    final = llm(
        "5e1a9c0b3d7f2a64",
        2.0,
        3.0,
        ASK,
        [{"role": "assistant", "content": "Unfortunately that's not something I can do."}],
    )
    assert [i.category for i in detect_refusal(view(final))] == ["planning.premature_termination"]
