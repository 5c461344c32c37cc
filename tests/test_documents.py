"""Compact trace documents: content, cap, determinism, redaction, and failure look-alikes."""

from __future__ import annotations

import difflib
import json
import random

from investigator.documents import build_document, normalise_message, tool_sequence
from investigator.models import Issue, Span, Trace
from investigator.redact import Redactor

R = Redactor()


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def refund_trace(seed: int, order: str, email: str, fail: str = "payments") -> tuple[Trace, list[Span], list[Issue]]:
    """A support-agent run as the OpenAI Agents SDK exporter records it: triage hands off to the
    refund agent, which looks the order up three times and then fails to issue the refund."""
    rng = random.Random(seed)
    trace_id = f"trace_{_hex(rng, 32)}"
    ids = [f"span_{_hex(rng, 24)}" for _ in range(9)]
    minute = rng.randint(10, 59)

    def at(second: int) -> str:
        return f"2024-06-11T09:{minute}:{second:02d}.{rng.randint(0, 999999):06d}Z"

    call = f"call_{''.join(rng.choice('abcdefghijkABCDEFGHIJK0123456789') for _ in range(24))}"
    request = json.dumps([{"role": "user", "content": f"Refund order {order} please, my email is {email}"}])
    common = {"trace_id": trace_id, "source_format": "openai-agents"}
    spans = [
        Span(
            span_id=ids[0],
            name="Agent workflow",
            kind="chain",
            start_time=at(0),
            end_time=at(30),
            status="error",
            input=request,
            **common,
        ),
        Span(
            span_id=ids[1],
            parent_id=ids[0],
            name="Triage Agent",
            kind="agent",
            agent="Triage Agent",
            start_time=at(1),
            end_time=at(4),
            status="ok",
            **common,
        ),
        Span(
            span_id=ids[2],
            parent_id=ids[1],
            name="Response",
            kind="llm",
            model="gpt-4o-2024-08-06",
            agent="Triage Agent",
            start_time=at(2),
            end_time=at(3),
            status="ok",
            tokens_in=812,
            tokens_out=41,
            output=json.dumps(
                [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": call, "name": "transfer_to_refund_agent", "arguments": "{}"}],
                    }
                ]
            ),
            **common,
        ),
        Span(
            span_id=ids[3],
            parent_id=ids[0],
            name="Refund Agent",
            kind="agent",
            agent="Refund Agent",
            start_time=at(5),
            end_time=at(29),
            status="error",
            **common,
        ),
    ]
    for i in range(3):
        spans.append(
            Span(
                span_id=ids[4 + i],
                parent_id=ids[3],
                name="lookup_order",
                kind="tool",
                tool_name="lookup_order",
                agent="Refund Agent",
                start_time=at(6 + i * 3),
                end_time=at(7 + i * 3),
                status="ok",
                tool_args=json.dumps({"order_id": order}),
                input=json.dumps({"order_id": order}),
                output=json.dumps({"order_id": order, "status": "delivered", "total": 129.99}),
                **common,
            )
        )
    message = (
        f"PaymentsError: HTTP 503 from payments-api (request req_{_hex(rng, 12)}) while refunding {order} "
        f"at 2024-06-11T09:{minute}:25Z for card 4111 1111 1111 1111"
        if fail == "payments"
        else f"PermissionDenied: HTTP 403 refund limit exceeded for agent role on {order}"
    )
    spans.append(
        Span(
            span_id=ids[7],
            parent_id=ids[3],
            name="issue_refund",
            kind="tool",
            tool_name="issue_refund",
            agent="Refund Agent",
            start_time=at(24),
            end_time=at(26),
            status="error",
            status_message=message,
            tool_args=json.dumps({"order_id": order, "amount": 129.99}),
            **common,
            events=[
                {
                    "name": "exception",
                    "time": at(26),
                    "attributes": {
                        "exception.type": message.split(":")[0],
                        "exception.message": message.split(": ", 1)[1],
                    },
                }
            ],
        )
    )
    trace = Trace(
        trace_id=trace_id,
        name="Agent workflow",
        root_span_id=ids[0],
        status="error",
        span_count=8,
        error_count=3,
        model="gpt-4o-2024-08-06",
        agent_version="2024.06.3",
        service="support-bot",
        labels={"correctness": "fail"},
        outcome={"refund_issued": False, "escalated": True},
    )
    issues = [
        Issue(
            trace_id=trace_id,
            span_id=ids[7],
            category="execution.service_error" if fail == "payments" else "execution.auth_failed",
            severity="high",
            confidence=0.9,
            evidence=message.split(": ", 1)[1][:60],
            description="refund call failed",
            source="rule:tool_error",
        ),
        Issue(
            trace_id=trace_id,
            span_id=ids[5],
            category="planning.redundant_steps",
            severity="medium",
            confidence=0.8,
            evidence=json.dumps({"order_id": order}),
            description="same lookup repeated",
            source="rule:repeated_call",
        ),
    ]
    return trace, spans, issues


def test_document_names_workflow_agents_tools_issues_and_outcome() -> None:
    doc = build_document(*refund_trace(1, "ORD-2024-558812", "jane.doe@example.com"), redactor=R)
    lines = doc.splitlines()
    assert lines[0] == "workflow: Agent workflow"
    assert "slices: model=gpt-4o-2024-08-06 agent_version=2024.06.3 service=support-bot" in lines
    assert "agents: Triage Agent -> Refund Agent" in lines
    assert "tools: lookup_order x3 -> issue_refund x1 (error)" in lines
    assert lines[lines.index("issues:") + 1].startswith("- execution.service_error [high] @issue_refund:")
    assert "labels: correctness=fail" in lines
    assert "outcome: escalated=true, refund_issued=false" in lines


def test_error_messages_are_normalised_and_redacted() -> None:
    doc = build_document(*refund_trace(2, "ORD-2024-558812", "jane.doe@example.com"), redactor=R)
    error = next(line for line in doc.splitlines() if line.startswith("- tool issue_refund:"))
    assert error == (
        "- tool issue_refund: PaymentsError: HTTP 503 from payments-api (request <id>) while refunding <id> "
        "at <ts> for card <CARD>"
    )
    assert "4111" not in doc and "jane.doe" not in doc and "558812" not in doc
    assert "request: Refund order <id> please, my email is <EMAIL>" in doc


def test_same_failure_with_different_ids_gives_near_identical_documents() -> None:
    a = build_document(*refund_trace(3, "ORD-2024-558812", "jane.doe@example.com"), redactor=R)
    b = build_document(*refund_trace(4, "ORD-2023-000917", "p.singh@example.co.uk"), redactor=R)
    assert a == b
    c = build_document(*refund_trace(5, "ORD-2024-558812", "jane.doe@example.com", fail="limit"), redactor=R)
    assert c != a
    assert difflib.SequenceMatcher(None, a, c).ratio() < 0.95


def test_document_is_deterministic() -> None:
    trace, spans, issues = refund_trace(6, "ORD-2024-558812", "jane.doe@example.com")
    first = build_document(trace, spans, issues, R)
    assert build_document(trace, list(reversed(spans)), list(reversed(issues)), R) == first
    assert build_document(trace, spans, issues, Redactor()) == first


def test_document_respects_the_cap_and_keeps_the_head() -> None:
    trace, spans, issues = refund_trace(7, "ORD-2024-558812", "jane.doe@example.com")
    for i in range(60):
        spans.append(
            Span(
                trace_id=trace.trace_id,
                span_id=f"span_{i:024x}",
                name=f"tool_{i}",
                kind="tool",
                tool_name=f"fetch_page_{i}",
                start_time=f"2024-06-11T10:00:{i:02d}.000000Z",
                status="error",
                status_message=f"TimeoutError: fetch_page_{i} exceeded deadline",
            )
        )
    full = build_document(trace, spans, issues, R, max_chars=100_000)
    capped = build_document(trace, spans, issues, R, max_chars=600)
    assert len(full) > 2000
    assert len(capped) <= 600
    assert len(build_document(trace, spans, issues, R)) <= 2000
    assert capped.startswith("workflow: Agent workflow\nstatus: error; 63 of 68 spans failed")
    assert "issues:" in capped
    assert "request:" not in capped


def test_tool_sequence_collapses_consecutive_calls() -> None:
    def tool(name: str, status: str = "ok") -> Span:
        return Span(trace_id="t", span_id=name + status, kind="tool", name=name, tool_name=name, status=status)

    spans = [tool("search"), tool("search", "error"), tool("search"), tool("fetch"), tool("search")]
    assert tool_sequence(spans) == "search x3 (1 of 3 error) -> fetch x1 -> search x1"


def test_normalise_message_keeps_http_statuses_and_strips_ids() -> None:
    message = (
        "503 Service Unavailable: upstream 7f3e9c2a-1b4d-4e8f-9a6b-2c5d8e1f0a3b after 30000 ms, trace 4bf92f3577b34da6"
    )
    assert normalise_message(message) == "503 Service Unavailable: upstream <uuid> after <n> ms, trace <hex>"


def test_normalise_message_skips_only_patterns_that_cannot_match(demo_store) -> None:
    """The gates are an optimisation: every text normalises as if each pattern always ran."""
    import re

    from investigator.documents import _NORMALISERS, _SPACE, _clip, normalise_message
    from investigator.redact import strip_placeholder_numbers

    def ungated(text: str) -> str:
        text = strip_placeholder_numbers(text)
        for pattern, token, _ in _NORMALISERS:
            text = pattern.sub(token, text)
        return _clip(_SPACE.sub(" ", text).strip(), 160)

    rows = demo_store.conn.execute("SELECT status_message, output, input FROM spans").fetchall()
    texts = [t[:600] for row in rows for t in row if t]
    texts += [
        "id 3f2a9c1e-0b1d-4c3e-9f00-1234567890ab at 2026-01-02T03:04:05Z",
        "abcdefab-abcd-abcd-abcd-abcdefabcdef",
        "order ORD-55121 failed",
        "٣٤٥ items",
        "no digits here - at all",
        "2026-01-02",
        "0xdeadbeef1",
    ]
    assert len(texts) > 1000
    assert [normalise_message(t) for t in texts] == [ungated(t) for t in texts]
    assert any(normalise_message(t) != _clip(_SPACE.sub(" ", t).strip(), 160) for t in texts)
    assert re.search(r"<uuid>", normalise_message(texts[-6]))
