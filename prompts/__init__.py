"""Prompt templates, kept as text files so they can be read and reviewed as prose.

Templates use `string.Template` placeholders (`$name`), so braces in examples need no escaping."""

from __future__ import annotations

from importlib.resources import files
from string import Template


def load_prompt(name: str) -> Template:
    """The template in `<name>.txt` of this package."""
    return Template(files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8"))
