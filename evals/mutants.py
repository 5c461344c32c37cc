"""Mutation harness: does the test suite catch plausible bugs in the safety nets?

    python -m investigator.evals.mutants [--root CHECKOUT] [--area AREA ...] [--jobs 2] [--list]

Each safety net (citations, redaction, quarantine, finding identity, budgets, the detectors'
guards) keeps a curated list of semantic mutants in a `mutants.toml` beside the code it mutates:

    [[mutant]]
    area = "citations"
    file = "evidence.py"             # relative to the folder of this mutants.toml
    find = "quote in text"           # must occur exactly once in that file
    replace = "quote.lower() in text.lower()"
    why = "quotes match case-insensitively"
    tests = ["tests/test_evidence.py"]   # run first; the whole suite runs after if they pass

Every mutant is applied to a temporary copy of the checkout and the suite is run there with
`-x` (the named tests first, so a killed mutant costs seconds). A mutant is killed when a test
fails, survives when the whole suite passes, and is broken when pytest cannot run at all
(a mutant must change behaviour, not syntax). A `find` that no longer matches exactly once is
stale: the harness stops before running anything, so the lists move with refactors.
Prints the kill rate per area; exits 1 when an area is below `--min-kill`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

LIST_NAME = "mutants.toml"
# Set in the suite's environment while a mutant is applied (the suite's own check that every list
# applies cleanly cannot pass on code a mutant changed).
MUTANT_ENV = "INVESTIGATOR_MUTANT"
COPY_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "*.db", "*.db-*", "*.egg-info")
FAILED_TEST = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


class StaleMutant(Exception):
    """A mutant whose code is no longer there to mutate."""


@dataclass(frozen=True)
class Mutant:
    area: str
    path: Path  # the mutated file, relative to the checkout
    find: str
    replace: str
    why: str
    tests: tuple[str, ...]
    listed_in: Path  # the mutants.toml, relative to the checkout

    def apply(self, root: Path) -> None:
        target = root / self.path
        target.write_text(_replace_once(target.read_text(), self))


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    verdict: str  # killed, survived, broken or timeout
    detail: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.verdict in ("killed", "timeout")


def _replace_once(text: str, mutant: Mutant) -> str:
    count = text.count(mutant.find)
    if count != 1:
        raise StaleMutant(
            f"{mutant.listed_in}: mutant {mutant.why!r}: `find` occurs {count} times in {mutant.path}, not once"
        )
    if mutant.find == mutant.replace:
        raise StaleMutant(f"{mutant.listed_in}: mutant {mutant.why!r} replaces its code with itself")
    return text.replace(mutant.find, mutant.replace)


def package_folders(root: Path) -> list[Path]:
    """The folders pyproject.toml installs as packages (the product's code and nothing else)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return sorted({(root / folder).resolve() for folder in mapping.values()})


def load_mutants(root: Path) -> list[Mutant]:
    """Every mutant listed under the package folders, each checked to apply exactly once."""
    mutants: list[Mutant] = []
    lists = sorted({p for folder in package_folders(root) for p in folder.rglob(LIST_NAME)})
    for listing in lists:
        for index, entry in enumerate(tomllib.loads(listing.read_text()).get("mutant", [])):
            where = f"{listing.relative_to(root)}: mutant {index + 1}"
            missing = [k for k in ("area", "file", "find", "replace", "why") if k not in entry]
            if missing:
                raise StaleMutant(f"{where}: missing {', '.join(missing)}")
            path = (listing.parent / entry["file"]).resolve()
            if not path.is_file():
                raise StaleMutant(f"{where}: no file {entry['file']}")
            tests = tuple(entry.get("tests", ()))
            absent = [t for t in tests if not (root / t).exists()]
            if absent:
                raise StaleMutant(f"{where}: no test file {', '.join(absent)}")
            mutant = Mutant(
                entry["area"], path.relative_to(root), entry["find"], entry["replace"], entry["why"], tests,
                listing.relative_to(root),
            )
            _replace_once(path.read_text(), mutant)
            mutants.append(mutant)
    return mutants


def _pytest(copy: Path, args: list[str], mutant: Mutant, timeout: float) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    env = {**os.environ, MUTANT_ENV: f"{mutant.path}: {mutant.why}"}
    return subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=timeout, env=env)


def run_mutant(mutant: Mutant, copy: Path, timeout: float) -> Outcome:
    """Apply `mutant` to `copy` (a copy of the checkout), run the suite there, then undo it."""
    original = (copy / mutant.path).read_text()
    started = time.monotonic()
    try:
        mutant.apply(copy)
        rounds = [list(mutant.tests), [f"--deselect={t}" for t in mutant.tests]] if mutant.tests else [[]]
        for args in rounds:
            result = _pytest(copy, args, mutant, timeout)
            if result.returncode != 0:
                break
    except subprocess.TimeoutExpired:
        return Outcome(mutant, "timeout", f"no result in {timeout:.0f} s", time.monotonic() - started)
    finally:
        (copy / mutant.path).write_text(original)
    seconds = time.monotonic() - started
    if result.returncode == 0:
        return Outcome(mutant, "survived", "every test passed", seconds)
    failed = FAILED_TEST.findall(result.stdout)
    if result.returncode == 1 and failed:
        return Outcome(mutant, "killed", failed[0], seconds)
    tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
    return Outcome(mutant, "broken", f"pytest exit {result.returncode}: {' | '.join(tail)}", seconds)


def run_all(root: Path, mutants: list[Mutant], jobs: int, timeout: float) -> list[Outcome]:
    """Run every mutant, `jobs` at a time, each worker in its own copy of the checkout."""
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        copies = [Path(scratch) / f"copy{n}" for n in range(max(1, jobs))]
        for copy in copies:
            shutil.copytree(root, copy, ignore=COPY_IGNORED)
        free = list(copies)
        outcomes: list[Outcome] = []

        def work(mutant: Mutant) -> Outcome:
            copy = free.pop()
            try:
                return run_mutant(mutant, copy, timeout)
            finally:
                free.append(copy)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(copies)) as pool:
            for outcome in pool.map(work, mutants):
                _print_outcome(outcome)
                outcomes.append(outcome)
    return outcomes


def _print_outcome(outcome: Outcome) -> None:
    m = outcome.mutant
    print(f"{outcome.verdict:8} {outcome.seconds:6.1f}s  [{m.area}] {m.path}: {m.why} — {outcome.detail}", flush=True)


def kill_rates(outcomes: list[Outcome]) -> dict[str, tuple[int, int]]:
    """Per area: (killed, total)."""
    rates: dict[str, tuple[int, int]] = {}
    for outcome in outcomes:
        killed, total = rates.get(outcome.mutant.area, (0, 0))
        rates[outcome.mutant.area] = (killed + outcome.killed, total + 1)
    return dict(sorted(rates.items()))


def _default_root() -> Path:
    here = Path(__file__).resolve().parents[1]
    return here if (here / "tests").is_dir() else Path.cwd()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=_default_root(), help="the checkout (with tests/)")
    parser.add_argument("--area", action="append", help="only these areas (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once, each in its own copy")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutant before it counts as killed")
    parser.add_argument("--min-kill", type=float, default=0.9, help="exit 1 when an area's kill rate is lower")
    parser.add_argument("--list", action="store_true", help="list the mutants and check they apply; run nothing")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "tests").is_dir() or not (root / "pyproject.toml").is_file():
        print(f"{root} is not a checkout of the project (no tests/ or pyproject.toml); pass --root", file=sys.stderr)
        return 2
    try:
        mutants = load_mutants(root)
    except StaleMutant as exc:
        print(f"stale mutant list: {exc}", file=sys.stderr)
        return 2
    if args.area:
        mutants = [m for m in mutants if m.area in args.area]
    if args.list:
        for m in mutants:
            print(f"[{m.area}] {m.path}: {m.why}")
        print(f"{len(mutants)} mutants apply cleanly")
        return 0
    started = time.monotonic()
    outcomes = run_all(root, mutants, args.jobs, args.timeout)
    print(f"\n{'area':24} {'killed':>7} {'total':>6} {'rate':>6}")
    low = False
    for area, (killed, total) in kill_rates(outcomes).items():
        rate = killed / total
        low |= rate < args.min_kill
        print(f"{area:24} {killed:7} {total:6} {rate:6.0%}")
    survivors = [o for o in outcomes if not o.killed]
    for outcome in survivors:
        print(f"not killed ({outcome.verdict}): [{outcome.mutant.area}] {outcome.mutant.path}: {outcome.mutant.why}")
    print(f"{len(outcomes)} mutants in {time.monotonic() - started:.0f} s")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
