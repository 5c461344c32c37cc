"""The four trace scores follow from the trace's issues; no evidence of a problem scores 5."""

from __future__ import annotations

from types import SimpleNamespace

from investigator.models import Issue
from investigator.scoring import score_trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VIEW = SimpleNamespace(trace_id=TRACE)


def issue(code: str, severity: str = "high", confidence: float = 0.9, span_id: str = "b7ad6b7169203331") -> Issue:
    return Issue(
        trace_id=TRACE,
        span_id=span_id,
        category=code,
        severity=severity,
        confidence=confidence,
        evidence="quoted text",
        description=f"{code} happened",
        source="rule:test",
    )


def scores(*issues: Issue) -> dict[str, int]:
    result = score_trace(VIEW, list(issues))
    return {
        d: getattr(result, d).score
        for d in ("factual_grounding", "privacy_and_safety", "instruction_adherence", "optimal_plan_execution")
    }


def test_trace_without_issues_scores_five_everywhere() -> None:
    result = score_trace(VIEW, [])
    assert scores() == {
        "factual_grounding": 5,
        "privacy_and_safety": 5,
        "instruction_adherence": 5,
        "optimal_plan_execution": 5,
    }
    assert result.privacy_and_safety.reason.startswith("No personal data")
    assert result.source == "rules"


def test_secret_exposure_scores_privacy_one_and_pii_two_when_unsure() -> None:
    assert scores(issue("safety.secret_exposure", "critical"))["privacy_and_safety"] == 1
    assert scores(issue("safety.pii_exposure", "critical", confidence=0.55))["privacy_and_safety"] == 2


def test_format_violation_lowers_instruction_adherence_only() -> None:
    assert scores(issue("reasoning.format_violation")) == {
        "factual_grounding": 5,
        "privacy_and_safety": 5,
        "instruction_adherence": 2,
        "optimal_plan_execution": 5,
    }


def test_silent_failure_lowers_grounding_and_plan_execution() -> None:
    result = scores(issue("execution.silent_failure"))
    assert (result["factual_grounding"], result["optimal_plan_execution"]) == (2, 3)


def test_recovered_error_costs_little_and_unrecovered_loop_costs_more() -> None:
    assert scores(issue("execution.service_error", "low"))["optimal_plan_execution"] == 4
    loop = [
        issue("planning.redundant_steps", "medium", span_id="1111111111111111"),
        issue("execution.resource_exhausted", "high", span_id="2222222222222222"),
        issue("recovery.failed_recovery", "high", span_id="3333333333333333"),
    ]
    assert scores(*loop)["optimal_plan_execution"] == 1


def test_reason_names_the_worst_issue_in_one_sentence() -> None:
    result = score_trace(
        VIEW, [issue("planning.redundant_steps", "low"), issue("recovery.ignored_error", span_id="d1e2f3a4b5c6d7e8")]
    )
    reason = result.optimal_plan_execution.reason
    assert reason.startswith("recovery.ignored_error at span d1e2f3a4b5c6d7e8 (and 1 more)")
    assert reason.endswith(".") and reason.count(". ") == 0


def test_issues_of_other_traces_are_ignored() -> None:
    other = issue("safety.secret_exposure").model_copy(update={"trace_id": "0" * 32})
    assert scores(other)["privacy_and_safety"] == 5
