"""What the real Langfuse Python SDK exports, ingested.

Once per module the agent app in `langfuse_sdk_app.py` runs with the real SDK (its `@observe`
decorator, `start_as_current_observation`, the `langfuse.openai` wrapper and the LangChain
`CallbackHandler` around a LangGraph agent), pointed at a loopback stand-in for the Langfuse host
that keeps every request, with a scripted model server behind the OpenAI and Anthropic clients. The
SDK POSTs OTLP protobuf to `/api/public/otel/v1/traces`; each request is decoded as an OTLP receiver
would (`otlp_proto.decode_request`) and saved, one per line, as the OTLP/JSON file that is ingested.
Every expected value is read from what the SDK sent (or from the model server's scripted answer).
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import fake_llm_server as fake
import pytest
from loopback import LoopbackServer

from investigator.ingest.otlp_proto import decode_request
from investigator.ingest.pipeline import IngestReport, ingest_paths
from investigator.models import Span
from investigator.rules import run_rules
from investigator.store import Store

APP = Path(__file__).parent / "langfuse_sdk_app.py"
OTEL_PATH = "/api/public/otel/v1/traces"
OPENAI_CALL = fake.openai_tool_call("call_7HnR2xKp4VwM9sLq1TcB6yDe", "lookup_order", '{"order_id": "A-1001"}')
ANTHROPIC_TOOL_USE = {"id": "toolu_01A09q90qw90lq917835lq9", "name": "lookup_order", "input": {"order_id": "A-1001"}}


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes  # as sent, gunzipped when the SDK compressed it


class LangfuseHost(LoopbackServer):
    """A loopback stand-in for a Langfuse server: answers 200 to everything and keeps each request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                host.requests.append(Request(self.path, headers, body))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _answer  # noqa: N815 (http.server naming)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass
class Export:
    requests: list[Request]
    file: Path  # the decoded requests, one OTLP/JSON request per line
    report: IngestReport
    store: Store

    def raw_span(self, name: str) -> dict[str, Any]:
        """The (first) span of this name as the SDK sent it, in OTLP/JSON."""
        for line in self.file.read_text().splitlines():
            for resource_spans in json.loads(line)["resourceSpans"]:
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        if span["name"] == name:
                            return span
        raise AssertionError(f"the SDK sent no span named {name!r}")

    def raw(self, name: str) -> dict[str, Any]:
        """The attributes the SDK sent on its (first) span of this name, decoded from OTLP AnyValues."""
        return {a["key"]: _any_value(a["value"]) for a in self.raw_span(name)["attributes"]}

    def span(self, name: str) -> dict[str, Any]:
        rows = self.spans(name)
        assert len(rows) == 1, f"{len(rows)} spans named {name!r}"
        return rows[0]

    def spans(self, name: str) -> list[dict[str, Any]]:
        return [
            self.store.get_span(t, s).model_dump()
            for t, s in self.store.conn.execute(
                "SELECT trace_id, span_id FROM spans WHERE name = ? ORDER BY start_time", [name]
            )
        ]


def _any_value(value: dict[str, Any]) -> Any:
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "intValue" in value:
        return int(value["intValue"])
    return next(iter(value.values()))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Export]:
    folder = tmp_path_factory.mktemp("langfuse_sdk")
    with LangfuseHost() as host, fake.FakeLLMServer() as model:
        model.script(
            fake.openai_completion(tool_calls=[OPENAI_CALL]),
            fake.anthropic_message(text="Let me look that order up.", tool_uses=[ANTHROPIC_TOOL_USE]),
        )
        run = subprocess.run(
            [sys.executable, str(APP), host.url, model.url],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert run.returncode == 0, run.stderr
    file = folder / "langfuse_otlp.jsonl"
    lines = [json.dumps(decode_request(r.body)) for r in host.requests if r.path == OTEL_PATH]
    file.write_text("\n".join(lines) + "\n")
    store = Store(folder / "store.db")
    report = ingest_paths(store, [str(file)])
    yield Export(host.requests, file, report, store)
    store.close()


def _messages(text: str | None) -> list[dict[str, Any]]:
    assert text is not None
    return json.loads(text)


def test_the_sdk_sends_otlp_protobuf_to_the_langfuse_endpoint_and_every_span_ingests(export: Export) -> None:
    assert {r.path for r in export.requests} == {OTEL_PATH}
    request = export.requests[0]
    assert request.headers["content-type"] == "application/x-protobuf"
    assert (
        request.headers["authorization"] == "Basic " + base64.b64encode(b"pk-lf-1234567890:sk-lf-1234567890").decode()
    )
    sent = sum(
        len(scope["spans"])
        for line in export.file.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
    )
    assert export.report.files == {str(export.file): "langfuse"}
    assert export.report.summary()["ingested"] == sent and export.report.quarantined == 0
    for trace_id, span_id in export.store.conn.execute("SELECT trace_id, span_id FROM spans"):
        Span.model_validate(export.store.get_span(trace_id, span_id).model_dump())


def test_openai_wrapper_generation_keeps_the_tool_call_the_model_wrote(export: Export) -> None:
    raw = export.raw("OpenAI-generation")
    sent_output = json.loads(raw["langfuse.observation.output"])
    usage = json.loads(raw["langfuse.observation.usage_details"])
    generation = export.span("OpenAI-generation")
    assert generation["kind"] == "llm" and generation["status"] == "ok"
    [call] = sent_output["tool_calls"]
    assert call["function"]["arguments"] == OPENAI_CALL["function"]["arguments"]
    assert _messages(generation["output"]) == [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": call["id"], "name": call["function"]["name"], "arguments": call["function"]["arguments"]}
            ],
        }
    ]
    sent_input = json.loads(raw["langfuse.observation.input"])["messages"]
    assert _messages(generation["input"]) == sent_input
    assert generation["model"] == raw["langfuse.observation.model.name"]
    assert (generation["tokens_in"], generation["tokens_out"]) == (usage["prompt_tokens"], usage["completion_tokens"])


def test_observe_tool_is_a_tool_span_with_the_arguments_and_result_the_sdk_recorded(export: Export) -> None:
    raw = export.raw("lookup_order")
    assert raw["langfuse.observation.type"] == "tool"
    tool = export.span("lookup_order")
    assert (tool["kind"], tool["tool_name"], tool["status"]) == ("tool", "lookup_order", "ok")
    assert tool["tool_args"] == raw["langfuse.observation.input"]
    assert json.loads(tool["tool_args"])["kwargs"] == json.loads(OPENAI_CALL["function"]["arguments"])
    assert tool["output"] == raw["langfuse.observation.output"]
    generation = export.span("OpenAI-generation")
    assert tool["parent_id"] == generation["parent_id"] == export.span("support-agent")["span_id"]


def test_tool_that_raised_is_a_failed_tool_span_with_the_message_the_sdk_recorded(export: Export) -> None:
    raw = export.raw("issue_refund")
    assert raw["langfuse.observation.level"] == "ERROR"
    failed = export.span("issue_refund")
    assert (failed["kind"], failed["status"]) == ("tool", "error")
    assert failed["status_message"] == raw["langfuse.observation.status_message"]
    assert [e["name"] for e in failed["events"]] == ["exception"]
    assert failed["output"] is None


def test_tool_whose_block_raised_keeps_the_exception_otel_recorded(export: Export) -> None:
    sent = export.raw_span("get_invoice")
    assert sent["status"]["code"] == "STATUS_CODE_ERROR" and "langfuse.observation.level" not in export.raw(
        "get_invoice"
    )
    [event] = sent["events"]
    recorded = {a["key"]: _any_value(a["value"]) for a in event["attributes"]}
    failed = export.span("get_invoice")
    assert (failed["kind"], failed["status"], failed["tool_name"]) == ("tool", "error", "get_invoice")
    assert failed["status_message"] == sent["status"]["message"]
    [stored] = failed["events"]
    assert stored["name"] == "exception"
    for key in ("exception.type", "exception.message", "exception.stacktrace"):
        assert stored["attributes"][key] == recorded[key]


def test_warning_guardrail_finishes_ok_and_keeps_its_message(export: Export) -> None:
    raw = export.raw("refund-limit-check")
    guard = export.span("refund-limit-check")
    assert (guard["kind"], guard["status"]) == ("guardrail", "ok")
    assert guard["status_message"] == raw["langfuse.observation.status_message"]
    assert guard["attributes"]["langfuse.level"] == raw["langfuse.observation.level"] == "WARNING"


def test_propagated_attributes_become_the_trace_facts(export: Export) -> None:
    raw = export.raw("support-agent")
    trace = export.store.get_trace(export.span("support-agent")["trace_id"])
    assert trace is not None
    assert trace.name == raw["langfuse.trace.name"] == "support-chat"
    assert (trace.session_id, trace.user_id) == (raw["session.id"], raw["user.id"])
    assert trace.tags == sorted(raw["langfuse.trace.tags"])
    assert trace.agent_version == raw["langfuse.version"]
    assert trace.span_count == 5 and trace.error_count == 1


def test_anthropic_content_blocks_become_one_assistant_message_with_its_tool_use(export: Export) -> None:
    blocks = json.loads(export.raw("claude-plan")["langfuse.observation.output"])
    assert [b["type"] for b in blocks] == ["text", "tool_use"]
    generation = export.span("claude-plan")
    text, use = blocks
    assert _messages(generation["output"]) == [
        {
            "role": "assistant",
            "content": text["text"],
            "tool_calls": [
                {"id": use["id"], "name": use["name"], "arguments": json.dumps(use["input"], separators=(",", ":"))}
            ],
        }
    ]
    assert use["input"] == ANTHROPIC_TOOL_USE["input"]


def test_anthropic_sdk_own_span_in_the_same_export_keeps_the_otlp_mapping(export: Export) -> None:
    raw = export.raw("anthropic.messages.create")
    span = export.span("anthropic.messages.create")
    assert span["source_format"] == "otlp-json" and span["kind"] == "llm"
    assert (span["tokens_in"], span["tokens_out"]) == (
        raw["gen_ai.usage.input_tokens"],
        raw["gen_ai.usage.output_tokens"],
    )
    assert span["parent_id"] == export.span("claude-plan")["span_id"]


def test_genai_parts_messages_keep_their_text_and_tool_calls(export: Export) -> None:
    first, second = export.spans("chat gpt-4o")
    raw_system, raw_user = json.loads(export.raw("chat gpt-4o")["langfuse.observation.input"])
    assert _messages(first["input"]) == [
        {"role": "system", "content": raw_system["parts"][0]["content"]},
        {"role": "user", "content": raw_user["parts"][0]["content"]},
    ]
    [asked] = _messages(first["output"])
    assert asked == {
        "role": "assistant",
        "content": "Checking the forecast.",
        "tool_calls": [{"id": "call_w1", "name": "get_weather", "arguments": '{"city":"Paris"}'}],
    }
    history = _messages(second["input"])
    assert history[2] == asked
    assert history[3] == {"role": "tool", "tool_call_id": "call_w1", "content": "18°C, sunny"}
    weather = export.span("get_weather")
    assert (weather["kind"], weather["tool_name"], weather["output"]) == ("tool", "get_weather", "18°C, sunny")
    assert json.loads(weather["tool_args"]) == json.loads(asked["tool_calls"][0]["arguments"])


def test_langchain_callback_generation_calls_the_tool_its_tool_span_runs(export: Export) -> None:
    raw_generation = json.loads(export.raw("ScriptedChatModel")["langfuse.observation.output"])
    [lc_call] = raw_generation["tool_calls"]
    calling, answering = export.spans("ScriptedChatModel")
    [message] = _messages(calling["output"])
    assert message["tool_calls"] == [
        {"id": lc_call["id"], "name": lc_call["name"], "arguments": json.dumps(lc_call["args"], separators=(",", ":"))}
    ]
    tool = next(s for s in export.spans("find_customer") if s["trace_id"] == calling["trace_id"])
    raw_tool = export.raw("find_customer")
    tool_message = json.loads(raw_tool["langfuse.observation.output"])
    assert (tool["kind"], tool["tool_name"]) == ("tool", lc_call["name"])
    assert json.loads(tool["tool_args"]) == lc_call["args"]
    assert tool["output"] == tool_message["content"]
    assert _messages(answering["input"])[-1] == {
        "role": "tool",
        "content": tool_message["content"],
        "tool_call_id": lc_call["id"],
        "name": lc_call["name"],
    }


def test_span_that_returned_a_tool_message_is_a_tool_span(export: Export) -> None:
    raw = export.raw("relay-tool-call")
    assert raw["langfuse.observation.type"] == "span"
    returned = json.loads(raw["langfuse.observation.output"])
    assert returned["type"] == "tool"
    relay = export.span("relay-tool-call")
    assert (relay["kind"], relay["tool_name"]) == ("tool", returned["name"])
    assert relay["tool_args"] == raw["langfuse.observation.input"]
    assert relay["output"] == returned["content"]


def test_rules_layer_flags_the_failed_tool_at_its_own_span(export: Export) -> None:
    run_rules(export.store)
    failed = export.span("issue_refund")
    flagged = {(i.trace_id, i.span_id) for i in export.store.issues() if i.source.startswith("rule:")}
    assert (failed["trace_id"], failed["span_id"]) in flagged
    assert not {(t, s) for t, s in flagged if t == failed["trace_id"]} - {(failed["trace_id"], failed["span_id"])}


def test_v2_api_fixture_holds_the_io_text_this_sdk_sends(export: Export) -> None:
    """langfuse_observations_v2.json is built to the API's documented shape, but the input/output text
    of its Langfuse SDK observations must be what the SDK really sends for those calls."""
    page = json.loads((Path(__file__).parent / "data" / "langfuse_observations_v2.json").read_text())
    for name in ("OpenAI-generation", "claude-plan", "relay-tool-call"):
        record = next(r for r in page["data"] if r["name"] == name)
        raw = export.raw(name)
        assert (record["input"], record["output"]) == (
            raw["langfuse.observation.input"],
            raw["langfuse.observation.output"],
        ), name


def test_sdk_span_with_a_bad_attribute_is_quarantined_and_its_siblings_are_kept(
    export: Export, tmp_path: Path, store: Store
) -> None:
    request = json.loads(export.file.read_text().splitlines()[0])
    spans = [s for r in request["resourceSpans"] for scope in r["scopeSpans"] for s in scope["spans"]]
    generation = next(s for s in spans if s["name"] == "OpenAI-generation")
    bad = {"key": "langfuse.observation.completion_start_time", "value": {"stringValue": '"soon"'}}
    generation["attributes"].append(bad)
    file = tmp_path / "bad.jsonl"
    file.write_text(json.dumps(request) + "\n")
    report = ingest_paths(store, [str(file)])
    assert report.ingested == len(spans) - 1
    [row] = store.quarantined()
    span_id = base64.b64decode(generation["spanId"]).hex()
    assert (row.file, row.line, row.location, row.format) == (str(file), 1, f"span {span_id}", "langfuse")
    assert row.reason == "RecordError: attribute 'langfuse.observation.completion_start_time': not a timestamp: 'soon'"
    assert store.get_span(base64.b64decode(generation["traceId"]).hex(), span_id) is None
