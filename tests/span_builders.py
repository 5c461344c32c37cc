"""Span builders shared by the detector tests: realistic spans in the normalised conventions."""

from __future__ import annotations

import json

from investigator.detectors.view import TraceView
from investigator.models import Span, Trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT = "00f067aa0ba902b7"


def at(seconds: float) -> str:
    return f"2025-03-14T09:26:{seconds:09.6f}Z"


def span(span_id: str, kind: str, name: str, start: float, end: float, parent: str | None = ROOT, **fields) -> Span:
    return Span(
        trace_id=TRACE,
        span_id=span_id,
        parent_id=parent,
        name=name,
        kind=kind,
        start_time=at(start),
        end_time=at(end),
        status=fields.pop("status", "ok"),
        source_format="otlp-json",
        **fields,
    )


def llm(span_id: str, start: float, end: float, messages_in: list, messages_out: list, **fields) -> Span:
    return span(
        span_id,
        "llm",
        "ChatOpenAI",
        start,
        end,
        input=json.dumps(messages_in),
        output=json.dumps(messages_out),
        model="gpt-4o-2024-08-06",
        **fields,
    )


def tool(span_id: str, start: float, end: float, name: str, args: str, output: str | None, **fields) -> Span:
    return span(span_id, "tool", name, start, end, tool_name=name, tool_args=args, input=args, output=output, **fields)


def call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "name": name, "arguments": arguments}


def view(*spans: Span, population=None) -> TraceView:
    root = span(ROOT, "agent", "support_agent", 0.0, 59.0, parent=None, agent="support_agent")
    return TraceView(Trace(trace_id=TRACE), [root, *spans], population)
