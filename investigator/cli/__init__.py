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


def _register() -> None:
    """Every command and group, in the order `--help` lists them (alphabetical)."""
    from investigator.cli import analysis, data, history, rules, serve

    for command in (
        analysis.clusters, rules.detect, analysis.diff, rules.evaluate, rules.export, analysis.findings,
        data.ingest, data.labels, history.promote, data.quarantine, history.queue, history.review,
        history.reviews, analysis.run, history.schedule, serve.serve, analysis.show, data.traces,
    ):
        main.add_command(command)


_register()

__all__ = ["main"]
