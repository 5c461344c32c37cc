"""The default taxonomy ships as data, follows aliases, and can be extended or replaced."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from investigator.taxonomy import TaxonomyError, default_taxonomy, load_taxonomy, unknown_codes

TAXONOMY_MD = Path(__file__).resolve().parents[1].parent / "shared" / "TAXONOMY.md"


def test_default_taxonomy_has_every_category_and_the_documented_codes() -> None:
    tax = default_taxonomy()
    assert sorted(tax.categories) == ["execution", "planning", "reasoning", "recovery", "safety"]
    assert len(tax.codes) == 33
    assert tax.in_category("recovery") == ["recovery.failed_recovery", "recovery.ignored_error", "recovery.no_self_correction"]
    assert tax.get("execution.rate_limited").meaning == "throttled: HTTP 429, quota exceeded"


@pytest.mark.skipif(not TAXONOMY_MD.exists(), reason="product contract not in this checkout")
def test_default_taxonomy_matches_the_product_contract() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", TAXONOMY_MD.read_text(), re.MULTILINE))
    assert documented == set(default_taxonomy().codes)


def test_severities_and_weights_follow_the_contract() -> None:
    tax = default_taxonomy()
    assert tax.severity_weights == {"critical": 4, "high": 3, "medium": 2, "low": 1}
    assert tax.severity("safety.secret_exposure") == "critical"
    assert tax.weight(tax.severity("planning.redundant_steps")) == 2


def test_aliases_resolve_to_live_codes() -> None:
    tax = default_taxonomy()
    assert tax.resolve("planning.loop") == "planning.redundant_steps"
    assert "safety.pii_leak" in tax
    with pytest.raises(KeyError):
        tax.resolve("execution.gremlins")
    assert unknown_codes(["execution.timeout", "execution.gremlins"]) == ["execution.gremlins"]


def test_user_file_extends_the_default(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps({
        "name": "acme",
        "categories": {"billing": "money moved or charged wrongly"},
        "codes": [{"code": "billing.double_charge", "meaning": "charged the customer twice", "severity": "critical"},
                  {"code": "execution.timeout", "meaning": "a call ran past its deadline", "severity": "high"}],
        "aliases": {"billing.duplicate_charge": "billing.double_charge"},
    }))
    tax = load_taxonomy(path)
    assert tax.severity("billing.double_charge") == "critical"
    assert tax.severity("execution.timeout") == "high"
    assert tax.resolve("billing.duplicate_charge") == "billing.double_charge"
    assert "safety.pii_exposure" in tax


def test_user_file_can_replace_the_default(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps({
        "mode": "replace",
        "categories": {"ops": "operations"},
        "codes": [{"code": "ops.outage", "meaning": "a dependency was down", "severity": "high"}],
    }))
    tax = load_taxonomy(path)
    assert list(tax.codes) == ["ops.outage"]
    assert "execution.timeout" not in tax


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"codes": [{"code": "Billing-Double", "meaning": "x"}]}, "lower snake case"),
        ({"codes": [{"code": "billing.double", "meaning": "x"}]}, "unknown category"),
        ({"aliases": {"a.b": "execution.nope"}}, "unknown code"),
        ({"unexpected": 1}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_user_file_is_rejected_with_the_reason(tmp_path: Path, content: dict, message: str) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(content))
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(path)
