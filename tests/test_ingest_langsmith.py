"""LangSmith run exports: kinds, the run tree, canonical messages, tokens, errors and hints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from investigator.ingest import langsmith
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Span
from investigator.store import Store

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "langsmith_runs.jsonl"
SUPPORT_TRACE = "1ef0a3c2-7b4d-4e59-8f61-2a3b4c5d6e7f"
RAG_TRACE = "6f5e4d3c-2b1a-4f0e-9d8c-7b6a5f4e3d2c"


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


def _parse_all() -> tuple[list[dict[str, Any]], list[Rejected]]:
    spans: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for record in _records():
        for result in langsmith.parse(record):
            (rejected if isinstance(result, Rejected) else spans).append(result)
    return spans, rejected


def _by_name(spans: list[dict[str, Any]], trace_id: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        if span["trace_id"] == trace_id:
            out.setdefault(span["name"], []).append(span)
    return out


def _run(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "0f1e2d3c-4b5a-4697-8877-665544332211",
        "name": "lookup_order",
        "run_type": "tool",
        "start_time": "2025-03-04T14:02:13.000000",
        "end_time": "2025-03-04T14:02:13.250000",
        "inputs": {"input": "{'order_id': 'A-7'}"},
        "outputs": None,
        "error": None,
        "parent_run_id": None,
        "trace_id": "0f1e2d3c-4b5a-4697-8877-665544332211",
        "dotted_order": "20250304T140213000000Z0f1e2d3c-4b5a-4697-8877-665544332211",
        "extra": {"metadata": {}},
        "tags": [],
    }
    base.update(overrides)
    return base


def test_every_langsmith_run_is_recognised_and_validates_as_a_span() -> None:
    records = _records()
    assert all(langsmith.sniff(r) for r in records)
    assert not langsmith.sniff({"traceId": "x", "type": "SPAN"})
    spans, rejected = _parse_all()
    assert len(spans) == 12 and len(rejected) == 2
    for span in spans:
        Span.model_validate(span)


def test_support_agent_runs_form_one_tree_with_run_types_mapped_to_kinds() -> None:
    spans, _ = _parse_all()
    support = [s for s in spans if s["trace_id"] == SUPPORT_TRACE]
    assert [(s["name"], s["kind"]) for s in support] == [
        ("LangGraph", "chain"),
        ("agent", "chain"),
        ("ChatOpenAI", "llm"),
        ("tools", "chain"),
        ("lookup_order", "tool"),
        ("agent", "chain"),
        ("ChatOpenAI", "llm"),
    ]
    by_id = {s["span_id"]: s for s in support}
    root = by_id[SUPPORT_TRACE]
    assert root["parent_id"] is None
    tool = _by_name(spans, SUPPORT_TRACE)["lookup_order"][0]
    assert by_id[tool["parent_id"]]["name"] == "tools"
    assert by_id[by_id[tool["parent_id"]]["parent_id"]] is root
    assert root["start_time"] == "2025-03-04T14:02:11.318204Z"
    assert root["end_time"] == "2025-03-04T14:02:16.441204Z"


def test_llm_run_requesting_a_tool_has_canonical_messages_with_the_exact_argument_text() -> None:
    spans, _ = _parse_all()
    first_llm = _by_name(spans, SUPPORT_TRACE)["ChatOpenAI"][0]
    assert json.loads(first_llm["input"]) == [
        {
            "role": "system",
            "content": "You are Acme's customer support agent. Use tools to look up orders; never guess order status.",
        },
        {"role": "user", "content": "Hi, where is my order A-1001? It was supposed to arrive Friday."},
    ]
    assert json.loads(first_llm["output"]) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_Qm3vT8kZx1rYb2Lp9WcN4sHd", "name": "lookup_order", "arguments": '{"order_id":"A-1001"}'}
            ],
        }
    ]
    assert first_llm["model"] == "gpt-4o"
    assert (first_llm["tokens_in"], first_llm["tokens_out"]) == (412, 18)
    assert first_llm["cost"] == 0.00121
    assert first_llm["status"] == "ok"


def test_tool_reply_in_llm_history_keeps_its_call_id_and_tool_name() -> None:
    spans, _ = _parse_all()
    second_llm = _by_name(spans, SUPPORT_TRACE)["ChatOpenAI"][1]
    history = json.loads(second_llm["input"])
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool"]
    assert history[3]["tool_call_id"] == "call_Qm3vT8kZx1rYb2Lp9WcN4sHd"
    assert history[3]["name"] == "lookup_order"
    assert history[3]["content"].startswith("Error: ToolException('Order service returned HTTP 503")
    final = json.loads(second_llm["output"])
    assert final[0]["content"].startswith("I'm sorry, I couldn't reach our order system")
    assert "tool_calls" not in final[0]
    assert [e["name"] for e in second_llm["events"]] == ["retry"]
    assert second_llm["events"][0]["attributes"] == {"slept": 0.5, "attempt": 1}


def test_failed_tool_run_is_an_error_with_one_line_message_and_the_traceback_in_an_event() -> None:
    spans, _ = _parse_all()
    tool = _by_name(spans, SUPPORT_TRACE)["lookup_order"][0]
    assert tool["status"] == "error"
    assert tool["tool_name"] == "lookup_order"
    assert tool["tool_args"] == "{'order_id': 'A-1001'}"
    assert tool["status_message"] == "ToolException('Order service returned HTTP 503: upstream timeout')"
    [event] = tool["events"]
    assert event["name"] == "exception"
    assert event["time"] == tool["end_time"]
    assert event["attributes"]["exception.type"] == "ToolException"
    assert event["attributes"]["exception.message"] == "Order service returned HTTP 503: upstream timeout"
    assert event["attributes"]["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert 'File "/app/support_bot/tools.py", line 48' in event["attributes"]["exception.stacktrace"]


def test_trace_context_and_slicing_hints_come_from_run_metadata() -> None:
    spans, _ = _parse_all()
    root = _by_name(spans, SUPPORT_TRACE)["LangGraph"][0]
    assert root["session_id"] == "th_8f2c41d9" and root["user_id"] == "cus_4821"
    assert root["hints"]["agent_version"] == "support-bot@2.3.1"
    assert root["hints"]["environment"] == "production"
    assert root["hints"]["tags"] == ["support-bot", "tier:gold"]
    assert root["attributes"]["langsmith.project_id"] == "d7b5c0e4-3f1a-4c6e-9a2b-5e8f1c3d7a90"
    agent = _by_name(spans, SUPPORT_TRACE)["agent"][0]
    assert "tags" not in agent["hints"]  # LangGraph's positional "graph:step:1" is not a slice
    assert agent["attributes"]["metadata.langgraph_node"] == "agent"
    prompt = _by_name(spans, RAG_TRACE)["ChatPromptTemplate"][0]
    assert prompt["hints"]["prompt_version"] == "c41f9e2b"


def test_old_export_without_trace_id_takes_it_from_dotted_order() -> None:
    spans, _ = _parse_all()
    rag = [s for s in spans if s["trace_id"] == RAG_TRACE]
    assert sorted(s["kind"] for s in rag) == ["chain", "chain", "chain", "llm", "retriever"]
    assert all(s["parent_id"] == RAG_TRACE for s in rag if s["span_id"] != RAG_TRACE)
    nested = _run(
        trace_id=None,
        parent_run_id=None,
        id="22222222-2222-4222-8222-222222222222",
        dotted_order="20250304T140212000000Z11111111-1111-4111-8111-111111111111"
        ".20250304T140213000000Z22222222-2222-4222-8222-222222222222",
    )
    [span] = langsmith.parse(nested)
    assert span["trace_id"] == "11111111-1111-4111-8111-111111111111"
    assert span["parent_id"] == "11111111-1111-4111-8111-111111111111"


def test_openai_style_llm_run_takes_model_and_tokens_from_metadata_and_usage() -> None:
    spans, _ = _parse_all()
    llm = _by_name(spans, RAG_TRACE)["ChatOpenAI"][0]
    assert llm["model"] == "gpt-4o-mini"
    assert (llm["tokens_in"], llm["tokens_out"]) == (233, 24)
    assert json.loads(llm["input"])[0] == {"role": "system", "content": "Answer only from the context."}
    assert json.loads(llm["output"]) == [
        {
            "role": "assistant",
            "content": (
                "Opened headphones can't be refunded, but you can exchange them for the same model within 15 days."
            ),
        }
    ]


def test_retriever_run_keeps_the_query_and_the_documents() -> None:
    spans, _ = _parse_all()
    retriever = _by_name(spans, RAG_TRACE)["VectorStoreRetriever"][0]
    assert retriever["kind"] == "retriever"
    assert retriever["input"] == "Can I return opened headphones?"
    docs = json.loads(retriever["output"])
    assert [d["metadata"]["source"] for d in docs] == ["kb/returns-policy.md", "kb/hygiene-items.md"]
    assert docs[1]["page_content"].startswith("Headphones and earbuds are hygiene items")


def test_bad_runs_are_rejected_with_the_field_named_and_the_rest_parse() -> None:
    _, rejected = _parse_all()
    reasons = sorted(r.reason for r in rejected)
    assert reasons == [
        "RecordError: field 'id' is missing",
        "RecordError: field 'start_time': not a timestamp: 'yesterday afternoon'",
    ]
    [orphan] = langsmith.parse(_run(trace_id=None, dotted_order=None, parent_run_id="abc"))
    assert isinstance(orphan, Rejected) and "trace_id" in orphan.reason


def test_tool_message_marked_error_makes_the_tool_run_an_error() -> None:
    output = {
        "output": {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain", "schema", "messages", "ToolMessage"],
            "kwargs": {
                "content": "Error: order A-7 not found\n Please fix your mistakes.",
                "type": "tool",
                "name": "lookup_order",
                "tool_call_id": "call_x",
                "status": "error",
            },
        }
    }
    [span] = langsmith.parse(_run(outputs=output))
    assert span["status"] == "error"
    assert span["status_message"] == "Error: order A-7 not found"
    assert span["output"] == "Error: order A-7 not found\n Please fix your mistakes."
    assert span["events"] == []


def test_traceable_error_without_repr_uses_the_last_traceback_line() -> None:
    error = (
        'Traceback (most recent call last):\n  File "/srv/app/agent.py", line 88, in fetch_invoice\n'
        "    resp.raise_for_status()\nhttpx.HTTPStatusError: Client error '404 Not Found' for url "
        "'https://billing.internal/invoices/INV-9'\n"
    )
    [span] = langsmith.parse(_run(error=error, status="error"))
    assert span["status"] == "error"
    assert span["status_message"] == (
        "httpx.HTTPStatusError: Client error '404 Not Found' for url 'https://billing.internal/invoices/INV-9'"
    )
    assert span["events"][0]["attributes"]["exception.type"] == "httpx.HTTPStatusError"


def test_invalid_tool_calls_keep_the_malformed_argument_text() -> None:
    message = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "schema", "messages", "AIMessage"],
        "kwargs": {
            "content": "",
            "type": "ai",
            "tool_calls": [],
            "invalid_tool_calls": [
                {
                    "name": "lookup_order",
                    "args": '{"order_id": "A-7"',
                    "id": "call_bad",
                    "error": None,
                    "type": "invalid_tool_call",
                }
            ],
        },
    }
    run = _run(
        run_type="llm",
        name="ChatOpenAI",
        inputs={"messages": [[{"role": "user", "content": "status of A-7?"}]]},
        outputs={
            "generations": [[{"text": "", "type": "ChatGeneration", "message": message}]],
            "llm_output": {"token_usage": {"prompt_tokens": 40, "completion_tokens": 9}, "model_name": "gpt-4o-mini"},
        },
        prompt_tokens=0,
        completion_tokens=0,
    )
    [span] = langsmith.parse(run)
    assert json.loads(span["output"])[0]["tool_calls"] == [
        {"id": "call_bad", "name": "lookup_order", "arguments": '{"order_id": "A-7"'}
    ]
    assert span["model"] == "gpt-4o-mini"
    assert (span["tokens_in"], span["tokens_out"]) == (40, 9)


def test_chain_runs_do_not_count_their_childrens_tokens_again() -> None:
    [span] = langsmith.parse(
        _run(run_type="chain", name="LangGraph", prompt_tokens=898, completion_tokens=59, total_cost="0.00283")
    )
    assert (span["tokens_in"], span["tokens_out"], span["cost"]) == (None, None, None)


def test_langsmith_file_ingests_through_the_pipeline(store: Store) -> None:
    report = ingest_paths(store, [str(SAMPLE)])
    assert report.files == {str(SAMPLE): "langsmith"}
    assert report.summary() == {
        "ingested": 12,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 0,
        "quarantined": 2,
        "traces": 2,
    }
    trace = store.get_trace(SUPPORT_TRACE)
    assert trace is not None
    assert trace.span_count == 7 and trace.error_count == 1 and trace.status == "error"
    assert trace.agent_version == "support-bot@2.3.1"
    assert trace.session_id == "th_8f2c41d9"
    assert trace.model == "gpt-4o"
    assert store.get_span(SUPPORT_TRACE, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d").tool_name == "lookup_order"
    assert {q.line for q in store.quarantined()} == {13, 14}


def test_langgraph_state_messages_on_chain_runs_are_written_as_canonical_messages() -> None:
    spans, _ = _parse_all()
    root = _by_name(spans, SUPPORT_TRACE)["LangGraph"][0]
    state = json.loads(root["output"])
    assert [m["role"] for m in state["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert state["messages"][1]["tool_calls"][0]["name"] == "lookup_order"
    assert '"lc":1' not in root["output"]
    assert json.loads(root["input"]) == {
        "messages": [{"role": "user", "content": "Hi, where is my order A-1001? It was supposed to arrive Friday."}]
    }
