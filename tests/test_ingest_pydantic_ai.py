"""What pydantic-ai's own instrumentation records, ingested.

Once per module `pydantic_ai_app.py` runs two agents with the installed pydantic-ai, once for every
instrumentation format version it offers, against its `FunctionModel` following a script: one
calls a tool that answers and one that raises `ModelRetry`, then answers; the other calls a tool
that raises, which fails the run. The OpenTelemetry SDK records the spans and its OTLP encoder
serialises them; each request is ingested as is. Format version 1 (the `events` attribute,
`tool_arguments`/`tool_response`), which pydantic-ai 2 no longer writes, was recorded by the same
app under pydantic-ai 1.0 (`data/pydantic_ai_v1_otlp.json`; how, in the app's docstring).
Expected values come from the app's script or from the attributes pydantic-ai wrote.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic_ai_app as app
import pytest
from pydantic_ai.models.instrumented import InstrumentationSettings

from investigator.ingest.pipeline import ingest_records
from investigator.ingest.semconv import map_attributes
from investigator.models import Span
from investigator.rules import run_rules
from investigator.store import Store

RECORDED_V1 = Path(__file__).parent / "data" / "pydantic_ai_v1_otlp.json"
GIVEN = [{"role": "system", "content": app.INSTRUCTIONS}, {"role": "user", "content": app.PROMPT}]
ASKED = {
    "role": "assistant",
    "tool_calls": [
        {"id": call.tool_call_id, "name": call.tool_name, "arguments": call.args}
        for call in (app.WEATHER_CALL, app.REFUND_CALL)
    ],
}


def _offered_versions() -> list[int]:
    offered = []
    for version in range(1, 10):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                InstrumentationSettings(version=version)  # type: ignore[arg-type]
        except ValueError:
            continue
        offered.append(version)
    return offered


VERSIONS = [1, *(v for v in _offered_versions() if v != 1)]


@dataclass
class Stored:
    span: Span
    raw: dict[str, Any]  # the attributes as pydantic-ai wrote them (OTLP JSON values)


@dataclass
class Run:
    """One agent run of one format version: its stored spans in start order."""

    spans: list[Stored]

    def agent(self) -> Stored:
        (agent,) = [s for s in self.spans if s.span.kind == "agent"]
        return agent

    def model_requests(self) -> list[Stored]:
        return [s for s in self.spans if s.span.name == f"chat {app.MODEL}"]

    def tool(self, name: str) -> Stored:
        (tool,) = [s for s in self.spans if s.span.kind == "tool" and s.span.tool_name == name]
        return tool


@dataclass
class Export:
    store: Store
    runs: dict[tuple[int, str], Run]  # (format version, agent name) → run


def _hex(value: str) -> str:
    return base64.b64decode(value).hex()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Export]:
    requests = {v: app.export_request(v) for v in VERSIONS if v != 1}
    requests[1] = json.loads(RECORDED_V1.read_text())
    store = Store(tmp_path_factory.mktemp("pydantic_ai") / "store.db")
    report = ingest_records(store, list(requests.values()), "otlp-json", "pydantic-ai")
    assert report.quarantined == 0
    runs: dict[tuple[int, str], Run] = {}
    for version, request in requests.items():
        raw: dict[tuple[str, str], dict[str, Any]] = {}
        for resource in request["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    attrs = {a["key"]: next(iter(a["value"].values()), None) for a in span.get("attributes", [])}
                    raw[(_hex(span["traceId"]), _hex(span["spanId"]))] = attrs
        for trace_id in sorted({t for t, _ in raw}):
            spans = sorted(store.spans(trace_id), key=lambda s: s.start_time)
            run = Run([Stored(s, raw[(s.trace_id, s.span_id)]) for s in spans])
            runs[(version, str(run.agent().raw["agent_name"]))] = run
    yield Export(store, runs)
    store.close()


def _messages(text: str | None) -> list[dict[str, Any]]:
    assert text is not None
    return json.loads(text)


@pytest.mark.parametrize("version", VERSIONS)
def test_model_request_is_an_llm_span_with_model_tokens_and_tool_calls(export: Export, version: int) -> None:
    first = export.runs[(version, "weather_agent")].model_requests()[0]
    span, raw = first.span, first.raw
    assert (span.kind, span.model) == ("llm", app.MODEL)
    assert (span.tokens_in, span.tokens_out) == (
        int(raw["gen_ai.usage.input_tokens"]),
        int(raw["gen_ai.usage.output_tokens"]),
    )
    assert _messages(span.input) == GIVEN
    assert _messages(span.output) == [ASKED]
    assert not {"gen_ai.input.messages", "gen_ai.output.messages", "events"} & set(span.attributes)


@pytest.mark.parametrize("version", VERSIONS)
def test_next_model_request_sees_each_tool_result_as_a_tool_message(export: Export, version: int) -> None:
    second = export.runs[(version, "weather_agent")].model_requests()[1].span
    messages = _messages(second.input)
    assert messages[:3] == [*GIVEN, ASKED]
    weather, refund = messages[3:]
    assert (weather["role"], weather["tool_call_id"], weather["name"]) == ("tool", "call_w", "get_weather")
    assert json.loads(weather["content"]) == {"city": "Lisbon", **app.FORECAST}
    assert (refund["role"], refund["tool_call_id"], refund["name"]) == ("tool", "call_r", "refund_order")
    assert refund["content"].startswith(app.REFUND_RETRY)
    assert _messages(second.output) == [{"role": "assistant", "content": app.ANSWER}]


@pytest.mark.parametrize("version", VERSIONS)
def test_tool_span_carries_name_arguments_and_result(export: Export, version: int) -> None:
    found = export.runs[(version, "weather_agent")].tool("get_weather")
    span, raw = found.span, found.raw
    written = raw.get("gen_ai.tool.call.arguments", raw.get("tool_arguments"))
    assert (span.kind, span.status) == ("tool", "unset")
    assert span.tool_args == written == span.input
    assert json.loads(span.tool_args or "") == json.loads(str(app.WEATHER_CALL.args))
    assert json.loads(span.output or "") == {"city": "Lisbon", **app.FORECAST}
    assert span.agent == "weather_agent"


@pytest.mark.parametrize("version", VERSIONS)
def test_model_retry_is_an_error_span_whose_output_is_the_retry_prompt(export: Export, version: int) -> None:
    found = export.runs[(version, "weather_agent")].tool("refund_order")
    span = found.span
    assert (span.kind, span.status) == ("tool", "error")
    assert (span.output or "").startswith(app.REFUND_RETRY)
    assert [e["attributes"]["exception.type"] for e in span.events] == ["pydantic_ai.exceptions.ToolRetryError"]


@pytest.mark.parametrize("version", VERSIONS)
def test_raising_tool_is_an_error_span_and_fails_its_agent_run(export: Export, version: int) -> None:
    run = export.runs[(version, "lookup_agent")]
    tool = run.tool("lookup_user").span
    assert (tool.kind, tool.status, tool.output) == ("tool", "error", None)
    assert app.LOOKUP_ERROR in (tool.status_message or "")
    agent = run.agent().span
    assert (agent.status, agent.agent, agent.parent_id) == ("error", "lookup_agent", None)
    assert app.LOOKUP_ERROR in (agent.status_message or "")


@pytest.mark.parametrize("version", VERSIONS)
def test_agent_run_span_is_the_agent_with_its_conversation_and_final_result(export: Export, version: int) -> None:
    found = export.runs[(version, "weather_agent")].agent()
    span = found.span
    assert (span.kind, span.agent, span.parent_id) == ("agent", "weather_agent", None)
    assert span.output == found.raw["final_result"] == app.ANSWER
    conversation = _messages(span.input)
    assert conversation[:3] == [*GIVEN, ASKED]
    assert conversation[-1] == {"role": "assistant", "content": app.ANSWER}
    assert not {"pydantic_ai.all_messages", "all_messages_events"} & set(span.attributes)


def test_rules_layer_flags_the_failing_tools_and_nothing_else(export: Export) -> None:
    run_rules(export.store)
    flagged = {(i.trace_id, i.span_id) for i in export.store.issues()}
    failing = {
        (tool.span.trace_id, tool.span.span_id)
        for version in VERSIONS
        for tool in (
            export.runs[(version, "weather_agent")].tool("refund_order"),
            export.runs[(version, "lookup_agent")].tool("lookup_user"),
        )
    }
    assert flagged == failing


def test_an_events_attribute_that_is_not_message_events_is_kept_as_is() -> None:
    fields = map_attributes({"events": '["deploy", "rollback"]', "gen_ai.operation.name": "chat"})
    assert (fields["kind"], fields["input"], fields["output"]) == ("llm", None, None)
    assert fields["attributes"]["events"] == '["deploy", "rollback"]'
