"""What one framework run leaves behind: the trace its instrumentation wrote, and the faults the
script planted in it, located by construction.

A `Fault` names the span where the mistake was authored (the model step that wrote a bad call,
the tool that failed) and, when it shows up elsewhere, the span where it surfaced (the tool that
raised on those arguments). Runners find those spans in what the instrumentation recorded, by the
order of model steps and tool executions the script drove; detectors never see this file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from investigator.taxonomy import default_taxonomy

Outcome = Literal["clean", "recovered", "faulty"]


@dataclass(frozen=True)
class Fault:
    category: str
    authored: str  # span id, 16 hex digits
    surfaced: str | None = None
    rule_detectable: bool = True  # a structural fault the rules layer is expected to find


@dataclass
class RecordedRun:
    """One agent run. `sink` names the file under traces/ its document goes to (one JSON document
    per line); `outcome` is clean (no fault), recovered (a fault the agent got past) or faulty."""

    framework: str
    scenario: str
    outcome: Outcome
    trace_id: str  # 32 hex digits
    sink: str
    document: dict[str, Any]
    faults: list[Fault] = field(default_factory=list)
    answered: bool = True  # the run ended with an answer to the user

    def truth_row(self) -> dict[str, Any]:
        taxonomy = default_taxonomy()
        return {
            "trace_id": self.trace_id,
            "family": "clean" if self.outcome == "clean" else f"{self.framework}:{self.scenario}",
            "framework": self.framework,
            "scenario": self.scenario,
            "outcome": self.outcome,
            "issues": [
                {
                    "span_id": f.authored,
                    "surfaced_span_id": f.surfaced,
                    "category": f.category,
                    "severity": taxonomy.severity(f.category),
                    "rule_detectable": f.rule_detectable,
                }
                for f in self.faults
            ],
            "scores": {"optimal_plan_execution": self.plan_score()},
        }

    def plan_score(self) -> int:
        """The expected optimal_plan_execution score: 5 clean, 4 recovered, 2 an unrecovered fault
        with an answer, 1 no answer."""
        if not self.answered:
            return 1
        return {"clean": 5, "recovered": 4}.get(self.outcome, 2)


def hex_span(span: ReadableSpan) -> str:
    return f"{span.context.span_id:016x}"


def hex_trace(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


class SeededIds(IdGenerator):
    """Trace and span ids drawn from the corpus's seeded generator, so a seed gives the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1


class Capture:
    """An OpenTelemetry SDK tracer provider whose finished spans are kept in memory."""

    def __init__(self, service: str, rng: random.Random) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=SeededIds(rng))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @contextmanager
    def run(self) -> Iterator[list[ReadableSpan]]:
        """The spans finished inside the block, in start order, once it ends."""
        self.exporter.clear()
        spans: list[ReadableSpan] = []
        try:
            yield spans
        finally:
            self.provider.force_flush()
            spans.extend(sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0))
            self.exporter.clear()


def otlp_document(spans: list[ReadableSpan]) -> dict[str, Any]:
    """The spans as the OTLP exporter's JSON request body (ExportTraceServiceRequest)."""
    return MessageToDict(encode_spans(spans))
