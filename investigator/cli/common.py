"""What every command shares: the store option, error exit, JSON output and the consoles."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import orjson
from rich.console import Console

from investigator.store import Store, default_db_path

err = Console(stderr=True, soft_wrap=True)  # never wrap a message inside a path or id
# Piped output gets a fixed width wide enough for the tables, instead of rich's 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)


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


