"""Tool definitions carried in traces, and checking arguments against their JSON schemas.

Formats carry tool definitions in different places: OpenInference `llm.tools.N.tool.json_schema`,
GenAI `gen_ai.tool.definitions`, LangSmith `invocation_params.tools`, Responses/Chat Completions
`tools` lists. They all describe a tool as a name plus a JSON schema of its parameters, in one of
a few envelopes; this module finds them wherever they sit in span attributes.

The validator covers the JSON Schema keywords tool definitions use (type, required, properties,
additionalProperties, enum, items, minimum/maximum, and OpenAPI's `nullable`); a required field
with a default may be left out. It validates the invocation as the tool received it: an
instrumentation envelope (`{"args": [...], "kwargs": {...}}`) or a positional list is mapped onto
the declared parameters first. It reports the first few violations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from investigator.models import Span

_MAX_DEPTH = 6


def _loads(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _definition(value: Any) -> tuple[str, dict[str, Any]] | None:
    """(name, parameters schema) when `value` is a tool definition in any common envelope."""
    value = _loads(value)
    if not isinstance(value, dict):
        return None
    inner = value.get("function") if isinstance(value.get("function"), dict) else value
    name = inner.get("name")
    for key in ("parameters", "input_schema", "inputSchema", "params_json_schema"):
        schema = _loads(inner.get(key))
        if isinstance(name, str) and name and isinstance(schema, dict):
            return name, schema
    return None


def _walk(value: Any, depth: int, out: dict[str, dict[str, Any]]) -> None:
    if depth > _MAX_DEPTH:
        return
    value = _loads(value)
    found = _definition(value)
    if found is not None:
        out.setdefault(found[0], found[1])
        return
    if isinstance(value, dict):
        for item in value.values():
            _walk(item, depth + 1, out)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1, out)


def _parameters(value: Any) -> dict[str, Any] | None:
    """A tool span's own `tool.parameters`: a JSON schema, or a bare map of parameter schemas
    (which says nothing about which are required)."""
    value = _loads(value)
    if not isinstance(value, dict) or not value:
        return None
    if "properties" in value or value.get("type") == "object":
        return value
    if all(isinstance(v, dict) and "type" in v for v in value.values()):
        return {"type": "object", "properties": value}
    return None


def tool_schemas(spans: Iterable[Span]) -> dict[str, dict[str, Any]]:
    """Tool name → parameters schema, from every tool definition in the spans' attributes."""
    out: dict[str, dict[str, Any]] = {}
    for span in spans:
        if span.kind == "tool" and span.tool_name and (own := _parameters(span.attributes.get("tool.parameters"))):
            out.setdefault(span.tool_name, own)
        for key, value in span.attributes.items():
            if isinstance(value, str) and value.lstrip()[:1] not in ("{", "["):
                continue  # a plain string is never a definition, nor holds one
            if not isinstance(value, (str, dict, list)):
                continue
            lowered = key.lower()
            if "tool" in lowered or "function" in lowered or lowered.endswith("invocation_params"):
                _walk(value, 0, out)
            elif isinstance(value, (dict, list)) or (isinstance(value, str) and "\"parameters\"" in value):
                _walk(value, 1, out)
    return out


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _type_ok(value: Any, expected: str) -> bool:
    types = _TYPES.get(expected)
    if types is None:
        return True
    if isinstance(value, bool) and expected in ("integer", "number"):
        return False
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, types)


def invocation(value: Any, schema: dict[str, Any]) -> Any:
    """The arguments a call passed, by parameter name: positional values (a list, or the `args` of an
    `{"args": [...], "kwargs": {...}}` envelope) take the declared parameters in order."""
    properties = schema.get("properties")
    names = list(properties) if isinstance(properties, dict) else []
    if isinstance(value, list) and names:
        return dict(zip(names, value, strict=False))
    if (
        isinstance(value, dict)
        and {"args", "kwargs"} & set(value)
        and not set(value) & set(names)  # the envelope's own keys (args, kwargs, flags) are no parameters
        and isinstance(value.get("args", []), list)
        and isinstance(value.get("kwargs", {}), dict)
    ):
        return {**dict(zip(names, value.get("args") or [], strict=False)), **(value.get("kwargs") or {})}
    return value


def validate(value: Any, schema: dict[str, Any], path: str = "", limit: int = 5) -> list[str]:
    """Violations of `schema` by the invocation `value`, as short messages naming the offending path."""
    problems: list[str] = []
    if not path:
        value = invocation(value, schema)
    _check(value, schema, path or "arguments", problems, limit)
    return problems[:limit]


def _check(value: Any, schema: Any, path: str, problems: list[str], limit: int) -> None:
    if len(problems) >= limit or not isinstance(schema, dict):
        return
    if value is None and schema.get("nullable") is True:
        return
    for combinator in ("anyOf", "oneOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            if not any(not validate(value, o, path) for o in options if isinstance(o, dict)):
                problems.append(f"{path}: matches none of the allowed shapes")
            return
    expected = schema.get("type")
    if expected is not None:
        allowed = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in allowed):
            problems.append(f"{path}: expected {'/'.join(map(str, allowed))}, got {_name(value)}")
            return
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        problems.append(f"{path}: {value!r} is not one of {enum}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(schema.get("minimum"), (int, float)) and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if isinstance(schema.get("maximum"), (int, float)) and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for name in schema.get("required") or []:
            declared = properties.get(name)
            if name not in value and not _may_be_left_out(declared):
                problems.append(f"{path}: missing required field {name!r}")
        for name, item in value.items():
            if name in properties:
                _check(item, properties[name], f"{path}.{name}", problems, limit)
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}: unexpected field {name!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", problems, limit)


def _may_be_left_out(declared: Any) -> bool:
    """A required field with a default, or one that may be null (strict schemas list every field as
    required and mark the optional ones nullable; frameworks accept them left out)."""
    if not isinstance(declared, dict):
        return False
    if "default" in declared or declared.get("nullable") is True:
        return True
    kinds = declared.get("type")
    if kinds == "null" or isinstance(kinds, list) and "null" in kinds:
        return True
    options = [*(declared.get("anyOf") or []), *(declared.get("oneOf") or [])]
    return any(isinstance(o, dict) and o.get("type") == "null" for o in options)


def _name(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__
