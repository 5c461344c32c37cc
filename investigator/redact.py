"""Masking personal data and secrets with stable placeholders before text leaves the machine.

Every text sent to an LLM provider or written into a promoted eval case goes through
`Redactor.redact`. The same value gets the same placeholder within one `RedactionContext`
(normally one per trace), so "<EMAIL_1> wrote to <EMAIL_2>, then <EMAIL_1> replied" keeps its
meaning. Detectors use `Redactor.find` to spot PII and secret exposure with the same recognisers.

Recognisers are compiled once, into one alternation per family, and a text is scanned left to
right once per family, with only the recognisers that may match it (`investigator.prefilter`
decides which, in one pass): the numeric family (cards, phones, IPv4, SSNs, DNIs) only inside the
digit runs of the text, the others only when the text holds their trigger ("@", "eyJ", "sk-", ...).
The built-in recognisers use ASCII classes: `\\d` is 0-9 and `\\w` is [A-Za-z0-9_].
A shape that looks right but fails its checksum or structural check (Luhn for cards, mod-97 for
IBANs, SSN area rules, a JWT header that must decode to JSON with "alg") is not a match, so
order numbers, tracking numbers and random digit runs survive.

Deliberate boundaries:
- IPv4: a dotted quad glued to a letter or hyphen ("v1.2.3.4", "release-2.1.0.3"), to a product
  token ("Chrome/120.0.0.0"), after a version word ("Version 2.0.0.1", "build 4.2.0.1") or
  inside a longer dotted run ("1.3.6.1.4.1") is a version or an OID, not an address. Loopback and
  unspecified addresses (127.x, 0.0.0.0, ::1, ::) identify nobody and are left alone.
- Phones: international numbers start with "+"; national numbers need the separators people
  write them with ("(415) 555-0132", "020 7946 0958", "01 23 45 67 89"). A bare run of digits is
  never a phone, because order numbers and epoch timestamps look exactly like one.
- IBANs start with an upper-case country code, as banks print them; SSNs without dashes are
  recognised only after an "SSN" / "social security" label.
- "Bearer <token>" keeps the word "Bearer" and masks the token, whatever the token is (a JWT
  or an API key behind "Bearer" is reported as BEARER_TOKEN).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from investigator.prefilter import Prefilter

PII_KINDS: frozenset[str] = frozenset({"EMAIL", "PHONE", "CARD", "NATIONAL_ID", "IP", "IBAN"})
SECRET_KINDS: frozenset[str] = frozenset({"API_KEY", "JWT", "BEARER_TOKEN", "PRIVATE_KEY"})

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")
_CUSTOM_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")


class Match(NamedTuple):
    """One recognised value: its kind (EMAIL, CARD, ...), where it sits, and the text itself."""

    kind: str
    start: int
    end: int
    value: str


@dataclass
class RedactionContext:
    """Placeholder numbering shared by every text of one trace (or one eval case)."""

    numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, _canonical(kind, value))
        number = self.numbers.get(key)
        if number is None:
            number = self.counts.get(kind, 0) + 1
            self.counts[kind] = number
            self.numbers[key] = number
        return f"<{kind}_{number}>"


def _canonical(kind: str, value: str) -> str:
    """The identity of a value, so "+1 (415) 555-0132" and "+1 415 555 0132" share a placeholder."""
    if kind in ("PHONE", "CARD", "NATIONAL_ID", "IBAN"):
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    if kind in ("EMAIL", "IP"):
        return value.lower()
    return value


# ----------------------------------------------------------------------------- validators
# A validator gets the match and returns the end of the accepted value (usually m.end(v)), or
# None to reject the candidate.

Validator = Callable[[str, int, int], "int | None"]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _luhn(number: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if index % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|35|6(?:011|4[4-9]|5|2)")


def _card(text: str, start: int, end: int) -> int | None:
    value = text[start:end]
    seps = {ch for ch in value if not ch.isdigit()}
    if len(seps) > 1:
        return None
    number = _digits(value)
    if not 13 <= len(number) <= 19 or not _CARD_PREFIX.match(number) or not _luhn(number):
        return None
    return end


def _ssn(text: str, start: int, end: int) -> int | None:
    d = _digits(text[start:end])
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return end


_NI_BAD_PREFIX = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


def _ni(text: str, start: int, end: int) -> int | None:
    return None if text[start : start + 2].upper() in _NI_BAD_PREFIX else end


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(text: str, start: int, end: int) -> int | None:
    value = text[start:end].upper().replace("-", "").replace(" ", "")
    body, letter = value[:-1], value[-1]
    body = body.replace("X", "0", 1).replace("Y", "1", 1).replace("Z", "2", 1) if body[0] in "XYZ" else body
    return end if _DNI_LETTERS[int(body) % 23] == letter else None


_VERSION_WORD = re.compile(r"(?i)(?:\bversion|\bver\.?|\brelease|\bbuild|\brev\.?)\s*$")


def _ipv4(text: str, start: int, end: int) -> int | None:
    value = text[start:end]
    if value.startswith("127.") or value == "0.0.0.0":
        return None
    if _VERSION_WORD.search(text, max(0, start - 12), start):
        return None
    return end


def _ipv6(text: str, start: int, end: int) -> int | None:
    value = text[start:end]
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return None
    if "::" in value:
        # "1::2" (a slice) or "a::b" (a scope) must not pass as an address.
        groups = [g for g in value.split(":") if g]
        if not any(len(g) >= 3 for g in groups) and "." not in value:
            return None
    return end


_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def _iban_ok(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def _iban(text: str, start: int, end: int) -> int | None:
    value = text[start:end]
    length = _IBAN_LENGTHS.get(value[:2].upper())
    if length is None:
        return None
    compact_len = 0
    for offset, ch in enumerate(value):
        if ch != " ":
            compact_len += 1
        if compact_len == length:
            # The pattern may have swallowed a following word; cut at the country's length.
            cut = start + offset + 1
            if cut < end and text[cut] != " ":
                return None
            return cut if _iban_ok(text[start:cut].replace(" ", "").upper()) else None
    return None


def _jwt(text: str, start: int, end: int) -> int | None:
    header = text[start : text.index(".", start)]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    return end if isinstance(decoded, dict) and "alg" in decoded else None


def _bearer(text: str, start: int, end: int) -> int | None:
    token = text[start:end]
    if len(token) < 16:
        return None
    has_digit = any(ch.isdigit() for ch in token)
    mixed = any(ch.isupper() for ch in token) and any(ch.islower() for ch in token)
    return end if has_digit or mixed else None


def _phone(min_digits: int, max_digits: int) -> Validator:
    def check(text: str, start: int, end: int) -> int | None:
        value = text[start:end].replace("(0)", "")
        n = len(_digits(value))
        if value.count("(") != value.count(")"):
            return None
        return end if min_digits <= n <= max_digits else None

    return check


# ----------------------------------------------------------------------------- recognisers

_B = r"(?<![\w-])"  # start of a token
_E = r"(?![\w-])"  # end of a token
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

# Gates: a recogniser only joins the scan of a text that contains one of its literal triggers (or
# matches its trigger regex). Most LLM span text holds no "@", "eyJ" or "sk-", so most recognisers
# are skipped cheaply. Recognisers gated by _DIGITS form the numeric family: they run only inside
# the digit runs that `_NUMERIC_REGION` finds, which is what makes redaction fast on JSON and logs.
_DIGITS = "digits"

# (kind, pattern, validator, gate). Order decides which recogniser wins when two match at the
# same position: the most specific shapes first. A pattern may mark the masked part with (?P<V>...).
_RECOGNISERS: list[tuple[str, str, Validator | None, Any]] = [
    ("PRIVATE_KEY", (r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY-----"
                    r"|(?:[A-Za-z0-9+/=\s]|\\[nr])*)"), None, ("PRIVATE KEY-----",)),
    ("BEARER_TOKEN", r"(?<=\b[Bb]earer )(?P<V>[A-Za-z0-9\-._~+/]+=*)", _bearer, ("earer ",)),
    ("BEARER_TOKEN", r"(?<=\bBEARER )(?P<V>[A-Za-z0-9\-._~+/]+=*)", _bearer, ("BEARER ",)),
    ("JWT", r"(?<![\w.-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*(?![\w.-])", _jwt, ("eyJ",)),
    ("API_KEY", _B + r"sk-(?:ant-(?:api|admin)\d\d-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}" + _E, None,
     ("sk-",)),
    ("API_KEY", r"(?<![\w])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{32,})(?!\w)", None,
     ("k_live_", "k_test_", "whsec_")),
    ("API_KEY", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])", None,
     ("AKIA", "ASIA", "ABIA", "ACCA")),
    ("API_KEY", (r"(?i:aws_?secret_?access_?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?"
                r"(?P<V>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"), None, ("ccess", "CCESS")),
    ("API_KEY", r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,255})(?!\w)", None,
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("API_KEY", _B + r"xox[abposr]-[A-Za-z0-9-]{10,}" + _E, None, ("xox",)),
    ("API_KEY", _B + r"xapp-\d-[A-Za-z0-9-]{20,}" + _E, None, ("xapp-",)),
    ("API_KEY", _B + r"AIza[0-9A-Za-z_\-]{35}" + _E, None, ("AIza",)),
    ("API_KEY", r"(?<!\w)(?:hf_[A-Za-z]{34}|glpat-[A-Za-z0-9_\-]{20}|npm_[A-Za-z0-9]{36})(?!\w)", None,
     ("hf_", "glpat-", "npm_")),
    ("API_KEY", r"(?<![\w.])SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}(?![\w.])", None, ("SG.",)),
    ("EMAIL", (r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+-])?"
              r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
              r"(?<!\.png)(?<!\.jpg)(?<!\.gif)(?<!\.svg)(?<!\.webp)(?<!\.jpeg)"), None, ("@",)),
    ("IBAN", r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?(?!\w)", _iban,
     re.compile(r"[A-Z]{2}\d\d ?[A-Za-z0-9]{4} ?[A-Za-z0-9]{4}")),
    ("NATIONAL_ID", (r"(?i:\bssn|social[ _-]?security(?:[ _-]?(?:number|no\.?|#))?)[\"']?\s*[:=#]?\s*[\"']?"
                    r"(?P<V>\d{9})(?!\d)"), _ssn, ("ssn", "SSN", "Ssn", "ocial", "OCIAL")),
    ("NATIONAL_ID", r"(?<![\w])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)", _ni,
     re.compile(r"\d\d ?\d\d ?\d\d ?[A-D]")),
    ("IP", r"(?<![\w:.])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
           r"|(?:[0-9A-Fa-f]{1,4}:)*[0-9A-Fa-f]{0,4}::(?:[0-9A-Fa-f]{1,4}:)*[0-9A-Fa-f]{0,4}"
           rf"|::ffff:{_OCTET}(?:\.{_OCTET}){{3}})" + r"(?![\w:]|\.\d)", _ipv6,
     re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")),
    # The numeric family.
    ("CARD", r"(?<![\w.,/-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![ -]?\d)(?![\w-]|[.,]\d)", _card, _DIGITS),
    ("NATIONAL_ID", _B + r"\d{3}([- ])\d{2}\1\d{4}(?![\w-]|[.,]\d)", _ssn, _DIGITS),
    ("NATIONAL_ID", r"(?<![\w-])(?:\d{8}|[XYZ]\d{7})-?[A-HJ-NP-TV-Z](?!\w)", _dni, _DIGITS),
    ("IP", r"(?<![\w.-])(?<![A-Za-z]/)" + rf"{_OCTET}(?:\.{_OCTET}){{3}}" + r"(?![\w]|\.\d)", _ipv4, _DIGITS),
    ("PHONE", r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5})){1,6}(?![\w-]|[.,]\d)",
     _phone(8, 15), _DIGITS),
    ("PHONE", r"(?<![\w+.-])(?:1[ .-]?)?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])[2-9]\d\d[ .-]\d{4}(?![\w-]|[.,]\d)",
     _phone(10, 11), _DIGITS),
    ("PHONE", r"(?<![\w+.-])\(0\d{1,4}\) ?\d{3,4}[ -]?\d{3,4}(?![\w-]|[.,]\d)", _phone(9, 11), _DIGITS),
    ("PHONE", r"(?<![\w+.-])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?![\w-]|[.,]\d)", _phone(10, 11), _DIGITS),
    ("PHONE", r"(?<![\w+.-])0[1-9](?:([ .])\d{2})(?:\1\d{2}){3}(?![\w-]|[.,]\d)", _phone(10, 10), _DIGITS),
]

# Where a numeric-family value can be: a run of digits and the separators they are written with
# (at least 7 characters: "8.8.8.8"). One letter before (NIE "X1234567L") and a few characters
# after (DNI check letter, lookaheads) are given to the recognisers as context.
_NUMERIC_REGION = re.compile(r"[+(]?\d[\d .()-]{5,}\d")
_REGION_BEFORE = 1
_REGION_AFTER = 3


@dataclass(frozen=True)
class _Recogniser:
    kind: str
    group: str  # the group holding the masked value in the combined regex
    pattern: re.Pattern[str]
    validate: Validator | None
    gate: Any


class _Scanner:
    """Several recognisers compiled into one alternation, scanned left to right."""

    def __init__(self, recognisers: list[_Recogniser]) -> None:
        self.recognisers = recognisers
        parts: list[str] = []
        offset = 0
        for index, rec in enumerate(recognisers):
            # Backreferences are numbered per pattern; renumber them for the combined regex.
            shifted = re.sub(r"\\(\d)", lambda m, base=offset + 1: "\\" + str(int(m.group(1)) + base),
                             rec.pattern.pattern)
            scope = "?a:" if rec.pattern.flags & re.ASCII else "?:"
            parts.append(f"(?P<r{index}>({scope}{shifted.replace('(?P<V>', f'(?P<v{index}>')}))")
            offset += rec.pattern.groups + 1
        self.combined = re.compile("|".join(parts))

    def scan(self, text: str, pos: int, endpos: int, out: list[Match]) -> None:
        search = self.combined.search
        while True:
            m = search(text, pos, endpos)
            if m is None:
                return
            index = int(m.lastgroup[1:])  # type: ignore[index]
            rec = self.recognisers[index]
            group = f"v{index}" if rec.group == "V" else m.lastgroup
            found = _accept(text, rec, *m.span(group))
            if found is None:
                found = self._fallback(text, m.start(), index, endpos)
            if found is None:
                pos = m.start() + 1
                continue
            out.append(found)
            pos = max(found.end, m.start() + 1)

    def _fallback(self, text: str, position: int, failed: int, endpos: int) -> Match | None:
        """A candidate failed its check; a later recogniser may still match at the same place."""
        for rec in self.recognisers[failed + 1 :]:
            m = rec.pattern.match(text, position, endpos)
            if m is not None:
                found = _accept(text, rec, *m.span(rec.group if rec.group == "V" else 0))
                if found is not None:
                    return found
        return None


def _accept(text: str, rec: _Recogniser, start: int, end: int) -> Match | None:
    if start == end:
        return None
    if rec.validate is not None:
        checked = rec.validate(text, start, end)
        if checked is None:
            return None
        end = checked
    return Match(rec.kind, start, end, text[start:end])


class Redactor:
    """Finds and masks PII and secrets. Build once and reuse: construction compiles the patterns.

    `custom_patterns` maps a placeholder name to a regex, e.g. {"NAME": r"\\bJane Doe\\b"} masks
    with <NAME_1>. Custom patterns run on every text, ahead of the built-in ones."""

    def __init__(self, custom_patterns: dict[str, str] | None = None) -> None:
        specs: list[tuple[str, str, Validator | None, Any, int]] = []
        for name, pattern in (custom_patterns or {}).items():
            kind = name.upper()
            if not _CUSTOM_NAME.match(kind):
                raise ValueError(f"custom pattern name must be letters, digits and _: {name!r}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"custom pattern {name!r} is not a valid regex: {exc}") from None
            specs.append((kind, pattern, None, None, 0))  # the user's own regex keeps Unicode classes
        specs.extend((*spec, re.ASCII) for spec in _RECOGNISERS)
        recs = [
            _Recogniser(kind, "V" if "(?P<V>" in pattern else "", re.compile(pattern, flags), validate, gate)
            for kind, pattern, validate, gate, flags in specs
        ]
        self._prefilter = Prefilter([rec.pattern for rec in recs])
        self._main = [(i, r) for i, r in enumerate(recs) if r.gate != _DIGITS]
        self._numeric_ids = frozenset(i for i, r in enumerate(recs) if r.gate == _DIGITS)
        self._numeric = _Scanner([r for r in recs if r.gate == _DIGITS])
        self._scanners: dict[tuple[int, ...], _Scanner] = {}

    def _main_scanner(self, text: str, candidates: frozenset[int]) -> _Scanner | None:
        active = tuple(i for i, rec in self._main if i in candidates and _gate_open(rec.gate, text))
        if not active:
            return None
        scanner = self._scanners.get(active)
        if scanner is None:
            scanner = self._scanners[active] = _Scanner([rec for i, rec in self._main if i in active])
        return scanner

    def find(self, text: str) -> list[Match]:
        """Every PII or secret value in `text`, left to right, never overlapping."""
        if not text:
            return []
        candidates = self._prefilter.candidates(text)
        if not candidates:
            return []
        found: list[Match] = []
        main = self._main_scanner(text, candidates)
        if main is not None:
            main.scan(text, 0, len(text), found)
        numeric: list[Match] = []
        for region in _NUMERIC_REGION.finditer(text) if candidates & self._numeric_ids else ():
            self._numeric.scan(
                text,
                max(0, region.start() - _REGION_BEFORE),
                min(len(text), region.end() + _REGION_AFTER),
                numeric,
            )
        if not numeric:
            return found
        # Regions overlap by their context characters; a value can be found twice.
        merged = sorted(set(found) | set(numeric), key=lambda m: (m.start, -(m.end - m.start)))
        result: list[Match] = []
        last_end = 0
        for match in merged:
            if match.start >= last_end:
                result.append(match)
                last_end = match.end
        return result

    def redact(self, text: str, context: RedactionContext | None = None) -> str:
        """`text` with every match replaced by its placeholder. Pass one context per trace so a
        value keeps its placeholder across all the trace's texts."""
        if not text:
            return text
        matches = self.find(text)
        if not matches:
            return text
        ctx = context if context is not None else RedactionContext()
        pieces: list[str] = []
        last = 0
        for match in matches:
            pieces.append(text[last : match.start])
            pieces.append(ctx.placeholder(match.kind, match.value))
            last = match.end
        pieces.append(text[last:])
        return "".join(pieces)

    def redact_value(self, value: Any, context: RedactionContext | None = None) -> Any:
        """Redact every string inside a JSON-like value (dict keys are left alone)."""
        ctx = context if context is not None else RedactionContext()
        if isinstance(value, str):
            return self.redact(value, ctx)
        if isinstance(value, dict):
            return {k: self.redact_value(v, ctx) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_value(v, ctx) for v in value]
        return value


def _gate_open(gate: Any, text: str) -> bool:
    if gate is None:
        return True
    if isinstance(gate, tuple):
        return any(trigger in text for trigger in gate)
    return gate.search(text) is not None


def strip_placeholder_numbers(text: str) -> str:
    """"<EMAIL_2>" becomes "<EMAIL>", for comparing texts across traces."""
    return _PLACEHOLDER.sub(r"<\1>", text)
