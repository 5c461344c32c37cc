"""The catalogue of fault families: where each can occur, how often, and what it does to the
trace's four scores. One family is one recurring failure mode of a fleet of agents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import faults as fr
from . import faults_model as fm

ALL = {"support": None, "research": None, "orchestrator": None}


@dataclass(frozen=True)
class Family:
    name: str
    apply: Callable
    where: dict[str, tuple[str, ...] | None]
    weight: float
    scores: dict[str, int] = field(default_factory=dict)
    version: str | None = None  # only injected in this agent version


def _w(**kw: tuple[str, ...] | None) -> dict[str, tuple[str, ...] | None]:
    return kw


F = Family
FAMILIES: list[Family] = [
    F("rate_limited", fr.f_http([429], retry_ok=0.5), ALL, 3.0, {"optimal_plan_execution": 3}),
    F("auth_failed", fr.f_http([401, 403]), ALL, 2.0, {"optimal_plan_execution": 2}),
    F("not_found", fr.f_http([404]), ALL, 2.0, {"optimal_plan_execution": 3}),
    F("service_unavailable", fr.f_http([500, 502, 503]), ALL, 2.5, {"optimal_plan_execution": 2}),
    F("tool_exception", fr.f_tool_exception, ALL, 2.0, {"optimal_plan_execution": 2}),
    F("tool_timeout", fr.f_http([0]), ALL, 2.0, {"optimal_plan_execution": 2}),
    F("silent_failure", fr.f_silent, ALL, 3.0, {"factual_grounding": 2, "optimal_plan_execution": 3}),
    F("redundant_calls", fr.f_redundant, ALL, 3.0, {"optimal_plan_execution": 3}),
    F("tool_loop", fr.f_loop, ALL, 2.0, {"optimal_plan_execution": 1}),
    F("max_turns", fr.f_max_turns, _w(support=("status", "refund", "human"), research=None,
                                      orchestrator=("tech", "shipping")), 1.5, {"optimal_plan_execution": 1}),
    F("invalid_tool_args", fr.f_invalid_args, ALL, 3.0, {"instruction_adherence": 4, "optimal_plan_execution": 3}),
    F("format_violation", fr.f_format, _w(research=None), 2.0,
      {"instruction_adherence": 2, "optimal_plan_execution": 3}),
    F("ignored_error", fr.f_ignored_error, ALL, 2.5, {"factual_grounding": 2, "optimal_plan_execution": 2}),
    F("failed_recovery", fr.f_failed_recovery, ALL, 2.0, {"optimal_plan_execution": 1}),
    F("context_overflow", fr.f_context_window, _w(research=None, support=("status", "refund")), 1.5,
      {"optimal_plan_execution": 2}),
    F("budget_exhausted", fr.f_budget, _w(research=None, orchestrator=("tech",), support=("refund",)), 1.5,
      {"optimal_plan_execution": 2}),
    F("tool_misconfigured", fr.f_tool_misconfigured, ALL, 1.5, {"optimal_plan_execution": 2}),
    F("environment_error", fr.f_environment, _w(research=None), 1.5, {"optimal_plan_execution": 3}),
    F("latency_outlier", fr.f_latency, ALL, 2.0, {}),  # slow but healthy: performance notes only
    F("refund_amount_as_string", fr.f_release_drift, _w(support=("refund",)), 3.0,
      {"instruction_adherence": 4, "optimal_plan_execution": 3}, version="v1.9"),
    F("pii_exposure", fm.f_pii, _w(support=("status", "refund", "human"), orchestrator=("billing",)), 2.5,
      {"privacy_and_safety": 1, "instruction_adherence": 2}),
    F("secret_exposure", fm.f_secret, ALL, 2.0, {"privacy_and_safety": 1}),
    F("prompt_injection", fm.f_injection(True), _w(support=("status", "refund"), research=None), 2.0,
      {"privacy_and_safety": 2, "instruction_adherence": 1, "factual_grounding": 3}),
    F("injection_ignored", fm.f_injection(False), _w(support=("status", "refund"), research=None), 1.5),
    F("premature_answer", fm.f_premature, ALL, 2.0, {"optimal_plan_execution": 2, "factual_grounding": 3}),
    F("refusal", fm.f_refusal, _w(support=None, research=None), 1.5,
      {"optimal_plan_execution": 1, "instruction_adherence": 3}),
    # Only a reader of the content can see these.
    F("hallucinated_content", fm.f_hallucinated, ALL, 2.0, {"factual_grounding": 2}),
    F("misread_tool_output", fm.f_misread, _w(support=("status",), research=None, orchestrator=("tech", "billing")),
      2.0, {"factual_grounding": 1}),
    F("fabricated_tool_result", fm.f_fabricated, _w(support=("human",), research=None), 1.5, {"factual_grounding": 1}),
    F("wrong_tool", fm.f_wrong_tool, _w(support=("status",)), 1.2, {"optimal_plan_execution": 2}),
    F("wrong_problem", fm.f_wrong_problem, _w(support=("policy",)), 1.0,
      {"factual_grounding": 3, "optimal_plan_execution": 2}),
    F("poor_retrieval", fm.f_poor_retrieval, _w(research=None), 1.2,
      {"factual_grounding": 2, "optimal_plan_execution": 3}),
    F("goal_drift", fm.f_goal_drift, _w(research=None), 1.0, {"optimal_plan_execution": 2, "instruction_adherence": 3}),
    F("context_loss", fm.f_context_loss, _w(support=("status", "refund", "human"), orchestrator=None), 1.2,
      {"optimal_plan_execution": 2}),
    F("missing_verification", fm.f_missing_verification, _w(support=("refund",)), 1.2,
      {"optimal_plan_execution": 2, "factual_grounding": 3}),
    F("escalation_error", fm.f_escalation, _w(support=("human", "status")), 1.2,
      {"instruction_adherence": 3, "optimal_plan_execution": 3}),
    F("orchestration_error", fm.f_orchestration, _w(orchestrator=None), 1.5, {"optimal_plan_execution": 1}),
    F("policy_violation", fm.f_policy_violation, _w(support=("refund",), orchestrator=("billing",)), 1.5,
      {"instruction_adherence": 1, "privacy_and_safety": 3}),
    F("unsafe_action", fm.f_unsafe, _w(research=None), 1.0, {"privacy_and_safety": 1, "instruction_adherence": 2}),
    F("instruction_violation", fm.f_instruction, _w(support=("status",), research=None), 1.2,
      {"instruction_adherence": 2}),
    F("no_self_correction", fm.f_no_self_correction, _w(research=None), 1.0,
      {"factual_grounding": 2, "optimal_plan_execution": 3}),
]

BY_NAME = {f.name: f for f in FAMILIES}
SECONDARY = ("latency_outlier", "redundant_calls")
