"""Spans that carry only OpenInference keys are mapped by a shorter path (`semconv._OPENINFERENCE`):
it must give exactly what the full path gives, on spans real instrumentation wrote, and it must be
left as soon as a key of another convention is present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import investigator.evals
from investigator.ingest import otel_span, semconv
from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store

# OTLP JSON files the OpenTelemetry exporter wrote while LangGraph, smolagents, the OpenAI Agents
# SDK and pydantic-ai ran under the OpenInference and GenAI instrumentors.
_FRAMEWORK_TRACES = Path(investigator.evals.__file__).parent / "data" / "frameworks" / "traces"
_MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Where is A-1?"}]}])
_EVENTS = json.dumps([{"event.name": "gen_ai.user.message", "content": "Where is A-1?"}])

# Keys of other conventions, each as a span would carry it (some only mean something in pairs).
_PLANTED: list[dict[str, Any]] = [
    {"gen_ai.operation.name": "chat"}, {"gen_ai.request.model": "gpt-4o"}, {"gen_ai.response.model": "gpt-4o"},
    {"gen_ai.input.messages": _MESSAGES}, {"gen_ai.output.messages": _MESSAGES},
    {"gen_ai.system_instructions": "Answer briefly."}, {"gen_ai.prompt": "Where is A-1?"},
    {"gen_ai.completion": "Shipped."}, {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Where?"},
    {"gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Shipped."},
    {"gen_ai.usage.input_tokens": 12}, {"gen_ai.usage.output_tokens": 3}, {"gen_ai.usage.cost": 0.5},
    {"gen_ai.tool.name": "lookup_order"}, {"gen_ai.tool.call.arguments": '{"id": "A-1"}'},
    {"gen_ai.tool.call.result": "shipped"}, {"gen_ai.agent.name": "planner"}, {"gen_ai.conversation.id": "c-1"},
    {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup_order"},
    {"traceloop.entity.input": "in"}, {"traceloop.entity.output": "out"},
    {"traceloop.association.properties.session_id": "s-1"}, {"traceloop.association.properties.user_id": "u-1"},
    {"llm.request.type": "chat"}, {"llm.usage.prompt_tokens": 9}, {"llm.usage.completion_tokens": 2},
    {"ai.operationId": "ai.generateText"}, {"ai.model.id": "gpt-4o"},
    {"ai.prompt.messages": json.dumps([{"role": "user", "content": "Where is A-1?"}])},
    {"ai.prompt": json.dumps({"prompt": "Where is A-1?"})}, {"ai.response.text": "Shipped."},
    {"ai.toolCall.name": "lookup_order"}, {"ai.toolCall.args": "{}"}, {"ai.toolCall.result": "shipped"},
    {"ai.usage.inputTokens": 5}, {"ai.telemetry.functionId": "support"},
    {"pydantic_ai.all_messages": json.dumps([{"role": "user", "content": "Where is A-1?"}])},
    {"all_messages_events": _EVENTS}, {"events": _EVENTS},
    {"tool_arguments": '{"id": "A-1"}'}, {"tool_response": "shipped"},
    {"agent_name": "support", "model_name": "gpt-4o"}, {"final_result": "Shipped."}, {"enduser.id": "u-1"},
    {"tool_call.function.name": "lookup_order"}, {"tool_call.function.arguments": '{"id": "A-1"}'},
]
_KINDS = ("LLM", "TOOL", "AGENT", "CHAIN", "RETRIEVER")


def _takes_short_path(attrs: dict[str, Any]) -> bool:
    return semconv._openinference_only(attrs, *semconv._split_attributes(attrs))


def _full_path(monkeypatch: pytest.MonkeyPatch, attrs: dict[str, Any], name: str = "", hint: Any = None) -> Any:
    with monkeypatch.context() as patched:
        patched.setattr(semconv, "_openinference_only", lambda *_: False)
        return semconv.map_attributes(dict(attrs), name, hint)


@pytest.fixture(scope="module")
def framework_spans(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], str, Any]]:
    """The attributes, name and kind word of every span in the framework traces, as ingest maps them."""
    calls: list[tuple[dict[str, Any], str, Any]] = []
    real = semconv.map_attributes

    def recording(attrs: dict[str, Any], name: str = "", kind_hint: Any = None) -> dict[str, Any]:
        calls.append((dict(attrs), name, kind_hint))
        return real(attrs, name, kind_hint)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(otel_span, "map_attributes", recording)
        ingest_paths(Store(tmp_path_factory.mktemp("corpus") / "store.db"), [str(_FRAMEWORK_TRACES)])
    return calls


def test_real_framework_spans_map_the_same_on_both_paths(framework_spans, monkeypatch) -> None:
    fast = [call for call in framework_spans if _takes_short_path(call[0])]
    assert len(fast) > 300  # the OpenInference files take the short path...
    assert len(framework_spans) - len(fast) > 100  # ...and the GenAI ones the full path
    for attrs, name, hint in framework_spans:
        assert semconv.map_attributes(dict(attrs), name, hint) == _full_path(monkeypatch, attrs, name, hint), name


def test_a_key_of_another_convention_leaves_the_short_path(framework_spans, monkeypatch) -> None:
    openinference = [call for call in framework_spans if _takes_short_path(call[0])]
    bare: list[tuple[dict[str, Any], str, Any]] = [({}, "", None), ({"llm.model_name": "gpt-4o"}, "", None)]
    spans = bare + [({"openinference.span.kind": kind}, "", None) for kind in _KINDS] + openinference[::25]
    for planted in _PLANTED:
        meant_something = False
        for attrs, name, hint in spans:
            with_key = {**attrs, **planted}
            full = _full_path(monkeypatch, with_key, name, hint)
            assert semconv.map_attributes(dict(with_key), name, hint) == full, planted
            without = _full_path(monkeypatch, attrs, name, hint)
            meant_something |= any(full[k] != without[k] for k in full if k not in ("attributes", "hints"))
        assert meant_something, f"{planted} changes no field of any span: plant a key the full path reads"
