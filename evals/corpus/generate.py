"""Build a labelled dataset: traces in every supported format, ground truth, labels, manifest.

Every trace draws from its own random stream derived from (seed, variant, index), so output is
byte-identical for a given seed and one trace's shape never shifts another's.
"""

from __future__ import annotations

import gzip
import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from .families import BY_NAME, FAMILIES, SECONDARY, Family
from .faults import Mark, NotApplicable
from .script import Ids, RTrace, Script, render
from .vocab import VARIANTS
from .workflows import BUILDERS, Ctx
from .writers import GenAIWriter, OpenInferenceWriter, PhoenixWriter, Writer
from .writers_vendor import AgentsSDKWriter, LangfuseWriter, LangSmithWriter

CLEAN_SHARE = 0.35
SECOND_FAULT_SHARE = 0.12
START_NS = 1_740_960_000 * 10**9  # 2025-03-03T00:00:00Z
WINDOW_NS = 7 * 24 * 3600 * 10**9
VERSIONS = (("v1.7", 0.15), ("v1.8", 0.45), ("v1.9", 0.40))
PROMPTS = {"v1.7": 12, "v1.8": 13, "v1.9": 14}
WORKFLOW_WEIGHTS = {"support": 0.45, "research": 0.3, "orchestrator": 0.25}
SCORE_KEYS = ("factual_grounding", "privacy_and_safety", "instruction_adherence", "optimal_plan_execution")


def writers(seed: int) -> list[Writer]:
    ids = Ids(random.Random(f"project:{seed}"), "uuid")
    return [OpenInferenceWriter(), GenAIWriter(), PhoenixWriter(), AgentsSDKWriter(),
            LangSmithWriter(ids.uuid()), LangfuseWriter(ids.uuid())]


def plan_families(seed: int, variant: str, traces: int) -> list[str]:
    """Which family each trace gets: about 35% clean, the rest shared by weight (largest remainder,
    at least two traces per family when the corpus is big enough), in a seeded random order."""
    clean = round(traces * CLEAN_SHARE)
    faulty = traces - clean
    total = sum(f.weight for f in FAMILIES)
    floor = 2 if faulty >= 2 * len(FAMILIES) else 0
    quotas = {f.name: max(floor, int(faulty * f.weight / total)) for f in FAMILIES}
    remainders = sorted(FAMILIES, key=lambda f: (-(faulty * f.weight / total) % 1, f.name))
    i = 0
    while sum(quotas.values()) < faulty:
        quotas[remainders[i % len(remainders)].name] += 1
        i += 1
    while sum(quotas.values()) > faulty:
        name = max(quotas, key=lambda n: (quotas[n], n))
        quotas[name] -= 1
    plan = ["clean"] * clean + [name for name, n in quotas.items() for _ in range(n)]
    random.Random(f"{seed}:{variant}:plan").shuffle(plan)
    return plan


def choose_shape(rng: random.Random, family: Family | None) -> tuple[str, str | None]:
    where = family.where if family else {k: None for k in WORKFLOW_WEIGHTS}
    keys = list(where)
    workflow = rng.choices(keys, [WORKFLOW_WEIGHTS[k] for k in keys])[0]
    intents = where[workflow]
    return workflow, (rng.choice(intents) if intents else None)


def choose_version(rng: random.Random, family: Family | None, workflow: str, intent: str | None) -> str:
    if family and family.version:
        return family.version
    version = rng.choices([v for v, _ in VERSIONS], [w for _, w in VERSIONS])[0]
    # The v1.9 refund regression hits nearly every v1.9 refund; the few clean ones predate the rollout.
    if version == "v1.9" and workflow == "support" and intent == "refund" and rng.random() < 0.8:
        version = "v1.8"
    return version


def build_trace(seed: int, variant: str, index: int,
                family_name: str) -> tuple[Script, Family | None, list[Mark], random.Random]:
    rng = random.Random(f"{seed}:{variant}:{index}")
    names = VARIANTS[variant]
    family = None if family_name == "clean" else BY_NAME[family_name]
    for _ in range(60):
        workflow, intent = choose_shape(rng, family)
        version = choose_version(rng, family, workflow, intent)
        ctx = Ctx(rng, variant, names, version, f"{workflow}-system@{PROMPTS[version]}", index)
        script = BUILDERS[workflow](ctx, intent)
        script.agent_version, script.prompt_version = version, ctx.prompt_version
        script.session_id = f"sess_{ctx.digits(4)}{rng.getrandbits(48):012x}"
        script.user_id = f"usr_{rng.randint(10000, 99999)}"
        script.tags = ["production", workflow if variant == "default" else names.workflows[workflow]]
        if family is None:
            return script, None, [], rng
        try:
            marks = family.apply(ctx, script)
        except NotApplicable:
            continue
        if marks and rng.random() < SECOND_FAULT_SHARE and family.name not in SECONDARY:
            marks += second_fault(ctx, script, marks)
        return script, family, marks, rng
    raise RuntimeError(f"family {family.name if family else 'clean'} could not be injected")


def second_fault(ctx: Ctx, script: Script, marks: list[Mark]) -> list[Mark]:
    """A second, independent fault on a span no other issue sits on (a repeat), or a slow call
    (a performance note, no fault)."""
    taken = {id(m.target) for m in marks}
    calls = [c for c in script.all_calls() if not c.handoff_to and not c.error and id(c) not in taken]
    if not calls:
        return []
    call = ctx.rng.choice(calls)
    if ctx.rng.random() < 0.5:
        call.duration_ms = ctx.rng.uniform(18000, 45000)
        return []
    from .faults import clone, insert_turn, locate

    run, index = locate(script, call)
    repeat = clone(call)
    insert_turn(script, run, index + 1, type(run.turns[0])(calls=[repeat]))
    return [Mark(repeat, "planning.redundant_steps", "medium")]


def scores(family: Family | None, marks: list[Mark]) -> dict[str, int]:
    out = {k: 5 for k in SCORE_KEYS}
    if family is None:
        return out
    soften = all(m.severity == "low" for m in marks) and marks
    for key, value in family.scores.items():
        out[key] = min(out[key], min(5, value + (1 if soften else 0)))
    for mark in marks:
        if mark.category == "planning.redundant_steps" and family.name != "redundant_calls":
            out["optimal_plan_execution"] = min(out["optimal_plan_execution"], 3)
    return out


def labels(rng: random.Random, rt: RTrace, workflow_key: str, family: Family | None, marks: list[Mark],
           variant: str) -> list[dict[str, Any]]:
    """Eval labels and business outcomes, correlated with faults (with realistic noise)."""
    bad = any(m.severity in ("high", "critical") for m in marks)
    rows: list[dict[str, Any]] = []
    if rng.random() < 0.7:
        passed = (not bad) if rng.random() > 0.08 else bad
        score = round(rng.uniform(0.75, 1.0) if passed else rng.uniform(0.0, 0.4), 2)
        comment = ("answer matches reference" if passed else "answer does not resolve the request") \
            if variant == "default" else ("consistent with expected output" if passed else "expected output not met")
        rows.append({"trace_id": rt.trace_id, "label": "correctness", "score": score, "passed": passed,
                     "comment": comment})
    if workflow_key != "research":
        resolved = (not bad) if rng.random() > 0.1 else bad
        escalated = bool(rt.script.facts.get("intent") == "human") or (not resolved and rng.random() < 0.35)
        csat = rng.choice([4, 5, 5]) if resolved else rng.choice([1, 2, 2, 3])
        if family and family.name == "latency_outlier":
            csat = max(1, csat - 1)
        rows.append({"trace_id": rt.trace_id, "outcome": {"resolved": resolved, "escalated": escalated, "csat": csat}})
    return rows


def _key_of(script: Script, variant: str) -> str:
    names = VARIANTS[variant].workflows
    return next(k for k, v in names.items() if v == script.workflow)


def generate(
    seed: int = 7, traces: int = 500, out: str | Path = "evals/data/demo", variant: str = "default"
) -> dict[str, Any]:
    """Write the dataset under `out` and return its manifest."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    out = Path(out)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    outputs = writers(seed)
    buffers: dict[str, list[bytes]] = {w.filename: [] for w in outputs}
    truth_rows: list[bytes] = []
    label_rows: list[bytes] = []
    families: Counter[str] = Counter()
    detectable: set[str] = set()
    step = WINDOW_NS // max(traces, 1)
    plan = plan_families(seed, variant, traces)
    for index in range(traces):
        script, family, marks, rng = build_trace(seed, variant, index, plan[index])
        writer = outputs[index % len(outputs)]
        ids = Ids(rng, writer.id_style)
        start = START_NS + index * step + rng.randint(0, step // 2)
        rt = render(script, rng, ids, start, (lambda s: s.trace_name) if writer.root_span else (lambda s: None))
        for record in writer.records(rt):
            buffers[writer.filename].append(orjson.dumps(record))
        key = _key_of(script, variant)
        issues = [{"span_id": m.target.span_id, "category": m.category, "severity": m.severity,
                   "rule_detectable": m.rule_detectable} for m in marks]
        for issue in issues:
            if not issue["span_id"]:
                raise RuntimeError(f"trace {index}: issue {issue['category']} has no span")
            if issue["rule_detectable"]:
                detectable.add(issue["category"])
        name = family.name if family else "clean"
        families[name] += 1
        truth_rows.append(orjson.dumps({
            "trace_id": rt.trace_id, "workflow": script.workflow, "agent_version": script.agent_version,
            "format": writer.ingest_format, "writer": writer.name, "family": name, "issues": issues,
            "scores": scores(family, marks)}))
        label_rows += [orjson.dumps(r) for r in labels(rng, rt, key, family, marks, variant)]
    for filename, lines in buffers.items():
        body = b"\n".join(lines) + b"\n"
        if filename.endswith(".gz"):
            raw = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                gz.write(body)
            body = raw.getvalue()
        (out / "traces" / filename).write_bytes(body)
    (out / "truth.jsonl").write_bytes(b"\n".join(truth_rows) + b"\n")
    (out / "labels.jsonl").write_bytes(b"\n".join(label_rows) + b"\n")
    manifest = {"seed": seed, "variant": variant, "trace_count": traces,
                "families": dict(sorted(families.items())), "rule_detectable": sorted(detectable),
                "formats": {w.name: w.ingest_format for w in outputs},
                "files": sorted(f"traces/{w.filename}" for w in outputs)}
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


__all__ = ["generate", "plan_families"]
