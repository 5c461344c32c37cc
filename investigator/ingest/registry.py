"""Ingest adapters, one module per export format, registered by the name `--format` takes.

Order matters for auto-detection: the most specific shapes are sniffed first, the generic
flattened-span shape last.
"""

from __future__ import annotations

from investigator.ingest import (
    clickhouse_otel,
    langfuse,
    langsmith,
    openai_agents,
    otel_js,
    otlp,
    span_tree,
    spans_jsonl,
)
from investigator.ingest.base import Adapter

FORMATS: dict[str, Adapter] = {
    module.NAME: module  # type: ignore[misc]
    for module in (openai_agents, langsmith, langfuse, otlp, clickhouse_otel, span_tree, otel_js, spans_jsonl)
}


def adapter_for(name: str) -> Adapter:
    from investigator.errors import InputError

    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown format {name!r}: choose auto or one of {', '.join(FORMATS)}") from None
