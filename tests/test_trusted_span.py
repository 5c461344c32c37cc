"""The store reads spans without validating them again (investigator/store/traces.py `_trusted_span`:
`Span.__new__` and pydantic's private slots set by hand). That is only sound while pydantic keeps the
internals it relies on; these tests fail when an installed pydantic changes them, so that a stored span
read back is no longer, in every observable way, the model `Span.model_validate` makes of the same row."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from investigator.ingest.pipeline import ingest_paths
from investigator.models import Span
from investigator.store import Store
from investigator.store.traces import SPAN_COLUMNS, row_to_dict

DATA = Path(__file__).parent / "data"
# Real exports of three formats: between them every field of Span but the store's two flags is set
# to something other than its default on some span (checked below).
FIXTURES = [DATA / "otlp_genai.jsonl", DATA / "langsmith_runs.jsonl", DATA / "openai_agents_export.jsonl"]
STORE_FLAGS = ("orphan", "cycle_broken")


@pytest.fixture(scope="module")
def stored() -> Iterator[Store]:
    store = Store(":memory:")
    report = ingest_paths(store, [str(p) for p in FIXTURES], "auto")
    assert report.summary()["ingested"] >= 30
    yield store
    store.close()


def stored_row(store: Store, trace_id: str, span_id: str) -> dict[str, Any]:
    """The span's row as SQLite holds it, read with plain SQL: the JSON columns decoded, the flags as bools."""
    columns = (*SPAN_COLUMNS, *STORE_FLAGS)
    values = store.conn.execute(
        f"SELECT {', '.join(columns)} FROM spans WHERE trace_id = ? AND span_id = ?", [trace_id, span_id]
    ).fetchone()
    row = row_to_dict(values, columns)
    for flag in STORE_FLAGS:
        row[flag] = bool(row[flag])
    return row


def pairs(store: Store) -> list[tuple[Span, Span]]:
    """(span read by the store, the same row validated), for every stored span."""
    out = []
    for trace_id in store.trace_ids():
        for span in store.spans(trace_id):
            out.append((span, Span.model_validate(stored_row(store, trace_id, span.span_id))))
    return out


def slots(model: type[BaseModel]) -> list[str]:
    """Every slot the classes of `model` declare: pydantic keeps a model's state in BaseModel's."""
    names: list[str] = []
    for cls in model.__mro__:
        declared = cls.__dict__.get("__slots__", ())
        names += [declared] if isinstance(declared, str) else list(declared)
    return names


def slot_values(instance: BaseModel) -> dict[str, Any]:
    """The slots set on `instance` (an unset slot raises AttributeError when read) and their values."""
    found = {}
    for name in slots(type(instance)):
        try:
            found[name] = object.__getattribute__(instance, name)
        except AttributeError:
            continue
    return found


def test_the_fixture_sets_every_field_somewhere(stored: Store) -> None:
    spans = [span for span, _ in pairs(stored)]
    assert {span.source_format for span in spans} >= {"otlp-json", "langsmith", "openai-agents"}
    for name, field in Span.model_fields.items():
        if name in STORE_FLAGS:
            continue
        default = field.get_default(call_default_factory=True)
        assert any(getattr(span, name) != default for span in spans), name


def test_a_stored_span_is_the_validated_one_in_every_observable_way(stored: Store) -> None:
    for span, valid in pairs(stored):
        assert type(span) is Span
        assert span == valid and valid == span
        assert not span != valid
        assert span.model_dump() == valid.model_dump()
        assert span.model_dump(mode="json") == valid.model_dump(mode="json")
        assert span.model_dump_json() == valid.model_dump_json()  # bytes: key order and number types too
        assert span.model_dump(exclude_unset=True) == valid.model_dump(exclude_unset=True)
        assert span.model_dump(exclude_defaults=True) == valid.model_dump(exclude_defaults=True)
        assert span.model_fields_set == valid.model_fields_set == set(Span.model_fields)
        assert list(span) == list(valid)  # field order as declared
        assert list(vars(span)) == list(vars(valid)) == list(Span.model_fields)
        for name in Span.model_fields:
            mine, theirs = getattr(span, name), getattr(valid, name)
            assert type(mine) is type(theirs) and mine == theirs, name
        assert span.duration_ms == valid.duration_ms
        assert repr(span) == repr(valid) and str(span) == str(valid)
        assert span.__pydantic_extra__ == valid.__pydantic_extra__
        assert span.__pydantic_private__ == valid.__pydantic_private__
        assert Span.model_validate(span.model_dump()) == span
        assert Span.model_validate_json(span.model_dump_json()) == valid


def test_copies_and_pickles_of_a_stored_span_are_those_of_the_validated_one(stored: Store) -> None:
    for span, valid in pairs(stored):
        update = {"name": "renamed", "tokens_in": 7}
        copied, copied_valid = span.model_copy(update=update), valid.model_copy(update=update)
        assert copied == copied_valid and copied.model_dump_json() == copied_valid.model_dump_json()
        assert copied.model_fields_set == copied_valid.model_fields_set
        assert span == valid  # the copy is not the stored span's row
        deep = span.model_copy(deep=True)
        assert deep == valid and deep.attributes is not span.attributes
        for clone in (copy.copy(span), copy.deepcopy(span), pickle.loads(pickle.dumps(span))):
            assert clone == valid and repr(clone) == repr(valid)
            assert clone.model_fields_set == valid.model_fields_set
            assert slot_values(clone) == slot_values(valid)
        assert span.__getstate__() == valid.__getstate__()


def test_changing_one_stored_span_changes_no_other(stored: Store) -> None:
    """Stored spans share one set of fields set: pydantic must only ever add to it."""
    (first, _), *rest = pairs(stored)
    first.name = "changed"
    first.model_copy(update={"status": "error"})
    assert first.name == "changed" and first.model_fields_set == set(Span.model_fields)
    for span, valid in rest:
        assert span == valid and span.model_fields_set == valid.model_fields_set


def test_the_store_sets_every_slot_pydantic_keeps_a_models_state_in(stored: Store) -> None:
    """What pydantic's BaseModel keeps per instance is its slots; `_trusted_span` sets them by hand,
    so a pydantic release that adds one (or drops one) must fail here, not leave stored spans
    without it."""
    span, valid = pairs(stored)[0]
    # The slots `_trusted_span` sets, as of the pydantic it was written against.
    assert set(slots(Span)) == set(BaseModel.__slots__) == {
        "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__",
    }
    assert list(slot_values(span)) == list(slot_values(valid)) == slots(Span)  # validation set them all
    assert slot_values(span) == slot_values(valid)
    # And nothing beyond the slots: validating sets no other instance state that a stored span would lack.
    assert set(dir(span)) == set(dir(valid))
