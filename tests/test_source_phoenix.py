"""Phoenix as a source, on a real Phoenix server (`phoenix serve`) fed by the real OpenTelemetry SDK
over OTLP/HTTP: a project's spans of a window, page by page, stored as the SDK recorded them, and a
run over the project finding what a run over the same spans from files finds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from phoenix_server import INSTALL, phoenix_bin, phoenix_server, wait_for_spans

if phoenix_bin() is None:
    pytest.skip(f"Phoenix is not installed; the test command installs it: {INSTALL}", allow_module_level=True)

from opentelemetry.exporter.otlp.json.file import FileSpanExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan  # noqa: E402
from otel_sdk_run import assert_stored_as_recorded, expected_from_sdk, record_run  # noqa: E402
from refund_fleet import LOGGED, SOFT, record_fleet  # noqa: E402

from investigator.errors import InputError  # noqa: E402
from investigator.sources import ingest_sources, phoenix  # noqa: E402
from investigator.store import Store  # noqa: E402

OUTCOMES = ["gateway"] * 4 + ["timeout"] * 2 + [SOFT] * 2 + [LOGGED] * 2 + [None] * 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with phoenix_server(tmp_path_factory.mktemp("phoenix")) as base:
        yield base


def _exporter(base: str) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"{base}/v1/traces")


def _source(base: str, project: str) -> str:
    return f"phoenix://{base.removeprefix('http://')}/{project}"


def _fleet_in_phoenix_and_a_file(server: str, project: str, where: Path) -> tuple[tuple[ReadableSpan, ...], Path]:
    """The fleet's runs, sent to the project and written by the SDK's OTLP/JSON file exporter."""
    written = io.StringIO()
    spans = record_fleet(OUTCOMES, _exporter(server), FileSpanExporter(stream=written),
                         resource={"openinference.project.name": project})
    wait_for_spans(server, project, len(spans))
    path = where / "traces.jsonl"
    path.write_text(written.getvalue())
    return spans, path


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_spans_phoenix_serves_are_stored_as_the_sdk_recorded(server: str, tmp_path: Path) -> None:
    spans = record_run(_exporter(server), resource={"openinference.project.name": "refunds"})
    wait_for_spans(server, "refunds", len(spans))
    store = Store(tmp_path / "s.db")
    report = ingest_sources(store, [_source(server, "refunds")])
    assert (report.ingested, report.quarantined) == (len(spans), 0)
    assert report.pushdown == {"pages": 1, "transferred_spans": len(spans)}
    # Phoenix's span API carries no resource attributes: the service is not known from it.
    assert_stored_as_recorded(store, expected_from_sdk(spans), service=None, within_us=1)  # type: ignore[arg-type]


def test_a_project_is_read_page_by_page_and_only_for_the_window(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = record_fleet(["gateway", None, None], _exporter(server), resource={"openinference.project.name": "paged"})
    wait_for_spans(server, "paged", len(spans))
    monkeypatch.setattr(phoenix, "PAGE_SPANS", 5)
    store = Store(tmp_path / "s.db")
    now = datetime.now(UTC)
    report = ingest_sources(store, [_source(server, "paged")], since=_iso(now - timedelta(hours=1)),
                            until=_iso(now + timedelta(minutes=5)))
    assert report.ingested == len(spans) == 12
    assert report.pushdown["pages"] == 3  # 5 + 5 + 2
    later = ingest_sources(Store(tmp_path / "later.db"), [_source(server, "paged")],
                           since=_iso(now + timedelta(minutes=5)))
    assert later.ingested == 0 and later.pushdown["transferred_spans"] == 0


def test_a_run_over_the_project_finds_what_a_run_over_the_same_spans_from_files_finds(
    server: str, tmp_path: Path
) -> None:
    from investigator.runner import RunSettings, execute_run

    spans, path = _fleet_in_phoenix_and_a_file(server, "fleet", tmp_path)
    now = datetime.now(UTC)
    window = {"since": _iso(now - timedelta(hours=1)), "until": _iso(now + timedelta(minutes=5))}
    from_files = execute_run(Store(tmp_path / "files.db"), RunSettings(paths=[str(path)], **window))
    from_phoenix = execute_run(Store(tmp_path / "phoenix.db"), RunSettings(paths=[_source(server, "fleet")], **window))
    assert from_files.findings

    def seen(findings: list) -> list:
        return [(f.id, f.category, f.severity, f.title, sorted(f.trace_ids), f.impact.trace_count,
                 [(e.trace_id, e.span_id, e.quote) for e in f.evidence]) for f in findings]

    assert seen(from_phoenix.findings) == seen(from_files.findings)


def test_a_project_phoenix_does_not_have_is_an_error_naming_it(server: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Phoenix answered 404"):
        ingest_sources(Store(tmp_path / "s.db"), [_source(server, "no-such-project")])
    with pytest.raises(InputError, match="name one project"):
        phoenix.parse_source("phoenix://localhost:6006/")


def test_a_scheduled_run_over_the_project_finds_what_one_over_the_same_spans_in_files_finds(
    server: str, tmp_path: Path
) -> None:
    from investigator.schedule import add_schedule, run_due

    spans, path = _fleet_in_phoenix_and_a_file(server, "scheduled", tmp_path)
    first = datetime.fromtimestamp(min(s.start_time for s in spans) // 10**9, UTC)
    start = first.replace(minute=0, second=0, microsecond=0)
    found = {}
    for name, source in (("files", str(path)), ("phoenix", _source(server, "scheduled"))):
        store = Store(tmp_path / f"{name}.db")
        add_schedule(store, name, "hourly", source, {}, start=_iso(start))
        done = run_due(store, now=start + timedelta(hours=2, minutes=5))
        runs = [run_id for run_id, _, _ in store.runs_in_order()]
        findings = [(f.id, f.category, f.title, sorted(f.trace_ids),
                     [(e.trace_id, e.span_id, e.quote) for e in f.evidence])
                    for run_id in runs for f in store.findings_of(run_id)]
        found[name] = [(w.start, w.end, w.traces, w.findings) for w in done], findings
        assert run_due(store, now=start + timedelta(hours=2, minutes=5)) == []  # the watermark moved: nothing twice
    assert found["phoenix"][1] and found["phoenix"] == found["files"]
