"""The mutation harness: its lists still apply to the code they mutate, and it tells a killed
mutant from a surviving one."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from investigator.evals.mutants import MUTANT_ENV, StaleMutant, kill_rates, load_mutants, main, run_all

# Under the harness a mutant is applied, so its own list cannot apply, and these tests of the
# harness would only run it again inside itself.
pytestmark = pytest.mark.skipif(MUTANT_ENV in os.environ, reason="the suite is running under the mutation harness")
ROOT = Path(__file__).resolve().parents[1]
AREAS = {"citations", "redaction", "quarantine", "finding identity", "budgets", "detector guards", "sources"}


def test_every_listed_mutant_still_applies_exactly_once() -> None:
    mutants = load_mutants(ROOT)
    assert {m.area for m in mutants} == AREAS
    assert all(sum(m.area == area for m in mutants) >= 5 for area in AREAS)


def _project(tmp_path: Path, mutants: str) -> Path:
    root = tmp_path / "project"
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(
        textwrap.dedent("""
        [tool.setuptools]
        package-dir = { "calc" = "calc" }
        [tool.pytest.ini_options]
        pythonpath = ["."]
    """)
    )
    (root / "calc" / "__init__.py").write_text("")
    (root / "calc" / "limits.py").write_text(
        textwrap.dedent("""
        def allowed(turns: int, cap: int) -> bool:
            return turns < cap


        def label(turns: int) -> str:
            return f"{turns} turns"
    """)
    )
    (root / "calc" / "mutants.toml").write_text(textwrap.dedent(mutants))
    (root / "tests" / "test_limits.py").write_text(
        textwrap.dedent("""
        from calc.limits import allowed

        def test_the_cap_itself_is_not_allowed():
            assert allowed(2, 3) and not allowed(3, 3)
    """)
    )
    return root


MUTANTS = """
    [[mutant]]
    area = "budgets"
    file = "limits.py"
    find = "return turns < cap"
    replace = "return turns <= cap"
    why = "one turn past the cap"
    tests = ["tests/test_limits.py"]

    [[mutant]]
    area = "labels"
    file = "limits.py"
    find = 'return f"{turns} turns"'
    replace = 'return f"{turns} turn(s)"'
    why = "untested wording"
"""


def test_a_mutant_a_test_catches_is_killed_and_one_no_test_sees_survives(tmp_path: Path) -> None:
    root = _project(tmp_path, MUTANTS)
    outcomes = run_all(root, load_mutants(root), jobs=1, timeout=120)
    assert [(o.mutant.why, o.verdict) for o in outcomes] == [
        ("one turn past the cap", "killed"),
        ("untested wording", "survived"),
    ]
    assert outcomes[0].detail == "tests/test_limits.py::test_the_cap_itself_is_not_allowed"
    assert kill_rates(outcomes) == {"budgets": (1, 1), "labels": (0, 1)}
    assert "return turns < cap" in (root / "calc" / "limits.py").read_text()  # the checkout is never touched


def test_an_area_below_the_kill_rate_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _project(tmp_path, MUTANTS)
    assert main(["--root", str(root), "--jobs", "1"]) == 1
    printed = capsys.readouterr().out
    assert re.search(r"^budgets +1 +1 +100%$", printed, re.MULTILINE)
    assert re.search(r"^labels +0 +1 +0%$", printed, re.MULTILINE)
    assert "not killed (survived): [labels] calc/limits.py: untested wording" in printed


def test_a_mutant_whose_code_has_moved_is_reported_stale(tmp_path: Path) -> None:
    root = _project(tmp_path, MUTANTS.replace("return turns < cap", "return turns < limit", 1))
    with pytest.raises(StaleMutant, match="occurs 0 times in calc/limits.py"):
        load_mutants(root)
    assert main(["--root", str(root), "--list"]) == 2
