"""Identical repeated tool calls are wasted work; repeating a failing call into the same failure
is a failed recovery."""

from __future__ import annotations

from span_builders import call, llm, tool, view

from investigator.detectors.loops import detect_repeated_calls
from investigator.models import Span

ARGS = '{"query": "refund policy for damaged items"}'
RESULT = '{"results": [{"title": "Refunds", "snippet": "Damaged items are refunded in full within 30 days."}]}'


def failed(span_id: str, start: float) -> Span:
    return tool(
        span_id,
        start,
        start + 0.3,
        "search_kb",
        ARGS,
        None,
        status="error",
        status_message="Server error '503 Service Unavailable' for url 'https://kb.internal/search'",
    )


def test_second_identical_call_is_redundant() -> None:
    first = tool("1111111111111111", 1.0, 1.4, "search_kb", ARGS, RESULT)
    second = tool("2222222222222222", 2.0, 2.4, "search_kb", '{"query":"refund policy for damaged items"}', RESULT)
    issues = list(detect_repeated_calls(view(first, second)))
    assert [(i.span_id, i.category, i.confidence) for i in issues] == [
        ("2222222222222222", "planning.redundant_steps", 0.85)
    ]


def test_loop_is_reported_once_at_the_first_repeat_with_higher_confidence() -> None:
    calls = [tool(f"{n}{n}{n}{n}aaaaaaaaaaaa", float(n), n + 0.4, "search_kb", ARGS, RESULT) for n in range(1, 6)]
    issues = list(detect_repeated_calls(view(*calls)))
    assert [(i.span_id, i.confidence, i.severity) for i in issues] == [("2222aaaaaaaaaaaa", 0.95, "medium")]
    assert "5 times" in issues[0].description


def test_same_tool_with_different_arguments_is_not_redundant() -> None:
    first = tool("1111111111111111", 1.0, 1.4, "search_kb", ARGS, RESULT)
    second = tool("2222222222222222", 2.0, 2.4, "search_kb", '{"query": "return shipping label"}', RESULT)
    assert list(detect_repeated_calls(view(first, second))) == []


def test_retry_after_failure_that_succeeds_is_not_an_issue() -> None:
    retry = tool("2222222222222222", 2.0, 2.4, "search_kb", ARGS, RESULT)
    assert list(detect_repeated_calls(view(failed("1111111111111111", 1.0), retry))) == []


def test_retry_that_fails_again_is_a_failed_recovery_at_the_retry() -> None:
    spans = [failed("1111111111111111", 1.0), failed("2222222222222222", 2.0), failed("3333333333333333", 3.0)]
    issues = list(detect_repeated_calls(view(*spans)))
    assert [(i.span_id, i.category) for i in issues] == [("2222222222222222", "recovery.failed_recovery")]


def test_repeated_requests_are_found_in_traces_without_tool_spans() -> None:
    steps = [
        llm(
            f"{n}{n}{n}{n}bbbbbbbbbbbb",
            float(n),
            n + 0.8,
            [{"role": "user", "content": "refund policy?"}],
            [{"role": "assistant", "tool_calls": [call(f"call_{n}", "search_kb", ARGS)]}],
        )
        for n in range(1, 4)
    ]
    issues = list(detect_repeated_calls(view(*steps)))
    assert [(i.span_id, i.category) for i in issues] == [("2222bbbbbbbbbbbb", "planning.redundant_steps")]


def test_failed_recovery_is_located_at_the_model_step_that_asked_for_the_retry() -> None:
    ask = [{"role": "user", "content": "refund policy?"}]
    first_call = llm(
        "aaaaaaaaaaaaaaa1", 0.5, 0.9, ask, [{"role": "assistant", "tool_calls": [call("call_1", "search_kb", ARGS)]}]
    )
    retry_call = llm(
        "aaaaaaaaaaaaaaa2", 1.5, 1.9, ask, [{"role": "assistant", "tool_calls": [call("call_2", "search_kb", ARGS)]}]
    )
    issues = list(
        detect_repeated_calls(
            view(first_call, failed("1111111111111111", 1.0), retry_call, failed("2222222222222222", 2.0))
        )
    )
    assert [(i.span_id, i.category) for i in issues] == [("aaaaaaaaaaaaaaa2", "recovery.failed_recovery")]


def test_polling_with_identical_arguments_and_changing_results_is_progress_not_a_loop() -> None:
    states = ['{"state": "queued"}', '{"state": "running", "done": 0.4}', '{"state": "succeeded"}']
    polls = [
        tool(f"{n + 1:016x}", 1.0 + n, 1.2 + n, "export_status", '{"job_id": "J-77"}', state)
        for n, state in enumerate(states)
    ]
    assert list(detect_repeated_calls(view(*polls))) == []
    stuck = [p.model_copy(update={"output": states[0]}) for p in polls]
    assert [(i.span_id, i.category) for i in detect_repeated_calls(view(*stuck))] == [
        (stuck[1].span_id, "planning.redundant_steps")
    ]
