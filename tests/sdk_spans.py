"""Spans as the real OpenTelemetry SDK records them, and the check that the store holds them as
recorded: the clients and the oracle of the OTLP receiver's tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

from investigator.store import Store

_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}


def _recording_tracer(name: str) -> tuple[Tracer, InMemorySpanExporter]:
    """A tracer of the `orders-api` service whose finished spans the exporter keeps."""
    recorded = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders-api"}))
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    return provider.get_tracer(name), recorded


def agent_run(order: str = "A-1", *, extra: str | None = None, unreadable: bool = False) -> Sequence[ReadableSpan]:
    """One agent run as the SDK records it: an agent span over a model call and a failed tool call;
    `extra` adds a span of that name, `unreadable` a span started at time 0 (which cannot be stored)."""
    tracer, recorded = _recording_tracer("shop.agent")
    agent = {"openinference.span.kind": "AGENT", "shop.order_id": order}
    with tracer.start_as_current_span("support_agent", attributes=agent):
        llm = {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 120,
            "llm.token_count.completion": 7,
        }
        with tracer.start_as_current_span("ChatOpenAI", attributes=llm):
            pass
        with tracer.start_as_current_span("lookup_order") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "lookup_order")
            tool.set_status(Status(StatusCode.ERROR, "HTTP 503 Service Unavailable"))
        if extra:
            tracer.start_span(extra, attributes={"payload": extra}).end()
        if unreadable:
            tracer.start_span("cache_lookup", start_time=0).end()
    return recorded.get_finished_spans()


def span_ids(span: ReadableSpan) -> tuple[str, str]:
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def _iso(nanos: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def assert_stored_as_recorded(db: str, recorded: Sequence[ReadableSpan]) -> None:
    """Each span of an `agent_run` is in the store at `db` with the ids, parent, times, status and
    attributes (mapped onto kind, model, tokens, tool) that the SDK recorded."""
    with Store(db) as store:
        stored = {span.name: store.get_span(*span_ids(span)) for span in recorded}
    for span in recorded:
        row = stored[span.name]
        assert row is not None, f"span {span.name} is not in the store"
        parent = f"{span.parent.span_id:016x}" if span.parent else None
        assert (row.parent_id, row.service, row.source_format) == (parent, "orders-api", "otlp-json")
        assert (row.status, row.status_message) == (_STATUS[span.status.status_code], span.status.description)
        assert (row.start_time, row.end_time) == (_iso(span.start_time), _iso(span.end_time))
    by_name = {span.name: span for span in recorded}
    agent, llm, tool = stored["support_agent"], stored["ChatOpenAI"], stored["lookup_order"]
    assert (
        agent.kind == "agent"
        and agent.attributes["shop.order_id"] == by_name["support_agent"].attributes["shop.order_id"]
    )
    llm_attributes = by_name["ChatOpenAI"].attributes
    assert (llm.kind, llm.model, llm.tokens_in, llm.tokens_out) == (
        "llm",
        llm_attributes["llm.model_name"],
        llm_attributes["llm.token_count.prompt"],
        llm_attributes["llm.token_count.completion"],
    )
    assert (tool.kind, tool.tool_name) == ("tool", by_name["lookup_order"].attributes["tool.name"])


def many_spans(count: int) -> Sequence[ReadableSpan]:
    """`count` root spans, each its own trace: a busy app's batch of exports."""
    tracer, recorded = _recording_tracer("shop.batch")
    for number in range(count):
        tracer.start_span(f"step-{number}").end()
    return recorded.get_finished_spans()
