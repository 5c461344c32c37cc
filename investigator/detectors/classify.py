"""Classifying an error text (status message, exception type and message, error payload) into a
taxonomy code.

The classes follow what failed, not who reported it: throttling, credentials, missing records,
deadlines, exhausted limits, the model's own malformed output or arguments, the runtime, or a
dependency. Exception type names are the strongest signal (they are the same across frameworks:
`RateLimitError`, `TimeoutError`, `OutputParserException`), read as words too, so a framework's own
`AgentParsingError` says "parsing error"; HTTP status codes next; wording last. Which span the
failure is located at (the model step that wrote it, the tool that raised) is the detectors'
business: this module only names the class.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from investigator.prefilter import Prefilter

# An HTTP status named as such: "HTTP 503", "status 429", "status_code=404", "Error code: 401",
# "429 Too Many Requests", "HTTP/1.1 502 Bad Gateway".
_HTTP_STATUS = re.compile(
    r"(?:\bHTTP(?:/\d(?:\.\d)?)?|\bstatus(?:[ _]?code)?|\berror[ _]code|\bresponse code|\bcode)\W{0,3}([45]\d\d)\b"
    r"|\b([45]\d\d)\s+(?:Too Many Requests|Unauthori[sz]ed|Forbidden|Not Found|Request Timeout|Internal Server Error"
    r"|Bad Gateway|Service Unavailable|Gateway Time-?out|Bad Request|Conflict|Unprocessable)",
    re.IGNORECASE | re.ASCII,
)

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("execution.resource_exhausted", re.compile(
        r"context[_ ]length[_ ]exceeded|maximum context length|context window|too many tokens|token limit"
        r"|max(?:imum)?[_ ]?turns?\b|MaxTurnsExceeded|recursion limit|GraphRecursionError|iteration limit"
        r"|max(?:imum)? iterations|budget\s?(?:exceeded|exhausted|limit)"
        r"|\bbudget\b.{0,40}\b(?:exhausted|exceeded|reached)"
        r"|exceeded (?:the |your )?budget"
        r"|out of memory|\bOOM\b|MemoryError|max_output_tokens|prompt is too long|request too large"
        r"|would exceed the \w+ limit|\busage limit exceeded|need more steps",
        re.IGNORECASE | re.ASCII)),
    ("execution.rate_limited", re.compile(
        r"rate[_ ]?limit|too many requests|RateLimitError|quota exceeded|exceeded (?:your )?(?:current )?quota"
        r"|insufficient_quota|throttl|RESOURCE_EXHAUSTED|TooManyRequests", re.IGNORECASE | re.ASCII)),
    ("execution.timeout", re.compile(
        r"timed? ?out|TimeoutError|Timeout\b|deadline exceeded|DEADLINE_EXCEEDED|ReadTimeout|ConnectTimeout",
        re.IGNORECASE | re.ASCII)),
    ("execution.auth_failed", re.compile(
        r"unauthori[sz]ed|forbidden|AuthenticationError|PermissionDeniedError|invalid[_ ]api[_ ]key"
        r"|incorrect api key|(?:expired|invalid|missing) (?:access |auth |bearer )?(?:token|credentials?)"
        r"|token (?:has )?expired|not authenticated|authentication failed|access denied|UNAUTHENTICATED",
        re.IGNORECASE | re.ASCII)),
    ("reasoning.invalid_tool_arguments", re.compile(
        r"invalid (?:JSON )?(?:input|arguments?) for (?:tool|function)"
        r"|validation errors? for \w*(?:args|input|arguments)"
        r"|missing (?:\d+ )?required (?:positional |keyword )?argument|unexpected keyword argument"
        r"|invalid (?:tool |function )?arguments|arguments? (?:is|are) (?:invalid|malformed)"
        r"|ToolInputValidation|tool input validation|ValidationError|is not of type '|Field required"
        r"|Input should be (?:a )?valid|not in the tool's input schema|has type '?\w+'? but should be",
        re.IGNORECASE | re.ASCII)),
    ("reasoning.format_violation", re.compile(
        r"OutputParserException|OutputParserError|could not parse|couldn't parse|failed to parse|unable to parse"
        r"|parse error|parsing error|JSONDecodeError|Expecting (?:value|property name)|Unterminated string"
        r"|invalid json|not valid json|ModelBehaviorError|output validation|does not match (?:the )?(?:output )?schema",
        re.IGNORECASE | re.ASCII)),
    ("execution.environment_error", re.compile(
        r"ModuleNotFoundError|ImportError|No module named|not installed|command not found|PermissionError"
        r"|permission denied|EACCES|environment variable|missing (?:config|setting|configuration)|EnvironmentError"
        r"|disk (?:is )?full|No space left", re.IGNORECASE | re.ASCII)),
    ("execution.not_found", re.compile(
        r"not found|NotFoundError|FileNotFoundError|no such file"
        r"|does not exist|doesn't exist|no such (?:record|key|table)"
        r"|NoSuchKey|ENOENT|unknown (?:order|user|customer|record|id)", re.IGNORECASE | re.ASCII)),
    ("execution.service_error", re.compile(
        r"internal server error|bad gateway|service unavailable|upstream|ConnectionError"
        r"|connection (?:refused|reset|error)"
        r"|APIError|ServerError|InternalServerError|ServiceUnavailable|crash|segmentation fault|traceback",
        re.IGNORECASE | re.ASCII)),
)


# A call that does not fit the function's signature. Whether the model invented the argument or
# the tool's declared schema and its implementation disagree, only the definitions in the trace
# tell (`errors.definition_at_fault`).
_SIGNATURE = re.compile(
    r"\w\(\) got an unexpected keyword argument|\w\(\) missing \d+ required (?:positional|keyword)", re.ASCII
)
# A CamelCase exception type name (`AgentParsingError`, `MaxTurnsExceeded`), to be read as words.
_TYPE_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+(?:Error|Exception|Exceeded)\b", re.ASCII)
_WORD_START = re.compile(r"(?<=[a-z])(?=[A-Z])", re.ASCII)

# Every wording rule, the signature mismatch and the HTTP status, matched against a text at once.
_WORDING = Prefilter([pattern for _, pattern in _RULES] + [_SIGNATURE, _HTTP_STATUS])
_SIGNATURE_RULE, _STATUS_RULE = len(_RULES), len(_RULES) + 1
_PRECISE_RULES = (0, 4)  # execution.resource_exhausted, reasoning.invalid_tool_arguments


class Classified(NamedTuple):
    code: str
    confidence: float
    status: int | None


def http_status(text: str) -> int | None:
    """An HTTP error status named in `text` with its context ("HTTP 503", "429 Too Many Requests")."""
    match = _HTTP_STATUS.search(text)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def code_for_status(status: int) -> str:
    if status == 429:
        return "execution.rate_limited"
    if status in (401, 403, 407):
        return "execution.auth_failed"
    if status in (404, 410):
        return "execution.not_found"
    if status in (408, 504):
        return "execution.timeout"
    if status == 413:
        return "execution.resource_exhausted"
    if status >= 500:
        return "execution.service_error"
    return "reasoning.invalid_tool_arguments" if status in (400, 422) else "execution.service_error"


def type_words(text: str) -> str:
    """The CamelCase exception type names in `text` spelt as words: "AgentParsingError" gives
    "Agent Parsing Error"."""
    return " ".join(_WORD_START.sub(" ", name) for name in _TYPE_NAME.findall(text))


def classify_error(text: str, exc_type: str | None = None) -> Classified:
    """The taxonomy code an error most likely belongs to, with how sure the wording makes us."""
    if spelt := type_words(text):
        text = f"{text} {spelt}"
    said = _WORDING.matching(text)
    if _SIGNATURE_RULE in said:
        return Classified("reasoning.invalid_tool_arguments", 0.8, None)
    status = http_status(text) if _STATUS_RULE in said else None
    if exc_type and (spelt := type_words(exc_type)):
        exc_type = f"{exc_type} {spelt}"
    # Exhausted limits and rejected arguments are named precisely in the message, whatever
    # generic exception type carries them (BadRequestError, ModelBehaviorError); wording also
    # names a limit more precisely than a generic 400/500 status does.
    for rule in _PRECISE_RULES:
        if rule in said:
            return Classified(_RULES[rule][0], 0.9, status)
    typed = _WORDING.matching(exc_type) if exc_type else frozenset()
    for rule, (code, _) in enumerate(_RULES):
        if rule in typed:
            return Classified(code, 0.95, status)
    if status is not None:
        return Classified(code_for_status(status), 0.9 if status not in (400, 422) else 0.6, status)
    for rule, (code, _) in enumerate(_RULES):
        if rule in said:
            return Classified(code, 0.8, None)
    return Classified("execution.service_error", 0.6, None)


_ERROR_KEYS = ("error", "errors", "error_message", "errorMessage", "error_code", "exception", "fault")
_STATUS_KEYS = ("status", "status_code", "statusCode", "code", "http_status", "httpStatus")
_FAILED_STATES = {"error", "failed", "failure", "fail", "fatal"}


@lru_cache(maxsize=4096)  # several detectors ask about the same tool result
def error_payload(text: str | None) -> str | None:
    """The error a tool result carries in its payload, as text to classify; None for a normal result.

    A structured result is an error when it has a non-empty error field, a 4xx/5xx status, or
    says `ok`/`success` is false; plain text when it *starts* like an HTTP error or exception.
    Prose that merely mentions the word "error" is a normal result."""
    if not text:
        return None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            value: Any = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return _dict_error(value)
        return None
    page = _error_page(stripped)
    if page is not None:
        return page
    head = stripped[:300]
    if re.match(r"(?:HTTP(?:/\d(?:\.\d)?)?\s*[45]\d\d\b|[45]\d\d\s+[A-Z][a-z]+"
                r"|(?:Error|ERROR|Exception|Traceback)\b\s*[:(\-]"
                r"|\w+(?:Error|Exception):\s)", head):
        return head
    return None


# The title or first heading of an HTML error page: "<title>404 Not Found</title>",
# "<h1>503 Service Temporarily Unavailable</h1>", "<title>Error 429 (Too Many Requests)</title>".
_PAGE_HEADING = re.compile(
    r"<(title|h1)\b[^>]*>\s*([^<]{0,120}?(?:\b[45]\d\d\b|Not Found|Forbidden|Too Many Requests|Unauthori[sz]ed"
    r"|Service (?:Temporarily )?Unavailable|Bad Gateway|Internal Server Error|Gateway Time-?out|Access Denied)"
    r"[^<]{0,120})</\1>",
    re.IGNORECASE,
)


def _error_page(text: str) -> str | None:
    """The heading of an HTML error page returned as a result (a fetch that got a 404 page)."""
    head = text[:4000]
    if not (head[:1] == "<" or "<html" in head[:500].lower()):
        return None
    match = _PAGE_HEADING.search(head)
    return match.group(2).strip() if match else None


def _dict_error(value: dict[str, Any]) -> str | None:
    for key in _ERROR_KEYS:
        if value.get(key):  # a JSON value: empty, false, zero and null are all falsy
            return orjson.dumps(value).decode()[:400]
    for key in _STATUS_KEYS:
        item = value.get(key)
        if isinstance(item, int) and 400 <= item <= 599:
            return orjson.dumps(value).decode()[:400]
        if isinstance(item, str) and (
            item.strip().lower() in _FAILED_STATES or re.fullmatch(r"[45]\d\d", item.strip())
        ):
            return orjson.dumps(value).decode()[:400]
    if value.get("ok") is False or value.get("success") is False:
        return orjson.dumps(value).decode()[:400]
    inner = value.get("response") or value.get("result")
    if isinstance(inner, dict):
        return _dict_error(inner)
    return None


_EMPTY_LITERALS = {"", "null", "none", "[]", "{}", '""', "nil", "undefined"}
_EMPTY_CONTAINERS = ("results", "items", "data", "records", "hits", "documents", "rows", "matches", "orders")


def empty_result(text: str | None) -> bool:
    """True when a tool result carries nothing: no text, `null`, `[]`, `{}`, or an object whose only
    content is an empty result list."""
    if text is None:
        return True
    stripped = text.strip()
    if stripped.lower() in _EMPTY_LITERALS:
        return True
    if stripped[:1] != "{":
        return False
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(value, dict) or not value:
        return not value
    lists = [k for k in _EMPTY_CONTAINERS if k in value]
    if not lists:
        return False
    return all(value[k] in (None, [], {}) for k in lists)
