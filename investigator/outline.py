"""A trace as an indented tree: one line per span with kind, name, status, duration and a preview.

Used by `investigator traces show` and by the judge's `trace_outline` tool, so people and the
model see a trace the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from investigator.models import Span, Trace


def children_map(spans: list[Span]) -> tuple[list[Span], dict[str, list[Span]]]:
    """Roots (no parent, missing parent, or a broken cycle) and each span's children, in start order."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        if span.parent_id is None or span.parent_id not in ids or span.cycle_broken:
            roots.append(span)
        else:
            children.setdefault(span.parent_id, []).append(span)
    return roots, children


def _message_text(value: object) -> str:
    if isinstance(value, list) and value:
        last = value[-1]
        if isinstance(last, dict):
            content = last.get("content")
            if content:
                return content if isinstance(content, str) else orjson.dumps(content).decode()
            calls = last.get("tool_calls") or []
            if calls:
                return "calls " + ", ".join(
                    f"{c.get('name')}({c.get('arguments', '')})" for c in calls if isinstance(c, dict)
                )
    return orjson.dumps(value).decode() if not isinstance(value, str) else value


def preview(span: Span, width: int = 80) -> str:
    """A one-line glimpse of what the span produced (or the error it hit)."""
    text = span.status_message if span.status == "error" and span.status_message else None
    if text is None:
        text = span.output or span.tool_args or span.input or ""
        if text[:1] == "[":
            try:
                text = _message_text(orjson.loads(text))
            except orjson.JSONDecodeError:
                pass
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def duration_text(span: Span) -> str:
    ms = span.duration_ms
    if ms is None:
        return "-"
    return f"{ms / 1000:.2f}s" if ms >= 1000 else f"{ms:.0f}ms"


def span_label(span: Span) -> str:
    """The span's name, with its model or tool when that says more."""
    detail = span.model or span.tool_name
    name = span.name or "(unnamed)"
    return f"{name} [{detail}]" if detail and detail != name else name


def _walk(spans: list[Span]) -> Iterator[tuple[Span, str, str]]:
    """The spans in tree order, each with the prefix and branch that draw it."""
    roots, children = children_map(spans)

    def walk(span: Span, prefix: str, last: bool, depth: int) -> Iterator[tuple[Span, str, str]]:
        yield span, prefix, "" if depth == 0 else ("└─ " if last else "├─ ")
        kids = children.get(span.span_id, [])
        extension = "" if depth == 0 else ("   " if last else "│  ")
        for index, child in enumerate(kids):
            yield from walk(child, prefix + extension, index == len(kids) - 1, depth + 1)

    for root in roots:
        yield from walk(root, "", True, 0)


def tree_order(spans: list[Span]) -> list[Span]:
    """The spans in the order an outline draws them."""
    return [span for span, _, _ in _walk(spans)]


def outline_lines(spans: list[Span], width: int = 80, with_ids: bool = True) -> Iterator[str]:
    for span, prefix, branch in _walk(spans):
        flags = "".join(
            [" (orphan)" if span.orphan else "", " (cycle broken)" if span.cycle_broken else ""]
        )
        ident = f"{span.span_id}  " if with_ids else ""
        yield (
            f"{prefix}{branch}{ident}{span.kind:<9} {span_label(span)}  {span.status}  {duration_text(span)}"
            f"{flags}  {preview(span, width)}".rstrip()
        )


def render_outline(trace: Trace, spans: list[Span], width: int = 80) -> str:
    head = (
        f"trace {trace.trace_id}  {trace.name or ''}  {trace.status}  {trace.span_count} spans"
        f"  {trace.start_time or '-'}"
    )
    slices = ", ".join(f"{k}={v}" for k, v in trace.slices().items())
    lines = [head] + ([slices] if slices else []) + list(outline_lines(spans, width))
    return "\n".join(lines)
