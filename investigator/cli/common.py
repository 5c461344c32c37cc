"""What every command shares: the store option, error exit, JSON output and the consoles."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import orjson
from rich.console import Console

from investigator.store import Store, default_db_path

err = Console(stderr=True, soft_wrap=True)  # never wrap a message inside a path or id
# Piped output gets a fixed width wide enough for the tables, instead of rich's 80 columns, unless
# $COLUMNS says how wide to be.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140)


class Moment(click.ParamType):
    """A time on the command line, as an ISO-8601 string: a timestamp (2025-03-01T09:00:00Z, or
    epoch seconds), or a duration back from now (30m, 1h, 7d, 2w). A bad value is a usage error."""

    name = "time"
    _DURATION = re.compile(r"(\d+)([smhdw])")
    _UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from investigator.timefmt import to_iso

        text = str(value).strip()
        duration = self._DURATION.fullmatch(text)
        if duration:
            back = timedelta(**{self._UNITS[duration[2]]: int(duration[1])})
            return to_iso(datetime.now(UTC) - back)
        try:
            moment = to_iso(text)
        except ValueError:
            moment = None
        if moment is None:
            self.fail(f"{text!r} is not a time: give ISO-8601 (2025-03-01T09:00:00Z) or a duration back from now"
                      " (30m, 1h, 7d, 2w)", param, ctx)
        return moment


TIME = Moment()
since_option = click.option(
    "--since", type=TIME, default=None, help="Only traces starting at or after this time (ISO-8601, or 30m, 1h, 7d)."
)


no_redact_option = click.option(
    "--no-redact", "no_redact", is_flag=True,
    help="Show personal data and secrets as the traces hold them (masked by default).",
)


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db_path",
        default=None,
        metavar="PATH",
        help="The store (SQLite file). Default: $INVESTIGATOR_DB, else ./investigator.db.",
    )(func)


def open_store(db_path: str | None) -> Store:
    return Store(db_path or default_db_path())


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    sys.exit(2)


def emit_json(value: Any) -> None:
    click.echo(orjson.dumps(value, default=str).decode())


