"""Load promoted eval cases in a team's own pytest suite.

    from investigator.evalcases import pytest_cases

    @pytest.mark.parametrize("case", pytest_cases("evals/cases_from_prod.yaml"))
    def test_agent_handles_production_failures(case):
        answer = my_agent(case["input"])
        assert my_judge(answer, case["expected_behavior"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REQUIRED = ("case_id", "input", "expected_behavior", "category", "severity", "source_trace_ids")


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """The cases in a promoted-cases file; a malformed case raises ValueError naming it."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    cases = data.get("cases") or []
    for index, case in enumerate(cases):
        missing = [k for k in REQUIRED if k not in case]
        if missing:
            raise ValueError(f"{path}: case {index} ({case.get('case_id', '?')}) lacks {', '.join(missing)}")
    return cases


def pytest_cases(path: str | Path) -> list[Any]:
    """`pytest.param` per case, with the case_id as the test id."""
    import pytest

    return [pytest.param(case, id=case["case_id"]) for case in load_cases(path)]
