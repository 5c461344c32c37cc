"""What the real Vercel AI SDK records with its telemetry on, ingested.

Once per module `ai_sdk_app/agent.mjs` runs the `ai` npm package (ai 4 and ai 6 with
`experimental_telemetry`, ai 7 with its `LegacyOpenTelemetry` and `OpenTelemetry` integrations)
against the SDK's own mock language model, following SCRIPT below: the model calls `get_weather`
(which answers) and `refund_order` (which throws), then answers. The OpenTelemetry JS SDK records
the spans and its OTLP transformer serialises them; each variant's export request is ingested as
is. Expected values come from SCRIPT (what the mock model and tools were told to do) or from the
attributes the SDK wrote.

Needs node and the app's npm packages (`npm ci --prefix tests/ai_sdk_app`); skipped without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from investigator.ingest.pipeline import ingest_records
from investigator.models import Span
from investigator.rules import run_rules
from investigator.store import Store

APP = Path(__file__).parent / "ai_sdk_app"
WEATHER = {"id": "call_w", "name": "get_weather", "args": '{"city": "Lisbon"}'}
REFUND = {"id": "call_r", "name": "refund_order", "args": '{"order_id":"A-1"}'}
SCRIPT: dict[str, Any] = {
    "service": "weather-bot",
    "model": "mock-weather-model",
    "embedding_model": "mock-embedder",
    "function_id": "weather-agent",
    "system": "You are a weather bot.",
    "prompt": "Weather in Lisbon? And refund order A-1.",
    "answer": "It is sunny in Lisbon, 24°C. The refund failed.",
    "object": '{"city": "Lisbon"}',
    "calls": [WEATHER, REFUND],
    "forecast": {"forecast": "sunny", "high_c": 24},
    "refund_error": "card processor rejected the refund",
    "usage": [[52, 23], [96, 12]],
}
LEGACY = ("ai-4", "ai-6", "ai-7-legacy")  # the `ai.*` attributes
GIVEN = [{"role": "system", "content": SCRIPT["system"]}, {"role": "user", "content": SCRIPT["prompt"]}]


@dataclass
class Stored:
    span: Span
    raw: dict[str, Any]  # the attributes as the SDK wrote them


@dataclass
class Export:
    store: Store
    spans: dict[str, list[Stored]]  # variant → its stored spans, in start order
    quarantined: list[str]  # locations

    def find(self, variant: str, name: str, **attrs: Any) -> list[Stored]:
        return [
            s for s in self.spans[variant] if s.span.name == name and all(s.raw.get(k) == v for k, v in attrs.items())
        ]

    def one(self, variant: str, name: str, **attrs: Any) -> Stored:
        (found,) = self.find(variant, name, **attrs)
        return found


def _raw_spans(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """span id → its attributes, each value as the OTLP JSON holds it."""
    return {
        span["spanId"]: {a["key"]: next(iter(a["value"].values()), None) for a in span.get("attributes", [])}
        for resource in request["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    }


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Export]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the AI SDK test runs the `ai` npm package")
    if not (APP / "node_modules" / "ai").is_dir():
        pytest.skip("the AI SDK test's npm packages are not installed: run `npm ci --prefix tests/ai_sdk_app`")
    done = subprocess.run(
        [node, str(APP / "agent.mjs"), json.dumps(SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    requests: dict[str, dict[str, Any]] = json.loads(done.stdout)
    store = Store(tmp_path_factory.mktemp("ai_sdk") / "store.db")
    report = ingest_records(store, list(requests.values()), "otlp-json", "ai-sdk")
    assert report.ingested > 0
    spans: dict[str, list[Stored]] = {}
    for variant, request in requests.items():
        raw = _raw_spans(request)
        trace_ids = {s["traceId"] for r in request["resourceSpans"] for sc in r["scopeSpans"] for s in sc["spans"]}
        # By start, then end: two model calls of a fast scripted run can start in the same millisecond.
        stored = sorted(
            (s for trace_id in trace_ids for s in store.spans(trace_id)), key=lambda s: (s.start_time, s.end_time or "")
        )
        spans[variant] = [Stored(s, raw[s.span_id]) for s in stored]
    yield Export(store, spans, [q.location or "" for q in store.quarantined()])
    store.close()


def _messages(text: str | None) -> list[dict[str, Any]]:
    assert text is not None
    return json.loads(text)


def _calls(*calls: dict[str, str]) -> list[dict[str, str]]:
    return [{"id": c["id"], "name": c["name"], "arguments": c["args"]} for c in calls]


def _parsed_args(message: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(c["id"], c["name"], json.loads(c["arguments"])) for c in message["tool_calls"]]


@pytest.mark.parametrize("variant", LEGACY)
def test_model_call_is_an_llm_span_with_model_tokens_and_the_calls_it_asked_for(export: Export, variant: str) -> None:
    first = export.find(variant, "ai.generateText.doGenerate")[0]
    span, raw = first.span, first.raw
    assert (span.kind, span.model) == ("llm", SCRIPT["model"])
    assert (span.tokens_in, span.tokens_out) == tuple(SCRIPT["usage"][0])
    assert _messages(span.input) == GIVEN
    (answer,) = _messages(span.output)
    if variant == "ai-7-legacy":  # ai 7 records the parsed arguments, not the text the model wrote
        assert json.loads(raw["ai.response.toolCalls"])[0]["input"] == {"city": "Lisbon"}
        assert _parsed_args(answer) == [(c["id"], c["name"], json.loads(c["args"])) for c in SCRIPT["calls"]]
    else:
        expected = _calls(WEATHER) if variant == "ai-4" else _calls(WEATHER, REFUND)
        assert answer == {"role": "assistant", "tool_calls": expected}
    assert "ai.response.toolCalls" not in span.attributes and "ai.prompt.messages" not in span.attributes


@pytest.mark.parametrize("variant", LEGACY)
def test_next_model_call_sees_each_tool_result_as_a_tool_message(export: Export, variant: str) -> None:
    second = export.find(variant, "ai.generateText.doGenerate")[1].span
    messages = _messages(second.input)
    assert messages[:2] == GIVEN
    asked = [WEATHER] if variant == "ai-4" else [WEATHER, REFUND]
    assert messages[2]["role"] == "assistant"
    assert _parsed_args(messages[2]) == [(c["id"], c["name"], json.loads(c["args"])) for c in asked]
    weather = messages[3]
    assert (weather["role"], weather["tool_call_id"], weather["name"]) == ("tool", WEATHER["id"], WEATHER["name"])
    assert json.loads(weather["content"]) == {"city": "Lisbon", **SCRIPT["forecast"]}
    if variant != "ai-4":  # ai 4 stops at the tool that throws
        refund = messages[4]
        assert (refund["role"], refund["tool_call_id"]) == ("tool", REFUND["id"])
        assert SCRIPT["refund_error"] in refund["content"]
    assert _messages(second.output) == [{"role": "assistant", "content": SCRIPT["answer"]}]


@pytest.mark.parametrize("variant", LEGACY)
def test_tool_call_span_carries_name_arguments_and_result(export: Export, variant: str) -> None:
    found = export.one(variant, "ai.toolCall", **{"ai.toolCall.name": WEATHER["name"]})
    span = found.span
    assert (span.kind, span.tool_name, span.status) == ("tool", WEATHER["name"], "unset")
    assert span.tool_args == found.raw["ai.toolCall.args"] == span.input
    assert json.loads(span.tool_args) == json.loads(WEATHER["args"])
    assert json.loads(span.output or "") == {"city": "Lisbon", **SCRIPT["forecast"]}
    assert span.agent == SCRIPT["function_id"]  # from the call span it runs in


@pytest.mark.parametrize("variant", [*LEGACY, "ai-7"])
def test_tool_that_throws_is_an_error_span_with_its_exception(export: Export, variant: str) -> None:
    name = "execute_tool refund_order" if variant == "ai-7" else "ai.toolCall"
    (found,) = [s for s in export.find(variant, name) if s.span.tool_name == REFUND["name"]]
    span = found.span
    assert (span.kind, span.status) == ("tool", "error")
    assert SCRIPT["refund_error"] in (span.status_message or "")
    assert span.output is None
    assert SCRIPT["refund_error"] in [e["attributes"]["exception.message"] for e in span.events][0]


@pytest.mark.parametrize("variant", LEGACY)
def test_call_span_is_the_agent_with_the_prompt_and_the_final_answer(export: Export, variant: str) -> None:
    found = export.find(variant, "ai.generateText")[0]
    span, raw = found.span, found.raw
    assert (span.kind, span.agent, span.parent_id) == ("agent", SCRIPT["function_id"], None)
    assert span.model == raw["ai.model.id"] == SCRIPT["model"]
    assert _messages(span.input) == GIVEN
    (answer,) = _messages(span.output)
    assert answer["content"] == raw["ai.response.text"] == SCRIPT["answer"]
    assert (span.tokens_in, span.tokens_out) == (
        raw.get("ai.usage.inputTokens", raw.get("ai.usage.promptTokens")),
        raw.get("ai.usage.outputTokens", raw.get("ai.usage.completionTokens")),
    )


def test_call_that_a_throwing_tool_ended_is_an_error_at_the_agent_span(export: Export) -> None:
    failed = export.find("ai-4", "ai.generateText")[1].span
    assert (failed.kind, failed.status) == ("agent", "error")
    assert SCRIPT["refund_error"] in (failed.status_message or "")


def test_streamed_answer_is_an_llm_span_with_its_text_and_tokens(export: Export) -> None:
    span = export.one("ai-6", "ai.streamText.doStream").span
    assert (span.kind, span.model) == ("llm", SCRIPT["model"])
    assert _messages(span.input) == [{"role": "user", "content": SCRIPT["prompt"]}]
    assert _messages(span.output) == [{"role": "assistant", "content": SCRIPT["answer"]}]
    assert (span.tokens_in, span.tokens_out) == tuple(SCRIPT["usage"][1])
    assert export.one("ai-6", "ai.streamText").span.kind == "agent"


def test_structured_answer_is_the_object_text_with_its_legacy_token_names(export: Export) -> None:
    found = export.one("ai-6", "ai.generateObject.doGenerate")
    span, raw = found.span, found.raw
    assert span.kind == "llm"
    assert _messages(span.output) == [{"role": "assistant", "content": raw["ai.response.object"]}]
    assert json.loads(raw["ai.response.object"]) == json.loads(SCRIPT["object"])
    assert (span.tokens_in, span.tokens_out) == (raw["ai.usage.promptTokens"], raw["ai.usage.completionTokens"])
    assert (span.tokens_in, span.tokens_out) == tuple(SCRIPT["usage"][0])
    root = export.one("ai-6", "ai.generateObject").span
    assert (root.kind, root.agent) == ("agent", "object-agent")


def test_call_recorded_without_content_keeps_its_kinds_and_invents_nothing(export: Export) -> None:
    anonymous = {"ai.telemetry.functionId": None}
    call = export.one("ai-6", "ai.generateText.doGenerate", **anonymous).span
    assert (call.kind, call.input, call.output) == ("llm", None, None)
    assert (call.tokens_in, call.tokens_out) == tuple(SCRIPT["usage"][0])
    root = export.one("ai-6", "ai.generateText", **anonymous).span
    assert (root.kind, root.input, root.output) == ("agent", None, None)


def test_embedding_spans_are_embedding_kind(export: Export) -> None:
    assert export.quarantined == []
    assert export.one("ai-6", "ai.embed").span.kind == "embedding"
    assert export.one("ai-6", "ai.embed.doEmbed").span.model == SCRIPT["embedding_model"]


def test_genai_integration_reads_as_the_legacy_one_of_the_same_release(export: Export) -> None:
    legacy = [s.span for s in export.find("ai-7-legacy", "ai.generateText.doGenerate")]
    chats = [s.span for s in export.find("ai-7", f"chat {SCRIPT['model']}")]
    assert [c.kind for c in chats] == ["llm", "llm"]
    for chat, old in zip(chats, legacy, strict=True):
        assert (chat.model, chat.tokens_in, chat.tokens_out) == (old.model, old.tokens_in, old.tokens_out)
        assert _messages(chat.output) == _messages(old.output)
        assert _messages(chat.input)[:3] == _messages(old.input)[:3]
    found = export.find("ai-7", f"invoke_agent {SCRIPT['model']}")[0]
    agent = found.span
    assert (agent.kind, agent.agent) == ("agent", SCRIPT["function_id"])
    (written,) = json.loads(found.raw["gen_ai.output.messages"])
    kinds = [p["type"] for p in written["parts"]]
    assert kinds == ["text", "tool_call", "tool_call", "tool_call_response"]
    said, result = _messages(agent.output)  # the text and calls, then the result it carried
    assert (said["content"], [c["id"] for c in said["tool_calls"]]) == (SCRIPT["answer"], [WEATHER["id"], REFUND["id"]])
    assert (result["role"], result["tool_call_id"]) == ("tool", written["parts"][3]["id"])
    weather = export.one("ai-7", "execute_tool get_weather").span
    assert (weather.kind, weather.tool_name) == ("tool", WEATHER["name"])
    assert json.loads(weather.output or "") == {"city": "Lisbon", **SCRIPT["forecast"]}


def test_rules_layer_flags_the_throwing_tool_and_nothing_else(export: Export) -> None:
    run_rules(export.store)
    flagged = {(i.trace_id, i.span_id) for i in export.store.issues()}
    failing = {
        (s.span.trace_id, s.span.span_id)
        for spans in export.spans.values()
        for s in spans
        if s.span.kind == "tool" and s.span.tool_name == REFUND["name"]
    }
    assert len(failing) == 4
    assert flagged == failing
