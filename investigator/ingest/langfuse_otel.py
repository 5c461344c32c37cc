"""What the Langfuse SDKs (v3 on, built on OpenTelemetry) export: OTLP spans of the `langfuse-sdk`
tracer, POSTed to `<host>/api/public/otel/v1/traces`, read back as Langfuse observations.

Each observation travels as span attributes that the Langfuse server later turns into the fields its
API shows: `langfuse.observation.type` (span, generation, agent, tool, chain, retriever, evaluator,
guardrail, embedding, event), `langfuse.observation.input` / `.output` (JSON text, or the text
itself), `.level`, `.status_message`, `.model.name`, `.model.parameters`, `.usage_details` and
`.cost_details` (JSON objects), `.completion_start_time` (a JSON string), `.prompt.name`,
`.prompt.version`, and `.metadata.<key>` (each value JSON-encoded); `langfuse.version`,
`langfuse.environment`, `langfuse.release` on every span; and the trace's facts on its spans:
`langfuse.trace.name`, `langfuse.trace.tags`, `langfuse.trace.metadata.<key>`, `user.id`,
`session.id`. A failure is an OTel status ERROR with an `exception` event (the server reads it as
level ERROR), or an explicit `.level` of ERROR.

The OTLP adapter reads the span itself (ids, times, status, events); `observation(row)` takes the row
it made and returns the observation as the Langfuse API would write it, so the Langfuse adapter's one
mapping of observations serves both. Spans of other tracers in the same export (an instrumented
provider SDK, an OTel GenAI framework) stay as the OTLP adapter read them.
"""

from __future__ import annotations

from typing import Any

import orjson

from investigator.errors import RecordError
from investigator.ingest.base import SpanRow
from investigator.timefmt import to_iso

SCOPE = "langfuse-sdk"
TYPE = "langfuse.observation.type"
_OBSERVATION = "langfuse.observation."
_OBSERVATION_METADATA = "langfuse.observation.metadata"
_TRACE_METADATA = "langfuse.trace.metadata"
_JSON_FIELDS = {
    "modelParameters": "langfuse.observation.model.parameters",
    "usageDetails": "langfuse.observation.usage_details",
    "costDetails": "langfuse.observation.cost_details",
}
_COMPLETION_START = "langfuse.observation.completion_start_time"
_TEXT_FIELDS = {
    "input": "langfuse.observation.input",
    "output": "langfuse.observation.output",
    "model": "langfuse.observation.model.name",
    "promptName": "langfuse.observation.prompt.name",
    "promptVersion": "langfuse.observation.prompt.version",
    "version": "langfuse.version",
    "environment": "langfuse.environment",
}


def sent_by_sdk(record: Any) -> bool:
    """Whether an OTLP export request holds spans of the Langfuse SDK's tracer."""
    if not isinstance(record, dict) or not isinstance(record.get("resourceSpans"), list):
        return False
    for resource_spans in record["resourceSpans"]:
        scopes = resource_spans.get("scopeSpans") if isinstance(resource_spans, dict) else None
        for scope_spans in scopes if isinstance(scopes, list) else []:
            scope = scope_spans.get("scope") if isinstance(scope_spans, dict) else None
            if isinstance(scope, dict) and str(scope.get("name") or "").startswith(SCOPE):
                return True
    return False


def _json(value: Any) -> Any:
    """An attribute the SDK wrote as JSON text, decoded; text that is not JSON stays as it is."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _prefixed(attrs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`prefix.<key>` attributes as {key: decoded value}; a bare `prefix` (metadata that was not an
    object) is kept under `metadata`, as the Langfuse API returns it."""
    out = {key.removeprefix(f"{prefix}."): _json(value) for key, value in attrs.items() if key.startswith(f"{prefix}.")}
    if prefix in attrs:
        whole = _json(attrs[prefix])
        out.update(whole if isinstance(whole, dict) else {"metadata": whole})
    return out


def observation(row: SpanRow) -> dict[str, Any] | None:
    """The Langfuse observation a Langfuse SDK span row stands for (API field names), or None when
    the span is not one (no `langfuse.observation.type`). Raises RecordError naming a bad attribute."""
    attrs = row["attributes"]
    kind = attrs.get(TYPE)
    if not isinstance(kind, str) or not kind:
        return None
    record: dict[str, Any] = {
        "id": row["span_id"],
        "traceId": row["trace_id"],
        "parentObservationId": row["parent_id"],
        "type": kind.upper(),
        "name": row["name"],
        "startTime": row["start_time"],
        "endTime": row["end_time"],
        "level": attrs.get("langfuse.observation.level") or ("ERROR" if row["status"] == "error" else None),
        "statusMessage": attrs.get("langfuse.observation.status_message") or row["status_message"],
        "metadata": _prefixed(attrs, _OBSERVATION_METADATA),
    }
    record.update({field: attrs[key] for field, key in _TEXT_FIELDS.items() if attrs.get(key) is not None})
    record.update({field: _json(attrs[key]) for field, key in _JSON_FIELDS.items() if attrs.get(key) is not None})
    if attrs.get(_COMPLETION_START) is not None:
        try:
            record["completionStartTime"] = to_iso(_json(attrs[_COMPLETION_START]))
        except ValueError as exc:
            raise RecordError(f"attribute '{_COMPLETION_START}': {exc}") from None
    return {field: value for field, value in record.items() if value is not None}


def trace_hints(attrs: dict[str, Any]) -> dict[str, Any]:
    """The trace-level slicing facts a Langfuse SDK span carries: tags, release, trace metadata."""
    hints: dict[str, Any] = {}
    tags = _json(attrs.get("langfuse.trace.tags"))
    if tags:
        hints["tags"] = [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]
    if attrs.get("langfuse.release"):
        hints["service_version"] = str(attrs["langfuse.release"])
    metadata = _prefixed(attrs, _TRACE_METADATA)
    if metadata:
        hints["metadata"] = metadata
    return hints


def other_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """The span's attributes that are not the observation's own fields (those become span fields)."""
    return {key: value for key, value in attrs.items() if not key.startswith(_OBSERVATION)}
