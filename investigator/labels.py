"""Eval labels and business outcomes, joined to traces by trace_id.

A labels file is JSON Lines with two row shapes:
    {"trace_id": "...", "label": "correctness", "score": 0.0, "passed": false, "comment": "..."}
    {"trace_id": "...", "outcome": {"resolved": false, "escalated": true, "csat": 2}}
Rows for traces not yet ingested are kept and attached when those traces arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from investigator.ingest.reader import open_binary
from investigator.store import Store


class LabelRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_id: str
    label: str | None = None
    score: float | None = None
    passed: bool | None = None
    comment: str | None = None
    outcome: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> LabelRow:
        if self.label is None and self.outcome is None:
            raise ValueError("a row needs either 'label' or 'outcome'")
        if self.label == "outcome":
            raise ValueError("'outcome' is reserved; use an 'outcome' object instead")
        return self

    def entries(self) -> list[tuple[str, str, Any]]:
        out: list[tuple[str, str, Any]] = []
        if self.label is not None:
            value = {"score": self.score, "passed": self.passed, "comment": self.comment}
            if self.metadata:
                value["metadata"] = self.metadata
            out.append((self.trace_id, self.label, {k: v for k, v in value.items() if v is not None}))
        if self.outcome is not None:
            out.append((self.trace_id, "outcome", self.outcome))
        return out


@dataclass
class LabelReport:
    rows: int = 0
    attached: int = 0  # traces already in the store that now carry the labels
    pending: int = 0  # trace_ids not ingested yet
    errors: list[str] = field(default_factory=list)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "row"
    return f"field '{where}': {first['msg']}"


def load_labels(store: Store, path: str) -> LabelReport:
    """Validate every row (errors name file, line and field) and store the good ones."""
    report = LabelReport()
    entries: list[tuple[str, str, Any]] = []
    with open_binary(Path(path)) as stream:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = LabelRow.model_validate(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                report.errors.append(f"{path}:{line_no}: invalid JSON: {exc}")
                continue
            except ValidationError as exc:
                report.errors.append(f"{path}:{line_no}: {_describe(exc)}")
                continue
            report.rows += 1
            entries.extend(row.entries())
    traces = {trace_id for trace_id, _, _ in entries}
    attached = store.set_labels(entries)
    report.attached = len(attached)
    report.pending = len(traces - attached)
    return report
