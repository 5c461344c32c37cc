"""Spans read from a Phoenix server's REST API, a project at a time.

    phoenix://HOST:PORT/PROJECT        (phoenixs:// for HTTPS; an API key from $PHOENIX_API_KEY)

`GET /v1/projects/{project}/spans` lists a project's spans with `start_time` (inclusive) and
`end_time` (exclusive) bounds on each span's start, a page at a time (`limit`, `next_cursor`). Each
span comes as Phoenix writes it (`context.trace_id`, `span_kind`, `parent_id`, `status_code`,
flattened `attributes`, `events`), which the `spans-jsonl` format reads. A schedule asks for the
window after its watermark only, so each span comes over once.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from investigator.errors import InputError
from investigator.ingest.pipeline import IngestReport, ingest_records
from investigator.store import Store

SCHEMES = ("phoenix", "phoenixs")
API_KEY_ENV = "PHOENIX_API_KEY"
PAGE_SPANS = 1000  # the most the API returns a page
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PhoenixSource:
    host: str
    port: int | None
    project: str
    secure: bool = False

    @property
    def url(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{'phoenixs' if self.secure else 'phoenix'}://{self.host}{port}/{self.project}"

    @property
    def spans_endpoint(self) -> str:
        scheme = "https" if self.secure else "http"
        port = f":{self.port}" if self.port else ""
        return f"{scheme}://{self.host}{port}/v1/projects/{urllib.parse.quote(self.project, safe='')}/spans"


def is_phoenix(spec: str) -> bool:
    return "://" in spec and spec.split("://", 1)[0] in SCHEMES


def parse_source(spec: str) -> PhoenixSource:
    """A Phoenix source from its URL; InputError naming what is wrong with it."""
    parts = urllib.parse.urlsplit(spec)
    project = urllib.parse.unquote(parts.path.strip("/"))
    if not parts.hostname:
        raise InputError(f"{spec}: name the host (phoenix://HOST:PORT/PROJECT)")
    if not project or "/" in project:
        raise InputError(f"{spec}: name one project (phoenix://HOST:PORT/PROJECT)")
    try:
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{spec}: {exc}") from None
    return PhoenixSource(parts.hostname, port, project, secure=parts.scheme == "phoenixs")


def _page(source: PhoenixSource, params: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(f"{source.spans_endpoint}?{urllib.parse.urlencode(params)}",
                                     headers={"Accept": "application/json"})
    if key := os.environ.get(API_KEY_ENV):
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise InputError(f"{source.url}: Phoenix answered {exc.code} {exc.reason}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise InputError(f"{source.url}: cannot reach Phoenix: {exc}") from None


def spans(source: PhoenixSource, since: str | None, until: str | None, counts: dict[str, int]) -> Iterator[Any]:
    """Every span of the project starting in [since, until), page after page."""
    params = {"limit": str(PAGE_SPANS)}
    if since:
        params["start_time"] = since
    if until:
        params["end_time"] = until
    while True:
        page = _page(source, params)
        data = page.get("data")
        if not isinstance(data, list):
            raise InputError(f"{source.url}: a spans page without a `data` list")
        counts["pages"] += 1
        for span in data:
            counts["transferred_spans"] += 1
            yield span
        cursor = page.get("next_cursor")
        if not cursor or not data:
            return
        params["cursor"] = cursor


def pull(store: Store, source: PhoenixSource, since: str | None = None, until: str | None = None) -> IngestReport:
    """Ingest the project's spans of [since, until); the report's `pushdown` says how many came over."""
    counts = {"pages": 0, "transferred_spans": 0}
    report = ingest_records(store, spans(source, since, until, counts), "spans-jsonl", source.url,
                            locate=_location)
    report.pushdown = counts
    return report


def _location(index: int, span: Any) -> str:
    context = span.get("context") if isinstance(span, dict) else None
    if isinstance(context, dict):
        return f"trace_id={context.get('trace_id')} span_id={context.get('span_id')}"
    return f"[{index}]"
