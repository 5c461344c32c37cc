"""The offline investigator: a deterministic policy that plays the judge's part with no model.

It drives the same loop, through the same span tools, as a model would. It reads the cluster
overview, opens the representative traces, reads the spans the rules layer flagged and confirms each
flagged quote is verbatim in the span it read, groups the confirmed issues by taxonomy code, and
submits one finding per code that recurs (or the cluster's dominant one) with the fix from a fix
library, then scores the traces it read and submits a summary.

It reads the tools' typed results (`ToolResult.data`: ids, codes, counts, kinds, statuses, the
quotes the rules layer flagged), never their prose, and acts only on their structure, never on what
trace text says, so instructions planted in a trace cannot steer it. Same conversation in, same
calls out: its results are byte-identical across runs. Everything it produces is labelled `offline`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files
from string import Template
from typing import Any

import orjson

from investigator.evidence import decoded_strings
from investigator.models import SCORE_DIMENSIONS, Issue
from investigator.providers.base import Message, ModelConfig, ModelOutput, ToolCall, ToolSpec
from investigator.scoring import score_dimension
from investigator.taxonomy import default_taxonomy

MAX_OUTLINES = 3  # representative traces opened and scored
MAX_TRACES_OPENED = 8
READS_PER_CODE = 3
MAX_READS = 15
EVIDENCE_PER_FINDING = 5
SEVERITIES = ("low", "medium", "high", "critical")

# Where the other end of a failure sits, seen from the model span a code is located at: the span
# where a model's bad output surfaced later, or the error upstream that the model carried past.
SURFACES_AFTER = {"reasoning.invalid_tool_arguments", "reasoning.format_violation", "reasoning.wrong_tool"}
CAUSED_BEFORE = {"recovery.ignored_error", "recovery.failed_recovery", "recovery.no_self_correction"}


@dataclass(frozen=True)
class Flag:
    """One rules-layer issue as the tools showed it."""

    code: str
    severity: str
    trace_id: str
    span_id: str
    confidence: float
    quote: str


@cache
def _fixes() -> dict[str, dict[str, str]]:
    return json.loads(files("investigator.judge").joinpath("fixes.json").read_text(encoding="utf-8"))


class Conversation:
    """What the loop has shown so far, as the tools' typed data: the overview, and each tool call
    with its result."""

    def __init__(self, messages: list[Message]) -> None:
        first = next((m for m in messages if m["role"] == "user"), {})
        self.overview: dict[str, Any] = first.get("data") or {}
        results = {m.get("tool_call_id"): m.get("data") or {} for m in messages if m["role"] == "tool"}
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.turns = 0
        for message in messages:
            if message["role"] != "assistant":
                continue
            self.turns += 1
            for call in message.get("tool_calls") or []:
                fn = call["function"]
                args = orjson.loads(fn.get("arguments") or "{}")
                self.calls.append((fn["name"], args, results.get(call["id"], {})))

    def called(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(args, data) for n, args, data in self.calls if n == name]

    @cached_property
    def code_counts(self) -> dict[str, tuple[int, int, str]]:
        """Per code: issues, traces and the usual severity, over the whole investigation."""
        return {c["code"]: (c["issues"], c["traces"], c["severity"]) for c in self.overview.get("codes", [])}

    @cached_property
    def code_traces(self) -> dict[str, list[str]]:
        """Per code, the traces the overview names as having it (up to its listing limit)."""
        return {c["code"]: c["listed"] for c in self.overview.get("codes", [])}

    @cached_property
    def component_traces(self) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """Per (code, tool or agent), how many traces the overview says have it there and the ones
        it names (up to its listing limit); only for codes whose issues sit at several components."""
        return {(c["code"], p["place"]): (p["traces"], p["listed"])
                for c in self.overview.get("codes", []) for p in c["places"]}

    @cached_property
    def reads(self) -> dict[tuple[str, str], dict[str, Any]]:
        """What read_span showed of each span."""
        return {(d["trace_id"], d["span_id"]): d for _, d in self.called("read_span") if d}

    def fact(self, trace_id: str, span_id: str | None, name: str) -> str:
        """A fact read_span showed about a span (its tool, agent, name, status message); "" if none."""
        read = self.reads.get((trace_id, span_id or ""), {})
        return str(read.get("facts", {}).get(name, "")).strip()

    def kind(self, trace_id: str, span_id: str) -> str:
        return self.reads.get((trace_id, span_id), {}).get("kind", "")

    def component(self, flag: Flag) -> str:
        """The tool or agent a flagged span belongs to, as read_span showed it."""
        tool = self.fact(flag.trace_id, flag.span_id, "tool")
        if self.kind(flag.trace_id, flag.span_id) == "tool" and tool:
            return tool
        return self.fact(flag.trace_id, flag.span_id, "agent")

    def size(self) -> int:
        return int(self.overview.get("size", 0))

    def representatives(self) -> list[str]:
        return list(self.overview.get("outlines", {}))

    @cached_property
    def flags(self) -> list[Flag]:
        """Every rules-layer issue shown in the overview or an outline, once each."""
        outlined = [f for _, data in self.called("trace_outline") for f in data.get("flags", [])]
        shown = [*self.overview.get("flags", []), *outlined]
        found: dict[tuple[str, str, str], Flag] = {}
        for item in shown:
            flag = Flag(item["code"], item["severity"], item["trace_id"], item["span_id"], item["confidence"],
                        item["quote"])
            found.setdefault((flag.trace_id, flag.span_id, flag.code), flag)
        return list(found.values())

    @cached_property
    def outlines(self) -> dict[str, list[tuple[str, str, str]]]:
        """Per opened trace, (span id, kind, status) in tree order, from its outline."""
        found: dict[str, list[tuple[str, str, str]]] = {}
        for _, data in self.called("trace_outline"):
            if data:
                found.setdefault(data["trace_id"], [tuple(s) for s in data["spans"]])
        return found

    def linked(self, flag: Flag) -> str | None:
        """The span at the other end of the flagged failure: for a model's mistake, the errored span
        after it where the mistake surfaced; for an error the model carried past, the errored span
        before it. None when the outline was not opened or shows no such span."""
        spans = self.outlines.get(flag.trace_id, [])
        ids = [s[0] for s in spans]
        if flag.span_id not in ids or flag.code not in SURFACES_AFTER | CAUSED_BEFORE:
            return None
        at = ids.index(flag.span_id)
        order = spans[at + 1 :] if flag.code in SURFACES_AFTER else reversed(spans[:at])
        return next((span_id for span_id, _, status in order if status == "error"), None)

    def showed(self, flag: Flag) -> bool:
        """True when read_span showed the flag's quote verbatim in one of the span's fields or facts,
        read as a model reads them: a field that is JSON with its string values decoded."""
        read = self.reads.get((flag.trace_id, flag.span_id))
        if not flag.quote or read is None:
            return False
        texts = [*read.get("facts", {}).values(), *read.get("fields", {}).values()]
        return any(flag.quote in text or any(flag.quote in value for value in decoded_strings(text)) for text in texts)

    def accepted(self) -> list[dict[str, Any]]:
        """The arguments of each submit_finding call that was accepted."""
        return [args for args, data in self.called("submit_finding") if data.get("accepted")]


class OfflineProvider:
    """Implements the provider interface with the deterministic policy above."""

    name = "offline"

    def generate(self, messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> ModelOutput:
        seen = Conversation(messages)
        for step in (self._outlines, self._reads, self._submissions, self._summary):
            calls = step(seen)
            if calls:
                return self._output(seen.turns, calls)
        return ModelOutput(text="The investigation is complete.", model="offline", stop_reason="stop")

    @staticmethod
    def _output(turn: int, calls: list[tuple[str, dict[str, Any]]]) -> ModelOutput:
        return ModelOutput(
            tool_calls=[ToolCall(id=f"call_{turn + 1}_{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls)],
            model="offline", stop_reason="tool_calls",
        )

    # ------------------------------------------------------------------ the policy, step by step

    def _outlines(self, seen: Conversation) -> list[tuple[str, dict[str, Any]]]:
        if seen.called("trace_outline"):
            return []
        traces = seen.representatives()[:MAX_OUTLINES] + [f.trace_id for f in self._to_read(seen)]
        return [("trace_outline", {"trace_id": t}) for t in list(dict.fromkeys(traces))[:MAX_TRACES_OPENED]]

    def _reads(self, seen: Conversation) -> list[tuple[str, dict[str, Any]]]:
        """The flagged spans, and the span at the other end of each failure (cause or symptom)."""
        if seen.called("read_span"):
            return []
        wanted: list[tuple[str, str]] = []
        for flag in self._to_read(seen):
            wanted.append((flag.trace_id, flag.span_id))
            other = seen.linked(flag)
            if other:
                wanted.append((flag.trace_id, other))
        return [("read_span", {"trace_id": t, "span_id": s}) for t, s in dict.fromkeys(wanted)]

    def _to_read(self, seen: Conversation) -> list[Flag]:
        """Per code (most widespread first), a few flagged spans, representative traces first."""
        reps = seen.representatives()
        counts = seen.code_counts
        by_code: dict[str, list[Flag]] = defaultdict(list)
        for flag in seen.flags:
            by_code[flag.code].append(flag)
        chosen: list[Flag] = []
        spans: set[tuple[str, str]] = set()
        for code in sorted(by_code, key=lambda c: (-counts.get(c, (0, 0, ""))[1], c)):
            ranked = sorted(by_code[code], key=lambda f: (f.trace_id not in reps, f.trace_id, f.span_id))
            taken = 0
            for flag in ranked:
                if taken == READS_PER_CODE or len(chosen) == MAX_READS:
                    break
                taken += 1
                if (flag.trace_id, flag.span_id) not in spans:
                    spans.add((flag.trace_id, flag.span_id))
                    chosen.append(flag)
        return chosen

    def _submissions(self, seen: Conversation) -> list[tuple[str, dict[str, Any]]]:
        # Scores are submitted with the findings; with no finding to submit they are what was sent.
        if seen.called("submit_finding") or seen.called("submit_summary") or seen.called("submit_scores"):
            return []
        confirmed = [f for f in seen.flags if seen.showed(f) and not _dismissed(seen, f)]
        calls = [("submit_finding", args) for args in self._findings(seen, confirmed)]
        for trace_id in seen.representatives()[:MAX_OUTLINES]:
            calls.append(("submit_scores", self._scores(trace_id, seen.flags)))
        return calls

    def _findings(self, seen: Conversation, confirmed: list[Flag]) -> list[dict[str, Any]]:
        counts = seen.code_counts
        # One finding per failure family: a code at one tool or agent.
        by_family: dict[tuple[str, str], list[Flag]] = defaultdict(list)
        for flag in confirmed:
            by_family[(flag.code, seen.component(flag))].append(flag)
        if not by_family:
            return []
        placed = seen.component_traces

        def listed(family: tuple[str, str]) -> list[str]:
            """The traces that show this family: the overview's list for its tool or agent; the
            code's list when the code sits at one place; else only the traces read and confirmed."""
            code = family[0]
            if any(c == code for c, _ in placed):
                return placed.get(family, (0, []))[1]
            if sum(c == code for c, _ in by_family) > 1:
                return []
            return seen.code_traces.get(code, [])

        def reach(family: tuple[str, str]) -> int:
            code = family[0]
            verified = len({f.trace_id for f in by_family[family]})
            if any(c == code for c, _ in placed):
                return max(placed.get(family, (0, []))[0], verified)
            if sum(c == code for c, _ in by_family) > 1:
                return verified
            return counts.get(code, (0, 0, ""))[1] or verified

        dominant = max(by_family, key=lambda f: (reach(f), f))
        fixes = _fixes()
        total = seen.size()
        out = []
        for family in sorted(by_family, key=lambda f: (-reach(f), f)):
            code, place = family
            issues, _, usual = counts.get(code, (len(by_family[family]), 0, ""))
            traces = reach(family)
            if traces < 2 and family != dominant:
                continue
            flags = sorted(by_family[family], key=lambda f: (f.trace_id, f.span_id))[:EVIDENCE_PER_FINDING]
            confidence = round(sum(f.confidence for f in flags) / len(flags), 2)
            if confidence < 0.5 or code not in fixes:
                continue
            severity = usual if usual in SEVERITIES else max((f.severity for f in flags), key=SEVERITIES.index)
            cited = sorted({f.trace_id for f in flags})
            split = sum(c == code for c, _ in by_family) > 1 or any(c == code for c, _ in placed)
            affected = sorted(set(cited) | set(listed(family)))
            where = _where(seen, flags, place)
            fix = fixes[code]
            of_total = f" of {total}" if total else ""
            tool = _tool_involved(seen, flags)
            example = _example(flags[0].quote)
            out.append({
                "title": f"{fix['title']} at {where}" + (f" (tool `{tool}`)" if tool and tool not in where else ""),
                "category": code,
                "severity": severity,
                "confidence": confidence,
                "description": (
                    f"The rules layer flags {code} {f'at {where} ' if split else ''}"
                    f"{'' if split else f'{issues} times '}in {traces}{of_total} traces of this cluster,"
                    f" mostly {severity}; the offline investigator read {len(flags)} of the flagged spans and"
                    f" found each quoted evidence verbatim.{_walk(seen, flags)}"
                ),
                "root_cause": f"{fix['root_cause']} Located at {where}.{_mechanism(seen, flags)}",
                "immediate_fix": Template(fix["immediate_fix"]).safe_substitute(
                    where=where, tool=f"tool `{tool}`" if tool else "the tool", example=f"`{example}`")
                + f" Seen in traces {', '.join(cited)}.",
                "fix_layer": fix["fix_layer"],
                "evidence": [{"trace_id": f.trace_id, "span_id": f.span_id, "quote": f.quote} for f in flags],
                "trace_ids": affected,
            })
        return out

    @staticmethod
    def _scores(trace_id: str, flags: list[Flag]) -> dict[str, Any]:
        taxonomy = default_taxonomy()
        issues = [
            Issue(trace_id=f.trace_id, span_id=f.span_id, category=f.code, severity=f.severity,
                  confidence=min(1.0, f.confidence), evidence=f.quote, description=taxonomy.get(f.code).meaning,
                  source="offline")
            for f in flags if f.trace_id == trace_id and f.code in taxonomy
        ]
        args: dict[str, Any] = {"trace_id": trace_id}
        for dimension in SCORE_DIMENSIONS:
            args[dimension] = score_dimension(dimension, issues).model_dump()
        return args

    def _summary(self, seen: Conversation) -> list[tuple[str, dict[str, Any]]]:
        if seen.called("submit_summary"):
            return []
        submitted = seen.called("submit_finding")
        accepted = seen.accepted()
        rejected = len(submitted) - len(accepted)
        if accepted:
            codes = ", ".join(a["category"] for a in accepted)
            priority = max((a["severity"] for a in accepted), key=SEVERITIES.index)
            summary = f"Offline investigation: {len(accepted)} recurring failure(s) confirmed in this cluster: {codes}."
            fix = accepted[0]["immediate_fix"]
        else:
            priority = "low"
            summary = "Offline investigation: no flagged issue of this cluster could be confirmed verbatim."
            fix = "Review the cluster's traces by hand; the rules layer's flags could not be confirmed."
        if rejected:
            summary += f" {rejected} submission(s) were refused by validation."
        return [("submit_summary", {"summary": summary, "priority": priority, "immediate_fix": fix})]


def _dismissed(seen: Conversation, flag: Flag) -> bool:
    """An error the model supposedly carried past, in an opened trace that shows no error before it."""
    return flag.code in CAUSED_BEFORE and bool(seen.outlines.get(flag.trace_id)) and seen.linked(flag) is None


def _tool_involved(seen: Conversation, flags: list[Flag]) -> str:
    """The tool the family's failures are about: the flagged tool span's, else the tool at the
    other end of the failure (where a model step's bad call surfaced, or the error it carried past)."""
    names: Counter[str] = Counter()
    for flag in flags:
        for span_id in (flag.span_id, seen.linked(flag)):
            if tool := seen.fact(flag.trace_id, span_id, "tool"):
                names[tool] += 1
                break
    return min(names, key=lambda n: (-names[n], n)) if names else ""


def _example(quote: str, limit: int = 80) -> str:
    """A quote on one line, clipped."""
    readable = " ".join(quote.split())
    return readable if len(readable) <= limit else readable[: limit - 1] + "…"


def _linked_failure(seen: Conversation, flags: list[Flag]) -> tuple[Flag, str, str] | None:
    """The first flag whose other end (see `Conversation.linked`) was read and failed: the flag,
    that span and what it failed with (clipped)."""
    for flag in flags:
        other = seen.linked(flag)
        said = seen.fact(flag.trace_id, other, "status_message") if other else ""
        if said and other:
            return flag, other, said if len(said) <= 100 else said[:99] + "…"
    return None


def _mechanism(seen: Conversation, flags: list[Flag]) -> str:
    """What the traces show happening, in one sentence: what the model wrote and what came back,
    or what failed and what the model did next."""
    linked = _linked_failure(seen, flags)
    if linked is None:
        return ""
    flag, _, said = linked
    if flag.code in SURFACES_AFTER:
        return f" The model wrote `{_example(flag.quote)}`, and the step that ran it failed with: {said}"
    return f" A step failed ({said}) and the next model step answered `{_example(flag.quote)}` as if it had not."


def _walk(seen: Conversation, flags: list[Flag]) -> str:
    """One sentence tying a located cause to its symptom (or an ignored error to its source)."""
    linked = _linked_failure(seen, flags)
    if linked is None:
        return ""
    flag, other, said = linked
    if flag.code in SURFACES_AFTER:
        return (f" In trace {flag.trace_id} the model span {flag.span_id} caused it; it surfaced at span {other},"
                f" which failed with: {said}")
    return (f" In trace {flag.trace_id} span {other} failed first ({said}) and the model span {flag.span_id}"
            f" carried on.")


def _where(seen: Conversation, flags: list[Flag], place: str) -> str:
    """The component the failure family sits at: its tool, or its agent; else the span it sits at,
    by its most common name."""
    if place:
        tool = any(seen.kind(f.trace_id, f.span_id) == "tool" for f in flags)
        return f"{'tool' if tool else 'agent'} `{place}`"
    names: Counter[str] = Counter()
    for flag in flags:
        tool = seen.fact(flag.trace_id, flag.span_id, "tool")
        label = tool or seen.fact(flag.trace_id, flag.span_id, "name")
        if label:
            names[f"{'tool' if tool else 'span'} `{label}`"] += 1
    return names.most_common(1)[0][0] if names else "the flagged spans"
