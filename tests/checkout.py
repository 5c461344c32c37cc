"""The suite tests the code beside it, whatever is installed (another checkout's editable
install, a wheel): the mutation harness runs it in copies of the tree. Subprocesses a test starts
call `use_this_checkout()` too (`python -c "import sys; sys.path.insert(0, TESTS); ..."`)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


class _CheckoutFinder(importlib.machinery.PathFinder):
    """Imports the packages pyproject.toml maps to folders (investigator/, and tools/, prompts/,
    evals/ installed inside it) from this checkout, ahead of whatever is installed."""

    def __init__(self, packages: dict[str, Path]) -> None:
        self.packages = packages

    def find_spec(self, fullname: str, path: object = None, target: object = None):  # type: ignore[override]
        folder = self.packages.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


def use_this_checkout() -> None:
    """Import the project from this checkout from now on (before anything imported it)."""
    if any(isinstance(finder, _CheckoutFinder) for finder in sys.meta_path):
        return
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    packages = {name: ROOT / folder for name, folder in mapping.items()}
    loaded = [m for m in packages if m in sys.modules and not sys.modules[m].__file__.startswith(str(packages[m]))]
    if loaded:
        raise RuntimeError(f"imported from outside this checkout before the tests began: {loaded}")
    sys.path.insert(0, str(ROOT))  # worker processes the tests spawn import from here too
    sys.meta_path.insert(0, _CheckoutFinder(packages))


def python_here(code: str) -> list[str]:
    """A command running `code` in a new interpreter that imports this checkout."""
    return [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import checkout; checkout.use_this_checkout()\n{code}",
    ]
