"""The `investigator` command line.

Exit codes: 0 ok, 1 findings at or above `--fail-on`, 2 usage or input error.
"""

from __future__ import annotations

import click

from investigator import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="investigator")
def main() -> None:
    """Find the failures that recur across your LLM agents' traces."""




from investigator.cli import analysis, data, history, rules, serve  # noqa: E402  (commands register on `main`)

__all__ = ["main", "analysis", "data", "history", "rules", "serve"]
