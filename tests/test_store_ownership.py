"""Only `investigator/store/` touches the database: every other module calls its named methods."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_CALLS = {"execute", "executemany", "executescript", "connect"}


def _sql_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if node.func.attr != "connect" or name == "sqlite3":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()")
    return found


def test_no_module_outside_the_store_package_executes_sql() -> None:
    modules = [p for folder in ("investigator", "tools") for p in (ROOT / folder).rglob("*.py")]
    outside = [p for p in modules if "investigator/store" not in p.as_posix()]
    assert len(outside) > 50
    offenders = [call for path in outside for call in _sql_calls(path)]
    assert offenders == []
    assert _sql_calls(ROOT / "investigator" / "store" / "runs.py")  # the check sees SQL where it is


def test_every_package_of_the_checkout_is_in_the_installed_distribution() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            if "node_modules" not in parts and not any(p.startswith(".") for p in parts):
                found.add(".".join((name, *parts)))
    assert "investigator.store" in found
    assert sorted(found - set(config["packages"])) == []  # a package left out would be missing once installed
