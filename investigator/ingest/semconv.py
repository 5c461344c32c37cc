"""Span attribute conventions → normalised span fields: the entry point, and OpenInference.

Conventions are written as flat dotted keys (`llm.input_messages.0.message.role`,
`gen_ai.usage.input_tokens`, `ai.usage.inputTokens`). `map_attributes` reads whichever is present
— OpenInference, current and deprecated GenAI names (with pydantic-ai's), OpenLLMetry's flattened
prompts, Traceloop entity keys, the Vercel AI SDK's `ai.*` keys — and returns the fields they imply
plus the attributes that were not folded into `input`/`output`. Flattened, indexed message keys
(OpenInference, OpenLLMetry) are rebuilt here; GenAI message bodies are read by `semconv_genai`,
AI SDK ones by `semconv_ai_sdk`. Every OpenTelemetry-shaped adapter shares this, so a span means
the same whichever file it arrived in.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from investigator.ingest.base import as_float, as_int, as_text, kind_from, maybe_json
from investigator.ingest.semconv_ai_sdk import operation_kind, prompt_messages, response_messages
from investigator.ingest.semconv_genai import (
    Messages,
    content_from_events,
    dumps,
    event_messages,
    genai_messages,
    logfire_events,
    system_message,
    tool_call,
    with_system,
)

__all__ = ["content_from_events", "convention_kind", "genai_messages", "hints_from", "map_attributes"]

# Keys whose content becomes `input`/`output`; dropped from the leftover attributes.
_FOLDED_KEYS = frozenset({
    "input.value", "output.value", "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.system_instructions", "gen_ai.prompt", "gen_ai.completion",
    "traceloop.entity.input", "traceloop.entity.output",
    "pydantic_ai.all_messages", "all_messages_events",
    "ai.prompt", "ai.prompt.messages", "ai.response.text", "ai.response.toolCalls", "ai.response.object",
})
_MESSAGE_KEY = re.compile(
    r"^(llm\.input_messages|llm\.output_messages|gen_ai\.prompt|gen_ai\.completion)\.(\d+)\.(.+)$"
)
_TOOL_CALL_KEY = re.compile(r"^tool_calls\.(\d+)\.(?:tool_call\.)?(.+)$")
_CONTENT_PART_KEY = re.compile(r"^contents\.(\d+)\.message_content\.text$")
_DOCUMENT_KEY = re.compile(r"^retrieval\.documents\.(\d+)\.document\.(id|content|score|metadata)$")
# Flattened message fields by key prefix, then by message index.
_Groups = dict[str, dict[int, dict[str, Any]]]
# What each of those patterns starts with: a key without it cannot match, so it skips the regex.
_MESSAGE_PREFIXES = ("llm.input_messages.", "llm.output_messages.", "gen_ai.prompt.", "gen_ai.completion.")
_TOOL_CALL_PREFIX = "tool_calls."
_CONTENT_PART_PREFIX = "contents."
_DOCUMENT_PREFIX = "retrieval.documents."


@dataclass(frozen=True, slots=True)
class _Lookups:
    """The keys each field is read from, in the order they are tried."""

    kind: tuple[str, ...] = ("openinference.span.kind", "gen_ai.operation.name", "traceloop.span.kind",
                             "llm.request.type")
    model: tuple[str, ...] = ("llm.model_name", "gen_ai.response.model", "gen_ai.request.model",
                              "ai.response.model", "ai.model.id", "embedding.model_name", "reranker.model_name")
    tool_name: tuple[str, ...] = ("tool.name", "gen_ai.tool.name", "tool_call.function.name", "ai.toolCall.name")
    tool_args: tuple[str, ...] = ("tool_call.function.arguments", "gen_ai.tool.call.arguments", "ai.toolCall.args",
                                  "tool_arguments")
    tool_result: tuple[str, ...] = ("gen_ai.tool.call.result", "ai.toolCall.result", "tool_response")
    tokens_in: tuple[str, ...] = ("llm.token_count.prompt", "gen_ai.usage.input_tokens",
                                  "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens", "ai.usage.inputTokens",
                                  "ai.usage.promptTokens")
    tokens_out: tuple[str, ...] = ("llm.token_count.completion", "gen_ai.usage.output_tokens",
                                   "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens",
                                   "ai.usage.outputTokens", "ai.usage.completionTokens")
    plain_in: tuple[str, ...] = ("input.value", "traceloop.entity.input")
    plain_out: tuple[str, ...] = ("output.value", "traceloop.entity.output")
    agent: tuple[str, ...] = ("agent.name", "gen_ai.agent.name", "agent_name")
    agent_run: tuple[str, ...] = ("traceloop.entity.name", "ai.telemetry.functionId")
    session: tuple[str, ...] = ("session.id", "gen_ai.conversation.id", "traceloop.association.properties.session_id")
    user: tuple[str, ...] = ("user.id", "enduser.id", "traceloop.association.properties.user_id")
    cost: tuple[str, ...] = ("llm.cost.total", "gen_ai.usage.cost")


# Keys of the conventions other than OpenInference (GenAI, OpenLLMetry, Traceloop, the AI SDK,
# pydantic-ai) that `map_attributes` reads. A span with none of them is read with `_OPENINFERENCE`.
_OTHER_PREFIXES = ("gen_ai.", "ai.", "traceloop.", "pydantic_ai.", "tool_call.", "llm.usage.")
_OTHER_KEYS = frozenset({"llm.request.type", "events", "all_messages_events", "tool_arguments", "tool_response",
                         "agent_name", "model_name", "final_result", "enduser.id"})
_OPENINFERENCE_GROUPS = frozenset({"llm.input_messages", "llm.output_messages"})


@functools.lru_cache(maxsize=4096)
def _other_convention(key: str) -> bool:
    """Whether `map_attributes` reads this key for a convention other than OpenInference."""
    return key in _OTHER_KEYS or key.startswith(_OTHER_PREFIXES)


_ALL = _Lookups()
_OPENINFERENCE = _Lookups(**{
    name: tuple(k for k in getattr(_ALL, name) if not _other_convention(k)) for name in _Lookups.__dataclass_fields__
})
_FOLDED_OTHER = frozenset(k for k in _FOLDED_KEYS if _other_convention(k))
# pydantic-ai's version-1 format keeps its message events as JSON in one of these attributes.
_LOGFIRE_EVENT_KEYS = ("events", "all_messages_events")


def _openinference_only(attrs: dict[str, Any], groups: _Groups, rest: dict[str, Any]) -> bool:
    """Whether a span carries no key of another convention: then only OpenInference's keys are
    looked up (skipping the others' lookups and fallbacks saved 18k of the 123k instructions
    `map_attributes` took a span of the ingest benchmark's file, under callgrind)."""
    return (groups.keys() <= _OPENINFERENCE_GROUPS and _FOLDED_OTHER.isdisjoint(attrs.keys())
            and not any(map(_other_convention, rest)))


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first of the keys with a value, empty text counting as none."""
    for key in keys:
        value = attrs.get(key)
        if value not in (None, ""):
            return value
    return None


def _given(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first of the keys that is present, empty text included (a tool that returned nothing)."""
    return next((attrs[key] for key in keys if attrs.get(key) is not None), None)


@functools.lru_cache(maxsize=16384)
def _message_key(key: str) -> tuple[str, int, str, str] | None:
    """A flattened message key's prefix, message index, field as written and field name (without
    `message.`), or None. Cached: spans repeat the same keys, and a hit costs a tenth of the regex."""
    match = _MESSAGE_KEY.match(key) if key.startswith(_MESSAGE_PREFIXES) else None
    if match is None:
        return None
    written = match.group(3)
    return match.group(1), int(match.group(2)), written, written.removeprefix("message.")


def _split_attributes(attrs: dict[str, Any]) -> tuple[_Groups, dict[str, Any]]:
    """The flattened message keys, grouped by prefix and index (each field named without its
    `message.` prefix), and the attributes left once those, folded keys and empty values are out."""
    groups: _Groups = {}
    rest: dict[str, Any] = {}
    for key, value in attrs.items():
        parts = _message_key(key)
        if parts:
            prefix, index, _, name = parts
            fields = groups.setdefault(prefix, {}).setdefault(index, {})
            if name in fields:  # two keys name one field ("0"/"00", "message.role"/"role"): rare
                return _split_attributes_renaming_after(attrs)
            fields[name] = value
        elif key not in _FOLDED_KEYS and value is not None:
            rest[key] = value
    return groups, rest


def _split_attributes_renaming_after(attrs: dict[str, Any]) -> tuple[_Groups, dict[str, Any]]:
    """`_split_attributes` renaming the fields once grouped under the names written, which decides
    which of two keys naming one field wins (the one whose written name came later)."""
    groups: _Groups = {}
    rest: dict[str, Any] = {}
    for key, value in attrs.items():
        parts = _message_key(key)
        if parts:
            prefix, index, written, _ = parts
            groups.setdefault(prefix, {}).setdefault(index, {})[written] = value
        elif key not in _FOLDED_KEYS and value is not None:
            rest[key] = value
    renamed = {
        prefix: {
            index: {k.removeprefix("message."): v for k, v in fields.items()} for index, fields in by_index.items()
        }
        for prefix, by_index in groups.items()
    }
    return renamed, rest


def _indexed_messages(groups: _Groups, prefix: str, role: str) -> list[dict[str, Any]]:
    """Rebuild a message list from flattened `prefix.N.…` keys (OpenInference or OpenLLMetry)."""
    by_index = groups.get(prefix) or {}
    return [_message_from_fields(by_index[i], role) for i in sorted(by_index)]


def _message_from_fields(fields: dict[str, Any], default_role: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": fields.get("role") or default_role}
    content = fields.get("content")
    if content is None:
        parts = sorted(
            (int(m.group(1)), v)
            for k, v in fields.items()
            if (m := _content_part_key(k)) and v is not None
        )
        content = "\n".join(str(v) for _, v in parts) if parts else None
    if content is not None:
        message["content"] = content if isinstance(content, str) else dumps(content)
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        match = _tool_call_key(key)
        if not match:
            continue
        call = calls.setdefault(int(match.group(1)), {})
        name = match.group(2)
        if name in ("function.name", "name"):
            call["name"] = value
        elif name in ("function.arguments", "arguments"):
            call["arguments"] = value
        elif name == "id":
            call["id"] = value
    if calls:
        message["tool_calls"] = [
            tool_call(calls[i].get("id"), calls[i].get("name"), calls[i].get("arguments")) for i in sorted(calls)
        ]
    for key in ("tool_call_id", "name"):
        if fields.get(key):
            message[key] = fields[key]
    return message


def _tool_call_key(key: str) -> re.Match[str] | None:
    """`_TOOL_CALL_KEY.match`, after a prefix test: a message's role and content skip the regex."""
    return _TOOL_CALL_KEY.match(key) if key.startswith(_TOOL_CALL_PREFIX) else None


def _content_part_key(key: str) -> re.Match[str] | None:
    """`_CONTENT_PART_KEY.match`, after a prefix test: a message's other fields skip the regex."""
    return _CONTENT_PART_KEY.match(key) if key.startswith(_CONTENT_PART_PREFIX) else None


def _document_key(key: str) -> re.Match[str] | None:
    """`_DOCUMENT_KEY.match`, after a prefix test: a retriever's other attributes skip the regex."""
    return _DOCUMENT_KEY.match(key) if key.startswith(_DOCUMENT_PREFIX) else None


def _documents(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    docs: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _document_key(key)
        if match and value is not None:
            docs.setdefault(int(match.group(1)), {})[match.group(2)] = maybe_json(value)
    return [docs[i] for i in sorted(docs)]


def convention_kind(attrs: dict[str, Any]) -> str:
    """The kind a convention states outright, else "unknown": a kind key, the AI SDK's operation,
    or pydantic-ai's agent run span (which, in its version-1 format, names no operation)."""
    return _convention_kind(attrs, _ALL)


def _convention_kind(attrs: dict[str, Any], keys: _Lookups) -> str:
    for key in keys.kind:
        kind = kind_from(attrs.get(key))
        if kind != "unknown":
            return kind
    if keys is _OPENINFERENCE:
        return "unknown"
    kind = operation_kind(attrs)
    if kind == "unknown" and attrs.get("agent_name") and attrs.get("model_name"):
        kind = "agent"
    return kind


def _other_input(attrs: dict[str, Any], groups: _Groups, events: Messages) -> Messages:
    """Input messages in the other conventions' keys (read when OpenInference's hold none)."""
    return (
        _indexed_messages(groups, "gen_ai.prompt", "user")
        or genai_messages(attrs.get("gen_ai.input.messages"), "user")
        or genai_messages(attrs.get("pydantic_ai.all_messages"), "user")
        or genai_messages(attrs.get("gen_ai.prompt"), "user")
        or prompt_messages(attrs)
        or events
    )


def _other_output(attrs: dict[str, Any], groups: _Groups, events: Messages) -> Messages:
    """Output messages in the other conventions' keys (read when OpenInference's hold none)."""
    return (
        _indexed_messages(groups, "gen_ai.completion", "assistant")
        or genai_messages(attrs.get("gen_ai.output.messages"), "assistant")
        or genai_messages(attrs.get("gen_ai.completion"), "assistant")
        or response_messages(attrs)
        or events
    )


def map_attributes(attrs: dict[str, Any], name: str = "", kind_hint: Any = None) -> dict[str, Any]:
    """Map flat dotted attributes onto span fields.

    Returns a dict with `kind, model, tool_name, tool_args, input, output, tokens_in, tokens_out,
    cost, agent, session_id, user_id, hints` and `attributes` (what was not folded into input or
    output). `name` (the span name) and `kind_hint` (a format's own kind word, used when no
    convention key says) only fill gaps."""
    groups, rest = _split_attributes(attrs)
    keys = _OPENINFERENCE if _openinference_only(attrs, groups, rest) else _ALL
    model = _first(attrs, keys.model)
    input_messages = _indexed_messages(groups, "llm.input_messages", "user")
    output_messages = _indexed_messages(groups, "llm.output_messages", "assistant")
    traceloop_kind = "unknown"
    if keys is _ALL:
        events: list[dict[str, Any]] = []
        for key in _LOGFIRE_EVENT_KEYS:
            found = logfire_events(attrs.get(key))
            if found is not None:
                events.extend(found)
                rest.pop(key, None)
        events_in, events_out, _, _ = event_messages(events)
        input_messages = with_system(system_message(attrs.get("gen_ai.system_instructions")),
                                     input_messages or _other_input(attrs, groups, events_in))
        output_messages = output_messages or _other_output(attrs, groups, events_out)
        traceloop_kind = kind_from(attrs.get("traceloop.span.kind"))

    tool_name = _first(attrs, keys.tool_name)
    if tool_name is None and traceloop_kind == "tool":
        tool_name = attrs.get("traceloop.entity.name")
    kind = _convention_kind(attrs, keys)
    if kind == "unknown":
        kind = kind_from(kind_hint)
    if kind == "unknown":
        if model and (input_messages or output_messages):
            kind = "llm"
        elif tool_name:
            kind = "tool"
    if kind == "tool" and tool_name is None and name.startswith("execute_tool "):
        tool_name = name.removeprefix("execute_tool ").strip() or None

    plain_in = _first(attrs, keys.plain_in)
    plain_out = _first(attrs, keys.plain_out)
    if kind == "tool":
        plain_in = plain_in if plain_in is not None else _given(attrs, keys.tool_args)
        plain_out = plain_out if plain_out is not None else _given(attrs, keys.tool_result)
    if keys is _ALL:
        if plain_in is None and isinstance(attrs.get("gen_ai.prompt"), str):
            plain_in = attrs["gen_ai.prompt"]
        if plain_out is None and isinstance(attrs.get("gen_ai.completion"), str):
            plain_out = attrs["gen_ai.completion"]
    if plain_out is None and kind == "retriever":
        documents = _documents(attrs)
        plain_out = documents or None
    if plain_out is None and kind == "agent" and keys is _ALL:
        plain_out = attrs.get("final_result")

    fields: dict[str, Any] = {
        "kind": kind,
        "model": as_text(model),
        "tool_name": None,
        "tool_args": None,
        "input": dumps(input_messages) if input_messages else as_text(plain_in),
        "output": dumps(output_messages) if output_messages else as_text(plain_out),
    }
    if kind == "tool":
        fields["tool_name"] = as_text(tool_name)
        args = _first(attrs, keys.tool_args)
        fields["tool_args"] = as_text(args if args is not None else plain_in)
    fields["tokens_in"] = as_int(_first(attrs, keys.tokens_in))
    fields["tokens_out"] = as_int(_first(attrs, keys.tokens_out))
    fields["cost"] = _cost(attrs, keys)
    agent = _first(attrs, keys.agent)
    if agent is None and kind == "agent":
        agent = _first(attrs, keys.agent_run)
        agent = agent or name.removeprefix("invoke_agent ").strip() or None
    fields["agent"] = as_text(agent)
    fields["session_id"] = as_text(_first(attrs, keys.session))
    fields["user_id"] = as_text(_first(attrs, keys.user))
    fields["hints"] = hints_from(rest)  # what is left holds every hint key, in a fraction of the keys
    fields["attributes"] = rest
    return fields


def _cost(attrs: dict[str, Any], keys: _Lookups) -> float | None:
    total = as_float(_first(attrs, keys.cost))
    if total is not None:
        return total
    parts = [as_float(attrs.get(k)) for k in ("llm.cost.prompt", "llm.cost.completion")]
    if any(p is not None for p in parts):
        return sum(p for p in parts if p is not None)
    return None


_AGENT_VERSION_KEYS = ("agent.version", "gen_ai.agent.version", "app.version", "deployment.version")
_PROMPT_VERSION_KEYS = ("prompt.version", "llm.prompt_template.version", "gen_ai.prompt.version",
                        "traceloop.prompt.version")
_ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment")
_HINT_KEYS = frozenset({*_AGENT_VERSION_KEYS, *_PROMPT_VERSION_KEYS, *_ENVIRONMENT_KEYS,
                        "service.version", "tag.tags", "metadata"})
_METADATA_PREFIX = "metadata."


def _hint_attributes(attrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """In one pass over the keys: the attributes hints are read from, and the flattened
    `metadata.*` ones named without their prefix (how nested exports arrive)."""
    found: dict[str, Any] = {}
    flat_metadata: dict[str, Any] = {}
    for key, value in attrs.items():
        if key in _HINT_KEYS:
            found[key] = value
        elif key.startswith(_METADATA_PREFIX):
            flat_metadata[key.removeprefix(_METADATA_PREFIX)] = value
    return found, flat_metadata


def hints_from(attrs: dict[str, Any]) -> dict[str, Any]:
    """Trace-level slicing facts (versions, environment, tags, metadata) from span or resource attributes."""
    found, flat_metadata = _hint_attributes(attrs)
    if not found and not flat_metadata:  # most spans carry none: nothing more to look up
        return {}
    hints: dict[str, Any] = {}
    agent_version = _first(found, _AGENT_VERSION_KEYS)
    if agent_version is not None:
        hints["agent_version"] = str(agent_version)
    prompt_version = _first(found, _PROMPT_VERSION_KEYS)
    if prompt_version is not None:
        hints["prompt_version"] = str(prompt_version)
    environment = _first(found, _ENVIRONMENT_KEYS)
    if environment is not None:
        hints["environment"] = str(environment)
    if found.get("service.version") not in (None, ""):
        hints["service_version"] = str(found["service.version"])
    tags = maybe_json(found.get("tag.tags"))
    if tags:
        hints["tags"] = [str(t) for t in tags] if isinstance(tags, list) else [str(tags)]
    metadata = maybe_json(found.get("metadata"))
    if not isinstance(metadata, dict):
        metadata = flat_metadata
    if metadata:
        hints["metadata"] = metadata
        for key in ("agent_version", "prompt_version"):
            if metadata.get(key) not in (None, "") and key not in hints:
                hints[key] = str(metadata[key])
    return hints
