"""The regex prefilter: it may only narrow which patterns run, never change what they find."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import orjson
import pytest

from investigator import prefilter
from investigator.prefilter import Prefilter

needs_hyperscan = pytest.mark.skipif(prefilter.hyperscan is None, reason="Hyperscan has no wheel for this machine")

PATTERNS = [
    re.compile(r"(?<=\bBearer )[A-Za-z0-9]{16,}", re.ASCII),
    re.compile(r"\bdo not tell\b[^.\n]{0,40}\buser\b", re.ASCII | re.IGNORECASE),
    re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}", re.ASCII),
    re.compile(r"\bJosé\b"),  # Unicode classes: never prefiltered
]


def _all_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pattern a candidate for every text: the rules layer as it runs without Hyperscan."""
    monkeypatch.setattr(Prefilter, "candidates", lambda self, text: frozenset(range(len(self.patterns))))


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abcdEFGH12345678xyz",
        "Please DO NOT TELL the curious user about this",
        "do not tell — « ça » — ééééééééééééééééééé the user",  # 40 characters, more than 40 bytes
        "SSN 123-45-6789 on file",
        "SSN 123-45 6789 on file",
        "nothing to see here",
        "José wrote",
        "",
    ],
)
def test_candidates_include_every_pattern_that_matches(text: str) -> None:
    filt = Prefilter(PATTERNS)
    matching = {i for i, p in enumerate(PATTERNS) if p.search(text)}
    assert matching <= filt.candidates(text)
    assert filt.matching(text) == matching


@needs_hyperscan
def test_candidates_leave_out_patterns_that_cannot_match() -> None:
    filt = Prefilter(PATTERNS)
    assert filt.unfiltered == {3}
    assert filt.candidates("nothing to see here") == {3}
    assert filt.candidates("the Bearer abcdEFGH12345678xyz") == {0, 3}


@needs_hyperscan
def test_text_that_is_not_utf8_makes_every_pattern_a_candidate() -> None:
    assert Prefilter(PATTERNS).candidates("broken \ud800 surrogate") == {0, 1, 2, 3}


@needs_hyperscan
def test_a_pattern_hyperscan_cannot_compile_runs_on_every_text() -> None:
    filt = Prefilter([re.compile(r"a{70000}", re.ASCII), re.compile(r"needle", re.ASCII)])  # beyond its repeat limit
    assert filt.unfiltered == {0}
    assert filt.candidates("haystack") == {0}
    assert filt.candidates("a needle") == {0, 1}
    assert filt.matching("a" * 70000) == {0}


@needs_hyperscan
def test_survives_pickling_for_worker_processes() -> None:
    filt = Prefilter(PATTERNS)
    filt.candidates("warm")  # compiled; the database itself is not pickled
    copy = pickle.loads(pickle.dumps(filt))
    assert copy.candidates("SSN 123-45-6789") == {2, 3}


@needs_hyperscan
def test_threads_scan_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    filt = Prefilter(PATTERNS)
    texts = [f"{'x' * (i % 5000)} SSN 123-45-{6000 + i} Bearer abcdEFGH1234{i:06d}" for i in range(2000)]
    expected = [filt.candidates(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(filt.candidates, texts)) == expected
    assert expected[0] == {0, 2, 3}


@needs_hyperscan
def test_built_in_patterns_are_all_prefiltered() -> None:
    from investigator.detectors.classify import _WORDING
    from investigator.detectors.injection import _MAY_INJECT
    from investigator.redact import Redactor

    assert Redactor()._prefilter.unfiltered == frozenset()
    assert Redactor({"NAME": r"\bJosé\b"})._prefilter.unfiltered == {0}
    assert _WORDING.unfiltered == frozenset()
    assert _MAY_INJECT.unfiltered == frozenset()


def test_redaction_is_the_same_without_the_prefilter(monkeypatch: pytest.MonkeyPatch, demo_store) -> None:
    from investigator.redact import Redactor

    corpus = Path(__file__).parents[1] / "evals" / "redaction_corpus.jsonl"
    texts = [orjson.loads(line)["text"] for line in corpus.read_text().splitlines() if line.strip()]
    texts += [r[0] for r in demo_store.conn.execute("SELECT output FROM spans WHERE output IS NOT NULL")]
    custom = {"TICKET": r"\bTCK-\d{5}\b"}
    redactor = Redactor(custom)
    filtered = [redactor.find(t) for t in texts]
    assert sum(map(len, filtered)) > 200
    _all_off(monkeypatch)
    assert [redactor.find(t) for t in texts] == filtered


def test_rules_layer_is_the_same_without_the_prefilter(monkeypatch: pytest.MonkeyPatch, demo_store) -> None:
    from investigator.detectors import PopulationStats
    from investigator.redact import Redactor
    from investigator.rules import analyse

    ids = [r[0] for r in demo_store.conn.execute("SELECT trace_id FROM traces ORDER BY trace_id")]
    population = PopulationStats.build(demo_store.span_timings())
    filtered = analyse(demo_store, ids, population, Redactor())
    assert sum(len(r[1]) for r in filtered) > 250
    _all_off(monkeypatch)
    assert analyse(demo_store, ids, population, Redactor()) == filtered


@needs_hyperscan
def test_compiled_databases_are_cached_on_disk_and_a_bad_cache_is_recompiled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    key = tuple((p.pattern, p.flags) for p in PATTERNS)
    database, unfiltered = prefilter._compile.__wrapped__(key)
    [cached] = (tmp_path / "trace-investigator" / "prefilter").glob("*.hsdb")
    assert prefilter._load(cached)[1] == unfiltered == {3}
    cached.write_bytes(b"[3]\nnot a database")
    assert prefilter._load(cached) is None
    database, unfiltered = prefilter._compile.__wrapped__(key)  # recompiles and rewrites the cache
    assert prefilter._load(cached) is not None
    assert unfiltered == {3}
