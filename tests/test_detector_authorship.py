"""Where a failure is located: at the model step that wrote it when the model wrote it (with the
span where it surfaced kept as the second location), at the tool when the tool's own definition
is at fault, never at a container span that merely reported it."""

from __future__ import annotations

import json

from span_builders import call, llm, span, tool, view

from investigator.detectors import run_detectors

ASK = [{"role": "user", "content": "What's the weather in Paris?"}]
WEATHER_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"type": "string", "nullable": True}},
        "required": ["city"],
    }
)
TOOLS = {"llm.tools.0.tool.json_schema": json.dumps({"name": "get_weather", "parameters": json.loads(WEATHER_SCHEMA)})}


def step(span_id: str, start: float, end: float, **fields):
    return span(span_id, "chain", "Step 1", start, end, **fields)


def located(trace_view) -> set[tuple[str, str, str | None]]:
    return {(i.span_id, i.category, i.surfaced_span_id) for i in run_detectors(trace_view)}


def writes(span_id: str, start: float, text: str, parent: str = "5151515151515151", **fields):
    return llm(span_id, start, start + 0.5, ASK, [{"role": "assistant", "content": text}], parent=parent, **fields)


def test_code_the_model_wrote_that_raised_is_the_model_steps_format_violation_not_a_service_error() -> None:
    code = "Thought: compute it.\n<code>\nratio = total / count\n</code>"
    failed = step(
        "5151515151515151",
        1.0,
        3.0,
        status="error",
        events=[
            {
                "name": "exception",
                "attributes": {
                    "exception.type": "AgentExecutionError",
                    "exception.message": "Code execution failed at line 'ratio = total / count' due to: "
                    "ZeroDivisionError: division by zero",
                },
            }
        ],
    )
    found = located(view(failed, writes("6262626262626262", 1.1, code)))
    assert found == {("6262626262626262", "reasoning.format_violation", "5151515151515151")}


def test_calling_a_tool_that_does_not_exist_is_the_model_steps_wrong_tool() -> None:
    code = "Thought: search.\n<code>\nresults = web_search('paris weather')\n</code>"
    failed = step(
        "5151515151515151",
        1.0,
        3.0,
        status="error",
        status_message="InterpreterError: Forbidden function evaluation: 'web_search' is not among the explicitly "
        "allowed tools or defined/imported in the preceding code",
    )
    found = located(view(failed, writes("6262626262626262", 1.1, code)))
    assert found == {("6262626262626262", "reasoning.wrong_tool", "5151515151515151")}


def test_a_failure_the_step_reports_about_something_the_model_did_not_write_stays_at_the_step() -> None:
    failed = step("5151515151515151", 1.0, 3.0, status="error", status_message="ConnectionError: 'vector-db:6333'")
    found = located(view(failed, writes("6262626262626262", 1.1, "Thought: look it up.")))
    assert found == {("5151515151515151", "execution.service_error", None)}


def rejected_call(arguments: str, message: str, schema_attrs: dict) -> tuple:
    """A model step calling get_weather with `arguments`, and the tool span raising `message`."""
    request = llm(
        "6262626262626262",
        1.0,
        1.5,
        ASK,
        [{"role": "assistant", "tool_calls": [call("call_1", "get_weather", arguments)]}],
        attributes=schema_attrs,
    )
    raised = tool(
        "7373737373737373",
        1.6,
        1.7,
        "get_weather",
        arguments,
        None,
        status="error",
        status_message=message,
        attributes={"tool_call.id": "call_1"},
    )
    return request, raised


def invented_kwarg(schema_attrs: dict) -> tuple:
    return rejected_call(
        '{"town": "Paris"}', "TypeError: get_weather() got an unexpected keyword argument 'town'", schema_attrs
    )


def test_an_argument_the_model_invented_is_its_invalid_arguments_surfacing_at_the_tool() -> None:
    for attrs in ({}, TOOLS):  # with and without the tool's schema in the trace
        found = located(view(*invented_kwarg(attrs)))
        assert found == {("6262626262626262", "reasoning.invalid_tool_arguments", "7373737373737373")}, attrs


def test_a_declared_argument_the_tool_rejects_is_the_tools_misconfiguration() -> None:
    pair = rejected_call(
        '{"city": "Paris", "units": null}', "TypeError: get_weather() got an unexpected keyword argument 'units'", TOOLS
    )
    assert located(view(*pair)) == {("7373737373737373", "execution.tool_misconfigured", None)}


def test_an_instrumentation_envelope_and_a_null_for_a_nullable_field_are_valid_invocations() -> None:
    for args in (
        '{"args": [], "kwargs": {"city": "Paris"}}',
        '{"args": ["Paris", null]}',
        '{"city": "Paris", "units": null}',
    ):
        request = llm(
            "6262626262626262",
            1.0,
            1.5,
            ASK,
            [{"role": "assistant", "tool_calls": [call("call_1", "get_weather", args)]}],
            attributes=TOOLS,
        )
        ran = tool("7373737373737373", 1.6, 1.7, "get_weather", args, '{"temp_c": 18}')
        answer = writes("8484848484848484", 2.0, "It is 18°C in Paris.", parent="00f067aa0ba902b7")
        assert located(view(request, ran, answer)) == set(), args


def test_a_slow_step_with_no_deadline_signal_is_not_a_timeout() -> None:
    slow = tool("7373737373737373", 1.0, 95.0, "get_weather", '{"city": "Paris"}', '{"temp_c": 18}')
    answer = writes("8484848484848484", 96.0, "It is 18°C in Paris.", parent="00f067aa0ba902b7")
    assert located(view(slow, answer)) == set()
    timed_out = slow.model_copy(update={"status": "error", "status_message": "ReadTimeout: timed out after 90s"})
    assert ("7373737373737373", "execution.timeout", None) in located(view(timed_out, answer))


def test_an_error_page_returned_as_a_successful_result_is_a_failure_of_that_call() -> None:
    page = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    fetched = tool("7373737373737373", 1.0, 1.2, "fetch_page", '{"url": "https://example.com/p"}', page)
    answer = writes("8484848484848484", 2.0, "The page could not be found.", parent="00f067aa0ba902b7")
    assert located(view(fetched, answer)) == {("7373737373737373", "execution.not_found", None)}


def test_an_answer_tool_whose_result_nothing_reads_has_no_result_to_check() -> None:
    final = llm(
        "6262626262626262",
        1.0,
        1.5,
        ASK,
        [{"role": "assistant", "tool_calls": [call("call_9", "final_answer", '{"answer": "18°C in Paris"}')]}],
    )
    ran = tool("7373737373737373", 1.6, 1.7, "final_answer", '{"answer": "18°C in Paris"}', "")
    assert located(view(final, ran)) == set()


def test_an_undeclared_argument_is_the_models_even_when_the_schema_requires_nothing() -> None:
    loose = {
        "llm.tools.0.tool.json_schema": json.dumps(
            {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
        )
    }
    found = located(view(*invented_kwarg(loose)))
    assert found == {("6262626262626262", "reasoning.invalid_tool_arguments", "7373737373737373")}


def test_a_tool_that_raises_on_arguments_breaking_its_schema_is_not_blamed_for_it() -> None:
    pair = rejected_call('{"city": 75001}', "AttributeError: 'int' object has no attribute 'lower'", TOOLS)
    assert located(view(*pair)) == {("6262626262626262", "reasoning.invalid_tool_arguments", "7373737373737373")}


def test_a_sub_agents_answer_tool_with_an_empty_result_is_not_a_silent_failure_of_the_caller() -> None:
    """The researcher ends its run with an answer tool that returns nothing; what the support agent
    says next is built on the researcher's answer, not on that empty result."""
    final = llm(
        "6262626262626262",
        1.0,
        1.5,
        ASK,
        [{"role": "assistant", "tool_calls": [call("call_9", "final_answer", '{"answer": "no delays reported"}')]}],
        agent="researcher",
    )
    ran = tool("7373737373737373", 1.6, 1.7, "final_answer", '{"answer": "no delays reported"}', "", agent="researcher")
    reply = writes("8484848484848484", 2.0, "There are no delays on your order.", parent="00f067aa0ba902b7")
    assert located(view(final, ran, reply.model_copy(update={"agent": "support_agent"}))) == set()
