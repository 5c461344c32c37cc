"""LangSmith runs: the rows `Client.list_runs` and the run export API write, and the ingestion
payloads the SDK sends while tracing (`/runs/batch` bodies, `/runs/multipart` forms; see
`langsmith_payloads`), in one file or mixed.

A run has `id, name, run_type` (llm, chain, tool, retriever, embedding, prompt, parser), `inputs,
outputs, error, parent_run_id, trace_id, dotted_order, start_time, end_time` (ISO, usually without
a zone, meaning UTC), `extra{metadata, invocation_params, runtime}, events, tags, session_id`
(the project's id), `prompt_tokens, completion_tokens, total_cost, status`.

LLM runs carry LangChain-serialised messages (`{"lc": 1, "type": "constructor", "id": [...,
"HumanMessage"], "kwargs": {...}}`), `message.dict()` shapes (`{"type": "human", ...}`) or OpenAI
chat dicts; all become the canonical messages of `base.py`. The LangChain message helpers here are
also used by the Langfuse adapter, whose LangChain integration records the same shapes.

Token counts and costs are taken from LLM runs only: LangSmith also writes them on chain runs,
but there they are sums over the children and would count every call twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import orjson

from investigator.errors import RecordError
from investigator.ingest.base import (
    ParseResult,
    Rejected,
    as_float,
    as_int,
    as_text,
    flatten,
    iter_results,
    kind_from,
    span_row,
    time_field,
)
from investigator.ingest.langsmith_payloads import dotted_ids, is_payload, unpack
from investigator.timefmt import to_iso

NAME = "langsmith"

_ROLES: dict[str, str] = {
    "HumanMessage": "user", "HumanMessageChunk": "user", "human": "user", "user": "user",
    "AIMessage": "assistant", "AIMessageChunk": "assistant", "ai": "assistant", "assistant": "assistant",
    "SystemMessage": "system", "SystemMessageChunk": "system", "system": "system",
    "ToolMessage": "tool", "ToolMessageChunk": "tool", "tool": "tool",
    "FunctionMessage": "tool", "function": "tool",
}
# Tags LangChain adds for a runnable's position in a sequence or map; they say nothing about the trace.
_POSITIONAL_TAG = re.compile(r"^(seq:step:\d+|map:key:.*|graph:step:\d+)$")
_TRACEBACK = "Traceback (most recent call last):"
_REPR_ERROR = re.compile(r"^([A-Za-z_][\w.]*)\((.*)\)$", re.DOTALL)
_TYPED_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout)): ?(.*)$", re.DOTALL)
_QUIET_EVENTS = frozenset({"start", "end", "new_token"})


def sniff(record: Any) -> bool:
    return (isinstance(record, dict) and "run_type" in record) or is_payload(record)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _content_text(content: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """Message content as text, plus any tool calls written as content blocks (Anthropic `tool_use`)."""
    if content is None or isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return _dumps(content), []
    texts, calls = [], []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") == "tool_use":
            arguments = _dumps(part.get("input") or {})
            calls.append({"id": part.get("id"), "name": part.get("name"), "arguments": arguments})
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            texts.append(_dumps(part))
    return "\n".join(texts), calls


def _tool_calls(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool calls with the argument text the model wrote: OpenAI-style `function.arguments` strings
    (top level or in `additional_kwargs`) win over LangChain's parsed `args`, which are re-serialised
    only when no exact text was recorded. Unparseable calls (`invalid_tool_calls`) are kept too."""
    extra = fields.get("additional_kwargs") if isinstance(fields.get("additional_kwargs"), dict) else {}
    exact: dict[Any, dict[str, Any]] = {}
    ordered: list[dict[str, Any]] = []
    for call in list(fields.get("tool_calls") or []) + list(extra.get("tool_calls") or []):
        if isinstance(call, dict) and isinstance(call.get("function"), dict):
            function = call["function"]
            arguments = as_text(function.get("arguments")) or ""
            out = {"id": call.get("id"), "name": function.get("name"), "arguments": arguments}
            if call.get("id") not in exact:
                exact[call.get("id")] = out
                ordered.append(out)
    legacy = extra.get("function_call")
    if isinstance(legacy, dict) and not ordered:
        arguments = as_text(legacy.get("arguments")) or ""
        ordered.append({"id": None, "name": legacy.get("name"), "arguments": arguments})
    for key in ("tool_calls", "invalid_tool_calls"):
        for call in fields.get(key) or []:
            if not isinstance(call, dict) or "function" in call:
                continue
            if call.get("id") is not None and call.get("id") in exact:
                continue
            args = call.get("args")
            ordered.append({
                "id": call.get("id"),
                "name": call.get("name"),
                "arguments": args if isinstance(args, str) else _dumps(args if args is not None else {}),
            })
    return [{k: v for k, v in call.items() if v is not None} for call in ordered]


def lc_message(item: Any) -> dict[str, Any] | None:
    """One message in any shape LangChain, LangSmith or OpenAI write, as a canonical message."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("message"), dict) and "role" not in item and "content" not in item:
        item = item["message"]  # an OpenAI choice or a LangChain generation
    if item.get("lc") == 1 and isinstance(item.get("kwargs"), dict):
        ids = item.get("id") or [""]
        fields = item["kwargs"]
        role = _ROLES.get(str(ids[-1]), fields.get("role") or _ROLES.get(fields.get("type", ""), "user"))
    elif "role" in item or "type" in item or "content" in item:
        fields = item
        role = _ROLES.get(str(item.get("role") or item.get("type") or ""), item.get("role") or "user")
    else:
        return None
    message: dict[str, Any] = {"role": role}
    content, block_calls = _content_text(fields.get("content"))
    if content is not None:
        message["content"] = content
    calls = _tool_calls(fields) or [{k: v for k, v in c.items() if v is not None} for c in block_calls]
    if calls:
        message["tool_calls"] = calls
    if fields.get("tool_call_id"):
        message["tool_call_id"] = fields["tool_call_id"]
    if fields.get("name") and role in ("tool", "user", "system"):
        message["name"] = fields["name"]
    return message


def lc_messages(value: Any) -> list[dict[str, Any]] | None:
    """A list of messages (or a batch holding one list) as canonical messages; None if it is not one."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]  # LangChain batches: one message list per prompt, a trace holds one
    if not isinstance(value, list) or not value:
        return None
    converted = [lc_message(m) for m in value]
    if any(m is None for m in converted):
        return None
    return converted  # type: ignore[return-value]


def _llm_input(inputs: Any) -> str | None:
    if isinstance(inputs, dict):
        messages = lc_messages(inputs.get("messages"))
        if messages is not None:
            return _dumps(messages)
        prompts = inputs.get("prompts")
        if isinstance(prompts, list) and prompts:
            return _dumps([{"role": "user", "content": as_text(p)} for p in prompts])
    return as_text(inputs)


def _llm_output(outputs: Any) -> str | None:
    if not isinstance(outputs, dict):
        return as_text(outputs)
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0] if isinstance(generations[0], list) else generations
        messages = []
        for generation in first:
            if not isinstance(generation, dict):
                continue
            message = lc_message(generation.get("message"))
            if message is None:
                message = {"role": "assistant", "content": generation.get("text", "")}
            message["role"] = "assistant"
            messages.append(message)
        if messages:
            return _dumps(messages)
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices:
        messages = [lc_message(c) for c in choices]
        if all(messages):
            return _dumps(messages)
    if isinstance(outputs.get("messages"), list):
        messages = lc_messages(outputs["messages"])
        if messages is not None:
            return _dumps(messages)
    return as_text(outputs)


def _state_text(value: Any) -> str | None:
    """Chain inputs/outputs as recorded, except that a `messages` list of LangChain-serialised
    messages (LangGraph state) is written as canonical messages, a fraction of the size."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        if any(isinstance(m, dict) and m.get("lc") == 1 for m in value["messages"]):
            messages = lc_messages(value["messages"])
            if messages is not None:
                return _dumps({**value, "messages": messages})
    return as_text(value)


def _usage_sources(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield {"in": record.get("prompt_tokens"), "out": record.get("completion_tokens")}
    outputs = record.get("outputs") if isinstance(record.get("outputs"), dict) else {}
    llm_output = outputs.get("llm_output") if isinstance(outputs.get("llm_output"), dict) else {}
    generations = outputs.get("generations")
    message: dict[str, Any] = {}
    if isinstance(generations, list) and generations:
        first = generations[0][0] if isinstance(generations[0], list) and generations[0] else generations[0]
        if isinstance(first, dict) and isinstance(first.get("message"), dict):
            message = first["message"].get("kwargs") or first["message"]
    for usage in (llm_output.get("token_usage"), llm_output.get("usage"), message.get("usage_metadata"),
                  outputs.get("usage_metadata"), outputs.get("usage")):
        if isinstance(usage, dict):
            yield {"in": usage.get("prompt_tokens", usage.get("input_tokens")),
                   "out": usage.get("completion_tokens", usage.get("output_tokens"))}


def _usage(record: dict[str, Any]) -> tuple[int | None, int | None]:
    """Prompt and completion tokens: the run's own counts, else the provider's usage block.
    A zero that another source contradicts is LangSmith's placeholder, not a count."""
    found: tuple[int | None, int | None] = (None, None)
    for source in _usage_sources(record):
        pair = (as_int(source["in"]), as_int(source["out"]))
        if any(pair):
            return pair
        if found == (None, None):
            found = pair
    return found


def _first(values: dict[str, Any], *keys: str) -> Any:
    return next((values[k] for k in keys if values.get(k) not in (None, "")), None)


def _trace_and_parent(record: dict[str, Any], patch_only: bool) -> tuple[Any, Any]:
    """The trace id (old exports lack it: the root run's id, first in `dotted_order`) and the parent.
    Only a full run row without either is taken for a root: a patch need not name its parent."""
    chain = dotted_ids(record)
    parent = record.get("parent_run_id") or (chain[-2] if len(chain) >= 2 else None)
    trace_id = record.get("trace_id") or (chain[0] if chain else None)
    if not trace_id:
        if parent or patch_only:
            raise RecordError("field 'trace_id' is missing and 'dotted_order' cannot give it")
        trace_id = record.get("id")
    return trace_id, parent


def split_error(text: str) -> tuple[str, dict[str, str]]:
    """The one-line message of an error string and the attributes of its exception event.

    LangChain writes `repr(exc)` followed by the formatted traceback (sometimes with no separator);
    `@traceable` writes the traceback alone, whose last line is `Type: message`."""
    head, marker, tail = text.partition(_TRACEBACK)
    head = head.strip()
    if head:
        message = head.splitlines()[0].strip()
    else:
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        message = lines[-1] if lines else text.strip()
    attributes = {"exception.message": message}
    repr_form, typed = _REPR_ERROR.match(message), _TYPED_ERROR.match(message)
    if repr_form:
        inner = repr_form.group(2).strip()
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            inner = inner[1:-1]
        attributes = {"exception.type": repr_form.group(1), "exception.message": inner}
    elif typed:
        attributes = {"exception.type": typed.group(1), "exception.message": typed.group(2).strip()}
    if marker:
        attributes["exception.stacktrace"] = marker + tail
    return message, attributes


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Events worth keeping (retries, custom events); start/end/new_token markers are noise."""
    out = []
    for event in record.get("events") or []:
        if not isinstance(event, dict) or event.get("name") in _QUIET_EVENTS:
            continue
        time = event.get("time")
        try:
            iso = to_iso(time) if time not in (None, "") else None
        except ValueError:
            iso = None
        attributes = flatten(event.get("kwargs") or {})
        out.append({"name": str(event.get("name") or ""), "time": iso, "attributes": attributes})
    return out


def _tool_output(outputs: Any) -> tuple[str | None, str | None]:
    """A tool run's result text, and the error text when the result is a ToolMessage marked failed."""
    value = outputs.get("output") if isinstance(outputs, dict) and set(outputs) == {"output"} else outputs
    is_message = isinstance(value, dict) and ("lc" in value or value.get("type") == "tool")
    message = lc_message(value) if is_message else None
    if message is None:
        return as_text(value), None
    fields = value.get("kwargs") or value
    text = message.get("content")
    if fields.get("status") != "error":
        return text, None
    lines = (text or "").strip().splitlines()
    return text, lines[0] if lines else "tool returned an error"


def _documents(outputs: Any) -> str | None:
    docs = outputs.get("documents") if isinstance(outputs, dict) else None
    if not isinstance(docs, list):
        return as_text(outputs)
    plain = []
    for doc in docs:
        fields = doc.get("kwargs", doc) if isinstance(doc, dict) else {"page_content": doc}
        plain.append({"page_content": fields.get("page_content"), "metadata": fields.get("metadata") or {}})
    return _dumps(plain)


def _hints(record: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    version = metadata.get("revision_id") or metadata.get("agent_version")
    if version:
        hints["agent_version"] = str(version)
    prompt = metadata.get("prompt_version") or metadata.get("lc_hub_commit_hash")
    if prompt:
        hints["prompt_version"] = str(prompt)
    for key in ("environment", "env"):
        if metadata.get(key):
            hints["environment"] = str(metadata[key])
            break
    tags = [str(t) for t in record.get("tags") or [] if not _POSITIONAL_TAG.match(str(t))]
    if tags:
        hints["tags"] = tags
    small = {
        k: v for k, v in metadata.items()
        if isinstance(v, (str, int, float, bool)) and not k.startswith(("ls_", "lc_", "langgraph_"))
        and len(str(v)) <= 200
    }
    if record.get("session_name"):
        small["project"] = record["session_name"]
    if small:
        hints["metadata"] = small
    return hints


def _attributes(record: dict[str, Any], metadata: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"langsmith.run_type": record.get("run_type")}
    for key in ("dotted_order", "reference_example_id", "session_name"):
        if record.get(key):
            attributes[f"langsmith.{key}"] = record[key]
    if record.get("session_id"):
        attributes["langsmith.project_id"] = record["session_id"]
    if record.get("tags"):
        attributes["tags"] = list(record["tags"])
    attributes.update(flatten(metadata, "metadata"))
    for key, value in params.items():
        scalar = value is None or isinstance(value, (str, int, float, bool))
        attributes[f"invocation_params.{key}"] = value if scalar else _dumps(value)
    return attributes


def _span(record: dict[str, Any], patch_only: bool = False) -> dict[str, Any]:
    """A run row as a span; a patch seen without its post need not repeat the start time."""
    if not record.get("id"):
        raise RecordError("field 'id' is missing")
    start, end = time_field(record, "start_time", required=not patch_only), time_field(record, "end_time")
    trace_id, parent = _trace_and_parent(record, patch_only)
    run_type = record.get("run_type")
    extra = record.get("extra") if isinstance(record.get("extra"), dict) else {}
    metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    params = extra.get("invocation_params") if isinstance(extra.get("invocation_params"), dict) else {}
    inputs, outputs = record.get("inputs"), record.get("outputs")
    if outputs == {}:
        outputs = None  # the SDK posts a run that has not ended yet with `outputs: {}`
    kind = kind_from(run_type)
    fields: dict[str, Any] = {"kind": kind, "input": _state_text(inputs), "output": _state_text(outputs)}
    status = "error" if record.get("error") or record.get("status") == "error" else (
        "ok" if end or record.get("status") == "success" else "unset")
    message: str | None = None
    events = _events(record)
    if kind == "llm":
        llm_output = outputs.get("llm_output") if isinstance(outputs, dict) else None
        fields.update(
            input=_llm_input(inputs),
            output=_llm_output(outputs),
            model=params.get("model") or params.get("model_name") or metadata.get("ls_model_name")
            or (llm_output.get("model_name") if isinstance(llm_output, dict) else None),
            cost=as_float(record.get("total_cost")),
        )
        fields["tokens_in"], fields["tokens_out"] = _usage(record)
    elif kind == "tool":
        raw_args = inputs.get("input") if isinstance(inputs, dict) and set(inputs) == {"input"} else inputs
        fields.update(tool_name=record.get("name"), tool_args=as_text(raw_args), input=as_text(raw_args))
        fields["output"], message = _tool_output(outputs)
        if message:
            status = "error"
    elif kind == "retriever":
        query = inputs.get("query") if isinstance(inputs, dict) and set(inputs) == {"query"} else inputs
        fields.update(input=as_text(query), output=_documents(outputs))
    error = record.get("error")
    if error:
        message, exception = split_error(str(error))
        events.append({"name": "exception", "time": end or start, "attributes": exception})
    elif status == "error" and message is None:
        message = "run failed"
    return span_row(
        trace_id, record["id"],
        parent_id=parent,
        name=as_text(record.get("name")) or run_type or "",
        start_time=start,
        end_time=end,
        status=status,
        status_message=message,
        events=events,
        service=as_text(record.get("session_name")),
        session_id=as_text(_first(metadata, "thread_id", "session_id", "conversation_id")),
        user_id=as_text(metadata.get("user_id")),
        hints=_hints(record, metadata),
        attributes=_attributes(record, metadata, params),
        **fields,
    )


def parse(record: Any) -> Iterator[ParseResult]:
    if not is_payload(record):
        yield from iter_results(_span, record)
        return
    for item in unpack(record):
        if isinstance(item, Rejected):
            yield item
        else:
            yield from iter_results(partial(_span, patch_only=item.patch_only), item.run, item.location)
