"""LangSmith run exports (the rows `Client.list_runs` / the run export API write).

A run has `id, name, run_type, inputs, outputs, error, parent_run_id, trace_id, dotted_order,
start_time, end_time, extra{metadata, invocation_params}, tags, prompt_tokens, completion_tokens`.
LLM runs carry LangChain-serialised messages (`{"lc": 1, "type": "constructor", "id": [...,
"HumanMessage"], "kwargs": {...}}`) or OpenAI-style dicts; both become canonical messages.
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    as_float,
    as_int,
    as_text,
    iter_results,
    kind_from,
    span_row,
)
from investigator.timefmt import to_iso

NAME = "langsmith"

_ROLES = {"HumanMessage": "user", "AIMessage": "assistant", "SystemMessage": "system",
          "ToolMessage": "tool", "FunctionMessage": "tool", "ChatMessage": "user",
          "human": "user", "ai": "assistant", "system": "system", "tool": "tool"}  # fmt: skip


def sniff(record: Any) -> bool:
    return isinstance(record, dict) and "run_type" in record and "id" in record


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _message(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    if item.get("lc") == 1 and isinstance(item.get("kwargs"), dict):
        class_name = (item.get("id") or [""])[-1]
        kwargs = item["kwargs"]
        role = _ROLES.get(class_name, kwargs.get("role") or "user")
    else:
        kwargs = item
        role = _ROLES.get(item.get("type", ""), item.get("role") or "user")
    message: dict[str, Any] = {"role": role}
    content = kwargs.get("content")
    if content is not None:
        if isinstance(content, list):
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        message["content"] = content if isinstance(content, str) else _dumps(content)
    calls = []
    for call in kwargs.get("tool_calls") or (kwargs.get("additional_kwargs") or {}).get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = call.get("args") if "args" in call else function.get("arguments")
        calls.append({
            "id": call.get("id"),
            "name": call.get("name") or function.get("name"),
            "arguments": arguments if isinstance(arguments, str) else _dumps(arguments or {}),
        })  # fmt: skip
    if calls:
        message["tool_calls"] = calls
    if kwargs.get("tool_call_id"):
        message["tool_call_id"] = kwargs["tool_call_id"]
    return message


def _input_messages(inputs: Any) -> str | None:
    if not isinstance(inputs, dict):
        return as_text(inputs)
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], list):
        messages = messages[0]  # one list per prompt in a batch; traces hold one
    if isinstance(messages, list):
        converted = [_message(m) for m in messages]
        if all(converted):
            return _dumps(converted)
    if isinstance(inputs.get("prompts"), list):
        return _dumps([{"role": "user", "content": p} for p in inputs["prompts"]])
    return as_text(inputs)


def _output_messages(outputs: Any) -> str | None:
    if not isinstance(outputs, dict):
        return as_text(outputs)
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0] if isinstance(generations[0], list) else generations
        messages = []
        for generation in first:
            message = _message(generation.get("message")) if isinstance(generation, dict) else None
            if message is None and isinstance(generation, dict):
                message = {"role": "assistant", "content": generation.get("text", "")}
            if message:
                message["role"] = "assistant"
                messages.append(message)
        if messages:
            return _dumps(messages)
    if isinstance(outputs.get("choices"), list):
        return _dumps([_message(c.get("message") or {}) for c in outputs["choices"]])
    return as_text(outputs)


def _usage(record: dict[str, Any]) -> tuple[int | None, int | None]:
    tokens_in, tokens_out = as_int(record.get("prompt_tokens")), as_int(record.get("completion_tokens"))
    outputs = record.get("outputs") if isinstance(record.get("outputs"), dict) else {}
    usage = ((outputs.get("llm_output") or {}).get("token_usage")) or outputs.get("usage_metadata") or {}
    if tokens_in is None:
        tokens_in = as_int(usage.get("prompt_tokens", usage.get("input_tokens")))
    if tokens_out is None:
        tokens_out = as_int(usage.get("completion_tokens", usage.get("output_tokens")))
    return tokens_in, tokens_out


def _trace_id(record: dict[str, Any]) -> Any:
    if record.get("trace_id"):
        return record["trace_id"]
    dotted = record.get("dotted_order")
    if isinstance(dotted, str) and "Z" in dotted:
        return dotted.split(".")[0].split("Z", 1)[1]
    if not record.get("parent_run_id"):
        return record.get("id")
    raise RecordError("field 'trace_id' is missing and cannot be derived from 'dotted_order'")


def _span(record: dict[str, Any]) -> dict[str, Any]:
    if not record.get("id"):
        raise RecordError("field 'id' is missing")
    if not record.get("start_time"):
        raise RecordError("field 'start_time' is missing")
    run_type = record.get("run_type")
    extra = record.get("extra") or {}
    metadata = extra.get("metadata") or {}
    params = extra.get("invocation_params") or {}
    kind = kind_from(run_type)
    inputs, outputs = record.get("inputs"), record.get("outputs")
    fields: dict[str, Any] = {"kind": kind}
    if kind == "llm":
        fields["input"], fields["output"] = _input_messages(inputs), _output_messages(outputs)
        fields["model"] = (params.get("model") or params.get("model_name")
                           or metadata.get("ls_model_name")
                           or ((outputs or {}).get("llm_output") or {}).get("model_name"))  # fmt: skip
        fields["tokens_in"], fields["tokens_out"] = _usage(record)
    else:
        fields["input"], fields["output"] = as_text(inputs), as_text(outputs)
    if kind == "tool":
        fields["tool_name"] = record.get("name")
        raw = inputs.get("input") if isinstance(inputs, dict) and "input" in inputs else inputs
        fields["tool_args"] = as_text(raw)
        if isinstance(outputs, dict) and set(outputs) <= {"output"}:
            fields["output"] = as_text(outputs.get("output"))
    error = record.get("error")
    status = "error" if error or record.get("status") == "error" else (
        "ok" if record.get("end_time") else "unset")  # fmt: skip
    events = []
    message = None
    if error:
        text = str(error)
        message = text.strip().splitlines()[-1] if "Traceback" in text else text.strip().splitlines()[0]
        exc_type = message.split(":", 1)[0] if ":" in message else "Error"
        events.append({"name": "exception", "time": to_iso(record.get("end_time") or record["start_time"]),
                       "attributes": {"exception.type": exc_type, "exception.message": message,
                                      "exception.stacktrace": text}})  # fmt: skip
    hints: dict[str, Any] = {}
    if metadata.get("revision_id"):
        hints["agent_version"] = str(metadata["revision_id"])
    for key in ("agent_version", "prompt_version"):
        if metadata.get(key):
            hints[key] = str(metadata[key])
    if record.get("tags"):
        hints["tags"] = list(record["tags"])
    small = {k: v for k, v in metadata.items() if isinstance(v, (str, int, float, bool))}
    if small:
        hints["metadata"] = small
    attributes = {k: record[k] for k in ("dotted_order", "reference_example_id", "session_name")
                  if record.get(k)}  # fmt: skip
    if params:
        attributes["invocation_params"] = params
    end = record.get("end_time")
    return span_row(
        _trace_id(record), record["id"],
        parent_id=record.get("parent_run_id"),
        name=record.get("name") or run_type or "",
        start_time=to_iso(record["start_time"]),
        end_time=to_iso(end) if end else None,
        status=status,
        status_message=message,
        events=events,
        cost=as_float(record.get("total_cost")),
        service=record.get("session_name"),
        session_id=as_text(metadata.get("thread_id") or metadata.get("session_id")),
        hints=hints,
        attributes=attributes,
        **fields,
    )  # fmt: skip


def parse(record: Any) -> Iterator[ParseResult]:
    yield from iter_results(_span, record)
