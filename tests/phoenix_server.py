"""A real Phoenix server (`phoenix serve`, arize-phoenix) on a free loopback port, for the tests of
Phoenix as a source. Phoenix pins versions of packages this project also uses, so it lives in a
virtualenv of its own, which the test command creates (`.venv-phoenix`); `$PHOENIX_BIN` may name
another `phoenix` executable."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "python3 -m venv .venv-phoenix && .venv-phoenix/bin/pip install -q arize-phoenix"


def phoenix_bin() -> Path | None:
    given = os.environ.get("PHOENIX_BIN")
    path = Path(given) if given else ROOT / ".venv-phoenix" / "bin" / "phoenix"
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def phoenix_server(working_dir: Path, timeout_s: float = 180.0) -> Iterator[str]:
    """`phoenix serve` with its own database in `working_dir`; yields its base URL."""
    executable = phoenix_bin()
    assert executable is not None, f"no phoenix executable; install it with: {INSTALL}"
    port, grpc_port = _free_port(), _free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(working_dir), "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(grpc_port), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "1"}
    log = open(working_dir / "phoenix.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([str(executable), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1/projects", timeout=5) as response:
                    orjson.loads(response.read())
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    said = (working_dir / "phoenix.log").read_text()[-2000:]
                    raise RuntimeError(f"phoenix serve did not start: {said}") from None
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def span_count(base: str, project: str) -> int:
    """How many spans Phoenix has stored for the project (it stores what it receives asynchronously)."""
    count, cursor = 0, None
    while True:
        query = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
        try:
            with urllib.request.urlopen(f"{base}/v1/projects/{project}/spans?{query}", timeout=10) as response:
                page = orjson.loads(response.read())
        except urllib.error.HTTPError:
            return 0  # the project does not exist yet
        count += len(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def wait_for_spans(base: str, project: str, expected: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while span_count(base, project) < expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"Phoenix stored {span_count(base, project)} of {expected} spans in {project}")
        time.sleep(0.3)
