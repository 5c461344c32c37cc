"""OTLP protobuf, as the OpenTelemetry SDK's own encoder writes it, reads as the OTLP/JSON
adapter reads JSON: the same ids, kinds, statuses and attributes."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from investigator.errors import ProtobufError
from investigator.ingest import otlp
from investigator.ingest.otlp_proto import decode_request


def _sdk_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders-api"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.agent")
    with tracer.start_as_current_span("support_agent", attributes={"openinference.span.kind": "AGENT"}):
        with tracer.start_as_current_span("lookup_order") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "lookup_order")
            tool.set_attribute("input.value", '{"order_id": "A-1"}')
            tool.set_status(Status(StatusCode.ERROR, "HTTP 503 Service Unavailable"))
    return exporter.get_finished_spans()


def test_an_sdk_encoded_request_reads_as_its_spans() -> None:
    spans = _sdk_spans()
    rows = {r["name"]: r for r in otlp.parse(decode_request(encode_spans(spans).SerializeToString()))}
    by_name = {s.name: s for s in spans}
    tool, agent = by_name["lookup_order"], by_name["support_agent"]
    assert rows["lookup_order"]["trace_id"] == f"{tool.context.trace_id:032x}"
    assert rows["lookup_order"]["span_id"] == f"{tool.context.span_id:016x}"
    assert rows["lookup_order"]["parent_id"] == f"{agent.context.span_id:016x}"
    assert (rows["lookup_order"]["kind"], rows["lookup_order"]["tool_name"]) == ("tool", "lookup_order")
    assert (rows["lookup_order"]["status"], rows["lookup_order"]["status_message"]) == (
        "error",
        "HTTP 503 Service Unavailable",
    )
    assert rows["support_agent"]["kind"] == "agent" and rows["support_agent"]["service"] == "orders-api"


def test_bytes_that_are_not_a_request_are_refused() -> None:
    with pytest.raises(ProtobufError, match="not an OTLP ExportTraceServiceRequest"):
        decode_request(b"\x0a\xff\xff\xff\xff\xff")
