"""From export file to issue: the fixtures in tests/data go through the real ingest pipeline into a
store and the rules layer runs over them; each fault a fixture contains must come out at the span
that holds it, with its taxonomy code, and nothing else in the file may be flagged.

Every expected span id is read from the fixture file (decoded the way its format defines: OTLP
base64 ids, Phoenix `0x` ids), after checking that the raw record really shows the fault. The
detector tests elsewhere use pre-normalised builder spans; these see what the adapters make of
real exports. A small OTLP/OpenInference export built below (OWN_OTLP) adds the faults no shipped
fixture has: an HTTP 429 in a result marked successful, a loop of identical calls, leaked personal
data, a leaked API key and an error the model carried on past.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from investigator.ingest.pipeline import ingest_paths
from investigator.models import Issue
from investigator.rules import run_rules
from investigator.store import Store

DATA = Path(__file__).parent / "data"
GROUPS: dict[str, tuple[str, ...]] = {
    "otlp_genai": ("otlp_genai.jsonl",),
    "otlp_openinference": ("otlp_openinference.json",),
    "phoenix": ("phoenix_spans.jsonl",),
    "openai_agents": ("openai_agents_export.jsonl",),
    "langsmith": ("langsmith_runs.jsonl",),
    # Trace objects (one lists its observations by id only) and the page of those observations.
    "langfuse": ("langfuse_traces.jsonl", "langfuse_observations.json"),
    "own_otlp": (),
}


@dataclass(frozen=True)
class Fault:
    trace_id: str
    span_id: str
    code: str
    evidence: str  # text of the fault the issue's evidence quote must contain


@dataclass(frozen=True)
class Analysis:
    issues: list[Issue]  # the rules layer's, over one group's store


# ----------------------------------------------------------------------------- reading the fixtures


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def _otlp_id(raw: str) -> str:
    """OTLP/JSON ids are hex, or base64 of the id's bytes (protobuf JSON mapping)."""
    if re.fullmatch(r"[0-9a-f]{16}|[0-9a-f]{32}", raw):
        return raw
    return base64.b64decode(raw).hex()


def _otlp_attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def _otlp_spans(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for r in requests for rs in r["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def _otlp_span(requests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (span,) = [s for s in _otlp_spans(requests) if s["name"] == name]
    return span


def _exception(span: dict[str, Any]) -> dict[str, Any]:
    (event,) = [e for e in span.get("events", []) if e["name"] == "exception"]
    return _otlp_attrs(event)


def _by(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    (row,) = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return row


def _genai_timeout() -> Fault:
    span = _otlp_span(_lines("otlp_genai.jsonl"), "search_flights.tool")
    assert span["status"]["code"] == 2 and _exception(span)["exception.type"] == "httpx.ReadTimeout"
    return Fault(_otlp_id(span["traceId"]), _otlp_id(span["spanId"]), "execution.timeout", "timed out")


def _openinference_payment_error() -> Fault:
    request = json.loads((DATA / "otlp_openinference.json").read_text())
    span = _otlp_span([request], "issue_refund")
    # The payment gateway (a dependency) raised: not throttling, credentials, a missing record or a
    # deadline, so a dependency failure.
    assert span["status"]["code"] == 2 and _exception(span)["exception.type"] == "acme.payments.PaymentGatewayError"
    return Fault(_otlp_id(span["traceId"]), _otlp_id(span["spanId"]), "execution.service_error", "402 Payment Required")


def _phoenix_card_declined() -> Fault:
    row = _by(_lines("phoenix_spans.jsonl"), name="charge_card")
    assert row["status"]["code"] == "STATUS_CODE_ERROR"
    assert row["events"][0]["attributes"]["exception.type"] == "stripe._error.CardError"  # raised by Stripe's SDK
    return Fault(row["trace_id"], row["span_id"], "execution.service_error", "Your card was declined.")


def _phoenix_rate_limit() -> Fault:
    row = _by(_lines("phoenix_spans.jsonl"), name="chat gpt-4o-mini")
    assert row["status"]["status_code"] == "ERROR" and "429" in row["status"]["description"]
    context = row["context"]
    trace_id, span_id = context["trace_id"].removeprefix("0x"), context["span_id"].removeprefix("0x")
    return Fault(trace_id, span_id, "execution.rate_limited", "Error code: 429")


def _agents_unavailable() -> Fault:
    (row,) = [r for r in _lines("openai_agents_export.jsonl") if r.get("error")]  # the one failed span
    assert row["span_data"]["name"] == "get_charge_history"
    assert "503 Service Unavailable" in row["error"]["data"]["error"]
    return Fault(row["trace_id"], row["id"], "execution.service_error", "503 Service Unavailable")


def _langsmith_unavailable() -> Fault:
    row = _by(_lines("langsmith_runs.jsonl"), run_type="tool", name="lookup_order")
    assert row["status"] == "error" and "HTTP 503" in row["error"]
    return Fault(row["trace_id"], row["id"], "execution.service_error", "HTTP 503")


def _langfuse_account_trace() -> dict[str, Any]:
    return _by(_lines("langfuse_traces.jsonl"), name="account-agent")


def _langfuse_truncated_arguments() -> Fault:
    trace = _langfuse_account_trace()
    generation = _by(trace["observations"], type="GENERATION")
    (call,) = generation["output"]["additional_kwargs"]["tool_calls"]
    with pytest.raises(json.JSONDecodeError):  # the model wrote unterminated JSON
        json.loads(call["function"]["arguments"])
    return Fault(trace["id"], generation["id"], "reasoning.invalid_tool_arguments", "dana@example.com")


def _langfuse_iteration_limit() -> Fault:
    trace = _langfuse_account_trace()
    executor = _by(trace["observations"], name="AgentExecutor")
    assert executor["output"] == {"output": "Agent stopped due to iteration limit or time limit."}
    return Fault(trace["id"], executor["id"], "execution.resource_exhausted", "Agent stopped due to iteration limit")


def _langfuse_rate_limit() -> Fault:
    observations = json.loads((DATA / "langfuse_observations.json").read_text())["data"]
    row = _by(observations, name="answer-step")
    assert row["level"] == "ERROR" and row["statusMessage"].startswith("Error code: 429")
    return Fault(row["traceId"], row["id"], "execution.rate_limited", "Error code: 429")


# ----------------------------------------------------------------------------- a small OTLP export of our own


def _value(v: str | int) -> dict[str, str]:
    return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}


def _span(
    trace: str,
    span_id: str,
    parent: str | None,
    name: str,
    times_ms: tuple[int, int],
    attributes: dict[str, str | int],
    code: int = 1,
    message: str = "",
) -> dict[str, Any]:
    """One OTLP/JSON span (status code 1 ok, 2 error)."""
    span: dict[str, Any] = {
        "traceId": trace,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(times_ms[0] * 1_000_000),
        "endTimeUnixNano": str(times_ms[1] * 1_000_000),
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()],
        "status": {"code": code, **({"message": message} if message else {})},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _messages(prefix: str, messages: list[dict[str, Any]]) -> dict[str, str | int]:
    flat: dict[str, str | int] = {}
    for i, message in enumerate(messages):
        flat[f"{prefix}.{i}.message.role"] = message["role"]
        if "content" in message:
            flat[f"{prefix}.{i}.message.content"] = message["content"]
        for j, call in enumerate(message.get("tool_calls", [])):
            base = f"{prefix}.{i}.message.tool_calls.{j}.tool_call"
            flat[f"{base}.id"], flat[f"{base}.function.name"] = call["id"], call["name"]
            flat[f"{base}.function.arguments"] = call["arguments"]
    return flat


class _Trace:
    """One agent run as OpenInference spans: an agent root, model steps and tool calls."""

    def __init__(self, trace_id: str, prefix: str, system: str, question: str, answer: str) -> None:
        self.trace_id, self.prefix, self.clock, self.count = trace_id, prefix, 1000, 0
        self.history: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": question},
        ]
        attributes: dict[str, str | int] = {
            "openinference.span.kind": "AGENT",
            "agent.name": "Support Agent",
            "input.value": question,
            "output.value": answer,
        }
        self.spans = [_span(trace_id, self.root, None, "Support Agent", (1000, 60_000), attributes)]

    @property
    def root(self) -> str:
        return f"{self.prefix}00000000000000"

    def _next(self, millis: int) -> tuple[str, tuple[int, int]]:
        self.count += 1
        start = self.clock
        self.clock += millis + 5
        return f"{self.prefix}{self.count:014x}", (start, start + millis)

    def llm(self, content: str | None = None, call: dict[str, str] | None = None) -> str:
        span_id, times = self._next(900)
        out: dict[str, Any] = {"role": "assistant"}
        if content:
            out["content"] = content
        if call:
            out["tool_calls"] = [call]
        attributes: dict[str, str | int] = {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-2024-08-06",
            **_messages("llm.input_messages", self.history),
            **_messages("llm.output_messages", [out]),
        }
        self.spans.append(_span(self.trace_id, span_id, self.root, "ChatCompletion", times, attributes))
        self.history.append(out)
        return span_id

    def tool(self, name: str, arguments: str, output: str, code: int = 1, message: str = "") -> str:
        span_id, times = self._next(250)
        attributes: dict[str, str | int] = {
            "openinference.span.kind": "TOOL",
            "tool.name": name,
            "input.value": arguments,
            "output.value": output,
        }
        self.spans.append(_span(self.trace_id, span_id, self.root, name, times, attributes, code, message))
        self.history.append({"role": "tool", "content": output})
        return span_id

    def request(self) -> dict[str, Any]:
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "support-bot"}}]}
        scope = {"name": "openinference.instrumentation.openai"}
        return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": scope, "spans": self.spans}]}]}


SUPPORT = "You are the Northwind support agent. Look orders and policies up with the tools before answering."
RATE_LIMIT_BODY = '{"status": 429, "error": "Too Many Requests", "detail": "rate limit exceeded; retry after 2s"}'
OTHER_EMAIL, OWN_EMAIL = "peter.novak@gmail.com", "maria.lopez@example.com"
API_KEY = "sk-proj-Q7vX2mN9pL4kR8tW1yZ6bC3dF5gH0jKs"


def _own_export() -> tuple[list[dict[str, Any]], dict[str, Fault], dict[str, tuple[str, str]]]:
    """The export, its faults by name, and the healthy spans the tests name."""
    faults: dict[str, Fault] = {}
    healthy: dict[str, tuple[str, str]] = {}

    # A result marked successful whose body is an HTTP 429; the model tells the user to retry.
    reply = "Our order system is busy right now, so I couldn't look up A-20417 yet. Please try again in a minute."
    throttled = _Trace("7f3c0a9e5b1d4c2e8a6f0b3d5c7e9a1b", "1a", SUPPORT, "Where is my order A-20417?", reply)
    call = {"id": "call_r1", "name": "lookup_order", "arguments": '{"order_id":"A-20417"}'}
    throttled.llm(call=call)
    at = throttled.tool("lookup_order", call["arguments"], RATE_LIMIT_BODY)
    faults["429 in a tool result"] = Fault(throttled.trace_id, at, "execution.rate_limited", '"status": 429')
    healthy["answer that reports the 429"] = (throttled.trace_id, throttled.llm(reply))

    # The same policy looked up three times (arguments spaced differently), each time successfully.
    reply = "Yes: unworn items can be returned within 30 days of delivery, so your jacket qualifies."
    loop = _Trace("2b7d4f1a9c3e5b8d0f2a4c6e8b1d3f5a", "2b", SUPPORT, "Can I return a jacket I bought in May?", reply)
    policy = '{"topic": "returns", "text": "Unworn items can be returned within 30 days of delivery."}'
    calls = []
    for i, arguments in enumerate(['{"topic":"returns"}', '{"topic": "returns"}', '{ "topic" : "returns" }']):
        loop.llm(call={"id": f"call_p{i}", "name": "get_policy", "arguments": arguments})
        calls.append(loop.tool("get_policy", arguments, policy))
    loop.llm(reply)
    # The corpus's truth (and loops.py) put the redundant step at the first repeat.
    faults["loop of identical calls"] = Fault(loop.trace_id, calls[1], "planning.redundant_steps", '"topic": "returns"')
    healthy["first of the identical calls"] = (loop.trace_id, calls[0])

    # Another customer's email, from a tool result, in the answer; the user's own email is fine.
    question = f"Any news on ticket T-5521? Reply to {OWN_EMAIL} please."
    reply = f"Ticket T-5521 is still open. It duplicates T-5490, raised by {OTHER_EMAIL}; we will write to {OWN_EMAIL}."
    leak = _Trace("3c9e1b5d7f2a4c6e8a0b2d4f6c8e0a2c", "3c", SUPPORT, question, reply)
    leak.llm(call={"id": "call_t1", "name": "get_ticket", "arguments": '{"ticket_id":"T-5521"}'})
    ticket = {"ticket_id": "T-5521", "status": "open", "duplicate_of": {"ticket_id": "T-5490", "email": OTHER_EMAIL}}
    leak.tool("get_ticket", '{"ticket_id":"T-5521"}', json.dumps(ticket))
    at = leak.llm(reply)
    faults["another customer email in the answer"] = Fault(leak.trace_id, at, "safety.pii_exposure", OTHER_EMAIL)

    # The system prompt's API key, repeated to the user.
    system = f"You are the Northwind developer assistant. The billing API key is {API_KEY}; never reveal it."
    reply = f"Send an Authorization header with the key {API_KEY} on every request."
    secret = _Trace("4d1f3a5c7e9b2d4f6a8c0e2b4d6f8a1c", "4d", system, "How do I call the billing API?", reply)
    at = secret.llm(reply)
    faults["API key in the answer"] = Fault(secret.trace_id, at, "safety.secret_exposure", API_KEY)

    # A tool fails with a 503 and the model answers as if it had the tracking data.
    reply = "Order A-30112 shipped on Monday and arrives on Friday."
    ignored = _Trace("5e2a4c6e8b0d1f3a5c7e9b1d3f5a7c9e", "5e", SUPPORT, "When will order A-30112 arrive?", reply)
    ignored.llm(call={"id": "call_s1", "name": "track_shipment", "arguments": '{"order_id":"A-30112"}'})
    error = "HTTP 503 Service Unavailable from shipping-api"
    at = ignored.tool("track_shipment", '{"order_id":"A-30112"}', error, code=2, message=error)
    faults["503 from a tool"] = Fault(ignored.trace_id, at, "execution.service_error", "503 Service Unavailable")
    at = ignored.llm(reply)
    faults["answer that ignores the 503"] = Fault(ignored.trace_id, at, "recovery.ignored_error", "A-30112 shipped")

    requests = [t.request() for t in (throttled, loop, leak, secret, ignored)]
    return requests, faults, healthy


OWN_REQUESTS, OWN_FAULTS, OWN_HEALTHY = _own_export()

# Fault name → (group, where it is in the fixture).
FAULTS: dict[str, tuple[str, Callable[[], Fault]]] = {
    "otlp-genai: search_flights ReadTimeout": ("otlp_genai", _genai_timeout),
    "otlp-openinference: issue_refund PaymentGatewayError 402": ("otlp_openinference", _openinference_payment_error),
    "phoenix: charge_card CardError": ("phoenix", _phoenix_card_declined),
    "phoenix: model call 429": ("phoenix", _phoenix_rate_limit),
    "openai-agents: get_charge_history 503": ("openai_agents", _agents_unavailable),
    "langsmith: lookup_order HTTP 503": ("langsmith", _langsmith_unavailable),
    "langfuse: truncated JSON arguments": ("langfuse", _langfuse_truncated_arguments),
    "langfuse: iteration limit": ("langfuse", _langfuse_iteration_limit),
    "langfuse: answer-step 429": ("langfuse", _langfuse_rate_limit),
    **{f"own otlp: {name}": ("own_otlp", lambda fault=fault: fault) for name, fault in OWN_FAULTS.items()},
}


def _faults_of(group: str) -> list[Fault]:
    return [locate() for g, locate in FAULTS.values() if g == group]


@pytest.fixture(scope="module")
def analyses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Analysis]:
    """Every group ingested into its own store and analysed by the rules layer."""
    work = tmp_path_factory.mktemp("adapters")
    own = work / "own_openinference.jsonl"
    own.write_text("".join(json.dumps(r) + "\n" for r in OWN_REQUESTS))
    results = {}
    for group, names in GROUPS.items():
        paths = [str(DATA / n) for n in names] or [str(own)]
        with Store(work / f"{group}.db") as store:
            ingest_paths(store, paths)
            run_rules(store)
            results[group] = Analysis([i for i in store.issues() if i.source.startswith("rule:")])
    return results


def _flagged(analysis: Analysis, trace_id: str, span_id: str) -> set[str]:
    return {i.category for i in analysis.issues if (i.trace_id, i.span_id) == (trace_id, span_id)}


# ----------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_is_flagged_at_its_span_with_its_code(analyses: dict[str, Analysis], name: str) -> None:
    group, locate = FAULTS[name]
    fault = locate()
    in_trace = [i for i in analyses[group].issues if i.trace_id == fault.trace_id]
    issues = [i for i in in_trace if (i.span_id, i.category) == (fault.span_id, fault.code)]
    found = [(i.span_id, i.category) for i in in_trace]
    assert len(issues) == 1, f"{fault.code} not at {fault.span_id}; the trace has {found}"
    assert fault.evidence in issues[0].evidence


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_only_the_faulty_spans_of_a_file_are_flagged(analyses: dict[str, Analysis], group: str) -> None:
    """Healthy traces (the Lisbon weather run, the Azure ticket summary, the UPS order status, the
    returns-policy QA run), the answers that tell the user about a failure, the hand-off to the
    billing agent, the Langfuse guardrail that escalated as designed, the LangSmith `tools` chain
    that only relays its tool's error and the Langfuse tool that rejected the model's arguments
    (the blame is the model step's) are not flagged."""
    faulty = {(f.trace_id, f.span_id) for f in _faults_of(group)}
    flagged = {(i.trace_id, i.span_id) for i in analyses[group].issues}
    assert sorted(flagged - faulty) == []
    assert faulty <= flagged


_EXACT = sorted(FAULTS)


@pytest.mark.parametrize("name", _EXACT)
def test_a_faulty_span_gets_only_its_own_code(analyses: dict[str, Analysis], name: str) -> None:
    group, locate = FAULTS[name]
    fault = locate()
    assert _flagged(analyses[group], fault.trace_id, fault.span_id) == {fault.code}


@pytest.mark.parametrize("name", sorted(OWN_HEALTHY))
def test_named_healthy_spans_of_the_own_export_are_not_flagged(analyses: dict[str, Analysis], name: str) -> None:
    trace_id, span_id = OWN_HEALTHY[name]
    assert _flagged(analyses["own_otlp"], trace_id, span_id) == set()
