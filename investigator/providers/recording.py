"""Record and replay provider HTTP traffic with vcrpy cassettes.

`investigator run --record DIR` saves every exchange with the model providers; `--replay DIR`
answers the same requests from those files with no network and no key, so an investigation can
be rerun offline and deterministically. A run records into one cassette, `DIR/<name>.yaml`
(default "llm"); requests match on method, path and JSON body, so the host and port the run
was recorded against do not matter and concurrent clusters replay in any order.

Secrets never reach a cassette: credential headers (Authorization, x-api-key, api-key, cookies,
organisation and project ids) are dropped from requests, cookies and organisation ids from
responses, and query parameters whose names look like keys or tokens are removed.
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

# {"mode", "dir"} while a recording is open; process-wide, as vcrpy's patches are
_active: dict[str, Any] = {}


def _scrub_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _SECRET_NAME.search(k)]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def scrub_request(request: Any) -> Any:
    """Drop credential headers and key-like query parameters from a request before it is saved."""
    for name in list(request.headers):
        if name.lower() in _SECRET_HEADERS or _SECRET_NAME.search(name):
            del request.headers[name]
    request.uri = _scrub_url(request.uri)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Drop cookies and organisation identifiers from a response before it is saved."""
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in _DROPPED_RESPONSE_HEADERS:
            del headers[name]
    return response


@functools.lru_cache(maxsize=512)
def _parsed(body: bytes | str) -> Any:
    """A request body as JSON, or as it is when it is not JSON (cached: each recorded body is
    compared with every request of the run)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body


def same_body(request: Any, recorded: Any) -> bool:
    """vcrpy matcher: the two bodies hold the same JSON (key order aside), or the same bytes.
    vcrpy's own `body` matcher re-serialises both bodies and diffs them on every comparison,
    which cost 30 s of a 10-cluster replay; a mismatch here is reported by `unrecorded_request`."""
    mine, theirs = request.body or b"", recorded.body or b""
    return mine == theirs or _parsed(mine) == _parsed(theirs)


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
