"""The default taxonomy ships as data, follows aliases, and can be extended or replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from investigator.errors import TaxonomyError
from investigator.taxonomy import default_taxonomy, load_taxonomy, unknown_codes

# The codes the product's taxonomy documents, written out here so the test runs anywhere.
DOCUMENTED_CODES = {
    "execution": [
        "auth_failed",
        "environment_error",
        "not_found",
        "rate_limited",
        "resource_exhausted",
        "service_error",
        "silent_failure",
        "timeout",
        "tool_misconfigured",
    ],
    "planning": [
        "context_loss",
        "escalation_error",
        "goal_drift",
        "missing_verification",
        "orchestration_error",
        "premature_termination",
        "redundant_steps",
    ],
    "reasoning": [
        "fabricated_tool_result",
        "format_violation",
        "hallucinated_content",
        "instruction_violation",
        "invalid_tool_arguments",
        "misread_tool_output",
        "poor_retrieval",
        "wrong_problem",
        "wrong_tool",
    ],
    "recovery": ["failed_recovery", "ignored_error", "no_self_correction"],
    "safety": ["pii_exposure", "policy_violation", "prompt_injection", "secret_exposure", "unsafe_action"],
}


def test_default_taxonomy_has_every_category_and_the_documented_codes() -> None:
    tax = default_taxonomy()
    assert sorted(tax.categories) == ["execution", "planning", "reasoning", "recovery", "safety"]
    assert len(tax.codes) == 33
    assert tax.in_category("recovery") == [
        "recovery.failed_recovery",
        "recovery.ignored_error",
        "recovery.no_self_correction",
    ]
    assert tax.get("execution.rate_limited").meaning == "throttled: HTTP 429, quota exceeded"


def test_default_taxonomy_has_exactly_the_documented_codes() -> None:
    documented = {f"{category}.{code}" for category, codes in DOCUMENTED_CODES.items() for code in codes}
    assert set(default_taxonomy().codes) == documented


def test_severities_and_weights_follow_the_contract() -> None:
    tax = default_taxonomy()
    assert tax.severity_weights == {"critical": 4, "high": 3, "medium": 2, "low": 1}
    assert tax.severity("safety.secret_exposure") == "critical"
    assert tax.weight(tax.severity("planning.redundant_steps")) == 2


def test_aliases_resolve_to_live_codes() -> None:
    tax = default_taxonomy()
    assert tax.resolve("planning.loop") == "planning.redundant_steps"
    assert "safety.pii_leak" in tax
    with pytest.raises(KeyError):
        tax.resolve("execution.gremlins")
    assert unknown_codes(["execution.timeout", "execution.gremlins"]) == ["execution.gremlins"]


def test_user_file_extends_the_default(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(
        json.dumps(
            {
                "name": "acme",
                "categories": {"billing": "money moved or charged wrongly"},
                "codes": [
                    {"code": "billing.double_charge", "meaning": "charged the customer twice", "severity": "critical"},
                    {"code": "execution.timeout", "meaning": "a call ran past its deadline", "severity": "high"},
                ],
                "aliases": {"billing.duplicate_charge": "billing.double_charge"},
            }
        )
    )
    tax = load_taxonomy(path)
    assert tax.severity("billing.double_charge") == "critical"
    assert tax.severity("execution.timeout") == "high"
    assert tax.resolve("billing.duplicate_charge") == "billing.double_charge"
    assert "safety.pii_exposure" in tax


def test_user_file_can_replace_the_default(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(
        json.dumps(
            {
                "mode": "replace",
                "categories": {"ops": "operations"},
                "codes": [{"code": "ops.outage", "meaning": "a dependency was down", "severity": "high"}],
            }
        )
    )
    tax = load_taxonomy(path)
    assert list(tax.codes) == ["ops.outage"]
    assert "execution.timeout" not in tax


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"codes": [{"code": "Billing-Double", "meaning": "x"}]}, "lower snake case"),
        ({"codes": [{"code": "billing.double", "meaning": "x"}]}, "unknown category"),
        ({"aliases": {"a.b": "execution.nope"}}, "unknown code"),
        ({"unexpected": 1}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_user_file_is_rejected_with_the_reason(tmp_path: Path, content: dict, message: str) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(content))
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(path)
