"""OpenTelemetry Python span dumps, as the SDK writes them: what its ConsoleSpanExporter prints (each
span's `ReadableSpan.to_json()`, pretty-printed objects one after another), and those dumps saved as
a list or under `spans`. The SDK records one refund-agent run once per module (`otel_sdk_run`); the
store is checked against the spans the SDK recorded."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from otel_sdk_run import RESOURCE, assert_stored_as_recorded, expected_from_sdk, record_run

from investigator.ingest import reader
from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store

SERVICE = RESOURCE["service.name"]


@dataclass(frozen=True)
class Run:
    spans: tuple[ReadableSpan, ...]
    console: str  # what ConsoleSpanExporter printed, span after span


@pytest.fixture(scope="module")
def run() -> Run:
    printed = io.StringIO()
    spans = record_run(ConsoleSpanExporter(out=printed))
    return Run(spans, printed.getvalue())


def _starts(text: str) -> list[int]:
    """The line each printed span object starts on (ConsoleSpanExporter opens each at column 0)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line == "{"]


def test_console_exporter_output_is_read_span_by_span_as_the_sdk_recorded(
    run: Run, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "console.log"
    path.write_text(run.console)
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(run.spans), 0)
    assert set(report.files.values()) == {"spans-jsonl"}
    # to_json writes times through a float of seconds: they may be a microsecond off the SDK's nanoseconds.
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE, within_us=1)
    trace = store.get_trace(f"{run.spans[0].context.trace_id:032x}")
    assert trace is not None and trace.error_count == 1
    root = next(s for s in store.spans(trace.trace_id) if s.parent_id is None)
    assert root.hints["service_version"] == RESOURCE["service.version"]
    assert root.hints["environment"] == RESOURCE["deployment.environment.name"]


@pytest.mark.parametrize("shape", ["list", "spans page"])
def test_to_json_dumps_saved_as_a_list_or_a_spans_page_read_the_same(
    run: Run, store: Store, tmp_path: Path, shape: str
) -> None:
    dumps = [json.loads(span.to_json()) for span in run.spans]
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(dumps if shape == "list" else {"spans": dumps}, indent=2))
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(run.spans), 0)
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE, within_us=1)


def test_damaged_objects_in_a_console_dump_are_quarantined_at_their_lines(
    run: Run, store: Store, tmp_path: Path
) -> None:
    objects = [span.to_json() + "\n" for span in run.spans]
    bad_time = json.loads(objects[1])
    bad_time["start_time"] = "yesterday"
    objects[1] = json.dumps(bad_time, indent=4) + "\n"
    objects[2] = objects[2].replace('"name": ', '"name" ', 1)  # no longer JSON
    text = "INFO refund agent started\n\n" + "".join(objects)
    path = tmp_path / "console.log"
    path.write_text(text)

    report = ingest_paths(store, [str(path)])

    starts = _starts(text)
    assert (report.ingested, report.quarantined) == (len(run.spans) - 2, 3)
    bad = {q.line: q for q in store.quarantined()}
    assert set(bad) == {1, starts[1], starts[2]}
    assert bad[1].raw == "INFO refund agent started"
    assert "'start_time'" in bad[starts[1]].reason and "yesterday" in bad[starts[1]].reason
    assert bad[starts[2]].reason.startswith("invalid JSON: Expecting ':' delimiter")
    assert bad[starts[2]].raw == objects[2].rstrip("\n")
    kept = {s.span_id for s in store.spans(f"{run.spans[0].context.trace_id:032x}")}
    assert kept == {f"{s.context.span_id:016x}" for s in (run.spans[0], run.spans[3])}


def test_a_console_dump_too_large_to_load_is_streamed_value_by_value(
    run: Run, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "WHOLE_DOCUMENT_LIMIT", 10)
    path = tmp_path / "console.log"
    path.write_text(run.console)
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(run.spans), 0)
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE, within_us=1)


def test_version_hints_on_span_attributes_beside_message_keys_are_read(store: Store, tmp_path: Path) -> None:
    """Hints are read from the attributes left once the message keys are folded: a span the SDK
    recorded with both keeps its versions as hints and its messages as input, none as attributes."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    printed = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=printed)))
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Where is order A-10023?",
        "agent.version": "2.4.1",
        "metadata.prompt_version": "refund-v7",
    }
    with provider.get_tracer("refund.agent").start_as_current_span("ChatCompletion", attributes=attributes):
        pass
    path = tmp_path / "console.log"
    path.write_text(printed.getvalue())
    assert ingest_paths(store, [str(path)]).ingested == 1
    (trace_id,) = {line["context"]["trace_id"].removeprefix("0x") for line in [json.loads(printed.getvalue())]}
    (span,) = store.spans(trace_id)
    assert span.hints["agent_version"] == "2.4.1"
    assert span.hints["prompt_version"] == "refund-v7"
    assert json.loads(span.input) == [{"role": "user", "content": "Where is order A-10023?"}]
    assert not any(key.startswith("llm.input_messages") for key in span.attributes)
