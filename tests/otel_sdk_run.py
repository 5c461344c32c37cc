"""One refund-agent run recorded by the real OpenTelemetry Python SDK, with OpenInference attributes,
and what the SDK recorded, for the tests that ingest the SDK's dumps.

The run: an AGENT span; an LLM span whose output is a tool call (`llm.output_messages.*.tool_calls`);
the TOOL span of that call, which raises (the SDK records the exception event and the error status
itself); a final LLM span whose input holds the tool's error as a `tool` message. `record_run`
hands every finished span to the exporters given, so each test writes the shape it ingests with the
SDK's own exporter or serialiser; `assert_stored_as_recorded` checks the store against what the SDK
recorded (for the JS SDK too, whose run `otel_js_app/record.cjs` is the same).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from investigator.store import Store

RESOURCE = {"service.name": "refund-agent", "service.version": "3.1.0", "deployment.environment.name": "staging"}
SCOPE = "refund.agent"
QUESTION = "I was charged twice for order A-10023, please refund one charge."
CALL = {
    "id": "call_Qm3vR8hJ2kLpX9aT",
    "name": "issue_refund",
    "arguments": '{"charge_id":"ch_3PxK2M4bR7","amount":49.0}',
}
ANSWER = "Sorry, I could not refund the charge: the refund window has closed."


class PaymentGatewayError(Exception):
    pass


REFUND_ERROR = "402 Payment Required: refund window closed for charge ch_3PxK2M4bR7"


def record_run(*exporters: SpanExporter, resource: Mapping[str, str] | None = None) -> tuple[ReadableSpan, ...]:
    """Run the agent once; every finished span goes to `exporters`. Returns the spans in end order.
    `resource` adds to the service's resource attributes."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({**RESOURCE, **(resource or {})}))
    for exporter in (memory, *exporters):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(SCOPE, "1.4.0")
    agent_attributes = {
        "openinference.span.kind": "AGENT",
        "agent.name": "RefundAgent",
        "session.id": "sess_20250304_17",
        "input.value": QUESTION,
    }
    with tracer.start_as_current_span("RefundAgent", attributes=agent_attributes) as agent:
        with tracer.start_as_current_span("ChatCompletion", kind=SpanKind.CLIENT) as plan:
            plan.set_attributes(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-2024-08-06",
                    "llm.input_messages.0.message.role": "system",
                    "llm.input_messages.0.message.content": "You are a refund agent. Use the tools.",
                    "llm.input_messages.1.message.role": "user",
                    "llm.input_messages.1.message.content": QUESTION,
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.tool_calls.0.tool_call.id": CALL["id"],
                    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": CALL["name"],
                    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": CALL["arguments"],
                    "llm.token_count.prompt": 1432,
                    "llm.token_count.completion": 27,
                }
            )
            plan.set_status(Status(StatusCode.OK))
        try:
            tool_attributes = {
                "openinference.span.kind": "TOOL",
                "tool.name": CALL["name"],
                "input.value": CALL["arguments"],
            }
            with tracer.start_as_current_span(CALL["name"], attributes=tool_attributes):
                raise PaymentGatewayError(REFUND_ERROR)
        except PaymentGatewayError:
            pass
        with tracer.start_as_current_span("ChatCompletion", kind=SpanKind.CLIENT) as final:
            final.set_attributes(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-2024-08-06",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": QUESTION,
                    "llm.input_messages.1.message.role": "tool",
                    "llm.input_messages.1.message.tool_call_id": CALL["id"],
                    "llm.input_messages.1.message.content": f"PaymentGatewayError: {REFUND_ERROR}",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": ANSWER,
                }
            )
        agent.set_attribute("output.value", ANSWER)
    provider.shutdown()
    return memory.get_finished_spans()


@dataclass(frozen=True)
class Expected:
    """What an OpenTelemetry SDK (Python or JS) recorded for one span, read from the SDK itself."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status: str  # "ok" | "error" | "unset"
    status_message: str | None
    attributes: Mapping[str, Any]
    events: list[tuple[str, int, Mapping[str, Any]]]  # name, time (epoch ns), attributes


def expected_from_sdk(spans: Sequence[ReadableSpan]) -> list[Expected]:
    words = {StatusCode.ERROR: "error", StatusCode.OK: "ok", StatusCode.UNSET: "unset"}
    return [
        Expected(
            trace_id=f"{span.context.trace_id:032x}",
            span_id=f"{span.context.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
            name=span.name,
            start_ns=span.start_time,
            end_ns=span.end_time,
            status=words[span.status.status_code],
            status_message=span.status.description,
            attributes=dict(span.attributes),
            events=[(e.name, e.timestamp, dict(e.attributes)) for e in span.events],
        )
        for span in spans
    ]


def _micros_apart(stored: str | None, nanoseconds: int) -> int:
    assert stored is not None
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanoseconds // 1000)
    return abs((datetime.fromisoformat(stored) - moment) // timedelta(microseconds=1))


def assert_stored_as_recorded(store: Store, expected: Sequence[Expected], service: str, within_us: int = 0,
                              event_value: Callable[[Any], Any] = lambda value: value) -> None:
    """Every recorded span is stored with its ids, parent, name, times (to the microsecond, or
    `within_us` of it where the dump rounded them), status, kind, service, events, messages and tool call.
    `event_value` is what the format made of an event attribute's value (some keep only text)."""
    stored = {s.span_id: s for trace_id in {e.trace_id for e in expected} for s in store.spans(trace_id)}
    assert set(stored) == {e.span_id for e in expected}
    for e in expected:
        span = stored[e.span_id]
        assert (span.trace_id, span.parent_id, span.name) == (e.trace_id, e.parent_id, e.name)
        assert _micros_apart(span.start_time, e.start_ns) <= within_us
        assert _micros_apart(span.end_time, e.end_ns) <= within_us
        assert (span.status, span.status_message) == (e.status, e.status_message)
        assert span.kind == str(e.attributes["openinference.span.kind"]).lower()
        assert span.service == service
        assert [(ev["name"], ev["attributes"]) for ev in span.events] == [
            (name, {k: event_value(v) for k, v in a.items()}) for name, _, a in e.events
        ]
        for event, (_, time_ns, _) in zip(span.events, e.events, strict=True):
            assert _micros_apart(event["time"], time_ns) <= within_us
    by_kind: dict[str, list[Expected]] = {}
    for e in expected:
        by_kind.setdefault(str(e.attributes["openinference.span.kind"]), []).append(e)
    call = "llm.output_messages.0.message.tool_calls.0.tool_call."
    (agent,), (tool,) = by_kind["AGENT"], by_kind["TOOL"]
    (plan,) = [e for e in by_kind["LLM"] if call + "id" in e.attributes]  # the model step that calls the tool
    (final,) = [e for e in by_kind["LLM"] if e is not plan]
    assert stored[agent.span_id].agent == agent.attributes["agent.name"]
    assert stored[agent.span_id].session_id == agent.attributes["session.id"]
    a = plan.attributes
    assert stored[plan.span_id].model == a["llm.model_name"]
    assert (stored[plan.span_id].tokens_in, stored[plan.span_id].tokens_out) == (
        a["llm.token_count.prompt"],
        a["llm.token_count.completion"],
    )
    assert json.loads(stored[plan.span_id].input or "") == [
        {"role": a["llm.input_messages.0.message.role"], "content": a["llm.input_messages.0.message.content"]},
        {"role": a["llm.input_messages.1.message.role"], "content": a["llm.input_messages.1.message.content"]},
    ]
    assert json.loads(stored[plan.span_id].output or "") == [
        {
            "role": a["llm.output_messages.0.message.role"],
            "tool_calls": [
                {"id": a[call + "id"], "name": a[call + "function.name"], "arguments": a[call + "function.arguments"]}
            ],
        }
    ]
    t = tool.attributes
    assert (stored[tool.span_id].tool_name, stored[tool.span_id].tool_args) == (t["tool.name"], t["input.value"])
    f = final.attributes
    assert json.loads(stored[final.span_id].input or "")[1] == {
        "role": f["llm.input_messages.1.message.role"],
        "tool_call_id": f["llm.input_messages.1.message.tool_call_id"],
        "content": f["llm.input_messages.1.message.content"],
    }
    assert json.loads(stored[final.span_id].output or "") == [
        {"role": f["llm.output_messages.0.message.role"], "content": f["llm.output_messages.0.message.content"]}
    ]
