"""The judge's libraries load when the judge runs, not before: a command that never judges (ingest,
help, listing traces, the rules layer) does not pay for importing them, and `investigator run` does
not pay for them before its first stage. Each check runs in a new interpreter, so what the test
process already imported does not count."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from checkout import python_here

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).resolve().parents[1] / "evals" / "data" / "demo"
# The judge's model SDKs and graph library, and what only they bring in.
JUDGE_LIBS = ("litellm", "langgraph", "langchain_core", "openai", "anthropic", "agents", "tenacity")
CLUSTERING_LIBS = ("sklearn", "hdbscan")


def loaded_after(code: str) -> dict:
    """Run `code` in a new interpreter that imports this checkout; it prints one JSON line last."""
    done = subprocess.run(python_here(code), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def command_code(args: list[str]) -> str:
    """Import the CLI, run one command in process, print which of the heavy libraries got imported."""
    return (
        "import json, sys\n"
        "from investigator.cli import main\n"
        f"code = main({args!r}, standalone_mode=False)\n"
        "assert code in (None, 0), code\n"
        f"print(json.dumps(sorted(m for m in {JUDGE_LIBS + CLUSTERING_LIBS!r} if m in sys.modules)))\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["ingest", str(DATA / "phoenix_spans.jsonl")],
        ["traces", "list"],
        ["detect"],
    ],
    ids=lambda args: " ".join(a for a in args if "/" not in a),
)
def test_a_command_that_never_judges_imports_none_of_the_judges_libraries(args: list[str], tmp_path: Path) -> None:
    if args[0] != "--help" and "--help" not in args:
        args = [*args, "--db", str(tmp_path / "store.db")]
    assert loaded_after(command_code(args)) == []


def test_importing_the_cli_the_runner_or_the_providers_imports_no_model_sdk() -> None:
    code = (
        "import json, sys\n"
        "import investigator.cli, investigator.providers, investigator.providers.pricing\n"
        "import investigator.providers.recording, investigator.judge.settings, investigator.runner\n"
        f"print(json.dumps(sorted(m for m in {JUDGE_LIBS!r} if m in sys.modules)))\n"
    )
    assert loaded_after(code) == []


def test_run_imports_the_judges_libraries_at_the_judge_stage_and_they_still_judge(tmp_path: Path) -> None:
    """The main job (offline, on one shipped file, as tests/test_cli_commands.py's `small_run_db` runs
    it), with each stage told which libraries are loaded as it starts: none of the judge's before the
    judge stage, and the judge stage loads langgraph (and, for the provider call, tenacity) and works,
    so their absence earlier is not a broken import path."""
    db = tmp_path / "run.db"
    args = ["run", "--db", str(db), str(DEMO / "traces" / "phoenix_spans.jsonl"), "--quiet", "--format", "json"]
    watched = JUDGE_LIBS + CLUSTERING_LIBS
    code = (
        "import json, sys\n"
        "import investigator.runner as runner\n"
        f"watched = {watched!r}\n"
        "seen = {'import': sorted(m for m in watched if m in sys.modules)}\n"
        "real = runner.execute_run\n"
        "def execute_run(store, settings, stage=None):\n"
        "    def told(name):\n"
        "        seen[name] = sorted(m for m in watched if m in sys.modules)\n"
        "    return real(store, settings, told)\n"
        "runner.execute_run = execute_run\n"
        "from investigator.cli import main\n"
        f"code = main({args!r}, standalone_mode=False)\n"
        "assert code in (None, 0), code\n"
        "seen['end'] = sorted(m for m in watched if m in sys.modules)\n"
        "print(json.dumps(seen))\n"
    )
    seen = loaded_after(code)

    assert list(seen) == ["import", "ingest", "rules", "clusters", "judge", "end"]
    for stage in ("import", "ingest", "rules", "clusters", "judge"):
        assert not set(seen[stage]) & set(JUDGE_LIBS), stage
    assert "sklearn" in seen["judge"]  # clustering ran before the judge and imported it
    assert {"langgraph", "langchain_core", "tenacity"} <= set(seen["end"])
    with closing(sqlite3.connect(db)) as conn:
        (status, findings), = conn.execute(
            "SELECT status, (SELECT count(*) FROM findings WHERE findings.run_id = runs.id) FROM runs"
        ).fetchall()
    assert status == "completed" and findings > 0


def test_the_store_does_not_load_pandas_and_pandas_still_loads() -> None:
    """sqlite-utils imports pandas when it is installed (the ClickHouse extra brings it in): the
    store imports it with pandas hidden, so no process pays for pandas it never uses."""
    pytest.importorskip("pandas", reason="pandas is not installed: nothing to hide")
    found = loaded_after(
        "import json, sys\n"
        "from investigator.store import Store\n"
        "Store(':memory:').close()\n"
        "before = 'pandas' in sys.modules\n"
        "import pandas\n"
        "print(json.dumps({'before': before, 'after': pandas.DataFrame({'a': [1]}).shape[0]}))\n"
    )
    assert found == {"before": False, "after": 1}
