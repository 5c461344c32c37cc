"""OpenTelemetry JS spans as the real JS SDK writes them, for `@opentelemetry/sdk-trace-base` 1.x and 2.x:
what its ConsoleSpanExporter prints (Node.js `util.inspect` text, after a line of the app's own log),
the InMemorySpanExporter's finished spans through `JSON.stringify`, and the spans through the
ReadableSpan interface (`spanContext()`, `parentSpanContext` / `parentSpanId`, HrTime times).

Once per module `otel_js_app/record.cjs` runs one refund-agent run with each SDK major version (the
same run as `otel_sdk_run`'s). Expected values are what the SDK recorded, read from the ReadableSpan
interface's output. Needs node and the app's npm packages (`npm ci --prefix tests/otel_js_app`);
skipped without them."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from otel_sdk_run import Expected, assert_stored_as_recorded, expected_from_sdk, record_run

from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store

APP = Path(__file__).parent / "otel_js_app"
SERVICE = "refund-agent-js"
MAJORS = ("1", "2")
SYSTEM_PROMPT = "llm.input_messages.0.message.content"  # of the first model step, longer than console.dir prints
PRINTED_CHARACTERS = 10_000


@dataclass(frozen=True)
class Output:
    console: Path  # the process's stdout: the app's log line, then ConsoleSpanExporter's spans
    spans: Path  # JSON.stringify of the InMemorySpanExporter's finished spans
    readable: Path  # JSON.stringify of each span through the ReadableSpan interface


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Output]:
    node = shutil.which("node")
    if node is None or not (APP / "node_modules" / "@opentelemetry" / "sdk-trace-base").is_dir():
        pytest.skip("needs node and the OpenTelemetry JS SDK: npm ci --prefix tests/otel_js_app")
    out = {}
    for major in MAJORS:
        folder = tmp_path_factory.mktemp(f"otel-js-{major}")
        done = subprocess.run(
            [node, str(APP / "record.cjs"), major, str(folder)], capture_output=True, check=True, timeout=60
        )
        (folder / "console.log").write_bytes(done.stdout)
        out[major] = Output(folder / "console.log", folder / "spans.json", folder / "readable.json")
    return out


def _hr(time: list[int]) -> int:
    return time[0] * 1_000_000_000 + time[1]


def _printed(value: Any) -> Any:
    """A value as console.dir prints it: a string past util.inspect's `maxStringLength` (10,000) is cut
    and followed by how many characters were left out."""
    if isinstance(value, str) and len(value) > PRINTED_CHARACTERS:
        return f"{value[:PRINTED_CHARACTERS]}... {len(value) - PRINTED_CHARACTERS} more characters"
    return value


def _expected(readable: Path, printed: bool = False) -> list[Expected]:
    """What the SDK recorded, as the ReadableSpan interface gave it (as console.dir prints it, if `printed`)."""
    words = {0: "unset", 1: "ok", 2: "error"}
    spans: list[dict[str, Any]] = json.loads(readable.read_text())
    shown = _printed if printed else (lambda value: value)
    return [
        Expected(
            trace_id=s["spanContext"]["traceId"],
            span_id=s["spanContext"]["spanId"],
            parent_id=(s.get("parentSpanContext") or {}).get("spanId") or s.get("parentSpanId"),
            name=s["name"],
            start_ns=_hr(s["startTime"]),
            end_ns=_hr(s["endTime"]),
            status=words[s["status"]["code"]],
            status_message=s["status"].get("message"),
            attributes={key: shown(value) for key, value in s["attributes"].items()},
            events=[(e["name"], _hr(e["time"]), e["attributes"]) for e in s["events"]],
        )
        for s in spans
    ]


def _system_prompt(store: Store, expected: list[Expected]) -> tuple[str, str]:
    """The long system prompt: as recorded, and as stored."""
    (plan,) = [e for e in expected if e.attributes.get("llm.input_messages.0.message.role") == "system"]
    stored = store.get_span(plan.trace_id, plan.span_id)
    assert stored is not None and stored.input is not None
    return str(plan.attributes[SYSTEM_PROMPT]), json.loads(stored.input)[0]["content"]


@pytest.mark.parametrize("major", MAJORS)
def test_console_exporter_output_is_read_as_the_spans_the_sdk_recorded(
    outputs: dict[str, Output], store: Store, major: str
) -> None:
    output = outputs[major]
    report = ingest_paths(store, [str(output.console)])
    expected = _expected(output.readable, printed=True)
    assert (report.ingested, report.quarantined) == (len(expected), 1)
    assert report.files == {str(output.console): "otel-js"}
    (log_line,) = store.quarantined()
    assert (log_line.line, log_line.raw) == (1, "refund agent ready on port 8080")
    # The exporter prints times in microseconds, rounded: a microsecond off the SDK's nanoseconds at most.
    assert_stored_as_recorded(store, expected, SERVICE, within_us=1)
    # console.dir printed 10,000 characters of the long prompt and how many it left out: that is stored, no more.
    recorded, stored = _system_prompt(store, _expected(output.readable))
    assert stored == f"{recorded[:PRINTED_CHARACTERS]}... {len(recorded) - PRINTED_CHARACTERS} more characters"


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("shape", ["spans", "readable"])
def test_finished_spans_written_with_json_stringify_read_as_the_sdk_recorded(
    outputs: dict[str, Output], store: Store, major: str, shape: str
) -> None:
    output = outputs[major]
    path = output.spans if shape == "spans" else output.readable
    report = ingest_paths(store, [str(path)])
    expected = _expected(output.readable)
    assert (report.ingested, report.quarantined) == (len(expected), 0)
    assert report.files == {str(path): "otel-js"}
    assert_stored_as_recorded(store, expected, SERVICE)
    recorded, stored = _system_prompt(store, expected)
    assert stored == recorded


def test_one_log_of_python_and_js_console_output_reads_every_span_by_its_own_shape(
    outputs: dict[str, Output], store: Store, tmp_path: Path
) -> None:
    printed = io.StringIO()
    python_spans = record_run(ConsoleSpanExporter(out=printed))
    path = tmp_path / "both.log"
    path.write_text(printed.getvalue() + outputs["2"].console.read_text())
    report = ingest_paths(store, [str(path)])
    js_expected = _expected(outputs["2"].readable, printed=True)
    assert (report.ingested, report.quarantined) == (len(python_spans) + len(js_expected), 1)
    assert_stored_as_recorded(store, expected_from_sdk(python_spans), "refund-agent", within_us=1)
    assert_stored_as_recorded(store, js_expected, SERVICE, within_us=1)
    python_trace, js_trace = f"{python_spans[0].context.trace_id:032x}", js_expected[0].trace_id
    assert {s.source_format for s in store.spans(python_trace)} == {"spans-jsonl"}
    assert {s.source_format for s in store.spans(js_trace)} == {"otel-js"}
