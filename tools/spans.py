"""The reading tools: how the judge looks at a cluster, its traces and their spans.

Every piece of trace text in a result sits inside a `<trace_data trace_id=.. span_id=..>` fence:
it is data recorded from production, never instructions. Results read only the traces of the
investigation (`ctx.trace_ids`).

`cluster_overview` counts the rules layer's issues per code, with the traces that have them, and
lists issues one per line, in shapes meant to be read by programs as well as models:

    <code>: <n> issues in <t> traces, mostly <severity>
      in traces: <id>, <id>, …
    - <code> [<severity>] trace_id=<id> span_id=<id> confidence=<0.00> (<source>)
      evidence: <trace_data trace_id="<id>" span_id="<id>"><verbatim quote></trace_data>
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field

from investigator.errors import ToolError
from investigator.models import Issue, Span, SpanKind
from investigator.outline import duration_text, outline_lines, preview, span_label, tree_order
from investigator.summarizer import excerpt
from investigator.tools.context import ToolContext, ToolResult, component_of, fence

ReadField = Literal["input", "output", "attributes", "events", "all"]
ExactField = Literal["input", "output", "attributes", "events", "status_message", "tool_args"]

_TEXT_FIELDS: tuple[str, ...] = ("input", "output", "attributes", "events")
_LISTED_TRACE_IDS = 20
_LISTED_PER_PLACE = 5  # per tool or agent of a code found at several: the overview must leave room for outlines
_OUTLINE_LINES = 25
_MAX_REP_ISSUES = 15
_EXAMPLES_PER_CODE = 2
_MAX_LISTED_SPANS = 40


def field_text(span: Span, field: str) -> str:
    """One field of a span as text. Input, output, status message and tool arguments are exactly
    as stored, so quotes copied from them are verbatim; events show their attribute values raw
    for the same reason."""
    if field == "attributes":
        if not span.attributes:
            return ""
        option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        return orjson.dumps(span.attributes, option=option, default=str).decode()
    if field == "events":
        lines: list[str] = []
        for event in span.events:
            lines.append(f"event {event.get('name', '?')} at {event.get('time') or '-'}")
            for key, value in (event.get("attributes") or {}).items():
                text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
                lines.append(f"  {key}: {text}")
        return "\n".join(lines)
    value = getattr(span, field)
    return value or ""


def _span_line(span: Span) -> str:
    return f"{span.span_id}  {span.kind}  {span_label(span)}  {span.status}  {duration_text(span)}  {preview(span, 80)}"


def _rule_issues(ctx: ToolContext, trace_ids: list[str]) -> list[Issue]:
    return [i for i in ctx.store.issues(trace_ids) if i.source.startswith("rule:")]


def _by_component(ctx: ToolContext, found: list[Issue]) -> tuple[list[str], list[dict[str, Any]]]:
    """Where one code's issues sit, when that is more than one tool or agent: each is its own
    failure family (one finding each), with the traces that show it there; as lines and as data."""
    places: dict[str, set[str]] = defaultdict(set)
    for issue in found:
        places[component_of(ctx.span(issue.trace_id, issue.span_id))].add(issue.trace_id)
    if len(places) < 2:
        return [], []
    lines, data = [], []
    for place, traces in sorted(places.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        listed = sorted(traces)
        more = f" … and {len(listed) - _LISTED_PER_PLACE} more" if len(listed) > _LISTED_PER_PLACE else ""
        lines.append(f"    at {place or '(no tool or agent)'}: {len(listed)} traces: "
                     f"{', '.join(listed[:_LISTED_PER_PLACE])}{more}")
        data.append({"place": place, "traces": len(listed), "listed": listed[:_LISTED_PER_PLACE]})
    return lines, data


def _performance_notes(ctx: ToolContext, trace_ids: list[str]) -> list[str]:
    """The performance notes of these traces' documents (steps far slower or heavier than their
    peers): context for the findings, not failures."""
    notes = []
    for trace_id, text in sorted(ctx.store.documents(trace_ids).items()):
        _, found, section = text.partition("\nperformance:\n")
        for line in section.splitlines() if found else []:
            if not line.startswith("- "):
                break
            notes.append(f"  {trace_id}: {ctx.safe(line[2:], trace_id)}")
    return notes


def _issue_data(ctx: ToolContext, issue: Issue) -> dict[str, Any]:
    """An issue as `_issue_lines` shows it, as data."""
    return {"code": issue.category, "severity": issue.severity, "trace_id": issue.trace_id,
            "span_id": issue.span_id, "confidence": round(issue.confidence, 2),
            "quote": ctx.safe(issue.evidence, issue.trace_id)}


def _issue_lines(ctx: ToolContext, issue: Issue) -> list[str]:
    quote = ctx.safe(issue.evidence, issue.trace_id)
    return [
        (
            f"- {issue.category} [{issue.severity}] trace_id={issue.trace_id} span_id={issue.span_id}"
            f" confidence={issue.confidence:.2f} ({issue.source})"
        ),
        f"  evidence: {fence(quote, issue.trace_id, issue.span_id, inline=True)}",
    ]


def _outline(ctx: ToolContext, trace_id: str, max_lines: int | None = None) -> tuple[str, list[list[str]]]:
    """A trace's outline, fenced, and the (span id, kind, status) of each span it shows, in order."""
    spans = ctx.spans(trace_id)
    trace = ctx.store.get_trace(trace_id)
    lines = list(outline_lines(spans, 80))
    shown = [[s.span_id, s.kind, s.status] for s in tree_order(spans)]
    if max_lines is not None and len(lines) > max_lines:
        more = len(lines) - max_lines
        lines = lines[:max_lines] + [f"… {more} more spans"]
        shown = shown[:max_lines]
    status = trace.status if trace else "unset"
    name = (trace.name if trace else None) or ""
    head = f"trace {trace_id}  {status}  {len(spans)} spans  {name}".rstrip()
    return fence(ctx.safe("\n".join([head, *lines]), trace_id), trace_id), shown


def cluster_overview(ctx: ToolContext) -> ToolResult:
    """The cluster under investigation: its size, keywords, cohorts, the issues the rules layer
    found (with verbatim evidence and where it sits) and outlines of representative traces.
    The investigation's first message already holds it; call it to see it again."""
    cluster = ctx.cluster
    ids = sorted(ctx.trace_ids)
    reps = [t for t in cluster.representative_trace_ids if t in ctx.trace_ids] or ids[:3]
    lines = [
        f"cluster {cluster.id}{' (noise: traces that fit no family)' if cluster.noise else ''}",
        (
            f"traces in this investigation: {len(ids)} (cluster size {cluster.size}); "
            f"prevalence {cluster.prevalence:.1%}, severity-weighted prevalence "
            f"{cluster.severity_weighted_prevalence:.3f}, impact {cluster.impact_score:.4f}"
        ),
        f"keywords: {', '.join(cluster.keywords) or '-'}",
    ]
    if cluster.cohorts:
        lines.append("over-represented slices: " + "; ".join(
            f"{c.dimension}={c.value} lift {c.lift:.2f} ({c.count} traces)" for c in cluster.cohorts
        ))
    shown = ids[:_LISTED_TRACE_IDS]
    lines.append("trace ids you may read and cite: " + ", ".join(shown))
    if len(ids) > len(shown):
        lines.append(f"  … and {len(ids) - len(shown)} more (search_spans and get_spans_by_type reach them)")

    issues = _rule_issues(ctx, ids)
    by_code: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        by_code[issue.category].append(issue)
    lines.append(f"rules-layer issues: {len(issues)} in {len({i.trace_id for i in issues})} traces")
    codes: list[dict[str, Any]] = []
    for code, found in sorted(by_code.items(), key=lambda kv: (-len({i.trace_id for i in kv[1]}), kv[0])):
        traces = len({i.trace_id for i in found})
        worst = Counter(i.severity for i in found).most_common(1)[0][0]
        lines.append(f"  {code}: {len(found)} issues in {traces} traces, mostly {worst}")
        listed = sorted({i.trace_id for i in found})
        place_lines, places = _by_component(ctx, found)
        codes.append({"code": code, "issues": len(found), "traces": traces, "severity": worst,
                      "listed": [] if places else listed[:_LISTED_TRACE_IDS], "places": places})
        if places:  # each place is its own failure family: its traces, not the code's, are what to cite
            lines.append("    in traces: … by tool or agent, one failure family each:")
            lines.extend(place_lines)
            continue
        more = f" … and {len(listed) - _LISTED_TRACE_IDS} more" if len(listed) > _LISTED_TRACE_IDS else ""
        lines.append(f"    in traces: {', '.join(listed[:_LISTED_TRACE_IDS])}{more}")
    rep_set = set(reps)
    rep_issues = [i for i in issues if i.trace_id in rep_set]
    notes = _performance_notes(ctx, ids)
    # Room is kept for the lines that close the overview: the examples' heading, the outlines'
    # heading and the list of outlines not shown (at most every representative).
    closing = 120 + sum(len(t) + 20 for t in reps)
    budget = ctx.max_result_chars - closing
    used = sum(len(line) + 1 for line in lines)

    def fits(block: str, leaving: int = 0) -> bool:
        nonlocal used
        if used + len(block) + 1 + leaving > budget:
            return False
        used += len(block) + 1
        return True

    def add(line: str) -> None:
        nonlocal used
        lines.append(line)
        used += len(line) + 1

    # The issues of the representative traces after the first, and the performance notes, leave
    # room for the first outline (at its shortest). What follows is shown as far as the result
    # size allows, most useful first: that outline, examples of each code from other traces, the
    # other outlines.
    reserve = len(_outline(ctx, reps[0], 12)[0]) if reps else 0
    add("issues in the representative traces:")
    flags: list[dict[str, Any]] = []  # every issue shown, as data
    for issue in rep_issues[:_MAX_REP_ISSUES]:
        block = "\n".join(_issue_lines(ctx, issue))
        if not fits(block, reserve if flags else 0):
            break
        lines.append(block)
        flags.append(_issue_data(ctx, issue))
    if len(rep_issues) > len(flags):
        add(f"  … {len(rep_issues) - len(flags)} more (trace_outline lists a trace's issues)")
    if notes:
        add(f"performance notes (slow or token-heavy steps; not failures): {len(notes)}")
        lines.extend(note for note in notes[:_MAX_REP_ISSUES] if fits(note, reserve))

    outlines: dict[str, tuple[str, list[list[str]]]] = {}
    examples: list[Issue] = []
    for index, trace_id in enumerate(reps):
        for max_lines in ((_OUTLINE_LINES, 12) if index == 0 else (12,)):
            block = _outline(ctx, trace_id, max_lines)
            if fits(block[0]):
                outlines[trace_id] = block
                break
        if index == 0:
            examples = _examples(ctx, [i for i in issues if i.trace_id not in rep_set], fits)
    if examples:
        lines.append(f"examples from other traces (up to {_EXAMPLES_PER_CODE} per code):")
        lines.extend(line for issue in examples for line in _issue_lines(ctx, issue))
        flags.extend(_issue_data(ctx, issue) for issue in examples)
    lines.append("representative traces:")
    lines.extend(text for text, _ in outlines.values())
    skipped = [t for t in reps if t not in outlines]
    if skipped:
        lines.append("outlines not shown here: " + ", ".join(f"trace_outline({t!r})" for t in skipped))
    data = {"size": len(ids), "codes": codes, "flags": flags,
            "outlines": {trace_id: spans for trace_id, (_, spans) in outlines.items()}}
    return ToolResult("\n".join(lines), data)


def _examples(ctx: ToolContext, others: list[Issue], fits: Callable[[str], bool]) -> list[Issue]:
    """Up to a few issues per code from outside the representative traces: one of every code
    first, then the second of each, as far as they fit."""
    by_code: dict[str, list[Issue]] = defaultdict(list)
    for issue in others:
        if len(by_code[issue.category]) < _EXAMPLES_PER_CODE:
            by_code[issue.category].append(issue)
    chosen: list[Issue] = []
    for round_ in range(_EXAMPLES_PER_CODE):
        for code in sorted(by_code):
            if round_ < len(by_code[code]) and fits("\n".join(_issue_lines(ctx, by_code[code][round_]))):
                chosen.append(by_code[code][round_])
    order = {id(i): n for n, i in enumerate(others)}
    chosen.sort(key=lambda i: order[id(i)])
    return chosen


def trace_outline(ctx: ToolContext, trace_id: str) -> ToolResult:
    """One trace as an indented tree: per span its id, kind, name [model or tool], status,
    duration and a short preview, followed by the rules layer's issues in that trace.

    Args:
        trace_id: a trace of this investigation
    """
    text, spans = _outline(ctx, trace_id)
    parts = [text]
    issues = _rule_issues(ctx, [trace_id])
    if issues:
        parts.append("rules-layer issues in this trace:")
        for issue in issues:
            parts.extend(_issue_lines(ctx, issue))
    data = {"trace_id": trace_id, "spans": spans, "flags": [_issue_data(ctx, i) for i in issues]}
    return ToolResult("\n".join(parts), data)


def _shown(ctx: ToolContext, span: Span, field: str, notes: list[str]) -> str:
    """A field as the model may see it: redacted, and summarized when over the threshold."""
    text = ctx.safe(field_text(span, field), span.trace_id)
    if len(text) <= ctx.read_threshold:
        return text
    summary = None
    if ctx.summarizer is not None:
        try:
            summary = ctx.summarizer(span, field, text)
        except Exception:  # noqa: BLE001 - the excerpt below stands in
            summary = None
    notes.append(
        f"{field} has {len(text)} characters and is shown {'summarized' if summary else 'as an excerpt'}"
        f" (not verbatim; never quote it): read_span_exact({span.trace_id!r}, {span.span_id!r}, "
        f"{field!r}, offset=0, length=2000) gives the exact text to quote"
    )
    return summary or excerpt(text)


def read_span(ctx: ToolContext, trace_id: str, span_id: str, field: ReadField = "all") -> ToolResult:
    """Read a span: its input, output, attributes or events, or all of them with its name,
    status, model or tool, tokens and cost. A field longer than the read threshold comes back
    summarized; read_span_exact gives its verbatim text.

    Args:
        trace_id: the trace the span belongs to
        span_id: the span to read
        field: which part to read; "all" for everything
    """
    span = ctx.span(trace_id, span_id)
    children = sum(1 for s in ctx.spans(trace_id) if s.parent_id == span_id)
    head = (
        f"span {span_id} of trace {trace_id}: {span.kind}, status {span.status}, {duration_text(span)},"
        f" parent {span.parent_id or '-'}, {children} children"
    )
    notes: list[str] = []
    body: list[str] = []
    data: dict[str, Any] = {"trace_id": trace_id, "span_id": span_id, "kind": span.kind, "status": span.status,
                            "facts": {}, "fields": {}}
    if field == "all":
        facts: list[tuple[str, Any]] = [
            ("name", span.name), ("agent", span.agent), ("model", span.model),
            ("tool", span.tool_name), ("status_message", span.status_message),
            ("tokens", f"{span.tokens_in} in, {span.tokens_out} out" if span.tokens_in or span.tokens_out else None),
            ("cost", span.cost), ("start", span.start_time), ("end", span.end_time),
        ]
        if span.tool_args and span.tool_args != span.input:
            facts.append(("tool_args", span.tool_args))
        shown_facts = {key: ctx.safe(str(value), trace_id) for key, value in facts if value not in (None, "")}
        body.extend(f"{key}: {value}" for key, value in shown_facts.items())
        data["facts"] = shown_facts
        fields = [f for f in _TEXT_FIELDS if field_text(span, f)]
    else:
        fields = [field]
    for name in fields:
        text = _shown(ctx, span, name, notes)
        size = len(field_text(span, name))
        body.append(f"--- {name} ({size} characters) ---")
        body.append(text if text else "(empty)")
        data["fields"][name] = text
    result = [head, fence("\n".join(body), trace_id, span_id)]
    result.extend(f"note: {n}" for n in notes)
    return ToolResult("\n".join(result), data)


def read_span_exact(
    ctx: ToolContext,
    trace_id: str,
    span_id: str,
    field: ExactField,
    offset: Annotated[int, Field(ge=0)] = 0,
    length: Annotated[int, Field(ge=1)] = 2000,
) -> str:
    """Verbatim text of one field of a span, from character `offset`, `length` characters long.
    Quote evidence from this text (or from fields read_span showed in full).

    Args:
        trace_id: the trace the span belongs to
        span_id: the span to read
        field: the field to read
        offset: the first character to return
        length: how many characters to return
    """
    span = ctx.span(trace_id, span_id)
    text = ctx.safe(field_text(span, field), trace_id)
    if not text:
        return f"{field} of span {span_id} (trace {trace_id}) is empty"
    if offset >= len(text):
        raise ToolError(f"offset {offset} is past the end: {field} has {len(text)} characters")
    length = min(length, max(1, ctx.max_result_chars - 400))
    end = min(len(text), offset + length)
    head = f"{field} of span {span_id} (trace {trace_id}), characters {offset}-{end} of {len(text)}:"
    parts = [head, fence(text[offset:end], trace_id, span_id, field)]
    if end < len(text):
        parts.append(f"more: read_span_exact({trace_id!r}, {span_id!r}, {field!r}, offset={end})")
    return "\n".join(parts)


def get_children(ctx: ToolContext, trace_id: str, span_id: str) -> str:
    """The direct child spans of a span, in start order, one line each.

    Args:
        trace_id: the trace the span belongs to
        span_id: the parent span
    """
    ctx.span(trace_id, span_id)
    children = [s for s in ctx.spans(trace_id) if s.parent_id == span_id]
    if not children:
        return f"span {span_id} of trace {trace_id} has no children"
    lines = "\n".join(_span_line(s) for s in children)
    return f"{len(children)} children of span {span_id}:\n" + fence(ctx.safe(lines, trace_id), trace_id)


def get_spans_by_type(ctx: ToolContext, kind: SpanKind, trace_id: str | None = None) -> str:
    """The spans of one kind in one trace, or across all traces of the investigation.

    Args:
        kind: the span kind
        trace_id: a trace to look in; omit to look across the whole cluster
    """
    if trace_id is not None:
        ctx.check_trace(trace_id)
        scope = [trace_id]
    else:
        scope = sorted(ctx.trace_ids)
    total, rows = ctx.store.spans_of_kind(kind, scope, _MAX_LISTED_SPANS)
    if not total:
        return f"no {kind} spans in {'trace ' + trace_id if trace_id else 'this cluster'}"
    grouped: dict[str, list[str]] = defaultdict(list)
    for tid, sid in rows:
        grouped[tid].append(_span_line(ctx.span(tid, sid)))
    heading = f"{total} {kind} spans in {len(scope)} trace(s)"
    parts = [heading + (f"; the first {len(rows)}:" if total > len(rows) else ":")]
    for tid, lines in grouped.items():
        parts.append(fence(ctx.safe("\n".join(lines), tid), tid))
    return "\n".join(parts)


def _fts_words(query: str, joiner: str) -> str:
    words = re.findall(r"\w+", query)
    return joiner.join(f'"{w}"' for w in words)


def search_spans(ctx: ToolContext, query: str, limit: Annotated[int, Field(ge=1, le=50)] = 10) -> str:
    """Full-text search over the spans of this investigation (names, inputs, outputs, status
    messages, events), best matches first, with a snippet around each match in [brackets].

    Args:
        query: words to find (full-text syntax: "exact phrase", OR, NOT, prefix*)
        limit: how many spans to return
    """
    scope = sorted(ctx.trace_ids)
    # The query as written, then (when it is not valid full-text syntax or finds nothing) all of
    # its words, then any of them.
    attempts = [(query, ""), (_fts_words(query, " "), "all of its words"),
                (_fts_words(query, " OR "), "any of its words")]
    rows: list[tuple[str, str, str, str, str]] = []
    used = ""
    for text, how in attempts:
        if not text:
            continue
        try:
            rows = ctx.store.search_spans(text, limit, scope)
        except sqlite3.OperationalError:
            continue
        if rows:
            used = how
            break
    if not rows:
        return f"no span of this investigation matches {query!r}; try other or fewer words"
    matched = f" (the query as written found nothing; these match {used})" if used else ""
    parts = [f"{len(rows)} matching spans{matched}:"]
    for tid, sid, kind, name, snippet in rows:
        parts.append(f"- trace_id={tid} span_id={sid} {kind} {name}")
        parts.append("  " + fence(ctx.safe(" ".join(snippet.split()), tid), tid, sid, inline=True))
    return "\n".join(parts)


def investigate_subset(ctx: ToolContext, trace_ids: list[str], question: str) -> str:
    """Hand a subset of this cluster's traces to a sub-investigation with its own smaller budget,
    to answer one question about them (for example when the cluster mixes two failures). Its
    findings are added to yours. Nesting is limited to two levels.

    Args:
        trace_ids: the traces to investigate, a proper subset of this investigation's traces
        question: what the sub-investigation should find out
    """
    if ctx.recurse is None:  # the judge offers no recursion at its depth cap
        raise ToolError(
            f"investigate_subset is not available here (this investigation is at depth {ctx.depth});"
            " investigate the traces yourself"
        )
    wanted = list(dict.fromkeys(trace_ids))
    unknown = [t for t in wanted if t not in ctx.trace_ids]
    if unknown:
        raise ToolError(f"not traces of this investigation: {', '.join(unknown)}")
    if not wanted:
        raise ToolError("give at least one trace id")
    if len(wanted) >= len(ctx.trace_ids) and len(ctx.trace_ids) > 1:
        raise ToolError("the subset must be smaller than this investigation's traces")
    if not question.strip():
        raise ToolError("say what the sub-investigation should find out")
    found = ctx.recurse(wanted, question)
    from investigator.tools.submit import adopt_finding

    lines = [f"the sub-investigation of {len(wanted)} traces returned {len(found)} findings:"]
    for finding in found:
        adopt_finding(ctx, finding)
        lines.append(
            f"- {finding.id} {finding.category} [{finding.severity}] {finding.title} "
            f"({len(finding.trace_ids)} traces, confidence {finding.confidence:.2f})"
        )
    return "\n".join(lines)
