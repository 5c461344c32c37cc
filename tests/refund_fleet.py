"""Many refund-agent runs recorded by the real OpenTelemetry Python SDK, with OpenInference
attributes: the tests that compare a query source with files need a population, not one run.

Each run: an AGENT span, an LLM span calling `issue_refund`, the TOOL span of that call, and a final
LLM span answering. A run given a failure has its tool raise (the SDK records the exception event
and the error status), and the final answer apologises with the tool's error in its input; the
others return a refund id. Every span goes to the exporters given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

RESOURCE = {"service.name": "refund-agent", "service.version": "3.1.0"}
FAILURES = {  # raised by the tool: error status and an exception event
    "gateway": "402 Payment Required: refund window closed for charge {charge}",
    "timeout": "504 Gateway Timeout: payments service did not answer within 30s",
}
SOFT = "soft"  # the tool returns an error object, its span not marked failed
LOGGED = "logged"  # the tool records an exception it caught, its span not marked failed


class PaymentGatewayError(Exception):
    pass


def record_fleet(outcomes: Sequence[str | None], *exporters: SpanExporter,
                 resource: dict[str, str] | None = None) -> tuple[ReadableSpan, ...]:
    """One run per outcome (None: the refund succeeds; else SOFT, LOGGED or a key of FAILURES);
    returns every span. `resource` adds to the service's resource attributes."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({**RESOURCE, **(resource or {})}))
    for exporter in (memory, *exporters):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("refund.agent", "1.4.0")
    for number, failure in enumerate(outcomes):
        _run(tracer, number, failure)
    provider.shutdown()
    return memory.get_finished_spans()


def _run(tracer: object, number: int, failure: str | None) -> None:
    order, charge = f"A-{10000 + number}", f"ch_{number:04d}Xk"
    question = f"I was charged twice for order {order}, please refund one charge."
    call_id = f"call_{number:04d}"
    arguments = json.dumps({"charge_id": charge, "amount": 20.0 + number})
    with tracer.start_as_current_span("RefundAgent", attributes={  # type: ignore[attr-defined]
        "openinference.span.kind": "AGENT", "agent.name": "RefundAgent", "input.value": question,
        "session.id": f"sess_{number:04d}",
    }) as agent:
        with tracer.start_as_current_span("ChatCompletion", kind=SpanKind.CLIENT, attributes={  # type: ignore[attr-defined]
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-2024-08-06",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "You are a refund agent. Use the tools.",
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": question,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": call_id,
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "issue_refund",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": arguments,
            "llm.token_count.prompt": 1400 + number, "llm.token_count.completion": 27,
        }) as plan:
            plan.set_status(Status(StatusCode.OK))
        result: str
        try:
            with tracer.start_as_current_span("issue_refund", attributes={  # type: ignore[attr-defined]
                "openinference.span.kind": "TOOL", "tool.name": "issue_refund", "input.value": arguments,
            }) as tool:
                if failure in FAILURES:
                    raise PaymentGatewayError(FAILURES[failure].format(charge=charge))
                if failure == LOGGED:
                    tool.record_exception(PaymentGatewayError(f"retrying: charge {charge} locked"))
                result = json.dumps({"refund_id": f"re_{number:04d}", "status": "succeeded"})
                if failure == SOFT:
                    result = json.dumps({"error": f"charge {charge} not found", "code": "not_found"})
                tool.set_attribute("output.value", result)
        except PaymentGatewayError as exc:
            result = f"PaymentGatewayError: {exc}"
        answer = ("Sorry, I could not refund the charge: the payment service refused it."
                  if failure and failure != LOGGED else f"Done: one charge for order {order} is refunded.")
        with tracer.start_as_current_span("ChatCompletion", kind=SpanKind.CLIENT, attributes={  # type: ignore[attr-defined]
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-2024-08-06",
            "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": question,
            "llm.input_messages.1.message.role": "tool",
            "llm.input_messages.1.message.tool_call_id": call_id,
            "llm.input_messages.1.message.content": result,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": answer,
            "llm.token_count.prompt": 1600 + number, "llm.token_count.completion": 18,
        }):
            pass
        agent.set_attribute("output.value", answer)
