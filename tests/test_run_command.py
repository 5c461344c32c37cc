"""`investigator run` end to end on the shipped demo corpus, offline: ranked findings in every
format, the same JSON bytes on every run, real citations, and --fail-on for CI and cron."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import jsonschema
import orjson
from click.testing import CliRunner

from investigator.cli import main as cli
from investigator.models import SEVERITY_WEIGHTS
from investigator.reports.masked import ReportMasking
from investigator.store import Store

DEMO = Path(str(files("investigator.evals").joinpath("data", "demo")))


def _run(db: Path, *extra: str):
    args = ["run", "--db", str(db), str(DEMO / "traces"), "--labels", str(DEMO / "labels.jsonl"), *extra]
    return CliRunner().invoke(cli, args)


def test_offline_run_reports_ranked_cited_findings_whatever_order_the_files_are_read_in(tmp_path):
    first = _run(tmp_path / "a.db", "--format", "json")
    files_reversed = [str(p) for p in sorted((DEMO / "traces").iterdir(), reverse=True)]
    second = CliRunner().invoke(
        cli,
        [
            "run",
            "--db",
            str(tmp_path / "b.db"),
            *files_reversed,
            "--labels",
            str(DEMO / "labels.jsonl"),
            "--format",
            "json",
        ],
    )

    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout  # spans stored in another order, the same report
    report = orjson.loads(first.stdout)
    schema = orjson.loads(files("investigator.schemas").joinpath("report.schema.json").read_bytes())
    jsonschema.validate(report, schema)
    findings = report["findings"]
    assert len(findings) >= 10
    keys = [SEVERITY_WEIGHTS[f["severity"]] * f["impact"]["trace_count"] * f["confidence"] for f in findings]
    assert keys == sorted(keys, reverse=True)
    with Store(tmp_path / "a.db") as store:
        masked = ReportMasking(store)  # a fresh one: placeholders depend on the trace alone
        for finding in findings:
            assert finding["source"] == "offline"
            for evidence in finding["evidence"]:
                span = store.get_span(evidence["trace_id"], evidence["span_id"])
                assert span is not None and masked.quote_in_span(span, evidence["quote"])
            assert all(store.get_trace(t) for t in finding["trace_ids"])


def test_every_format_renders_and_fail_on_exits_one_for_a_severe_finding(tmp_path):
    db = tmp_path / "r.db"
    table = _run(db)
    assert table.exit_code == 0 and "judged by offline investigator" in " ".join(table.stdout.split())  # wrapped
    assert "replaces the identical run" not in table.stderr
    markdown = _run(db, "--format", "md")
    assert markdown.stdout.startswith("# Trace investigator report")
    run_id = table.stdout.split(":")[0]
    assert f"{run_id} replaces the identical run of " in markdown.stderr  # said, not done silently
    html = tmp_path / "report.html"
    assert _run(db, "--format", "html", "-o", str(html)).exit_code == 0
    page = html.read_text()
    assert "<html" in page and "http://" not in page.replace("http://www.w3.org", "")

    severe = _run(db, "--format", "json", "--fail-on", "critical")
    assert severe.exit_code == 1
    assert any(f["severity"] == "critical" for f in orjson.loads(severe.stdout)["findings"])


def test_a_model_without_its_key_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["run", "--db", str(tmp_path / "k.db"), "--model", "openai/gpt-4o-mini"])

    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output and "--offline" in result.output
    with Store(tmp_path / "k.db") as store:
        assert store.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_reversed_window_or_a_bad_time_is_refused_before_anything_runs(tmp_path):
    db = tmp_path / "w.db"
    reversed_window = _run(db, "--window", "2025-03-06T00:00:00Z", "2025-03-05T00:00:00Z")
    assert reversed_window.exit_code == 2
    assert "the end 2025-03-05T00:00:00.000000Z is not after the start 2025-03-06T00:00:00.000000Z" in (
        reversed_window.output
    )
    bad = _run(db, "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "'yesterday-ish' is not a time" in bad.output
    with Store(db) as store:
        assert store.counts()["spans"] == 0


def test_a_run_over_files_that_yield_nothing_exits_2_naming_them_and_analyses_nothing(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"not": "a span"}\n{also not json\n')
    db = tmp_path / "n.db"
    result = CliRunner().invoke(cli, ["run", "--db", str(db), str(broken)])
    assert result.exit_code == 2
    assert "nothing ingested from:" in result.output and str(broken) in result.output
    with Store(db) as store:
        assert store.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert len(store.quarantined()) == 2


def test_the_main_job_prints_nothing_but_its_report(tmp_path):
    """In a process of its own, to its exit: no warning, log line or library message on stderr."""
    import subprocess

    from checkout import python_here

    args = ["run", "--db", str(tmp_path / "m.db"), str(DEMO / "traces"), "--labels", str(DEMO / "labels.jsonl")]
    code = f"from investigator.cli import main; main({args!r})"
    done = subprocess.run(python_here(code), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.split(":")[0].strip().startswith("run_") and "20 findings" in done.stdout
