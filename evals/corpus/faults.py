"""Fault injection with ground truth: the faults a deterministic rule can see in a trace.

A fault edits a clean `Script` and returns `Mark`s: which script object (turn, tool call, agent
run) carries the issue, with its taxonomy code and severity. After rendering, each marked object
knows its span ID, which is what `truth.jsonl` records. Location follows the taxonomy: a model's
mistake sits on the model span that produced it, a tool or service failure on the tool span, a
repeated call on the second of the identical calls.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .script import AgentRun, ErrorInfo, Script, ToolCall, Turn, dumps
from .workflows import Ctx


@dataclass
class Mark:
    target: Any
    category: str
    severity: str
    rule_detectable: bool = True


class NotApplicable(Exception):
    """The family cannot be injected into this script; the caller picks another trace shape."""


# --- locating and editing ------------------------------------------------------------


def locate(script: Script, call: ToolCall) -> tuple[AgentRun, int]:
    for run in script.runs:
        for i, turn in enumerate(run.turns):
            if any(c is call for c in turn.calls):
                return run, i
    raise KeyError("call not in script")


def tool_calls(script: Script, ctx: Ctx, roles: tuple[str, ...] | None = None) -> list[ToolCall]:
    names = {ctx.tool(r).name for r in roles} if roles else None
    return [c for c in script.all_calls() if not c.handoff_to and (names is None or c.tool in names)]


def pick_call(ctx: Ctx, script: Script, roles: tuple[str, ...] | None = None) -> ToolCall:
    calls = tool_calls(script, ctx, roles)
    if not calls:
        raise NotApplicable("no matching tool call")
    return ctx.rng.choice(calls)


def end_after(script: Script, call: ToolCall, final: str | None) -> Turn | None:
    """Drop everything after the turn holding `call`; the run ends with `final` (if given)."""
    run, index = locate(script, call)
    run.turns = run.turns[: index + 1]
    script.runs = script.runs[: script.runs.index(run) + 1]
    if final is None:
        script.final_output = ""
        return None
    turn = Turn(content=final)
    run.turns.append(turn)
    script.final_output = final
    return turn


def set_final(script: Script, text: str) -> Turn:
    turn = script.last_turn()
    turn.content = text
    script.final_output = text
    return turn


def insert_turn(script: Script, run: AgentRun, index: int, turn: Turn) -> Turn:
    run.turns.insert(index, turn)
    return turn


def clone(call: ToolCall) -> ToolCall:
    return ToolCall(call.tool, call.args, call.result)


# --- HTTP and runtime failures ---------------------------------------------------------

HOSTS = {"default": "api.northwind.internal", "renamed": "svc.lumen.local"}
REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
CATEGORY_OF = {401: "execution.auth_failed", 403: "execution.auth_failed", 404: "execution.not_found",
               429: "execution.rate_limited", 500: "execution.service_error", 502: "execution.service_error",
               503: "execution.service_error", 0: "execution.timeout"}


CODE_LINES = {
    "httpx.HTTPStatusError": "response.raise_for_status()",
    "httpx.ReadTimeout": "response = await client.get(url, params=params, timeout=settings.timeout_s)",
    "TypeError": "return await impl(**arguments)",
    "KeyError": "lines = payload[\"line_items\"]",
    "PermissionError": "with open(workspace / path, encoding=\"utf-8\") as handle:",
    "ModuleNotFoundError": "exec(compile(source, \"<sandbox>\", \"exec\"), namespace)",
}


def traceback_for(tool: str, exc_type: str, message: str) -> str:
    """A Python traceback as the tool's runtime would print it for this exception."""
    line = CODE_LINES.get(exc_type)
    if line is None:
        line = "arguments = ArgsModel.model_validate_json(raw_arguments)" if "Validation" in exc_type or \
            "Behavior" in exc_type else "result = await backend.call(arguments)"
    return (
        "Traceback (most recent call last):\n"
        '  File "/app/src/agent/runtime.py", line 211, in invoke_tool\n'
        "    result = await tool.invoke(arguments)\n"
        f'  File "/app/src/tools/{tool}.py", line {40 + len(tool)}, in {tool}\n'
        f"    {line}\n"
        f"{exc_type}: {message}"
    )


def http_failure(ctx: Ctx, call: ToolCall, status: int, in_payload: bool = False) -> ErrorInfo | None:
    """Make `call` fail with an HTTP status (0 = read timeout). With `in_payload` the tool span
    still reports success and the status only shows in the returned JSON, as many wrappers do."""
    url = f"https://{HOSTS[ctx.variant]}/v2/{call.tool.replace('_', '-')}"
    if status == 0:
        call.duration_ms = ctx.rng.choice([30000.0, 30000.0, 60000.0]) + ctx.rng.uniform(1, 40)
        exc, message = "httpx.ReadTimeout", f"The read operation timed out after {int(call.duration_ms // 1000)}s"
    else:
        exc = "httpx.HTTPStatusError"
        kind = "Client error" if status < 500 else "Server error"
        message = (f"{kind} '{status} {REASONS[status]}' for url '{url}'\nFor more information check: "
                   f"https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/{status}")
    if in_payload and status:
        body = {"error": {"status": status, "code": REASONS[status].lower().replace(" ", "_"),
                          "message": REASONS[status]}}
        if status == 429:
            body["error"]["retry_after"] = ctx.rng.choice([5, 12, 30, 60])
        call.result = dumps(body)
        return None
    error = ErrorInfo(exc, message.split("\n")[0], traceback_for(call.tool, exc, message.split("\n")[0]),
                      http_status=status or None)
    call.error = error
    call.result = f"An error occurred while running the tool. Please try again. Error: {message.splitlines()[0]}"
    return error


APOLOGY = {
    "default": [("I'm sorry — I couldn't get that information from our systems just now. Please try again in a few "
                "minutes, or reply here and a colleague will follow up."),
                ("Something went wrong on our side while I was checking this, so I can't give you a reliable answer "
                "yet. I've logged the problem."),
                "I wasn't able to complete this because one of our services didn't respond. Please try again later."],
    "renamed": ["Our back-end did not answer in time, so I can't confirm anything yet — could you retry later?",
                "A technical hiccup stopped me from finishing this. The issue has been recorded.",
                "I hit a system problem and couldn't finish. Please check back soon."],
}


def apology(ctx: Ctx) -> str:
    return ctx.rng.choice(APOLOGY[ctx.variant])


def f_http(status_choices: list[int], retry_ok: float = 0.0) -> Callable[[Ctx, Script], list[Mark]]:
    def apply(ctx: Ctx, script: Script) -> list[Mark]:
        call = pick_call(ctx, script)
        status = ctx.rng.choice(status_choices)
        original = call.result
        in_payload = status != 0 and ctx.rng.random() < 0.35
        http_failure(ctx, call, status, in_payload)
        category = CATEGORY_OF[status]
        if ctx.rng.random() < retry_ok:
            run, index = locate(script, call)
            insert_turn(script, run, index + 1, Turn(calls=[ToolCall(call.tool, call.args, original)]))
            return [Mark(call, category, "low")]
        end_after(script, call, apology(ctx))
        return [Mark(call, category, "high")]
    return apply


def f_tool_exception(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    exc = ctx.rng.choice([
        ("sqlalchemy.exc.OperationalError", ("(psycopg.OperationalError) connection to server at \"10.0.3.17\", port "
         "5432 failed: server closed the connection unexpectedly")),
        ("KeyError", "'line_items'"),
        ("RuntimeError", "upstream returned malformed response (expected object, got list)"),
    ])
    call.error = ErrorInfo(exc[0], exc[1], traceback_for(call.tool, exc[0], exc[1]))
    call.result = "An error occurred while running the tool. Please try again."
    end_after(script, call, apology(ctx))
    return [Mark(call, "execution.service_error", "high")]


def f_silent(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script, ("order", "search", "invoice", "track", "status", "policy", "read"))
    empty = ctx.rng.choice([
        {"results": []}, {"ok": True, "data": None}, {"status": "success", "items": [], "total": 0},
        {"ok": True, "error": "upstream unavailable, served empty cache"}, "",
    ])
    call.result = empty if isinstance(empty, str) else dumps(empty)
    wrong = SILENT_ANSWER[ctx.variant]
    end_after(script, call, ctx.rng.choice(wrong))
    return [Mark(call, "execution.silent_failure", "high")]


SILENT_ANSWER = {
    "default": [("I checked and there's nothing on record for that — it looks like it doesn't exist in our system, so "
                "there's nothing further to do."),
                "There are no results for this at all, which means no such data has been published.",
                "Everything looks clear: there are no open items or charges on record."],
    "renamed": ["Nothing came back, so that record simply isn't there; no action needed.",
                "Zero matches — this information doesn't exist anywhere.",
                "All clear: the system shows nothing outstanding."],
}


def f_redundant(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    run, index = locate(script, call)
    repeat = clone(call)
    insert_turn(script, run, index + 1, Turn(calls=[repeat]))
    return [Mark(repeat, "planning.redundant_steps", "medium")]


def f_loop(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    run, index = locate(script, call)
    run.turns = run.turns[: index + 1]
    script.runs = script.runs[: script.runs.index(run) + 1]
    repeats = [clone(call) for _ in range(ctx.rng.randint(3, 6))]
    for repeat in repeats:
        run.turns.append(Turn(calls=[repeat]))
    run.error = ErrorInfo("agents.exceptions.MaxTurnsExceeded", f"Max turns ({len(run.turns)}) exceeded")
    script.final_output = ""
    return [Mark(repeats[0], "planning.redundant_steps", "high"),
            Mark(run, "execution.resource_exhausted", "high")]


def f_max_turns(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script, ("search", "kb", "track", "status"))
    run, index = locate(script, call)
    run.turns = run.turns[: index + 1]
    script.runs = script.runs[: script.runs.index(run) + 1]
    tool = next(t for t in run.agent.tools if t.name == call.tool)
    key = tool.params[0].role
    words = ["latest", "official", "2024", "report", "statistics", "summary", "update", "data", "figures"]
    for _ in range(ctx.rng.randint(6, 8)):
        variant = " ".join(ctx.rng.sample(words, 2))
        args = {key: f"{_first_arg(call)} {variant}"}
        repeat = ToolCall(call.tool, tool.args(**args), dumps({"results": [], "query": args[key]}))
        run.turns.append(Turn(calls=[repeat]))
    run.error = ErrorInfo("agents.exceptions.MaxTurnsExceeded", f"Max turns ({len(run.turns)}) exceeded")
    script.final_output = ""
    return [Mark(run, "execution.resource_exhausted", "high")]


def _first_arg(call: ToolCall) -> str:
    import orjson

    try:
        args = orjson.loads(call.args)
    except orjson.JSONDecodeError:
        return "query"
    return str(next(iter(args.values()))) if isinstance(args, dict) and args else "query"


def bad_arguments(ctx: Ctx, call: ToolCall, tool: Any) -> tuple[str, str]:
    """Arguments that break the tool's schema, and the validation error the tool reports."""
    import orjson

    args = orjson.loads(call.args)
    required = [p for p in tool.params if p.required]
    mode = ctx.rng.choice(["missing", "type", "json"])
    first = required[0]
    if mode == "missing" and len(args) >= 1:
        bad = dict(args)
        bad.pop(first.name, None)
        bad["id" if first.type == "string" else "value"] = args.get(first.name)
        return dumps(bad), (f"1 validation error for {tool.name}_args\n{first.name}\n  Field required "
                            f"[type=missing, input_value={bad!r}, input_type=dict]")
    if mode == "type":
        numeric = next((p for p in tool.params if p.type in ("number", "integer") and p.name in args), None)
        if numeric:
            bad = dict(args)
            bad[numeric.name] = f"{args[numeric.name]} units"
            return dumps(bad), (f"1 validation error for {tool.name}_args\n{numeric.name}\n  Input should be a valid "
                                f"number, unable to parse string as a number [type=float_parsing, "
                                f"input_value='{bad[numeric.name]}', input_type=str]")
        bad = dict(args)
        bad[first.name] = [args.get(first.name)]
        return dumps(bad), (f"1 validation error for {tool.name}_args\n{first.name}\n  Input should be a valid string "
                            f"[type=string_type, input_value={bad[first.name]!r}, input_type=list]")
    broken = ctx.rng.choice([call.args[:-1], call.args.replace('"', "'"), call.args[:-1] + ",}"])
    try:
        orjson.loads(broken)
    except orjson.JSONDecodeError as exc:
        return broken, f"Invalid JSON input for tool {tool.name}: {exc}"
    return call.args[:-2], f"Invalid JSON input for tool {tool.name}: unexpected end of data"


def f_invalid_args(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    run, index = locate(script, call)
    tool = next(t for t in run.agent.tools if t.name == call.tool)
    args, message = bad_arguments(ctx, call, tool)
    invalid_json = message.startswith("Invalid JSON")
    exc = "agents.exceptions.ModelBehaviorError" if invalid_json else "pydantic_core.ValidationError"
    bad = ToolCall(call.tool, args, f"An error occurred while running the tool. Please try again. Error: {message}",
                   error=ErrorInfo(exc, message, traceback_for(call.tool, exc, message)))
    turn = insert_turn(script, run, index, Turn(calls=[bad]))
    if ctx.rng.random() < 0.3:
        end_after(script, bad, apology(ctx))
        return [Mark(turn, "reasoning.invalid_tool_arguments", "high")]
    return [Mark(turn, "reasoning.invalid_tool_arguments", "low")]


def f_release_drift(ctx: Ctx, script: Script) -> list[Mark]:
    """v1.9 regression: the refund amount is sent as a string, which the tool's schema rejects."""
    import orjson

    call = pick_call(ctx, script, ("refund",))
    run, index = locate(script, call)
    tool = ctx.tool("refund")
    args = orjson.loads(call.args)
    amount_key = tool.pname("amount")
    value = f"{args[amount_key]:.2f}"
    args[amount_key] = value
    message = (f"'{value}' is not of type 'number'\n\nFailed validating 'type' in "
               f"schema['properties']['{amount_key}']:\n    {{'type': 'number'}}")
    bad = ToolCall(call.tool, dumps(args), f"An error occurred while running the tool. Please try again. Error: "
                   f"{message.splitlines()[0]}",
                   error=ErrorInfo("jsonschema.exceptions.ValidationError", message.splitlines()[0],
                                   traceback_for(call.tool, "jsonschema.exceptions.ValidationError", message)))
    turn = insert_turn(script, run, index, Turn(calls=[bad]))
    if ctx.rng.random() < 0.45:
        end_after(script, bad, apology(ctx))
        return [Mark(turn, "reasoning.invalid_tool_arguments", "high")]
    return [Mark(turn, "reasoning.invalid_tool_arguments", "medium")]


def f_format(ctx: Ctx, script: Script) -> list[Mark]:
    run = script.runs[-1]
    if run.parser is None:
        raise NotApplicable("no structured output")
    turn = run.turns[-1]
    topic = script.facts["topic"]
    bad = ctx.rng.choice([
        f"Here is the report you asked for:\n\nAnswer: {topic['finding']}\nSources: {', '.join(script.facts['urls'])}",
        '```json\n{"answer": "' + topic["finding"] + '", "sources": ['
        + ", ".join(f'"{u}"' for u in script.facts["urls"]),
        '{"answer": "' + topic["finding"] + '", "confidence": high, "sources": []}',
    ])
    turn.content = bad
    err = ErrorInfo("agents.exceptions.ModelBehaviorError",
                    f"Invalid JSON when parsing {bad[:60]!r}… for TypeAdapter({run.parser.name}); 1 validation error",
                    "Traceback (most recent call last):\n"
                    '  File "/app/.venv/lib/python3.11/site-packages/agents/agent_output.py", line 140, in '
                    "validate_json\n    validated = _json.validate_json(json_str, self._type_adapter, partial)\n"
                    "agents.exceptions.ModelBehaviorError: Invalid JSON when parsing output")
    run.parser.error, run.parser.output = err, None
    run.error = ErrorInfo(err.type, err.message)
    script.final_output = ""
    return [Mark(turn, "reasoning.format_violation", "high")]


def f_ignored_error(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    run, index = locate(script, call)
    status = ctx.rng.choice([500, 502, 503, 404])
    http_failure(ctx, call, status, in_payload=False)
    nxt = run.turns[index + 1]
    marks = [Mark(call, CATEGORY_OF[status], "medium")]
    if not nxt.calls:  # it answers as if the call had worked (a next call would be another approach)
        marks.append(Mark(nxt, "recovery.ignored_error", "high"))
    return marks


def f_failed_recovery(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    run, index = locate(script, call)
    status = ctx.rng.choice([502, 503, 429])
    http_failure(ctx, call, status)
    retries = []
    for _ in range(ctx.rng.randint(2, 3)):
        retry = ToolCall(call.tool, call.args, call.result, error=copy.copy(call.error))
        retries.append(insert_turn(script, run, index + 1 + len(retries), Turn(calls=[retry])))
    end_after(script, retries[-1].calls[0], apology(ctx))
    return [Mark(call, CATEGORY_OF[status], "medium"), Mark(retries[0], "recovery.failed_recovery", "high")]


def f_context_window(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script, ("browse", "read", "order", "invoice"))
    run, index = locate(script, call)
    limit = 200000 if run.agent.model.startswith("claude") else 128000
    used = limit + ctx.rng.randint(900, 60000)
    call.result = call.result + "\n\n" + ("[table rows omitted by exporter: 48211 lines]\n" * 3)
    if run.agent.model.startswith("claude"):
        message = ("Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', "
                   f"'message': 'prompt is too long: {used} tokens > {limit} maximum'}}}}")
    else:
        message = ("Error code: 400 - {'error': {'message': "
                   f"\"This model's maximum context length is {limit} tokens. "
                   f"However, your messages resulted in {used} tokens. Please reduce the length of the messages.\", "
                   "'type': 'invalid_request_error', 'param': 'messages', 'code': 'context_length_exceeded'}}")
    stack = ("Traceback (most recent call last):\n"
             '  File "/app/.venv/lib/python3.11/site-packages/openai/_base_client.py", line 1047, in request\n'
             "    raise self._make_status_error_from_response(err.response) from None\n"
             f"openai.BadRequestError: {message}")
    turn = Turn(error=ErrorInfo("openai.BadRequestError", message, stack, http_status=400))
    run.turns = run.turns[: index + 1] + [turn]
    script.runs = script.runs[: script.runs.index(run) + 1]
    run.error = ErrorInfo("openai.BadRequestError", message)
    script.final_output = ""
    return [Mark(turn, "execution.resource_exhausted", "high")]


def f_budget(ctx: Ctx, script: Script) -> list[Mark]:
    run = script.runs[-1]
    if len(run.turns) < 3:
        raise NotApplicable("too short")
    budget = ctx.rng.choice([50000, 80000, 100000])
    stop = ctx.rng.randint(1, len(run.turns) - 2)
    run.turns = run.turns[: stop + 1]
    per = budget // (stop + 1) + 2000
    for turn in run.turns:
        turn.tokens_in_extra = per
    run.error = ErrorInfo("BudgetExceededError", f"run token budget of {budget} tokens exhausted "
                          f"({budget + ctx.rng.randint(500, 9000)} used); aborting")
    script.final_output = ""
    return [Mark(run, "execution.resource_exhausted", "medium")]


def f_tool_misconfigured(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script)
    run, _ = locate(script, call)
    tool = next(t for t in run.agent.tools if t.name == call.tool)
    param = tool.params[0].name
    message = f"{call.tool}() got an unexpected keyword argument '{param}'"
    call.error = ErrorInfo("TypeError", message, traceback_for(call.tool, "TypeError", message))
    call.result = "An error occurred while running the tool. Please try again."
    end_after(script, call, apology(ctx))
    return [Mark(call, "execution.tool_misconfigured", "high")]


def f_environment(ctx: Ctx, script: Script) -> list[Mark]:
    call = pick_call(ctx, script, ("code", "read"))
    if call.tool == ctx.tool("code").name:
        message = ctx.rng.choice(["No module named 'pandas'", "No module named 'scipy'"])
        exc = "ModuleNotFoundError"
        call.result = ("Traceback (most recent call last):\n  File \"<sandbox>\", line 1, in <module>\n"
                       f"{exc}: {message}\n")
    else:
        exc, message = "PermissionError", "[Errno 13] Permission denied: '/workspace/" + _first_arg(call) + "'"
        call.result = f"An error occurred while running the tool. Please try again. Error: {message}"
    call.error = ErrorInfo(exc, message, traceback_for(call.tool, exc, message))
    end_after(script, call, apology(ctx))
    return [Mark(call, "execution.environment_error", "medium")]


def f_latency(ctx: Ctx, script: Script) -> list[Mark]:
    """A slow call that finished: a performance note, not a failure (no deadline was missed)."""
    if ctx.rng.random() < 0.7:
        call = pick_call(ctx, script)
        call.duration_ms = ctx.rng.uniform(18000, 55000)
        return []
    turn = ctx.rng.choice([t for r in script.runs for t in r.turns])
    turn.duration_ms = ctx.rng.uniform(35000, 80000)
    return []

