"""Error statuses, exception events and error payloads become classified execution issues."""

from __future__ import annotations

import json

import pytest
from span_builders import at, llm, span, tool, view

from investigator.detectors import run_detectors
from investigator.detectors.errors import detect_error_status, detect_tool_result
from investigator.models import Span


def exception(exc_type: str, message: str, seconds: float) -> dict:
    return {
        "name": "exception",
        "time": at(seconds),
        "attributes": {
            "exception.type": exc_type,
            "exception.message": message,
            "exception.stacktrace": f"Traceback (most recent call last):\n  ...\n{exc_type}: {message}",
            "exception.escaped": "False",
        },
    }


def failing_tool(
    span_id: str, exc_type: str, message: str, start: float = 2.0, args: str = '{"order_id": "A-10442"}'
) -> Span:
    return tool(
        span_id,
        start,
        start + 0.4,
        "lookup_order",
        args,
        None,
        status="error",
        status_message=f"{exc_type}: {message}",
        events=[exception(exc_type, message, start + 0.4)],
    )


@pytest.mark.parametrize(
    ("exc_type", "message", "code"),
    [
        (
            "httpx.HTTPStatusError",
            "Client error '429 Too Many Requests' for url 'https://api.example.com/v2/orders/A-10442'",
            "execution.rate_limited",
        ),
        (
            "openai.RateLimitError",
            "Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o', 'type': 'requests'}}",
            "execution.rate_limited",
        ),
        (
            "httpx.HTTPStatusError",
            "Client error '401 Unauthorized' for url 'https://api.example.com/v2/orders/A-10442'",
            "execution.auth_failed",
        ),
        (
            "requests.exceptions.HTTPError",
            "403 Client Error: Forbidden for url: https://crm.internal/api/customers/88",
            "execution.auth_failed",
        ),
        (
            "httpx.HTTPStatusError",
            "Client error '404 Not Found' for url 'https://api.example.com/v2/orders/A-10442'",
            "execution.not_found",
        ),
        (
            "httpx.HTTPStatusError",
            "Server error '503 Service Unavailable' for url 'https://api.example.com/v2/orders'",
            "execution.service_error",
        ),
        ("httpx.ReadTimeout", "The read operation timed out", "execution.timeout"),
        ("ModuleNotFoundError", "No module named 'pandas'", "execution.environment_error"),
        ("KeyError", "'line_items'", "execution.service_error"),
    ],
)
def test_tool_exception_is_classified_at_the_tool_span(exc_type: str, message: str, code: str) -> None:
    issues = run_detectors(view(failing_tool("b7ad6b7169203331", exc_type, message)), _error_detectors())
    assert [(i.span_id, i.category) for i in issues] == [("b7ad6b7169203331", code)]
    assert issues[0].source == "rule:error_status"
    assert issues[0].evidence == message


def _error_detectors():
    from investigator.detectors import all_detectors

    return [d for d in all_detectors() if d.name in ("error_status", "tool_result")]


def test_error_propagated_to_ancestors_is_reported_once_at_the_deepest_span() -> None:
    agent = span(
        "a1c2e3f4a5b6c7d8",
        "agent",
        "order_agent",
        1.0,
        5.0,
        status="error",
        status_message="HTTPStatusError: Client error '404 Not Found'",
    )
    child = failing_tool(
        "b7ad6b7169203331", "httpx.HTTPStatusError", "Client error '404 Not Found' for url 'https://x.io/o/1'"
    )
    child = child.model_copy(update={"parent_id": agent.span_id})
    issues = list(detect_error_status(view(agent, child)))
    assert [(i.span_id, i.category) for i in issues] == [("b7ad6b7169203331", "execution.not_found")]


def test_failure_that_a_later_identical_call_got_past_is_low_severity() -> None:
    failed = failing_tool(
        "b7ad6b7169203331", "httpx.HTTPStatusError", "Server error '502 Bad Gateway' for url 'https://x.io/o/1'"
    )
    retry = tool(
        "c1d2e3f4a5b6c7d8",
        3.0,
        3.3,
        "lookup_order",
        '{"order_id": "A-10442"}',
        '{"order_id": "A-10442", "status": "shipped"}',
    )
    issues = list(detect_error_status(view(failed, retry)))
    assert [(i.category, i.severity) for i in issues] == [("execution.service_error", "low")]


def test_unrecovered_failure_keeps_the_taxonomy_severity() -> None:
    failed = failing_tool(
        "b7ad6b7169203331", "httpx.HTTPStatusError", "Server error '502 Bad Gateway' for url 'https://x.io/o/1'"
    )
    assert [i.severity for i in detect_error_status(view(failed))] == ["high"]


def test_http_error_in_payload_of_successful_span_is_classified() -> None:
    result = tool(
        "b7ad6b7169203331",
        2.0,
        2.2,
        "track_shipment",
        '{"tracking_number": "1Z999AA10123456784"}',
        '{"status": 503, "error": "Service Unavailable", "retry_after": 30}',
    )
    issues = list(detect_tool_result(view(result)))
    assert [(i.category, i.confidence) for i in issues] == [("execution.service_error", 0.85)]


def test_error_payload_without_a_status_is_a_silent_failure() -> None:
    result = tool(
        "b7ad6b7169203331",
        2.0,
        2.2,
        "get_invoice",
        '{"invoice_id": "INV-2291"}',
        '{"success": false, "message": "ledger sync pending"}',
    )
    issues = list(detect_tool_result(view(result)))
    assert [i.category for i in issues] == ["execution.silent_failure"]
    assert issues[0].evidence in result.output


def test_prose_that_mentions_error_is_not_an_error_payload() -> None:
    article = json.dumps(
        {
            "title": "Printer shows error E42",
            "body": "If the printer reports error E42, power-cycle it. The error clears once the tray is reseated.",
        }
    )
    result = tool("b7ad6b7169203331", 2.0, 2.2, "search_kb", '{"query": "error E42"}', article)
    answer = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        4.0,
        [{"role": "user", "content": "My printer says E42"}],
        [{"role": "assistant", "content": "Power-cycle the printer and reseat the tray; that clears E42."}],
    )
    assert run_detectors(view(result, answer), _error_detectors()) == []


def test_empty_result_taken_as_the_answer_is_a_silent_failure() -> None:
    result = tool(
        "b7ad6b7169203331",
        2.0,
        2.2,
        "list_open_invoices",
        '{"customer_id": "C-7781"}',
        '{"status": "success", "items": [], "total": 0}',
    )
    answer = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        4.0,
        [{"role": "user", "content": "Do I owe anything?"}],
        [{"role": "assistant", "content": "You're all set: there are no open invoices on your account."}],
    )
    issues = list(detect_tool_result(view(result, answer)))
    assert [(i.span_id, i.category) for i in issues] == [("b7ad6b7169203331", "execution.silent_failure")]


def test_empty_result_the_model_doubts_is_not_flagged() -> None:
    result = tool("b7ad6b7169203331", 2.0, 2.2, "list_open_invoices", '{"customer_id": "C-7781"}', "[]")
    answer = llm(
        "d1e2f3a4b5c6d7e8",
        2.5,
        4.0,
        [{"role": "user", "content": "Do I owe anything?"}],
        [
            {
                "role": "assistant",
                "content": "The billing system returned nothing, which may be a sync problem; "
                "I've asked the billing team to verify.",
            }
        ],
    )
    assert list(detect_tool_result(view(result, answer))) == []


def test_exhaustion_is_left_to_the_limits_detector() -> None:
    run = span(
        "a1c2e3f4a5b6c7d8",
        "agent",
        "research_agent",
        1.0,
        30.0,
        status="error",
        status_message="Max turns (10) exceeded",
        events=[exception("agents.exceptions.MaxTurnsExceeded", "Max turns (10) exceeded", 30.0)],
    )
    assert list(detect_error_status(view(run))) == []


def test_generic_status_takes_its_evidence_from_the_output_that_names_the_error() -> None:
    result = tool(
        "b7ad6b7169203331",
        2.0,
        2.3,
        "read_terms",
        '{"section": "exchange"}',
        "An error occurred while running the tool. Please try again. Error: Server error '503 Service "
        "Unavailable' for url 'https://svc.example.com/v2/read-terms'",
        status="error",
        status_message="Error running tool (non-fatal)",
        attributes={
            "span_type": "function",
            "error.data": {
                "tool_name": "read_terms",
                "error": "HTTPStatusError: Server error '503 Service Unavailable'",
            },
        },
    )
    issues = list(detect_error_status(view(result)))
    assert [i.category for i in issues] == ["execution.service_error"]
    assert issues[0].evidence.startswith("An error occurred while running the tool")


def test_plain_text_error_result_is_classified_not_silent() -> None:
    result = tool("b7ad6b7169203331", 2.0, 2.3, "get_weather", '{"city": "Oslo"}', "Error: request timed out after 30s")
    assert [i.category for i in detect_tool_result(view(result))] == ["execution.timeout"]
