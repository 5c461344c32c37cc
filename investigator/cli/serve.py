"""`investigator serve`: receive OTLP/HTTP traces straight into the store."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time

import click

from investigator.cli.common import db_option, fail, out
from investigator.store import default_db_path

PROGRESS_SPANS = 1000  # a progress line after this many more spans,
PROGRESS_SECONDS = 60  # or after this long, when spans arrived meanwhile


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=click.IntRange(0, 65535), default=4318, show_default=True, help="0: any free port.")
@click.option("--max-body-mb", type=click.IntRange(min=1), default=16, show_default=True,
              help="Largest request body, after decompression, in MiB; a larger one is refused (413).")
@db_option
def serve(host: str, port: int, max_body_mb: int, db_path: str | None) -> None:
    """Receive traces over OTLP/HTTP (protobuf or JSON, gzip ok) into the store until Ctrl-C.

    Point an app at it with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://HOST:PORT/v1/traces.
    Ctrl-C (or SIGTERM) stops accepting, writes everything accepted, and prints the totals.
    """
    from investigator.receiver import Receiver

    db = db_path or default_db_path()
    try:
        receiver = Receiver(db, host, port, max_body=max_body_mb * 1024 * 1024)
    except (OSError, sqlite3.Error) as exc:
        fail(f"cannot serve on {host}:{port} into {db}: {exc}")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        receiver.start()
        out.print(f"listening on {receiver.url} (OTLP/HTTP, protobuf or JSON) into {db}", markup=False)
        out.print(f"export with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={receiver.url}; Ctrl-C stops", markup=False)
        shown, shown_at = 0, time.monotonic()
        while not stop.wait(1.0):
            stats = receiver.stats()
            due = time.monotonic() - shown_at >= PROGRESS_SECONDS
            if stats.spans - shown >= PROGRESS_SPANS or (due and stats.spans > shown):
                out.print(f"{time.strftime('%H:%M:%S')} {stats.summary()}", markup=False)
                shown, shown_at = stats.spans, time.monotonic()
    finally:
        for sig, handler in previous.items():  # a second Ctrl-C interrupts the drain
            signal.signal(sig, handler)
        out.print("stopping: writing what was accepted…", markup=False)
        receiver.stop()
    stats = receiver.stats()
    out.print(f"stopped; received {stats.summary()}", markup=False)
    if stats.quarantined:
        out.print("see them with: investigator quarantine list", markup=False)
