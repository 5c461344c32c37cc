"""Vercel AI SDK (`ai` on npm) telemetry attributes → span kind and canonical messages.

With `experimental_telemetry: { isEnabled: true }` (ai 3 to 6, and ai 7's `LegacyOpenTelemetry`
integration) the SDK writes one span per call (`ai.generateText`, `ai.streamText`, …: the agent
loop, which ai 7 itself maps to `invoke_agent`), one per model call (`ai.generateText.doGenerate`,
`ai.streamText.doStream`) and one per tool execution (`ai.toolCall`), each naming itself in
`ai.operationId`. Prompts are JSON in the SDK's own message format: `ai.prompt` on the call
(`{"system", "prompt" | "messages"}`), `ai.prompt.messages` on a model call; content parts are
`text`, `tool-call` (`args` in ai 4, `input` since 5) and `tool-result` (`result` in ai 4, a typed
`output` since 5). A model call's answer is `ai.response.text` plus `ai.response.toolCalls`.
Names, ids, arguments, results, models and token counts are plain keys, read by `semconv`.

ai 7's `OpenTelemetry` integration writes the GenAI conventions instead (see `semconv_genai`).
"""

from __future__ import annotations

from typing import Any

from investigator.ingest.base import as_text, maybe_json
from investigator.ingest.semconv_genai import Messages, tool_call

# The SDK's own operation → GenAI operation table (ai 7 `mapOperationName`), as span kinds.
_CALL_KINDS = {
    "ai.generateText": "agent",
    "ai.streamText": "agent",
    "ai.generateObject": "agent",
    "ai.streamObject": "agent",
    "ai.workflowAgent.stream": "agent",
    "ai.toolCall": "tool",
    "ai.embed": "embedding",
    "ai.embedMany": "embedding",
    "ai.rerank": "reranker",
}
_PROVIDER_CALL_KINDS = {"doGenerate": "llm", "doStream": "llm", "doEmbed": "embedding", "doRerank": "reranker"}


def operation_kind(attrs: dict[str, Any]) -> str:
    """The span kind of an AI SDK span, from `ai.operationId`; "unknown" for any other span."""
    operation = attrs.get("ai.operationId")
    if not isinstance(operation, str) or not operation.startswith("ai."):
        return "unknown"
    if operation in _CALL_KINDS:
        return _CALL_KINDS[operation]
    return _PROVIDER_CALL_KINDS.get(operation.rpartition(".")[2], "unknown")


def _result_text(part: dict[str, Any]) -> str:
    """A tool result's text: ai 4's `result` value, or the `value` of ai 5's typed `output`."""
    if "result" in part:
        return as_text(part["result"]) or ""
    output = part.get("output")
    if isinstance(output, dict) and "value" in output:
        return as_text(output["value"]) or ""
    return as_text(output) or ""


def _messages(items: list[Any]) -> Messages:
    """AI SDK prompt messages as canonical ones; each tool result becomes its own message."""
    out: Messages = []
    for item in items:
        if not isinstance(item, dict):
            continue
        role = item.get("role") or "user"
        content = item.get("content")
        if not isinstance(content, list):
            out.append({"role": role, "content": as_text(content)} if content is not None else {"role": role})
            continue
        message: dict[str, Any] = {"role": role}
        texts = [str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if texts:
            message["content"] = "\n".join(texts)
        calls = [
            tool_call(p.get("toolCallId"), p.get("toolName"), p.get("input", p.get("args")))
            for p in content
            if isinstance(p, dict) and p.get("type") == "tool-call"
        ]
        if calls:
            message["tool_calls"] = calls
        results = [
            {"role": "tool", "tool_call_id": p.get("toolCallId"), "name": p.get("toolName"), "content": _result_text(p)}
            for p in content
            if isinstance(p, dict) and p.get("type") == "tool-result"
        ]
        if texts or calls or not results:
            out.append(message)
        out.extend({k: v for k, v in r.items() if v is not None} for r in results)
    return out


def prompt_messages(attrs: dict[str, Any]) -> Messages | None:
    """What a model call (`ai.prompt.messages`) or a whole call (`ai.prompt`) was given."""
    messages = maybe_json(attrs.get("ai.prompt.messages"))
    if isinstance(messages, list):
        return _messages(messages)
    prompt = maybe_json(attrs.get("ai.prompt"))
    if not isinstance(prompt, dict):
        return None
    system = prompt.get("system")
    out: Messages = []
    if isinstance(system, str):
        out.append({"role": "system", "content": system})
    elif isinstance(system, (dict, list)):
        out.extend(_messages(system if isinstance(system, list) else [system]))
    given = prompt.get("prompt")
    if isinstance(given, str):
        out.append({"role": "user", "content": given})
    elif isinstance(given, list):
        out.extend(_messages(given))
    if isinstance(prompt.get("messages"), list):
        out.extend(_messages(prompt["messages"]))
    return out or None


def response_messages(attrs: dict[str, Any]) -> Messages | None:
    """What the model answered: `ai.response.text` (or `.object`) and `ai.response.toolCalls`."""
    text = attrs.get("ai.response.text")
    if text in (None, ""):
        text = attrs.get("ai.response.object")
    calls = maybe_json(attrs.get("ai.response.toolCalls"))
    calls = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    if text in (None, "") and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant"}
    if text not in (None, ""):
        message["content"] = as_text(text)
    if calls:
        message["tool_calls"] = [
            tool_call(c.get("toolCallId"), c.get("toolName"), c.get("input", c.get("args"))) for c in calls
        ]
    return [message]
