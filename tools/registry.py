"""The span tools as the model sees them: typed functions whose signature is the JSON schema and
whose docstring is the description.

`tool_specs()` gives OpenAI function specs in a stable order; `call_tool()` validates a call's
arguments, runs the tool, caps the result and turns every failure into text the model can act
on. It never raises: a broken call must cost the model one turn, never the investigation.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from investigator.errors import ToolError
from investigator.tools import spans, submit
from investigator.tools.context import ToolContext, ToolResult

TOOLS: dict[str, Callable[..., str | ToolResult]] = {
    fn.__name__: fn
    for fn in (
        spans.cluster_overview,
        spans.trace_outline,
        spans.read_span,
        spans.read_span_exact,
        spans.get_children,
        spans.get_spans_by_type,
        spans.search_spans,
        spans.investigate_subset,
        submit.submit_finding,
        submit.submit_scores,
        submit.submit_summary,
    )
}

# What to do when a tool's result was too long to show whole.
_MORE: dict[str, str] = {
    "cluster_overview": "call trace_outline(trace_id) for one trace at a time",
    "trace_outline": "call get_children(trace_id, span_id) to expand one subtree, or "
    "get_spans_by_type(kind, trace_id) to list the spans of one kind",
    "read_span": "call read_span(trace_id, span_id, field) for one field, or "
    "read_span_exact(trace_id, span_id, field, offset=0) for a verbatim slice",
    "read_span_exact": "call read_span_exact again with a larger offset",
    "get_children": "call read_span on the child you need",
    "get_spans_by_type": "pass trace_id to list one trace's spans",
    "search_spans": "use a more specific query or a smaller limit",
}


def _docs(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The description (docstring up to `Args:`) and per-argument descriptions of a tool."""
    doc = inspect.cleandoc(fn.__doc__ or "")
    head, _, args = doc.partition("\nArgs:\n")
    described: dict[str, str] = {}
    current: str | None = None
    for line in args.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        name, sep, text = stripped.partition(":")
        if sep and line.startswith("    ") and not line.startswith("        ") and name.isidentifier():
            current = name
            described[name] = text.strip()
        elif current is not None:
            described[current] += " " + stripped
    paragraphs = [" ".join(p.split()) for p in head.strip().split("\n\n")]
    return "\n\n".join(paragraphs), described


def _arguments_model(fn: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of a tool's arguments: every parameter after `ctx`."""
    hints = get_type_hints(fn, include_extras=True)
    _, described = _docs(fn)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(fn).parameters.values())[1:]:
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], Field(default, description=described.get(param.name)))
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve `$ref`s into `$defs` and drop schema titles: providers differ in what they accept
    and a flat schema is read by all of them."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs" or (key == "title" and isinstance(value, str)):
            continue
        if key == "properties":
            out[key] = {name: _inline(schema, defs) for name, schema in value.items()}
        else:
            out[key] = _inline(value, defs)
    return out


_MODELS: dict[str, type[BaseModel]] = {name: _arguments_model(fn) for name, fn in TOOLS.items()}


def tool_schema(name: str) -> dict[str, Any]:
    """The JSON schema of one tool's arguments."""
    schema = _MODELS[name].model_json_schema()
    return _inline(schema, schema.get("$defs", {}))


def tool_specs() -> list[dict[str, Any]]:
    """Every tool as an OpenAI function spec, in a fixed order (part of the cacheable prefix)."""
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": _docs(fn)[0],
                "parameters": tool_schema(name),
            },
        }
        for name, fn in TOOLS.items()
    ]


def _validation_text(name: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        if error["type"] == "extra_forbidden":
            problems.append(f"- {where}: not an argument of {name}")
        else:
            problems.append(f"- {where}: {error['msg']}")
    expected = ", ".join(
        f"{field}{'' if info.is_required() else '?'}" for field, info in _MODELS[name].model_fields.items()
    )
    return (
        f"error: invalid arguments for {name}:\n" + "\n".join(problems)
        + f"\n{name} takes ({expected}); fix the arguments and call it again."
    )


def cap(text: str, limit: int, advice: str) -> str:
    """`text` cut to `limit` characters, with how much was cut and how to see the rest. A cut
    inside a data fence closes the fence, so what follows is never mistaken for data."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if head.count("<trace_data ") > head.count("</trace_data>"):
        head += "\n</trace_data>"
    return f"{head}\n[… truncated at {limit} of {len(text)} characters; {advice}]"


def _parse(arguments: Any) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ToolError(f"the arguments are not valid JSON ({exc}); send a JSON object") from None
    if not isinstance(arguments, dict):
        raise ToolError("the arguments must be a JSON object of named arguments")
    if set(arguments) == {"_raw"}:
        # How providers pass on an argument string that was not valid JSON.
        raw = str(arguments["_raw"])
        shown = raw if len(raw) <= 200 else raw[:200] + "…"
        raise ToolError(f"the arguments are not valid JSON: {shown!r}; send a JSON object")
    return arguments


def _run(ctx: ToolContext, name: str, arguments: Any) -> str:
    tool = TOOLS.get(name)
    if tool is None:
        return f"error: there is no tool {name!r}; the tools are: {', '.join(TOOLS)}"
    try:
        parsed = _MODELS[name].model_validate(_parse(arguments))
    except ToolError as exc:
        return f"error: {name}: {exc}"
    except ValidationError as exc:
        return _validation_text(name, exc)
    values = {field: getattr(parsed, field) for field in _MODELS[name].model_fields}
    try:
        result = tool(ctx, **values)
    except ToolError as exc:
        return f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - a tool bug must not end the investigation
        return (
            f"error: {name} failed ({type(exc).__name__}: {exc}); try different arguments or "
            "another tool"
        )
    capped = cap(result, ctx.max_result_chars, _MORE.get(name, "ask for less"))
    # Data describes what the text shows: a result cut short keeps none.
    return ToolResult(capped, getattr(result, "data", None) if capped == result else None)


def call_tool(ctx: ToolContext, name: str, arguments: dict[str, Any] | str | None) -> ToolResult:
    """Run tool `name` with the model's `arguments`; always returns text for the model (with the
    tool's typed data, when it has some, in `.data`)."""
    try:
        result: str = _run(ctx, name, arguments)
    except Exception as exc:  # noqa: BLE001 - never raise into the loop
        result = f"error: {name} could not run ({type(exc).__name__}: {exc})"
    try:
        note = ctx.budget_note() if ctx.budget_note is not None else ""
    except Exception:  # noqa: BLE001 - a broken note must not hide the result
        note = ""
    return ToolResult(f"{result}\n{note}" if note else result, getattr(result, "data", None))
