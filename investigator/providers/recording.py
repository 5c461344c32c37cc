"""Record and replay provider HTTP traffic with vcrpy cassettes.

`investigator run --record DIR` saves every exchange with the model providers; `--replay DIR`
answers the same requests from those files with no network and no key, so an investigation can
be rerun offline and deterministically. A run records into one cassette, `DIR/<name>.yaml`
(default "llm"); requests match on method, path and what the model saw (`seen_by_model`): the
JSON body without what does not reach the model (output limits, sampling parameters, cache
marks, streaming), tool-call ids numbered in order of appearance (Ollama's are random per parse)
and dollar amounts masked. So the host and port the run was recorded against do not matter, a
price-table change does not break a replay, and concurrent clusters replay in any order.

Secrets never reach a cassette: credential headers (Authorization, x-api-key, api-key, cookies,
organisation and project ids) are dropped from requests, cookies and organisation ids from
responses, query parameters whose names look like keys or tokens are removed, credential fields
of bodies (OAuth tokens, client secrets, STS keys) are blanked, and exchanges with the hosts that
hand out credentials (Google OAuth, AWS STS and SSO, Azure AD, cloud metadata) are not recorded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from investigator.providers.base import ProviderError

Mode = Literal["record", "replay"]

_SECRET_NAME = re.compile(r"auth|key|token|secret|password|passwd|signature|sig$|cookie|credential|session",
                          re.IGNORECASE)
_SECRET_HEADERS = (
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie",
    "openai-organization", "openai-project", "anthropic-organization-id",
)
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"set-cookie", "openai-organization", "openai-project", "anthropic-organization-id"}
)
# Where credentials are exchanged (Vertex refreshes an OAuth token, Bedrock may call STS): never recorded.
AUTH_HOSTS = re.compile(
    r"(^|\.)(oauth2\.googleapis\.com|accounts\.google\.com|sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?"
    r"|(portal\.)?sso(\.[a-z0-9-]+)?\.amazonaws\.com|oidc(\.[a-z0-9-]+)?\.amazonaws\.com"
    r"|login\.microsoftonline\.com|metadata\.google\.internal)$|^169\.254\.169\.254$|^fd00:ec2::254$",
    re.IGNORECASE,
)
_SECRET_FIELD = re.compile(
    r"^(access_?token|refresh_?token|id_?token|token|client_?secret|client_?assertion|assertion|subject_?token"
    r"|password|api_?key|private_?key(_id)?|secret_?access_?key|session_?token|access_?key_?id)$",
    re.IGNORECASE,
)
_SECRET_XML = re.compile(r"<(SecretAccessKey|SessionToken|AccessKeyId|Token)>[^<]*</\1>")
SCRUBBED = "[scrubbed]"
# Request fields that never reach the model, so a replay matches without them.
_UNSEEN_KEYS = frozenset({
    "max_tokens", "max_completion_tokens", "maxTokens", "max_output_tokens", "maxOutputTokens", "num_predict",
    "temperature", "top_p", "top_k", "topP", "topK", "stream", "stream_options", "cache_control", "timeout",
})
_ID_KEYS = frozenset({"id", "tool_call_id", "tool_use_id", "toolUseId"})
_DOLLARS = re.compile(r"\$\d[\d,]*(\.\d+)?")

# {"mode", "dir"} while a recording is open; process-wide, as vcrpy's patches are
_active: dict[str, Any] = {}


def _scrub_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _SECRET_NAME.search(k)]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _scrub_data(value: Any) -> tuple[Any, bool]:
    """JSON data with the values of credential fields blanked, and whether anything was."""
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and _SECRET_FIELD.match(key) and isinstance(item, (str, int)) and item != "":
                out[key], changed = SCRUBBED, True
            else:
                out[key], sub = _scrub_data(item)
                changed = changed or sub
        return out, changed
    if isinstance(value, list):
        items = [_scrub_data(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def scrub_body(body: bytes | str | None) -> bytes | str | None:
    """A body with credential fields blanked: JSON keys, form fields and STS's XML elements."""
    if not body:
        return body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    scrubbed: str | None = None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, (dict, list)):
        clean, changed = _scrub_data(data)
        if changed:
            scrubbed = orjson.dumps(clean).decode()
    elif "=" in text and "\n" not in text.strip() and not text.lstrip().startswith("<"):
        pairs = parse_qsl(text, keep_blank_values=True)
        if any(_SECRET_FIELD.match(k) for k, _ in pairs):
            scrubbed = urlencode([(k, SCRUBBED if _SECRET_FIELD.match(k) else v) for k, v in pairs])
    elif _SECRET_XML.search(text):
        scrubbed = _SECRET_XML.sub(lambda m: f"<{m[1]}>{SCRUBBED}</{m[1]}>", text)
    if scrubbed is None:
        return body
    return scrubbed.encode() if isinstance(body, bytes) else scrubbed


def is_auth_host(uri: str) -> bool:
    """Whether `uri` is a credential exchange (OAuth token, STS, SSO, cloud metadata)."""
    return bool(AUTH_HOSTS.search(urlsplit(uri).hostname or ""))


def scrub_request(request: Any) -> Any:
    """Drop credential headers, key-like query parameters and credential body fields from a
    request before it is saved; a request to a credential host is not saved at all (None)."""
    if is_auth_host(request.uri):
        return None
    for name in list(request.headers):
        if name.lower() in _SECRET_HEADERS or _SECRET_NAME.search(name):
            del request.headers[name]
    request.uri = _scrub_url(request.uri)
    request.body = scrub_body(request.body)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Drop cookies and organisation identifiers, and blank credential fields (an OAuth or STS
    answer that reached here), before a response is saved."""
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in _DROPPED_RESPONSE_HEADERS:
            del headers[name]
    body = response.get("body")
    if isinstance(body, dict) and body.get("string"):
        body["string"] = scrub_body(body["string"])
    return response


def _normalised(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _UNSEEN_KEYS:
                continue
            if key in _ID_KEYS and isinstance(item, str):
                out[key] = ids.setdefault(item, f"id_{len(ids)}")
            else:
                out[key] = _normalised(item, ids)
        return out
    if isinstance(value, list):
        # a Bedrock cache mark is a block of its own: {"cachePoint": {...}}
        return [_normalised(v, ids) for v in value if not (isinstance(v, dict) and set(v) == {"cachePoint"})]
    if isinstance(value, str):
        return _DOLLARS.sub("$…", value)
    return value


@functools.lru_cache(maxsize=512)
def seen_by_model(body: bytes | str) -> Any:
    """What of a request body the model sees, normalised (see the module docstring); a body that
    is not JSON as it is. Cached: each recorded body is compared with every request of the run."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return _normalised(data, {})


def same_body(request: Any, recorded: Any) -> bool:
    """vcrpy matcher: the two requests showed the model the same thing (`seen_by_model`), or
    carry the same bytes. (vcrpy's own `body` matcher re-serialises both bodies on every
    comparison, which cost 30 s of a 10-cluster replay.) A mismatch is reported by
    `unrecorded_request`."""
    mine, theirs = request.body or b"", recorded.body or b""
    return mine == theirs or seen_by_model(mine) == seen_by_model(theirs)


def cassette_path(cassette_dir: str | Path, name: str = "llm") -> Path:
    return Path(cassette_dir) / f"{name}.yaml"


@contextmanager
def recording(mode: Mode | None, cassette_dir: str | Path | None, name: str = "llm") -> Iterator[Any]:
    """Record provider traffic into, or replay it from, `cassette_dir`; with mode None, do nothing.

    Recording starts a fresh cassette (an older one of the same name is replaced). Replaying sends
    nothing over the network: a request that was not recorded makes the model call fail with
    ProviderError("request not in cassettes <dir>: METHOD URL").
    """
    if mode is None:
        yield None
        return
    if mode not in ("record", "replay"):
        raise ValueError(f"recording mode must be 'record', 'replay' or None, not {mode!r}")
    if cassette_dir is None:
        raise ValueError("recording needs a cassette directory")
    import vcr

    path = cassette_path(cassette_dir, name)
    if mode == "record":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    elif not path.is_file():
        raise ProviderError(f"no cassettes to replay in {cassette_dir}: {path.name} does not exist")
    recorder = vcr.VCR(
        record_mode="all" if mode == "record" else "none",
        match_on=("method", "path", "same_body"),
        filter_headers=_SECRET_HEADERS,
        before_record_request=scrub_request,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("same_body", same_body)
    if _active:
        raise RuntimeError(f"a {_active['mode']} of {_active['dir']} is already open")
    _active.update(mode=mode, dir=str(cassette_dir))
    try:
        with recorder.use_cassette(str(path)) as cassette:
            yield cassette
    finally:
        _active.clear()


def recording_mode() -> Mode | None:
    """"record" or "replay" while a cassette is open, else None."""
    return _active.get("mode")


def replaying() -> bool:
    """True while a replay is open: providers then need no real key (a placeholder is sent and
    never reaches a server)."""
    return _active.get("mode") == "replay"


REPLAY_KEY = "replay-no-key"


def unrecorded_request(exc: BaseException) -> ProviderError | None:
    """When `exc` (or anything in its cause chain) is vcrpy refusing a request that is not in the
    cassette, the clear ProviderError to raise instead; else None. SDKs wrap that refusal as a
    connection error, which would otherwise be retried as if the network had blipped."""
    if not _active:
        return None
    from vcr.errors import CannotOverwriteExistingCassetteException

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CannotOverwriteExistingCassetteException):
            request = current.failed_request
            target = f"{request.method} {request.uri}" if request is not None else "unknown request"
            return ProviderError(f"request not in cassettes {_active.get('dir')}: {target}")
        current = current.__cause__ or current.__context__
    return None
