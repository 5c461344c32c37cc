"""The normalised data contracts: spans, traces and quarantined records.

Ingest adapters map every supported export format onto these shapes; everything downstream
(detectors, clustering, the judge, reports) reads only these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from investigator.timefmt import duration_ms

SpanKind = Literal[
    "llm",
    "tool",
    "agent",
    "chain",
    "retriever",
    "embedding",
    "reranker",
    "guardrail",
    "evaluator",
    "conversation",
    "unknown",
]
SPAN_KINDS: tuple[str, ...] = SpanKind.__args__  # type: ignore[attr-defined]

SpanStatus = Literal["ok", "error", "unset"]


class Span(BaseModel):
    """One normalised span. Times are ISO-8601 UTC strings with microseconds."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    span_id: str
    parent_id: str | None = None
    name: str = ""
    kind: SpanKind = "unknown"
    start_time: str | None = None
    end_time: str | None = None
    status: SpanStatus = "unset"
    status_message: str | None = None
    input: str | None = None
    output: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    tool_name: str | None = None
    tool_args: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    agent: str | None = None
    source_format: str = ""
    # Trace-level context that the exporting format carries on the span (OTLP resources,
    # LangSmith session). The store rolls these up into the Trace.
    service: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    hints: dict[str, Any] = Field(default_factory=dict)
    # Set by the store, never by adapters.
    orphan: bool = False
    cycle_broken: bool = False

    @property
    def duration_ms(self) -> float | None:
        return duration_ms(self.start_time, self.end_time)


def in_start_order(spans: Iterable[Span]) -> list[Span]:
    """Spans by start time, those without one last. Spans that start together keep their given
    order (the sort is stable), never the span id's, which differs between otherwise identical traces."""
    return sorted(spans, key=lambda s: (s.start_time is None, s.start_time or ""))


class Trace(BaseModel):
    """A trace as the store rolls it up from its spans and any trace-level records."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    name: str | None = None
    root_span_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration_ms: float | None = None
    status: SpanStatus = "unset"
    span_count: int = 0
    error_count: int = 0
    service: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    agent_version: str | None = None
    prompt_version: str | None = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    outcome: dict[str, Any] = Field(default_factory=dict)
    source_format: str | None = None

    def slices(self) -> dict[str, str]:
        """The attributes a failure rate can be compared across (for cohort lift and diffs)."""
        base = {
            "model": self.model,
            "agent_version": self.agent_version,
            "prompt_version": self.prompt_version,
            "service": self.service,
        }
        out = {k: str(v) for k, v in base.items() if v not in (None, "")}
        for key, value in self.attributes.items():
            if isinstance(value, (str, int, float, bool)) and key not in out:
                out[key] = str(value)
        return out


class TraceInfo(BaseModel):
    """Trace-level facts some formats export as their own record (Agents SDK trace rows,
    Langfuse traces). Only the fields that are set are applied."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    name: str | None = None
    service: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    hints: dict[str, Any] = Field(default_factory=dict)


class QuarantinedRecord(BaseModel):
    """An input record that could not be parsed or normalised, kept with the reason."""

    id: int | None = None
    file: str
    line: int | None = None
    location: str | None = None
    format: str | None = None
    reason: str
    raw: str
    created_at: str | None = None


Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_WEIGHTS: dict[str, int] = {"critical": 4, "high": 3, "medium": 2, "low": 1}


class Issue(BaseModel):
    """A per-trace issue: one taxonomy code located at one span, with a verbatim evidence quote."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    span_id: str
    category: str
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: str
    description: str
    source: str
    # Where the failure showed, when that is not where it was authored (the tool that raised on
    # arguments the model step at `span_id` wrote).
    surfaced_span_id: str | None = None


SCORE_DIMENSIONS: tuple[str, ...] = (
    "factual_grounding",
    "privacy_and_safety",
    "instruction_adherence",
    "optimal_plan_execution",
)


class DimensionScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    reason: str


class TraceScores(BaseModel):
    """The four trace scores, each 1-5 with a one-sentence reason."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    factual_grounding: DimensionScore
    privacy_and_safety: DimensionScore
    instruction_adherence: DimensionScore
    optimal_plan_execution: DimensionScore
    source: str


FixLayer = Literal["prompt", "tool", "orchestration", "guardrail", "infrastructure", "retrieval", "eval"]
FindingStatus = Literal["new", "recurring", "regressed", "resolved"]


class Evidence(BaseModel):
    """One citation: a span of a trace and a quote found verbatim in it."""

    model_config = ConfigDict(extra="forbid")

    trace_id: str
    span_id: str
    quote: str


class Impact(BaseModel):
    """What a finding costs, in users' terms (traces, share of the window, sessions, users), with the
    cluster's own prevalence and impact score it was found in."""

    model_config = ConfigDict(extra="forbid")

    trace_count: int
    prevalence: float
    severity_weight: float
    impact_score: float
    window_traces: int = 0  # traces in the window analysed; 0 when not known
    sessions: int = 0  # distinct sessions among the affected traces
    users: int = 0  # distinct users among the affected traces
    tokens: int = 0  # tokens in and out of the model calls in the affected traces; 0 when not recorded
    cost_usd: float | None = None  # what those calls cost, when the traces record it

    @property
    def share(self) -> float | None:
        """The share of the window's traces this finding affects."""
        return self.trace_count / self.window_traces if self.window_traces else None

    def in_words(self) -> str:
        share = f" ({self.share:.1%} of the window's {self.window_traces})" if self.share is not None else ""
        people = ", ".join(
            f"{n} {what}{'s' if n != 1 else ''}" for n, what in ((self.sessions, "session"), (self.users, "user")) if n
        )
        spent = f"{_count(self.tokens)} tokens" if self.tokens else ""
        if self.cost_usd:
            cost = f"${self.cost_usd:.2f}" if self.cost_usd >= 0.01 else "<$0.01"
            spent = f"{spent} ({cost})" if spent else cost
        return (f"{self.trace_count} traces{share}" + (f", {people}" if people else "")
                + (f"; {spent} spent in them" if spent else ""))


def _count(n: int) -> str:
    """A count as people read it: 950, 12.3k, 4.1M."""
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}k" if n < 1_000_000 else f"{n / 1_000_000:.1f}M"


class CohortLift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimension: str
    value: str
    lift: float
    count: int


class Finding(BaseModel):
    """A recurring failure, with the evidence it rests on and the fix to ship."""

    model_config = ConfigDict(extra="forbid")

    id: str
    run_id: str
    cluster_id: str
    title: str
    category: str
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    description: str
    root_cause: str
    immediate_fix: str
    fix_layer: FixLayer
    evidence: list[Evidence]
    trace_ids: list[str]
    scores: dict[str, DimensionScore] = Field(default_factory=dict)
    impact: Impact
    cohorts: list[CohortLift] = Field(default_factory=list)
    status: FindingStatus = "new"
    source: str
