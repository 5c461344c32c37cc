"""ClickHouse as a source, on the real engine: the OpenTelemetry Collector exporter's `otel_traces`
table, created from the exporter's own DDL in chdb (the embedded ClickHouse engine), holding rows
the way the exporter writes them from the real OpenTelemetry SDK's spans (`clickhouse_exporter`).

The engine is asked for the window only, picks the suspect traces and a seeded sample of the rest,
and sends only those; what comes over is stored as the SDK recorded it, and a run over the table
finds what a run over the same spans from files finds."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

chdb = pytest.importorskip("chdb", reason="chdb (the embedded ClickHouse engine) is not installed")

from chdb import session as chdb_session  # noqa: E402
from clickhouse_exporter import as_string, create_table, insert, row  # noqa: E402
from opentelemetry.exporter.otlp.json.file import FileSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan  # noqa: E402
from otel_sdk_run import RESOURCE, assert_stored_as_recorded, expected_from_sdk, record_run  # noqa: E402
from refund_fleet import LOGGED, SOFT, record_fleet  # noqa: E402

from investigator.errors import InputError  # noqa: E402
from investigator.ingest.pipeline import ingest_paths  # noqa: E402
from investigator.sources import ingest_sources  # noqa: E402
from investigator.sources.clickhouse import REPEATS, parse_source, pull  # noqa: E402
from investigator.store import Store  # noqa: E402

# 40 runs: 6 raise in the tool (two kinds), 2 return an error object, 2 log a caught exception, 30 succeed.
OUTCOMES = (["gateway"] * 4 + ["timeout"] * 2 + [SOFT] * 2 + [LOGGED] * 2 + [None] * 30)


def _table(path: Path, spans: Sequence[ReadableSpan], shift: timedelta = timedelta(0)) -> None:
    """Create the exporter's table in a chdb data directory and insert the spans' rows."""
    session = chdb_session.Session(str(path))
    try:
        create_table(session)
        insert(session, spans, shift=shift)
    finally:
        session.close()  # chdb holds one session per process


def _trace_ids(spans: Sequence[ReadableSpan]) -> set[str]:
    return {f"{s.context.trace_id:032x}" for s in spans}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, tuple[ReadableSpan, ...]]]:
    """The fleet's spans in a chdb table and, written by the SDK's OTLP/JSON file exporter, in a file."""
    where = tmp_path_factory.mktemp("fleet")
    written = io.StringIO()
    spans = record_fleet(OUTCOMES, FileSpanExporter(stream=written))
    (where / "traces.jsonl").write_text(written.getvalue())
    _table(where / "chdb", spans)
    yield str(where / "chdb"), where / "traces.jsonl", spans


def _failing(spans: Sequence[ReadableSpan]) -> set[str]:
    """Traces whose tool span raised, returned an error object or logged an exception."""
    out = set()
    for span in spans:
        output = str(span.attributes.get("output.value", ""))
        if span.status.status_code.name == "ERROR" or span.events or output.startswith('{"error"'):
            out.add(f"{span.context.trace_id:032x}")
    return out


def test_rows_the_exporter_wrote_are_stored_as_the_sdk_recorded(tmp_path: Path) -> None:
    spans = record_run()
    _table(tmp_path / "chdb", spans)
    store = Store(tmp_path / "s.db")
    report = pull(store, parse_source(f"chdb://{tmp_path / 'chdb'}?table=otel_traces&sample=1"))
    assert (report.ingested, report.quarantined) == (len(spans), 0)
    # The exporter keeps every attribute value as text: event attributes come back as it wrote them.
    assert_stored_as_recorded(store, expected_from_sdk(spans), RESOURCE["service.name"], event_value=as_string)
    assert {s.source_format for s in store.spans(f"{spans[0].context.trace_id:032x}")} == {"clickhouse-otel"}


@pytest.mark.parametrize("quoted", [0, 1])
def test_a_json_dump_of_the_table_is_read_as_the_exporter_rows_it_holds(tmp_path: Path, quoted: int) -> None:
    """`SELECT * … FORMAT JSONEachRow`, with 64-bit numbers quoted (older servers' default) or not."""
    spans = record_run()
    _table(tmp_path / "chdb", spans)
    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        dump = session.query("SELECT * FROM otel_traces SETTINGS output_format_json_quote_64bit_integers ="
                             f" {quoted} FORMAT JSONEachRow").bytes()
    finally:
        session.close()
    assert (b'"Duration":"' in dump) == bool(quoted)
    path = tmp_path / "otel_traces.jsonl"
    path.write_bytes(dump)
    store = Store(tmp_path / "s.db")
    report = ingest_paths(store, [str(path)])
    assert report.files == {str(path.resolve()): "clickhouse-otel"}
    assert_stored_as_recorded(store, expected_from_sdk(spans), RESOURCE["service.name"], event_value=as_string)


def test_only_the_suspects_and_the_seeded_sample_come_over(
    fleet: tuple[str, Path, tuple[ReadableSpan, ...]], tmp_path: Path
) -> None:
    table, _, spans = fleet
    store = Store(tmp_path / "s.db")
    report = pull(store, parse_source(f"chdb://{table}?table=otel_traces&sample=0.2&seed=5"))
    failing = _failing(spans)
    assert len(failing) == 10  # each kind of failure is one: error status, exception event, error object
    p = report.pushdown
    assert (p["scanned_spans"], p["scanned_traces"]) == (len(spans), len(OUTCOMES))
    assert p["suspect_traces"] == len(failing)
    assert 0 < p["sampled_traces"] < len(OUTCOMES) - len(failing)
    stored = set(store.trace_ids())
    assert failing <= stored
    assert len(stored) == p["suspect_traces"] + p["sampled_traces"]
    assert p["transferred_spans"] == report.ingested == 4 * len(stored) < len(spans)
    again = pull(Store(tmp_path / "again.db"), parse_source(f"chdb://{table}?table=otel_traces&sample=0.2&seed=5"))
    assert again.pushdown == p  # the sample is seeded: the same traces every time
    other = pull(Store(tmp_path / "other.db"), parse_source(f"chdb://{table}?table=otel_traces&sample=0.2&seed=6"))
    assert other.pushdown["suspect_traces"] == p["suspect_traces"]


def test_a_call_repeated_in_a_trace_makes_it_a_suspect(tmp_path: Path) -> None:
    spans = record_fleet([None, None])
    loop_trace = f"{spans[0].context.trace_id:032x}"
    tool = next(s for s in spans if s.name == "issue_refund" and f"{s.context.trace_id:032x}" == loop_trace)
    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        create_table(session)
        insert(session, spans)
        repeats = [dict(row(tool), SpanId=f"{n:016x}") for n in range(1, REPEATS)]
        session.query("INSERT INTO otel_traces FORMAT JSONEachRow\n" + "\n".join(map(json.dumps, repeats)))
    finally:
        session.close()
    report = pull(Store(tmp_path / "s.db"), parse_source(f"chdb://{tmp_path / 'chdb'}?table=otel_traces&sample=0"))
    assert report.pushdown["suspect_traces"] == 1
    assert report.pushdown["transferred_spans"] == 4 + REPEATS - 1


def test_the_window_is_pushed_down(tmp_path: Path) -> None:
    recent = record_fleet(["gateway", None])
    older = record_fleet(["gateway", None])
    _table(tmp_path / "chdb", recent)
    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        insert(session, older, shift=timedelta(hours=-3))
    finally:
        session.close()
    now = datetime.now(UTC)
    store = Store(tmp_path / "s.db")
    source = f"chdb://{tmp_path / 'chdb'}?table=otel_traces&sample=1"
    report = ingest_sources(store, [source], since=_iso(now - timedelta(hours=1)), until=_iso(now + timedelta(hours=1)))
    assert report.pushdown["scanned_traces"] == 2
    assert set(store.trace_ids()) == _trace_ids(recent)


def test_a_run_over_the_table_finds_what_a_run_over_the_same_spans_from_files_finds(
    fleet: tuple[str, Path, tuple[ReadableSpan, ...]], tmp_path: Path
) -> None:
    from investigator.runner import RunSettings, execute_run

    table, path, spans = fleet
    now = datetime.now(UTC)
    window = {"since": _iso(now - timedelta(hours=2)), "until": _iso(now + timedelta(hours=1))}
    from_files = execute_run(Store(tmp_path / "files.db"), RunSettings(paths=[str(path)], **window))
    table_store = Store(tmp_path / "table.db")
    from_table = execute_run(table_store,
                             RunSettings(paths=[f"chdb://{table}?table=otel_traces&sample=0.2&seed=5"], **window))
    assert from_files.findings
    # Everything but the run's own id: categories, cited traces, spans and quotes, scores, and the
    # impact, measured on the window's size as the engine counted it, not on the traces sent.
    assert [f.model_dump(exclude={"run_id"}) for f in from_table.findings] == [
        f.model_dump(exclude={"run_id"}) for f in from_files.findings
    ]
    assert from_table.counts["traces"] == from_files.counts["traces"] == len(OUTCOMES)
    assert from_table.counts["source"]["transferred_spans"] < len(spans)
    from investigator.reports import build_report, render

    headline = render(build_report(table_store), "md").splitlines()[2]
    assert f"({len(OUTCOMES)} traces; the source scanned {len(spans)} spans and sent" in headline


def test_a_schedule_reads_each_due_window_from_the_table_once(tmp_path: Path) -> None:
    from investigator.schedule import add_schedule, run_due

    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    recent = record_fleet(["gateway", "gateway", "timeout", None, None])
    older = record_fleet(["gateway", None])
    _table(tmp_path / "chdb", recent)
    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        insert(session, older, shift=-(now - hour) - timedelta(hours=4))  # four hours before the first window
    finally:
        session.close()
    store = Store(tmp_path / "s.db")
    source = f"chdb://{tmp_path / 'chdb'}?table=otel_traces&sample=0"
    add_schedule(store, "hourly-ch", "hourly", source, {}, start=_iso(hour - timedelta(hours=2)))
    done = run_due(store, now=hour + timedelta(hours=1, minutes=5))
    assert [(w.start, w.end) for w in done] == [(_iso(hour - timedelta(hours=2)), _iso(hour)),
                                                (_iso(hour), _iso(hour + timedelta(hours=1)))]
    assert [w.traces for w in done] == [0, 3]  # the suspects; the window's clean traces stayed in ClickHouse
    assert set(store.trace_ids()) < _trace_ids(recent)  # nothing from before the watermark came over
    assert store.source_window_traces(_iso(hour), _iso(hour + timedelta(hours=1))) == 5
    assert store.source_window_traces(_iso(hour - timedelta(hours=2)), _iso(hour - timedelta(hours=1))) == 0
    assert done[1].findings


def test_a_malformed_url_is_refused_with_what_is_wrong() -> None:
    with pytest.raises(InputError, match="CLICKHOUSE_PASSWORD"):
        parse_source("clickhouse://reader:secret@ch.internal:8123/otel?table=otel_traces")
    with pytest.raises(InputError, match="not a plain identifier"):
        parse_source("clickhouse://reader@ch.internal:8123/otel?table=otel_traces;DROP")
    with pytest.raises(InputError, match="sample must be between 0 and 1"):
        parse_source("chdb:///data?table=otel_traces&sample=2")
    source = parse_source("clickhouse://reader@ch.internal:8443/otel?table=otel_traces")
    assert (source.host, source.port, source.user, source.database, source.table) == (
        "ch.internal", 8443, "reader", "otel", "otel_traces")
    assert source.url == "clickhouse://reader@ch.internal:8443/otel?table=otel_traces"


def test_the_ingest_command_reads_a_table_and_says_what_came_over(
    fleet: tuple[str, Path, tuple[ReadableSpan, ...]], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from investigator.cli import main

    table, _, spans = fleet
    db = tmp_path / "cli.db"
    url = f"chdb://{table}?table=otel_traces&sample=0"
    shown = CliRunner().invoke(main, ["ingest", url, "--db", str(db), "--quiet"])
    assert shown.exit_code == 0, shown.output
    assert f"the source scanned {len(spans)} spans in {len(OUTCOMES)} traces and sent 40 spans:" in shown.output
    as_json = CliRunner().invoke(main, ["ingest", url, "--db", str(tmp_path / "cli2.db"), "--json"])
    counts = json.loads(as_json.output)
    assert (counts["ingested"], counts["source"]["suspect_traces"], counts["source"]["sampled_traces"]) == (40, 10, 0)
    refused = CliRunner().invoke(main, ["ingest", "clickhouse://u:pw@ch:8123/db?table=otel_traces", "--db", str(db)])
    assert refused.exit_code == 2 and "CLICKHOUSE_PASSWORD" in refused.output


def test_a_scheduled_run_over_the_table_finds_what_one_over_the_same_spans_in_files_finds(
    fleet: tuple[str, Path, tuple[ReadableSpan, ...]], tmp_path: Path
) -> None:
    from investigator.schedule import add_schedule, run_due

    table, path, spans = fleet
    first = min(s.start_time for s in spans) // 10**9
    start = datetime.fromtimestamp(first, UTC).replace(minute=0, second=0, microsecond=0)
    now = start + timedelta(hours=2, minutes=5)
    found = {}
    for name, source in (("files", str(path)), ("table", f"chdb://{table}?table=otel_traces&sample=0.2&seed=5")):
        store = Store(tmp_path / f"{name}.db")
        add_schedule(store, name, "hourly", source, {}, start=_iso(start))
        done = run_due(store, now=now)
        runs = [run_id for run_id, _, _ in store.runs_in_order()]
        found[name] = [(w.start, w.end, w.traces, w.findings, w.new) for w in done], [
            f.model_dump(exclude={"run_id"}) for run_id in runs for f in store.findings_of(run_id)]
    windows, findings = found["table"]
    assert findings and sum(w[3] for w in windows) == len(findings)
    assert found["table"][1] == found["files"][1]
    # The windows' findings agree; the table's windows hold fewer traces: only what was sent.
    assert [w[3:] for w in windows] == [w[3:] for w in found["files"][0]]
