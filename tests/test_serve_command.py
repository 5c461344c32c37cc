"""`investigator serve` as a person runs it: where it listens, progress, Ctrl-C, a port in use."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

from checkout import python_here
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from sdk_spans import agent_run, assert_stored_as_recorded, many_spans

from investigator.cli import main
from investigator.store import Store


def test_serve_prints_where_it_listens_progress_and_on_ctrl_c_writes_everything_and_prints_totals(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    code = f"from investigator.cli import main; main(['serve', '--port', '0', '--db', {str(db)!r}])"
    process = subprocess.Popen(python_here(code), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(20, process.kill)  # a line that never comes must not hang the suite
    watchdog.start()
    try:
        assert process.stdout is not None
        listening = process.stdout.readline()
        url = re.search(r"listening on (http://\S+/v1/traces)", listening)
        assert url, listening
        assert process.stdout.readline().startswith(f"export with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={url[1]}")
        spans, bulk = agent_run("H-1"), many_spans(1000)
        exporter = OTLPSpanExporter(endpoint=url[1], compression=Compression.Gzip)
        assert [exporter.export(spans), exporter.export(bulk)] == [SpanExportResult.SUCCESS] * 2
        progress = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        watchdog.cancel()
        process.kill()
    assert process.returncode == 0, stderr
    assert re.fullmatch(r"\d\d:\d\d:\d\d 1,003 spans in 2 requests: 1,003 new, .*\n", progress)
    assert "stopped; received 1,003 spans in 2 requests: 1,003 new, 0 duplicates, 0 updated, 0 quarantined" in stdout
    assert_stored_as_recorded(str(db), spans)
    with Store(db) as store:
        assert store.counts()["spans"] == 1003


def test_serve_on_a_port_in_use_exits_2_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port), "--db", str(tmp_path / "store.db")])
    assert result.exit_code == 2 and f"cannot serve on 127.0.0.1:{port}" in result.output
