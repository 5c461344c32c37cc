"""LangSmith SDK ingestion payloads, exactly as the real `langsmith` SDK sends them.

Once per module, one traced support agent runs per ingestion mode against a loopback LangSmith
stand-in (`langsmith_collector.py`): `@traceable` functions, a `chain` run calling an `llm` run
(the OpenAI client against the scripted OpenAI server, `fake_llm_server.py`), whose reply asks
for a tool, then a `tool` run that raises. The agent flushes the client between the model call and the tool, as a
long-running agent's background sends would, so the chain's post and its patch leave in different
requests. The modes: JSON batches (`/info` says `use_multipart_endpoint: false`), zstd multipart
forms (the SDK's default against a current server) and runs sent one by one
(`auto_batch_tracing=False`: `POST /runs`, `PATCH /runs/{id}`). What each request carried is saved
one request per line, as a user capturing them would, and ingested as saved. Expected values are
read from those requests. A fourth client logs a run by hand (`Client.create_run`, then
`Client.update_run` with only what changed), as the LangSmith docs show for code without
`@traceable`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import fake_llm_server as fake
import openai
import pytest
from langsmith import Client, traceable, tracing_context, uuid7
from langsmith.env import get_langchain_env_var_metadata
from langsmith.run_helpers import get_current_run_tree
from langsmith_collector import LangSmithCollector, Saved
from openai.types.chat import ChatCompletion

from investigator.ingest import langsmith
from investigator.ingest.base import Rejected
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Span
from investigator.store import Store

MODES = ("batch", "zstd", "single")
REQUESTS = {
    "batch": {("POST /runs/batch", "")},
    "zstd": {("POST /runs/multipart", "zstd")},
    "single": {("POST /runs", ""), ("PATCH /runs/{id}", "")},
}
CALL_ID = "call_Qm3vT8kZx1rYb2Lp9WcN4sHd"
ARGUMENTS = '{"order_id": "A-1001"}'
PROJECT_ID = "d7b5c0e4-3f1a-4c6e-9a2b-5e8f1c3d7a90"
EXPORTED_RUNS = Path(__file__).parent / "data" / "langsmith_runs.jsonl"


@dataclass
class Capture:
    """What the SDK sent in one mode: the saved file, its requests decoded, the run ids by name."""

    path: Path
    requests: list[tuple[Saved, Any]]
    ids: dict[str, str]


def _trace_support_agent(mode: str, collector: LangSmithCollector, model: fake.FakeLLMServer, out: Path) -> Capture:
    client = Client(api_url=collector.endpoint(mode), api_key="lsv2_pt_dummy", auto_batch_tracing=mode != "single")
    model.script(fake.openai_completion(tool_calls=[fake.openai_tool_call(CALL_ID, "lookup_order", ARGUMENTS)]))
    openai_client = openai.OpenAI(base_url=f"{model.url}/v1", api_key="sk-test", max_retries=0)
    ids: dict[str, str] = {}

    @traceable(run_type="llm", name="ChatOpenAI", metadata={"ls_provider": "openai", "ls_model_name": "gpt-4o-mini"})
    def chat(messages: list[dict[str, str]]) -> ChatCompletion:
        ids["ChatOpenAI"] = str(get_current_run_tree().id)
        tool = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[tool])

    @traceable(run_type="tool", name="lookup_order")
    def lookup_order(order_id: str) -> dict[str, str]:
        ids["lookup_order"] = str(get_current_run_tree().id)
        raise RuntimeError(f"Order service returned HTTP 503 for {order_id}")

    @traceable(run_type="chain", name="support_agent")
    def support_agent(question: str) -> str:
        ids["support_agent"] = str(get_current_run_tree().id)
        reply = chat(
            [
                {"role": "system", "content": "You are Acme's support agent. Look orders up; never guess."},
                {"role": "user", "content": question},
            ]
        )
        call = reply.choices[0].message.tool_calls[0]
        client.flush()
        try:
            return json.dumps(lookup_order(**json.loads(call.function.arguments)))
        except RuntimeError as exc:
            return f"Sorry, I could not look your order up: {exc}"

    with tracing_context(client=client, project_name="support-bot", enabled=True):
        support_agent("Where is my order A-1001?")
    if mode == "zstd":
        root = ids["support_agent"]
        client.create_feedback(root, key="user_score", score=0, trace_id=root, session_id=PROJECT_ID)
    client.flush()
    return _save(collector, mode, out, ids)


def _log_run_by_hand(collector: LangSmithCollector, out: Path) -> Capture:
    client = Client(api_url=collector.endpoint("manual"), api_key="lsv2_pt_dummy")
    run_id, start = uuid7(), datetime.now(UTC)
    dotted_order = f"{start:%Y%m%dT%H%M%S%fZ}{run_id}"
    messages = [{"role": "user", "content": "My invoice INV-9 is wrong"}]
    client.create_run(
        "classify_ticket",
        {"messages": messages},
        "llm",
        id=run_id,
        trace_id=run_id,
        dotted_order=dotted_order,
        start_time=start,
        project_name="support-bot",
    )
    client.flush()
    outputs = {"choices": [{"message": {"role": "assistant", "content": "billing"}}]}
    client.update_run(run_id, outputs=outputs, trace_id=run_id, dotted_order=dotted_order)
    client.flush()
    return _save(collector, "manual", out, {"classify_ticket": str(run_id)})


def _save(collector: LangSmithCollector, mode: str, out: Path, ids: dict[str, str]) -> Capture:
    """The requests of one mode saved one per line, as a user capturing them would."""
    saved = collector.saved[mode]
    path = out / f"{mode}.jsonl"
    path.write_text("".join(f"{request.text}\n" for request in saved))
    return Capture(path, [(request, json.loads(request.text)) for request in saved], ids)


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Capture]]:
    out = tmp_path_factory.mktemp("langsmith_sdk")
    model = fake.FakeLLMServer().start()
    with LangSmithCollector() as collector, pytest.MonkeyPatch.context() as env:
        env.setenv("LANGSMITH_REVISION_ID", "support-bot@2.4.0")  # also keeps the SDK from asking git
        env.delenv("LANGSMITH_RUNS_ENDPOINTS", raising=False)
        get_langchain_env_var_metadata.cache_clear()
        try:
            captures = {mode: _trace_support_agent(mode, collector, model, out) for mode in MODES}
            yield {**captures, "manual": _log_run_by_hand(collector, out)}
        finally:
            get_langchain_env_var_metadata.cache_clear()
            model.stop()


class Operation(NamedTuple):
    request: int  # index of the request that carried it
    kind: str  # post | patch
    run_id: str
    fields: dict[str, Any]


def _operations(capture: Capture) -> Iterator[Operation]:
    """Every run operation sent, in order; each field part of a form as a one-key dict of its own."""
    for index, (request, body) in enumerate(capture.requests):
        if request.request == "POST /runs/batch":
            for kind in ("post", "patch"):
                for run in body.get(kind, []):
                    yield Operation(index, kind, run["id"], run)
        elif request.request == "POST /runs/multipart":
            for name, value in body.items():
                kind, run_id, *part = name.split(".")
                if kind in ("post", "patch"):
                    yield Operation(index, kind, run_id, {part[0]: value} if part else value)
        else:
            yield Operation(index, request.request.split()[0].lower(), body["id"], body)


def _sent(capture: Capture, run_id: str, key: str) -> list[Any]:
    """Every non-null value the SDK sent for one field of one run, in the order sent."""
    return [op.fields[key] for op in _operations(capture) if op.run_id == run_id and op.fields.get(key) is not None]


def _stored(store: Store, capture: Capture) -> dict[str, Span]:
    report = ingest_paths(store, [str(capture.path)])
    assert report.files == {str(capture.path): "langsmith"}
    trace_id = capture.ids["support_agent"]
    return {name: store.get_span(trace_id, run_id) for name, run_id in capture.ids.items()}


@pytest.mark.parametrize("mode", MODES)
def test_sdk_runs_become_one_trace_linked_parent_to_child(
    captured: dict[str, Capture], mode: str, store: Store
) -> None:
    capture = captured[mode]
    requests = {(re.sub(r"/runs/[0-9a-f-]{36}$", "/runs/{id}", r.request), r.encoding) for r, _ in capture.requests}
    assert requests == REQUESTS[mode]
    spans = _stored(store, capture)
    root_id = capture.ids["support_agent"]
    sent_ids = {op.run_id for op in _operations(capture)}
    assert sent_ids == set(capture.ids.values())
    assert store.get_trace(root_id).span_count == len(sent_ids) == 3
    assert spans["support_agent"].parent_id is None
    assert spans["ChatOpenAI"].parent_id == spans["lookup_order"].parent_id == root_id
    assert {span.trace_id for span in spans.values()} == {root_id} == set(_sent(capture, root_id, "trace_id"))
    assert [spans[name].kind for name in ("support_agent", "ChatOpenAI", "lookup_order")] == ["chain", "llm", "tool"]


@pytest.mark.parametrize("mode", MODES)
def test_post_and_later_patch_of_a_run_become_one_span_with_the_patch_outputs(
    captured: dict[str, Capture], mode: str, store: Store
) -> None:
    capture = captured[mode]
    root_id = capture.ids["support_agent"]
    [posted] = {op.request for op in _operations(capture) if op.run_id == root_id and op.kind == "post"}
    [patched] = {op.request for op in _operations(capture) if op.run_id == root_id and op.kind == "patch"}
    assert posted < patched  # the SDK sent the post and, later, the patch, in different requests
    assert _sent(capture, root_id, "outputs")[0] == {}  # the post's placeholder, before the run ended
    root = _stored(store, capture)["support_agent"]
    assert json.loads(root.input) == _sent(capture, root_id, "inputs")[0] == {"question": "Where is my order A-1001?"}
    assert json.loads(root.output) == _sent(capture, root_id, "outputs")[-1]
    assert root.output.startswith('{"output":"Sorry, I could not look your order up')
    [end_time] = _sent(capture, root_id, "end_time")
    assert datetime.fromisoformat(root.end_time) == datetime.fromisoformat(end_time)
    assert datetime.fromisoformat(root.start_time) == datetime.fromisoformat(_sent(capture, root_id, "start_time")[0])
    assert root.status == "ok" and root.status_message is None
    assert root.hints["agent_version"] == "support-bot@2.4.0"


def test_post_and_patch_in_one_multipart_form_merge_before_they_reach_the_store(captured: dict[str, Capture]) -> None:
    capture = captured["zstd"]
    tool_id = capture.ids["lookup_order"]
    [form] = [body for _, body in capture.requests if f"patch.{tool_id}" in body]
    assert f"post.{tool_id}" in form  # compressed multipart does not combine them: both parts are in this form
    assert f"post.{tool_id}.error" not in form and f"patch.{tool_id}.inputs" not in form
    spans = [result for result in langsmith.parse(form) if not isinstance(result, Rejected)]
    [tool] = [span for span in spans if span["span_id"] == tool_id]
    assert json.loads(tool["tool_args"]) == form[f"post.{tool_id}.inputs"] == {"order_id": "A-1001"}
    assert tool["status"] == "error"
    assert tool["status_message"] == form[f"patch.{tool_id}.error"].splitlines()[0]
    assert datetime.fromisoformat(tool["end_time"]) == datetime.fromisoformat(form[f"patch.{tool_id}"]["end_time"])
    assert len(spans) == len({span["span_id"] for span in spans})


@pytest.mark.parametrize("mode", MODES)
def test_llm_run_has_the_openai_messages_and_the_tool_call_the_model_made(
    captured: dict[str, Capture], mode: str, store: Store
) -> None:
    capture = captured[mode]
    llm_id = capture.ids["ChatOpenAI"]
    llm = _stored(store, capture)["ChatOpenAI"]
    [inputs] = _sent(capture, llm_id, "inputs")
    assert json.loads(llm.input) == inputs["messages"]
    [outputs] = [o for o in _sent(capture, llm_id, "outputs") if o]
    [sent_call] = outputs["choices"][0]["message"]["tool_calls"]
    assert sent_call["function"] == {"name": "lookup_order", "arguments": ARGUMENTS}
    assert json.loads(llm.output) == [
        {"role": "assistant", "tool_calls": [{"id": CALL_ID, "name": "lookup_order", "arguments": ARGUMENTS}]}
    ]
    usage = outputs["usage"]
    assert (llm.tokens_in, llm.tokens_out) == (usage["prompt_tokens"], usage["completion_tokens"]) == (1117, 46)
    assert llm.model == _sent(capture, llm_id, "extra")[-1]["metadata"]["ls_model_name"] == "gpt-4o-mini"
    assert llm.status == "ok"


@pytest.mark.parametrize("mode", MODES)
def test_failing_tool_run_is_a_tool_span_with_its_name_arguments_and_error(
    captured: dict[str, Capture], mode: str, store: Store
) -> None:
    capture = captured[mode]
    tool_id = capture.ids["lookup_order"]
    tool = _stored(store, capture)["lookup_order"]
    [error] = _sent(capture, tool_id, "error")
    assert tool.kind == "tool" and tool.tool_name == "lookup_order" == _sent(capture, tool_id, "name")[0]
    assert json.loads(tool.tool_args) == _sent(capture, tool_id, "inputs")[0] == {"order_id": "A-1001"}
    assert tool.status == "error"
    assert tool.status_message == error.splitlines()[0] == "RuntimeError('Order service returned HTTP 503 for A-1001')"
    [event] = tool.events
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "RuntimeError"
    assert event["attributes"]["exception.message"] == "Order service returned HTTP 503 for A-1001"
    assert event["attributes"]["exception.stacktrace"] == error[error.index("Traceback") :]


def test_file_mixing_batch_bodies_forms_and_run_rows_ingests_whole(captured: dict[str, Capture], store: Store) -> None:
    path = captured["batch"].path.with_name("mixed.jsonl")
    parts = [captured["batch"].path, EXPORTED_RUNS, captured["zstd"].path, captured["single"].path]
    lines = [line for part in parts for line in part.read_text().splitlines() if line.strip()]
    path.write_text("\n".join(lines) + "\n")
    [feedback_line] = [number for number, line in enumerate(lines, 1) if '"feedback.' in line]
    report = ingest_paths(store, [str(path)])
    assert report.files == {str(path): "langsmith"}
    assert report.ingested == 3 * 3 + 12 and report.traces == 3 + 2
    offset = len(captured["batch"].requests)
    quarantined = sorted((q.line, q.location, q.reason) for q in store.quarantined())
    feedback_id = next(k for k in json.loads(lines[feedback_line - 1]) if k.startswith("feedback."))
    assert quarantined == [
        (offset + 13, None, "RecordError: field 'id' is missing"),
        (offset + 14, None, "RecordError: field 'start_time': not a timestamp: 'yesterday afternoon'"),
        (feedback_line, feedback_id, f"multipart part '{feedback_id}' is LangSmith feedback, not a run"),
    ]
    for capture in (captured[mode] for mode in MODES):
        trace = store.get_trace(capture.ids["support_agent"])
        assert trace.span_count == 3 and trace.error_count == 1 and trace.status == "error"
    assert store.get_trace("1ef0a3c2-7b4d-4e59-8f61-2a3b4c5d6e7f").span_count == 7


def test_bad_payload_items_are_quarantined_and_leave_the_stored_span_as_it_was(
    captured: dict[str, Capture], store: Store
) -> None:
    capture = captured["batch"]
    root_id = capture.ids["support_agent"]
    before = _stored(store, capture)["support_agent"]
    [(_, last)] = capture.requests[-1:]
    [patch] = [run for run in last["patch"] if run["id"] == root_id]
    bad = capture.path.with_name("bad.jsonl")
    bad.write_text(json.dumps({"post": ["not a run"], "patch": [{**patch, "end_time": "not a time"}]}) + "\n")
    report = ingest_paths(store, [str(bad)])
    assert report.summary()["quarantined"] == 2 and report.ingested == report.updated == 0
    assert sorted((q.file, q.line, q.location, q.reason) for q in store.quarantined()) == [
        (str(bad), 1, "patch[0]", "RecordError: field 'end_time': not a timestamp: 'not a time'"),
        (str(bad), 1, "post[0]", "post item is not a JSON object"),
    ]
    assert store.get_span(root_id, root_id) == before


def test_patch_without_an_id_is_matched_to_its_post_by_dotted_order(captured: dict[str, Capture]) -> None:
    """The Python SDK writes `id` on every patch; this one is a real patch with it taken out."""
    capture = captured["batch"]
    root_id = capture.ids["support_agent"]
    [post] = [run for _, body in capture.requests for run in body.get("post", []) if run["id"] == root_id]
    [patch] = [run for _, body in capture.requests for run in body.get("patch", []) if run["id"] == root_id]
    del patch["id"]
    [span] = langsmith.parse({"post": [post], "patch": [patch]})
    assert span["span_id"] == root_id
    assert json.loads(span["input"]) == post["inputs"] and json.loads(span["output"]) == patch["outputs"]
    assert span["status"] == "ok"


def test_sdk_payloads_and_run_rows_are_recognised_and_other_shapes_are_not(captured: dict[str, Capture]) -> None:
    for capture in captured.values():
        assert all(langsmith.sniff(body) for _, body in capture.requests)
    for other in ({"post": "x"}, {}, {"resourceSpans": []}, {"post.1": {}, "trace": 2}, {"feedback.1": {}}):
        assert not langsmith.sniff(other)


def test_patch_that_repeats_neither_start_time_nor_run_type_still_completes_its_span(
    captured: dict[str, Capture], store: Store
) -> None:
    capture = captured["manual"]
    [post, patch] = [op.fields for op in _operations(capture)]
    ingest_paths(store, [str(capture.path)])
    span = store.get_span(post["id"], post["id"])
    assert "start_time" not in patch and patch["run_type"] is None  # `update_run` sends only what changed
    [alone] = langsmith.parse({"patch": [patch]})
    assert alone["span_id"] == post["id"] and alone["start_time"] is None
    assert json.loads(span.input) == post["inputs"]["messages"]
    assert json.loads(span.output) == patch["outputs"]
    assert datetime.fromisoformat(span.start_time) == datetime.fromisoformat(post["start_time"])
    assert datetime.fromisoformat(span.end_time) == datetime.fromisoformat(patch["end_time"])
    assert span.status == "ok" and span.name == post["name"] and span.kind == post["run_type"] == "llm"


def test_form_parts_that_are_not_run_fields_are_quarantined_by_part_name(captured: dict[str, Capture]) -> None:
    capture = captured["zstd"]
    llm_id, root_id = capture.ids["ChatOpenAI"], capture.ids["support_agent"]
    [form] = [body for _, body in capture.requests if f"patch.{llm_id}" in body]
    broken = {**form, f"patch.{llm_id}": "not a run", f"post.{llm_id}.notes": {"seen": True}}
    results = list(langsmith.parse(broken))
    rejected = sorted((r.location, r.reason) for r in results if isinstance(r, Rejected))
    assert rejected == [
        (f"patch.{llm_id}", f"multipart part 'patch.{llm_id}' is not a JSON object"),
        (f"post.{llm_id}.notes", f"multipart part 'post.{llm_id}.notes': unknown run field 'notes'"),
    ]
    spans = {r["span_id"]: r for r in results if not isinstance(r, Rejected)}
    assert json.loads(spans[root_id]["input"]) == form[f"post.{root_id}.inputs"]
    assert json.loads(spans[llm_id]["output"])[0]["tool_calls"][0]["arguments"] == ARGUMENTS
