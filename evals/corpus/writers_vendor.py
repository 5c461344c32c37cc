"""Writers for vendor export formats: OpenAI Agents SDK export rows, LangSmith runs and Langfuse
traces with their observations.

Agents SDK rows are exactly what `Trace.export()` / `Span.export()` return (agent spans are roots,
generation spans carry Chat Completions messages, errors are `{"message", "data"}`). LangSmith runs
carry LangChain-serialised messages, `dotted_order`, naive UTC times and error text made of the
exception repr followed by its traceback. Langfuse traces nest their observations (GENERATION,
TOOL, AGENT, SPAN) with millisecond `Z` times, `level` and `statusMessage`.
"""

from __future__ import annotations

from typing import Any

import orjson

from .script import Ids, RSpan, RTrace, provider_of
from .writers import Writer, cost, iso, slice_meta


def _args_value(args: str | None) -> Any:
    try:
        value = orjson.loads(args or "")
    except orjson.JSONDecodeError:
        return args
    return value if isinstance(value, dict) else args


def _error_text(span: RSpan) -> str:
    assert span.error
    return f"{span.error.type.split('.')[-1]}: {span.error.message}"


# --- OpenAI Agents SDK -----------------------------------------------------------------


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A canonical message as the Chat Completions converter writes it into generation input."""
    if message["role"] == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message.get("content") or ""}
    if message["role"] == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        if message.get("content") is not None:
            out["content"] = message["content"]
        if message.get("tool_calls"):
            out["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"], "arguments": c["arguments"]}}
                                 for c in message["tool_calls"]]
        return out
    return {"content": message.get("content"), "role": message["role"]}


class AgentsSDKWriter(Writer):
    name = "openai-agents"
    ingest_format = "openai-agents"
    filename = "openai_agents_export.jsonl"
    id_style = "agents"
    root_span = False

    def records(self, rt: RTrace) -> list[Any]:
        s = rt.script
        metadata = {**slice_meta(rt), "service": s.service, "user_id": s.user_id}
        rows: list[Any] = [{"object": "trace", "id": rt.trace_id, "workflow_name": s.trace_name,
                            "group_id": s.session_id, "metadata": metadata}]
        spans = [sp for sp in rt.spans if not (sp.kind == "chain" and not sp.error)]
        for span in sorted(spans, key=lambda sp: (sp.end_ns, sp.start_ns)):
            if span.kind == "chain":
                continue  # output parsing has no span of its own in the SDK; its error sits on the agent span
            rows.append({
                "object": "trace.span", "id": span.span_id, "trace_id": rt.trace_id, "parent_id": span.parent_id,
                "started_at": iso(span.start_ns), "ended_at": iso(span.end_ns),
                "span_data": self.span_data(rt, span), "error": self.error(span),
            })
        return rows

    def span_data(self, rt: RTrace, span: RSpan) -> dict[str, Any]:
        if span.kind == "agent":
            structured = any(sp.kind == "chain" and sp.parent_id == span.span_id for sp in rt.spans)
            return {"type": "agent", "name": span.agent, "handoffs": span.handoffs,
                    "tools": [t.name for t in span.tools if not t.name.startswith("transfer_to_")],
                    "output_type": "ResearchReport" if structured else "str"}
        if span.kind == "llm":
            output = None
            if span.output_message is not None:
                msg = chat_message(span.output_message)
                output = [{"content": msg.get("content"), "refusal": None, "role": "assistant", "annotations": [],
                           "audio": None, "function_call": None, "tool_calls": msg.get("tool_calls")}]
            usage = None if span.error else {
                "requests": 1, "input_tokens": span.tokens_in, "output_tokens": span.tokens_out,
                "total_tokens": span.tokens_in + span.tokens_out,
                "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0,
                                         "cache_write_tokens_details": None},
                "output_tokens_details": {"reasoning_tokens": 0}}
            config = {"temperature": span.temperature, "top_p": None, "frequency_penalty": None,
                      "presence_penalty": None, "tool_choice": None, "parallel_tool_calls": None, "truncation": None,
                      "max_tokens": None,
                      "reasoning": None, "verbosity": None, "metadata": None, "store": None,
                      "prompt_cache_retention": None, "include_usage": None, "response_include": None,
                      "top_logprobs": None, "retry": None, "context_management": None, "prompt_cache_options": None,
                      "timeout": None, "base_url": "https://api.openai.com/v1/"}
            if provider_of(span.model or "") == "anthropic":
                config["base_url"] = "https://api.anthropic.com/v1/"
            return {"type": "generation", "input": [chat_message(m) for m in span.input_messages], "output": output,
                    "model": span.model, "model_config": config, "usage": usage}
        if span.kind == "tool":
            return {"type": "function", "name": span.tool_name, "input": span.args, "output": span.result,
                    "mcp_data": None}
        return {"type": "handoff", "from_agent": span.from_agent, "to_agent": span.to_agent}

    def error(self, span: RSpan) -> dict[str, Any] | None:
        if not span.error:
            return None
        e = span.error
        if span.kind == "tool":
            return {"message": "Error running tool (non-fatal)",
                    "data": {"tool_name": span.tool_name, "error": f"{e.type.split('.')[-1]}: {e.message}"}}
        if span.kind == "llm":
            return {"message": "Error getting response", "data": {"error": e.message}}
        if "MaxTurnsExceeded" in e.type:
            return {"message": "Max turns exceeded", "data": {"max_turns": int(e.message.split("(")[1].split(")")[0])}}
        return {"message": e.type.split(".")[-1], "data": {"error": e.message}}


# --- LangSmith ---------------------------------------------------------------------------


def lc_message(message: dict[str, Any], run_id: str) -> dict[str, Any]:
    role = message["role"]
    cls = {"system": "SystemMessage", "user": "HumanMessage", "assistant": "AIMessage", "tool": "ToolMessage"}[role]
    kwargs: dict[str, Any] = {"content": message.get("content") or "",
                              "type": {"system": "system", "user": "human", "assistant": "ai", "tool": "tool"}[role]}
    if role == "tool":
        kwargs.update({"name": message.get("name"), "tool_call_id": message.get("tool_call_id"), "status": "success"})
    if role == "assistant":
        calls, invalid = [], []
        for c in message.get("tool_calls") or []:
            value = _args_value(c["arguments"])
            if isinstance(value, dict):
                calls.append({"name": c["name"], "args": value, "id": c["id"], "type": "tool_call"})
            else:
                invalid.append({"name": c["name"], "args": c["arguments"], "id": c["id"], "error": None,
                                "type": "invalid_tool_call"})
        kwargs["additional_kwargs"] = {"tool_calls": [
            {"id": c["id"], "function": {"arguments": c["arguments"], "name": c["name"]}, "type": "function"}
            for c in message.get("tool_calls") or []]} if message.get("tool_calls") else {}
        kwargs["tool_calls"] = calls
        kwargs["invalid_tool_calls"] = invalid
        kwargs["id"] = f"run-{run_id}-0"
    return {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", cls], "kwargs": kwargs}


class LangSmithWriter(Writer):
    name = "langsmith"
    ingest_format = "langsmith"
    filename = "langsmith_runs.jsonl.gz"
    id_style = "uuid"

    def __init__(self, project_id: str = "") -> None:
        self.project_id = project_id

    def records(self, rt: RTrace) -> list[Any]:
        s = rt.script
        by_id = {sp.span_id: sp for sp in rt.spans}
        rows = []
        for span in rt.spans:
            chain, node = [], span
            while node:
                chain.append(node)
                node = by_id.get(node.parent_id) if node.parent_id else None
            dotted = ".".join(iso(n.start_ns, tz="Z").replace("-", "").replace(":", "").replace(".", "") + n.span_id
                              for n in reversed(chain))
            run_type, name = {"llm": ("llm", "ChatAnthropic" if provider_of(span.model or "") == "anthropic"
                                      else "ChatOpenAI"),
                              "tool": ("tool", span.tool_name), "handoff": ("tool", span.tool_name),
                              "agent": ("chain", span.agent)}.get(span.kind, ("chain", span.name))
            if span.kind == "chain" and span.parent_id:
                run_type, name = "parser", "PydanticOutputParser"
            metadata: dict[str, Any] = {**slice_meta(rt), "revision_id": s.agent_version, "thread_id": s.session_id,
                                        "user_id": s.user_id}
            extra: dict[str, Any] = {"metadata": metadata, "runtime": {
                "sdk": "langsmith-py", "sdk_version": "0.3.45", "library": "langchain-core", "runtime": "python",
                "platform": "Linux-6.8.0-1021-aws-x86_64-with-glibc2.36", "py_implementation": "CPython",
                "runtime_version": "3.11.11", "langchain_core_version": "0.3.63"}}
            row: dict[str, Any] = {
                "id": span.span_id, "name": name, "run_type": run_type, "trace_id": rt.trace_id,
                "parent_run_id": span.parent_id, "dotted_order": dotted,
                "start_time": iso(span.start_ns, tz=""), "end_time": iso(span.end_ns, tz=""),
                "status": "error" if span.error else "success", "error": None,
                "extra": extra, "events": [{"name": "start", "time": iso(span.start_ns)},
                                           {"name": "end", "time": iso(span.end_ns)}],
                "tags": s.tags if span.parent_id is None else [], "session_id": self.project_id,
                "reference_example_id": None, "child_run_ids": None, "feedback_stats": None, "in_dataset": False,
                "first_token_time": None,
                "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                "prompt_cost": None, "completion_cost": None, "total_cost": None,
            }
            if span.error:
                e = span.error
                row["error"] = f"{e.type.split('.')[-1]}({e.message!r})" + (e.stacktrace or "")
            if span.kind == "llm":
                ls_provider = provider_of(span.model or "")
                metadata.update({"ls_provider": ls_provider, "ls_model_name": span.model, "ls_model_type": "chat",
                                 "ls_temperature": span.temperature})
                extra["invocation_params"] = {"model": span.model, "model_name": span.model, "stream": False,
                                              "temperature": span.temperature, "_type": f"{ls_provider}-chat",
                                              "tools": [t.openai_tool() for t in span.tools]}
                row["inputs"] = {"messages": [[lc_message(m, span.span_id) for m in span.input_messages]]}
                row["outputs"] = None
                if span.output_message is not None:
                    message = lc_message(span.output_message, span.span_id)
                    finish = "tool_calls" if span.output_message.get("tool_calls") else "stop"
                    usage = {"completion_tokens": span.tokens_out, "prompt_tokens": span.tokens_in,
                             "total_tokens": span.tokens_in + span.tokens_out}
                    message["kwargs"]["response_metadata"] = {"token_usage": usage, "model_name": span.model,
                                                              "finish_reason": finish}
                    message["kwargs"]["usage_metadata"] = {"input_tokens": span.tokens_in,
                                                           "output_tokens": span.tokens_out,
                                                           "total_tokens": span.tokens_in + span.tokens_out}
                    row["outputs"] = {"generations": [[{"text": span.output_message.get("content") or "",
                                                        "generation_info": {"finish_reason": finish, "logprobs": None},
                                                        "type": "ChatGeneration", "message": message}]],
                                      "llm_output": {"token_usage": usage, "model_name": span.model},
                                      "run": None, "type": "LLMResult"}
                    c = cost(span.model, span.tokens_in, span.tokens_out)
                    row.update({"prompt_tokens": span.tokens_in, "completion_tokens": span.tokens_out,
                                "total_tokens": span.tokens_in + span.tokens_out,
                                "prompt_cost": round(c * 0.3, 6), "completion_cost": round(c * 0.7, 6),
                                "total_cost": c})
            elif span.kind in ("tool", "handoff"):
                row["inputs"] = {"input": span.args}
                row["outputs"] = None if span.error else {"output": span.result}
                row["extra"]["metadata"]["tool_call_id"] = span.call_id
            else:
                row["inputs"] = {"input": span.text_in} if span.text_in is not None else {}
                row["outputs"] = {"output": span.text_out} if span.text_out is not None and not span.error else None
            rows.append(row)
        return rows


# --- Langfuse -----------------------------------------------------------------------------


class LangfuseWriter(Writer):
    name = "langfuse"
    ingest_format = "langfuse"
    filename = "langfuse_traces.jsonl"

    def __init__(self, project_id: str = "") -> None:
        self.project_id = project_id

    def records(self, rt: RTrace) -> list[Any]:
        s = rt.script
        observations = [self.observation(rt, sp) for sp in rt.spans]
        root = rt.spans[0]
        total_cost = round(sum(o.get("calculatedTotalCost") or 0 for o in observations), 6)
        return [{
            "id": rt.trace_id, "projectId": self.project_id, "name": s.trace_name,
            "timestamp": iso(rt.start_ns, "ms", "Z"), "environment": "production",
            "input": s.user_message, "output": s.final_output or None,
            "sessionId": s.session_id, "userId": s.user_id, "release": s.agent_version, "version": s.agent_version,
            "tags": s.tags, "metadata": {"prompt_version": s.prompt_version, "service": s.service},
            "public": False, "bookmarked": False,
            "htmlPath": f"/project/{self.project_id}/traces/{rt.trace_id}",
            "latency": round((root.end_ns - root.start_ns) / 1e9, 3), "totalCost": total_cost,
            "createdAt": iso(rt.end_ns + 2_000_000_000, "ms", "Z"),
            "updatedAt": iso(rt.end_ns + 4_000_000_000, "ms", "Z"),
            "observations": observations, "scores": [],
        }]

    def observation(self, rt: RTrace, span: RSpan) -> dict[str, Any]:
        s = rt.script
        kind = {"llm": "GENERATION", "tool": "TOOL", "handoff": "TOOL", "agent": "AGENT"}.get(span.kind, "SPAN")
        obs: dict[str, Any] = {
            "id": span.span_id, "traceId": rt.trace_id, "projectId": self.project_id, "type": kind,
            "name": span.name or span.agent, "startTime": iso(span.start_ns, "ms", "Z"),
            "endTime": iso(span.end_ns, "ms", "Z"), "completionStartTime": None,
            "parentObservationId": span.parent_id, "level": "ERROR" if span.error else "DEFAULT",
            "statusMessage": _error_text(span) if span.error else None, "version": s.agent_version,
            "environment": "production", "metadata": {}, "model": None, "modelParameters": None,
            "input": None, "output": None, "usage": None, "usageDetails": {}, "costDetails": {},
            "calculatedTotalCost": None, "promptName": None, "promptVersion": None,
            "latency": round((span.end_ns - span.start_ns) / 1e9, 3), "timeToFirstToken": None,
        }
        if span.kind == "llm":
            name, _, number = s.prompt_version.partition("@")
            is_anthropic = provider_of(span.model or "") == "anthropic"
            obs.update({"name": "ChatAnthropic" if is_anthropic else "OpenAI-generation",
                        "model": span.model, "modelParameters": {"temperature": str(span.temperature)},
                        "input": [chat_message_lf(m) for m in span.input_messages],
                        "output": chat_message_lf(span.output_message) if span.output_message else None,
                        "promptName": name, "promptVersion": int(number) if number.isdigit() else None,
                        "metadata": {"tools": [t.openai_tool() for t in span.tools]} if span.tools else {}})
            if not span.error:
                c = cost(span.model, span.tokens_in, span.tokens_out)
                obs["completionStartTime"] = iso(span.start_ns + (span.end_ns - span.start_ns) // 3, "ms", "Z")
                obs["usage"] = {"input": span.tokens_in, "output": span.tokens_out,
                                "total": span.tokens_in + span.tokens_out, "unit": "TOKENS"}
                obs["usageDetails"] = {"input": span.tokens_in, "output": span.tokens_out,
                                       "total": span.tokens_in + span.tokens_out}
                obs["costDetails"] = {"input": round(c * 0.3, 6), "output": round(c * 0.7, 6), "total": c}
                obs["calculatedTotalCost"] = c
        elif span.kind in ("tool", "handoff"):
            obs.update({"name": span.tool_name, "input": _args_value(span.args),
                        "output": None if span.error else _args_value(span.result) if (span.result or "")[:1] == "{"
                        else span.result, "metadata": {"tool_call_id": span.call_id}})
        else:
            obs.update({"input": span.text_in, "output": None if span.error else span.text_out})
            if span.kind == "agent":
                obs["metadata"] = {"agent_version": s.agent_version}
        return obs


def chat_message_lf(message: dict[str, Any]) -> dict[str, Any]:
    out = chat_message(message)
    if message["role"] == "tool" and message.get("name"):
        out["name"] = message["name"]
    return out


def project_id(ids: Ids) -> str:
    return ids.uuid()
