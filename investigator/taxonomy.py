"""The failure taxonomy as data: codes, meanings, categories, default severities and weights.

The default taxonomy ships as `taxonomy.json` next to this module. A team can
extend it (add codes, categories or aliases; override a code's severity or meaning) or replace it
with its own file. Codes are `category.subtype`; a renamed code keeps working through an alias
that `resolve` follows, so stored issues and reviews never lose their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from investigator.errors import TaxonomyError
from investigator.models import SEVERITY_WEIGHTS, Severity

DEFAULT_PATH = Path(__file__).with_name("taxonomy.json")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class Code(BaseModel):
    """One taxonomy code and what it means."""

    model_config = ConfigDict(extra="forbid")

    code: str
    meaning: str
    severity: Severity = "medium"

    @property
    def category(self) -> str:
        return self.code.split(".", 1)[0]

    @property
    def subtype(self) -> str:
        return self.code.split(".", 1)[1]


class TaxonomyFile(BaseModel):
    """The on-disk shape of a taxonomy (the default or a user's file)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    version: int = 1
    mode: Literal["extend", "replace"] = "extend"
    severity_weights: dict[str, int] = Field(default_factory=dict)
    categories: dict[str, str] = Field(default_factory=dict)
    codes: list[Code] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _codes_are_well_formed(self) -> TaxonomyFile:
        for code in self.codes:
            if not CODE_PATTERN.match(code.code):
                raise ValueError(f"code {code.code!r} is not category.subtype in lower snake case")
        for severity in self.severity_weights:
            if severity not in SEVERITY_WEIGHTS:
                raise ValueError(f"unknown severity {severity!r} in severity_weights")
        return self


class Taxonomy:
    """A loaded taxonomy: look up codes, follow aliases, weigh severities."""

    def __init__(self, data: TaxonomyFile) -> None:
        self.name = data.name
        self.version = data.version
        self.severity_weights: dict[str, int] = {**SEVERITY_WEIGHTS, **data.severity_weights}
        self.categories: dict[str, str] = dict(data.categories)
        self.codes: dict[str, Code] = {c.code: c for c in data.codes}
        self.aliases: dict[str, str] = dict(data.aliases)
        self._check()

    def _check(self) -> None:
        for code in self.codes.values():
            if code.category not in self.categories:
                raise TaxonomyError(f"code {code.code!r} names unknown category {code.category!r}")
        for old, new in self.aliases.items():
            if old in self.codes:
                raise TaxonomyError(f"alias {old!r} shadows a live code")
            if self._follow(new) is None:
                raise TaxonomyError(f"alias {old!r} points at unknown code {new!r}")

    def _follow(self, code: str) -> str | None:
        seen: set[str] = set()
        while code not in self.codes:
            if code in seen or code not in self.aliases:
                return None
            seen.add(code)
            code = self.aliases[code]
        return code

    def resolve(self, code: str) -> str:
        """The live code for `code` (following renames). Raises KeyError for an unknown code."""
        live = self._follow(code)
        if live is None:
            raise KeyError(f"unknown taxonomy code {code!r}")
        return live

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self._follow(code) is not None

    def get(self, code: str) -> Code:
        return self.codes[self.resolve(code)]

    def severity(self, code: str) -> Severity:
        """The default severity of a code, used when a detector does not grade an instance."""
        return self.get(code).severity

    def weight(self, severity: str) -> int:
        return self.severity_weights.get(severity, 1)

    def in_category(self, category: str) -> list[str]:
        return sorted(c for c in self.codes if c.startswith(category + "."))

    def to_file(self) -> TaxonomyFile:
        return TaxonomyFile(
            name=self.name,
            version=self.version,
            mode="replace",
            severity_weights=self.severity_weights,
            categories=self.categories,
            codes=list(self.codes.values()),
            aliases=self.aliases,
        )


def _read(path: Path) -> TaxonomyFile:
    try:
        raw: Any = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc
    try:
        return TaxonomyFile.model_validate(raw)
    except ValueError as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc


def merge(base: TaxonomyFile, extra: TaxonomyFile) -> TaxonomyFile:
    """`extra` layered over `base`: its codes add to or override base codes of the same name."""
    codes = {c.code: c for c in base.codes}
    codes.update({c.code: c for c in extra.codes})
    return TaxonomyFile(
        name=extra.name,
        version=extra.version,
        mode="replace",
        severity_weights={**base.severity_weights, **extra.severity_weights},
        categories={**base.categories, **extra.categories},
        codes=list(codes.values()),
        aliases={**base.aliases, **extra.aliases},
    )


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The default taxonomy, as shipped with the package."""
    return Taxonomy(_read(DEFAULT_PATH))


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The default taxonomy, or a user's file applied to it (`mode: extend`, the default) or
    used instead of it (`mode: replace`)."""
    if path is None:
        return default_taxonomy()
    user = _read(Path(path))
    if user.mode == "replace":
        return Taxonomy(user)
    return Taxonomy(merge(_read(DEFAULT_PATH), user))


def unknown_codes(codes: Iterable[str], taxonomy: Taxonomy | None = None) -> list[str]:
    """The codes of `codes` that the taxonomy does not know (empty when all are valid)."""
    tax = taxonomy or default_taxonomy()
    return [c for c in codes if c not in tax]
