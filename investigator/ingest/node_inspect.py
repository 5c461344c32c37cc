"""Node.js `util.inspect` text read back into JSON values: what `console.dir` and `console.log` print
for an object, and so what OpenTelemetry JS's ConsoleSpanExporter writes.

The notation differs from JSON in its keys (bare identifiers or '…'), its strings ('…', or "…" and `…`
when they hold quotes, long ones split over lines with `+`), `undefined`, and what it did not print:
placeholders (`[Object]` and `[Array]` past the depth, `[Circular *1]`, `[Function: f]`, `[Getter]`)
and cut marks (`... 3 more items`, `'…'... 9000 more characters`). Placeholders and cut marks are
kept as the text they are, so nothing that was not printed is invented; `undefined` becomes null.
"""

from __future__ import annotations

import re
from typing import Any

from investigator.errors import InspectError

_SPACE = re.compile(r"\s*")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*|\d+")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(n)?(?![\w$])")
_WORDS = {"undefined": None, "null": None, "true": True, "false": False, "NaN": None, "Infinity": None,
          "-Infinity": None}
_WORD = re.compile(r"(?:-?Infinity|undefined|null|true|false|NaN)(?![\w$])")
_PLACEHOLDER = re.compile(r"\[(?:Object|Array|Circular \*\d+|(?:Async)?Function[^\]\n]*|class [^\]\n]*|"
                          r"Getter(?:/Setter)?|Setter|Symbol\([^)\n]*\))\]")
_REF = re.compile(r"<ref \*\d+>\s*")
_CLASS = re.compile(r"(?:\[Object: null prototype\]|[A-Z][\w$]*(?:\(\d+\))?) (?=[{\[])")
_MORE_ITEMS = re.compile(r"\.\.\. \d+ more items?")
_MORE_CHARS = re.compile(r"\.\.\. \d+ more characters?")
_LOOKS = re.compile(r"(?:<ref \*\d+>\s*)?\{\s*(?:[A-Za-z_$][\w$]*|'(?:[^'\\\n]|\\.)*')\s*:")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def looks_like(text: str, pos: int) -> bool:
    """Whether an object printed by `util.inspect` starts at `pos` (a bare or single-quoted first key)."""
    return _LOOKS.match(text, pos) is not None


def parse(text: str, pos: int = 0) -> tuple[Any, int]:
    """The value printed at `pos` and the position just after it. Raises InspectError."""
    return _Parser(text).value(pos)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, pos: int, what: str) -> InspectError:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return InspectError(f"{what}: line {line} column {column}")

    def skip(self, pos: int) -> int:
        return _SPACE.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int) -> tuple[Any, int]:
        text = self.text
        pos = self.skip(pos)
        if match := _REF.match(text, pos) or _CLASS.match(text, pos):
            pos = match.end()
        char = text[pos : pos + 1]
        if char == "{":
            return self.object(pos + 1)
        if match := _PLACEHOLDER.match(text, pos):
            return match.group(), match.end()
        if char == "[":
            return self.array(pos + 1)
        if char in ("'", '"', "`"):
            return self.strings(pos)
        if match := _WORD.match(text, pos):
            return _WORDS[match.group()], match.end()
        if match := _NUMBER.match(text, pos):
            number = match.group().removesuffix("n")
            return (int(number) if match.group(1) or number.lstrip("-").isdigit() else float(number)), match.end()
        raise self.fail(pos, "expected a value")

    def object(self, pos: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        pos = self.skip(pos)
        if self.text.startswith("}", pos):
            return out, pos + 1
        while True:
            key, pos = self.key(pos)
            pos = self.skip(pos)
            if not self.text.startswith(":", pos):
                raise self.fail(pos, "expected ':' after a key")
            out[key], pos = self.value(pos + 1)
            pos = self.skip(pos)
            if self.text.startswith("}", pos):
                return out, pos + 1
            if not self.text.startswith(",", pos):
                raise self.fail(pos, "expected ',' or '}'")
            pos = self.skip(pos + 1)
            if self.text.startswith("}", pos):  # a trailing comma
                return out, pos + 1

    def key(self, pos: int) -> tuple[str, int]:
        if self.text[pos : pos + 1] in ("'", '"', "`"):
            return self.string(pos)
        if self.text.startswith("[", pos):  # [Symbol(name)]
            end = self.text.find("]", pos)
            if end > 0:
                return self.text[pos : end + 1], end + 1
        if match := _IDENTIFIER.match(self.text, pos):
            return match.group(), match.end()
        raise self.fail(pos, "expected a key")

    def array(self, pos: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        pos = self.skip(pos)
        if self.text.startswith("]", pos):
            return out, pos + 1
        while True:
            if match := _MORE_ITEMS.match(self.text, pos):
                out.append(match.group())
                pos = match.end()
            else:
                item, pos = self.value(pos)
                out.append(item)
            pos = self.skip(pos)
            if self.text.startswith("]", pos):
                return out, pos + 1
            if not self.text.startswith(",", pos):
                raise self.fail(pos, "expected ',' or ']'")
            pos = self.skip(pos + 1)

    def strings(self, pos: int) -> tuple[str, int]:
        """A string literal, the literals joined to it with `+`, and a cut mark after them."""
        parts = []
        while True:
            part, pos = self.string(pos)
            parts.append(part)
            after = self.skip(pos)
            if not self.text.startswith("+", after):
                break
            pos = self.skip(after + 1)
        if match := _MORE_CHARS.match(self.text, pos):
            parts.append(match.group())
            pos = match.end()
        return "".join(parts), pos

    def string(self, pos: int) -> tuple[str, int]:
        text, quote = self.text, self.text[pos]
        out: list[str] = []
        i = pos + 1
        while True:
            end = i
            while end < len(text) and text[end] not in (quote, "\\"):
                end += 1
            out.append(text[i:end])
            if end >= len(text):
                raise self.fail(pos, "unterminated string")
            if text[end] == quote:
                return "".join(out), end + 1
            char, unicode_end = text[end + 1 : end + 2], end + 2
            if char == "x":
                out.append(chr(int(text[end + 2 : end + 4], 16)))
                unicode_end = end + 4
            elif char == "u" and text.startswith("{", end + 2):
                close = text.index("}", end + 2)
                out.append(chr(int(text[end + 3 : close], 16)))
                unicode_end = close + 1
            elif char == "u":
                out.append(chr(int(text[end + 2 : end + 6], 16)))
                unicode_end = end + 6
            else:
                out.append(_ESCAPES.get(char, char))
            i = unicode_end
