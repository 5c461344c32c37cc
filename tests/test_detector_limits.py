"""Turn, context, token, budget and memory limits are resource exhaustion, reported once."""

from __future__ import annotations

import json

from span_builders import at, llm, span, view

from investigator.detectors.limits import detect_resource_exhausted


def test_max_turns_error_is_reported_at_the_agent_span_not_its_ancestors() -> None:
    run = span(
        "a1c2e3f4a5b6c7d8",
        "agent",
        "research_agent",
        1.0,
        40.0,
        status="error",
        status_message="Max turns (10) exceeded",
        events=[
            {
                "name": "exception",
                "time": at(40.0),
                "attributes": {
                    "exception.type": "agents.exceptions.MaxTurnsExceeded",
                    "exception.message": "Max turns (10) exceeded",
                },
            }
        ],
    )
    workflow = span(
        "0a0b0c0d0e0f0102",
        "chain",
        "Agent workflow",
        0.5,
        41.0,
        status="error",
        status_message="Max turns (10) exceeded",
    )
    run = run.model_copy(update={"parent_id": workflow.span_id})
    issues = list(detect_resource_exhausted(view(workflow, run)))
    assert [(i.span_id, i.category, i.evidence) for i in issues] == [
        ("a1c2e3f4a5b6c7d8", "execution.resource_exhausted", "Max turns (10) exceeded")
    ]


def test_context_window_overflow_from_the_provider_is_exhaustion() -> None:
    message = (
        "Error code: 400 - {'error': {'message': \"This model's maximum context length is 128000 tokens. However, "
        "your messages resulted in 131072 tokens.\", 'type': 'invalid_request_error', "
        "'code': 'context_length_exceeded'}}"
    )
    step = llm(
        "5e1a9c0b3d7f2a64",
        3.0,
        3.5,
        [{"role": "user", "content": "Summarise these logs"}],
        [],
        status="error",
        status_message=message,
    )
    assert [i.span_id for i in detect_resource_exhausted(view(step))] == ["5e1a9c0b3d7f2a64"]


def test_answer_cut_off_at_the_output_token_limit_is_exhaustion() -> None:
    step = llm(
        "5e1a9c0b3d7f2a64",
        3.0,
        9.5,
        [{"role": "user", "content": "Write the migration plan"}],
        [
            {
                "role": "assistant",
                "content": "Step 1: freeze writes. Step 2: copy the orders table to the new cluster and",
            }
        ],
        attributes={"gen_ai.response.finish_reasons": ["length"]},
    )
    issues = list(detect_resource_exhausted(view(step)))
    assert [(i.severity, i.confidence) for i in issues] == [("medium", 0.7)]


def test_completed_answer_is_not_exhaustion() -> None:
    step = llm(
        "5e1a9c0b3d7f2a64",
        3.0,
        4.5,
        [{"role": "user", "content": "What is the token limit of gpt-4o?"}],
        [{"role": "assistant", "content": "gpt-4o accepts up to 128k tokens of context."}],
        attributes={"gen_ai.response.finish_reasons": ["stop"]},
    )
    assert list(detect_resource_exhausted(view(step))) == []


def test_run_that_stopped_at_an_iteration_limit_without_an_error_is_exhaustion() -> None:
    executor = span(
        "a1c2e3f4a5b6c7d8",
        "chain",
        "AgentExecutor",
        1.0,
        60.0,
        output=json.dumps({"output": "Agent stopped due to iteration limit or time limit."}),
    )
    assert [i.span_id for i in detect_resource_exhausted(view(executor))] == ["a1c2e3f4a5b6c7d8"]


def test_limit_phrases_are_found_exactly_where_the_full_search_finds_them(demo_store) -> None:
    """The word gate in front of the search only skips texts the search would not match."""
    from investigator.detectors.limits import _STOPPED_AT_LIMIT, stopped_at_limit

    phrases = [
        "Agent stopped due to iteration limit",
        "MAX TURNS (25) EXCEEDED",
        "Maximum number of turns reached",
        "recursion limit of 25 reached",
        "This model's maximum context length is 8192",
        "Context Window is full",
        "spending budget exhausted",
        "we ran out of tokens",
        "maximum turns reached in the run",
        "the agent stopped. no limit",
        "budget approved",
        "Maximum context length — ιnfo ıs here",
    ]
    texts = phrases + [
        t[:2000] for row in demo_store.conn.execute("SELECT output, status_message FROM spans") for t in row if t
    ]
    found = [m.span() if (m := stopped_at_limit(t)) else None for t in texts]
    assert found == [m.span() if (m := _STOPPED_AT_LIMIT.search(t)) else None for t in texts]
    assert [bool(f) for f in found[: len(phrases)]] == [True] * 9 + [False, False, True]
