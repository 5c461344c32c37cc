"""The four trace scores follow from the trace's issues; no evidence of a problem scores 5."""

from __future__ import annotations

from span_builders import TRACE, llm, tool, view

from investigator.models import Issue
from investigator.scoring import score_trace

ASK = [{"role": "user", "content": "Where is order A-7?"}]
ANSWER = [{"role": "assistant", "content": "Order A-7 shipped on Monday."}]
VIEW = view(llm("a1a1a1a1a1a1a1a1", 1.0, 2.0, ASK, ANSWER))


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


def plan(*spans) -> tuple[int, str]:
    result = score_trace(view(*spans), []).optimal_plan_execution
    return result.score, result.reason


def failing(span_id: str, start: float) -> object:
    return tool(span_id, start, start + 0.2, "lookup_order", '{"order_id": "A-7"}', None, status="error",
                status_message="ConnectionError: order service unavailable")


def test_the_plan_score_reads_failed_steps_an_unrecovered_end_and_a_missing_answer_from_structure() -> None:
    answer = llm("a1a1a1a1a1a1a1a1", 3.0, 4.0, ASK, ANSWER)
    retried = tool("c3c3c3c3c3c3c3c3", 1.5, 1.7, "lookup_order", '{"order_id": "A-7"}', '{"status": "shipped"}')
    steps = [llm(f"d{n}d{n}d{n}d{n}d{n}d{n}d{n}d{n}", 0.1 * n, 0.1 * n + 0.05, ASK, ANSWER) for n in range(4)]
    assert plan(*steps, answer) == (5, "No wasted steps, loops or unrecovered errors were detected.")
    assert plan(*steps, failing("b2b2b2b2b2b2b2b2", 1.0), retried, answer)[0] == 4  # 1 of 7 steps failed
    assert plan(failing("b2b2b2b2b2b2b2b2", 1.0), retried, answer)[0] == 3  # 1 of 3
    assert plan(answer, failing("b2b2b2b2b2b2b2b2", 5.0))[0] == 2  # the run ended on the failure
    silent = llm("a1a1a1a1a1a1a1a1", 3.0, 4.0, ASK, [{"role": "assistant", "content": ""}])
    assert plan(retried, silent) == (1, "The run ended without an answer.")
