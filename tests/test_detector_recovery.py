"""A tool error followed by a model step that neither retries nor mentions it is an ignored error."""

from __future__ import annotations

from span_builders import call, llm, tool, view

from investigator.detectors.recovery import detect_ignored_error
from investigator.models import Span

ASK = [{"role": "user", "content": "Can you check the status of order A-10442?"}]
ARGS = '{"order_id": "A-10442"}'


def failing_lookup() -> Span:
    return tool(
        "b7ad6b7169203331",
        2.0,
        2.3,
        "lookup_order",
        ARGS,
        None,
        status="error",
        status_message="HTTPStatusError: Server error '500 Internal Server Error' for url 'https://oms.internal/orders/A-10442'",
    )


def test_answer_that_ignores_the_failure_is_flagged_at_the_llm_span() -> None:
    answer = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        4.0,
        ASK,
        [{"role": "assistant", "content": "Your order A-10442 is on its way and will arrive Thursday."}],
    )
    issues = list(detect_ignored_error(view(failing_lookup(), answer)))
    assert [(i.span_id, i.category, i.confidence) for i in issues] == [
        ("d1e2f3a4b5c6d7e8", "recovery.ignored_error", 0.75)
    ]
    assert issues[0].evidence in answer.output


def test_retry_of_the_failed_tool_is_not_ignored() -> None:
    retry = llm(
        "d1e2f3a4b5c6d7e8", 2.5, 3.0, ASK, [{"role": "assistant", "tool_calls": [call("call_2", "lookup_order", ARGS)]}]
    )
    ok = tool("e1e2e3e4e5e6e7e8", 3.1, 3.4, "lookup_order", ARGS, '{"order_id": "A-10442", "status": "in_transit"}')
    answer = llm("f1f2f3f4f5f6f7f8", 3.5, 4.5, ASK, [{"role": "assistant", "content": "Order A-10442 is in transit."}])
    assert list(detect_ignored_error(view(failing_lookup(), retry, ok, answer))) == []


def test_answer_that_reports_the_failure_is_not_ignored() -> None:
    answer = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        4.0,
        ASK,
        [
            {
                "role": "assistant",
                "content": "I couldn't reach the order system just now; please try again in a few minutes.",
            }
        ],
    )
    assert list(detect_ignored_error(view(failing_lookup(), answer))) == []


def test_ending_the_run_with_another_action_silently_is_an_ignored_error() -> None:
    """The step's call is the run's last action (nothing reads its result), and its arguments do
    not mention the failure: the run answered as if the lookup had worked."""
    step = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        3.0,
        ASK,
        [
            {
                "role": "assistant",
                "tool_calls": [call("call_3", "send_email", '{"to": "customer", "template": "order_shipped"}')],
            }
        ],
    )
    issues = list(detect_ignored_error(view(failing_lookup(), step)))
    assert [(i.span_id, i.surfaced_span_id) for i in issues] == [("d1e2f3a4b5c6d7e8", failing_lookup().span_id)]
    then = llm("e9e9e9e9e9e9e9e9", 3.5, 4.0, ASK, [{"role": "assistant", "content": "Sent."}])
    assert list(detect_ignored_error(view(failing_lookup(), step, then))) == [], "another approach, read later"


def test_failure_with_no_later_model_step_is_not_an_ignored_error() -> None:
    assert list(detect_ignored_error(view(failing_lookup()))) == []


def test_apologising_for_the_product_does_not_count_as_acknowledging_the_failure() -> None:
    answer = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        4.0,
        ASK,
        [
            {
                "role": "assistant",
                "content": "Apologies for the faulty blender. A reimbursement of €178.00 has been created.",
            }
        ],
    )
    assert [i.span_id for i in detect_ignored_error(view(failing_lookup(), answer))] == ["d1e2f3a4b5c6d7e8"]


def test_a_changed_retry_after_a_server_error_is_a_retry() -> None:
    step = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        3.0,
        ASK,
        [{"role": "assistant", "tool_calls": [call("call_2", "lookup_order", '{"order_id": "A-10443"}')]}],
    )
    assert list(detect_ignored_error(view(failing_lookup(), step))) == []
