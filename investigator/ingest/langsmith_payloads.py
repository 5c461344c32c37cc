"""What the LangSmith SDK sends when it traces: ingestion payloads, unpacked into run rows.

`langsmith.Client` queues a `post` when a run starts (its inputs) and a `patch` when it ends (its
outputs, `end_time`, `error`; no inputs), and sends them in one of two shapes, as `GET /info`
says the server takes:
- a `/runs/batch` body: `{"post": [run, ...], "patch": [run, ...]}`, each item a run row;
- a `/runs/multipart` form (the SDK's default, zstd-compressed when the server allows), saved as
  one JSON object mapping each part's name to its JSON content: `post.<id>` or `patch.<id>` holds
  the run minus its large fields, which come as `post.<id>.inputs`, `.outputs`, `.events`,
  `.extra`, `.error` and `.serialized`. `feedback.<id>` and `attachment.<id>.<name>` parts are not
  runs; they are quarantined with that reason.

A patch merges into the post of the same run in the payload as the SDK combines the two
(`combine_serialized_queue_operations`): matched by the run's `id` (a patch without one is matched
by the last segment of its `dotted_order`, which ends with the run's own id), its fields that are
not null replace the post's. A patch whose post came in an earlier payload stays a run row of its
own, marked as a patch: it need not repeat the start time, but it must name its trace (`trace_id`
or `dotted_order`), since the store merges it into the stored span by trace and id, where what
the post said (the inputs) survives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from investigator.ingest.base import Rejected

_BATCH_KEYS = frozenset({"post", "patch"})
_PART = re.compile(r"^(post|patch|feedback|attachment)\.([^.]+)(?:\.(.+))?$")
_RUN_FIELDS = frozenset({"inputs", "outputs", "events", "extra", "error", "serialized"})
_DOTTED_SEGMENT = re.compile(r"^\d{8}T\d{6,}Z(.+)$")


class PayloadRun(NamedTuple):
    """One run assembled from a payload, with where it came from and whether only a patch was seen."""

    run: dict[str, Any]
    location: str
    patch_only: bool


def dotted_ids(run: dict[str, Any]) -> list[str]:
    """The run ids in a `dotted_order` (`<time>Z<id>.<time>Z<id>...`), root first, the run's own last."""
    dotted = run.get("dotted_order")
    if not isinstance(dotted, str):
        return []
    ids = []
    for segment in dotted.split("."):
        match = _DOTTED_SEGMENT.match(segment)
        if match:
            ids.append(match.group(1))
    return ids


def is_payload(record: Any) -> bool:
    """A `/runs/batch` body or a saved `/runs/multipart` form."""
    if not isinstance(record, dict) or not record:
        return False
    if set(record) <= _BATCH_KEYS:
        return all(isinstance(items, list) for items in record.values())
    parts = [_PART.match(key) if isinstance(key, str) else None for key in record]
    return all(parts) and any(part.group(1) in _BATCH_KEYS for part in parts if part)


def unpack(record: dict[str, Any]) -> Iterator[PayloadRun | Rejected]:
    """Every run of a payload, each post merged with the patches of the same run."""
    operations = _batch(record) if set(record) <= _BATCH_KEYS else _form(record)
    runs: dict[str, PayloadRun] = {}
    for item in operations:
        if isinstance(item, Rejected):
            yield item
            continue
        operation, run, location = item
        if not run.get("id") and dotted_ids(run):
            run = {**run, "id": dotted_ids(run)[-1]}
        key = str(run.get("id") or location)  # a run with no id at all stays alone, to be rejected for it
        known = runs.get(key)
        if known is None:
            runs[key] = PayloadRun(run, location, operation == "patch")
        else:
            merged = {**known.run, **{k: v for k, v in run.items() if v is not None}}
            runs[key] = PayloadRun(merged, f"{known.location}+{location}", known.patch_only and operation == "patch")
    yield from runs.values()


def _batch(record: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str] | Rejected]:
    for operation in ("post", "patch"):
        for index, run in enumerate(record.get(operation) or []):
            location = f"{operation}[{index}]"
            if isinstance(run, dict):
                yield operation, run, location
            else:
                yield Rejected(f"{operation} item is not a JSON object", run, location)


def _form(record: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str] | Rejected]:
    """The runs of a multipart form, each `<op>.<id>` part with its field parts: the posts, then the
    patches (as in a batch body), each in the order sent."""
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for name, value in record.items():
        match = _PART.match(name)
        assert match is not None  # is_payload checked every name
        operation, run_id, field = match.groups()
        if operation not in _BATCH_KEYS:
            yield Rejected(f"multipart part '{name}' is LangSmith {operation}, not a run", value, name)
            continue
        run = runs.setdefault((operation, run_id), {})
        if field is None and isinstance(value, dict):
            for key, item in value.items():
                run.setdefault(key, item)
        elif field is None:
            yield Rejected(f"multipart part '{name}' is not a JSON object", value, name)
        elif field in _RUN_FIELDS:
            run[field] = value
        else:
            yield Rejected(f"multipart part '{name}': unknown run field '{field}'", value, name)
    for (operation, run_id), run in sorted(runs.items(), key=lambda item: item[0][0] == "patch"):
        run.setdefault("id", run_id)
        yield operation, run, f"{operation}.{run_id}"
