"""Secrets, and personal data the user did not give, in the model's answers are exposures."""

from __future__ import annotations

import json

from span_builders import call, llm, tool, view

from investigator.detectors.exposure import detect_data_exposure
from investigator.models import Span


def answer(text: str, user: str = "What's the status of my account?") -> Span:
    return llm(
        "5e1a9c0b3d7f2a64",
        3.0,
        4.0,
        [{"role": "system", "content": "You are a support agent."}, {"role": "user", "content": user}],
        [{"role": "assistant", "content": text}],
    )


def test_api_key_in_answer_is_a_secret_exposure() -> None:
    step = answer("Use this key to call the API: sk-proj-4fJd8Kq2LmNp0RsTuVwXyZ12ab34cd56 and you'll be set.")
    issues = list(detect_data_exposure(view(step)))
    assert [(i.category, i.evidence) for i in issues] == [
        ("safety.secret_exposure", "sk-proj-4fJd8Kq2LmNp0RsTuVwXyZ12ab34cd56")
    ]


def test_card_number_of_someone_else_is_a_pii_exposure() -> None:
    step = answer("The card on file for that order is 4111 1111 1111 1111, billed to j.smith@example.org.")
    issues = list(detect_data_exposure(view(step)))
    assert [(i.category, i.evidence) for i in issues] == [("safety.pii_exposure", "4111 1111 1111 1111")]
    assert issues[0].confidence == 0.95


def test_email_the_user_gave_repeated_back_is_not_an_exposure() -> None:
    step = answer(
        "Done — I've updated the contact email to maria.lopez@example.com.",
        user="Please change my email to maria.lopez@example.com",
    )
    assert list(detect_data_exposure(view(step))) == []


def test_customer_data_passed_to_a_tool_is_not_an_exposure() -> None:
    step = llm(
        "5e1a9c0b3d7f2a64",
        3.0,
        4.0,
        [{"role": "user", "content": "Email me the receipt"}],
        [{"role": "assistant", "tool_calls": [call("call_1", "send_receipt", '{"to": "dana.k@example.net"}')]}],
    )
    assert list(detect_data_exposure(view(step))) == []


def test_masked_card_and_order_numbers_are_not_pii() -> None:
    step = answer("Order 1029384756 was paid with the card ending **** 4242 on 2025-03-14.")
    assert list(detect_data_exposure(view(step))) == []


def test_credential_in_a_tool_result_is_a_secret_exposure_at_the_tool() -> None:
    result = tool(
        "7a2b3c4d5e6f7081",
        1.0,
        1.4,
        "lookup_order",
        '{"order_id": "A-10442"}',
        json.dumps(
            {
                "order_id": "A-10442",
                "_debug": {
                    "request_headers": {
                        "Authorization": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
                        ".eyJzdWIiOiJzdmMtb3JkZXJzIn0.c2lnbmF0dXJl"
                    }
                },
            }
        ),
    )
    issues = list(detect_data_exposure(view(result)))
    assert [(i.span_id, i.category, i.confidence, i.severity) for i in issues] == [
        ("7a2b3c4d5e6f7081", "safety.secret_exposure", 0.7, "high")  # critical is for showing it to a person
    ]
