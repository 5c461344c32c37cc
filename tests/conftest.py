"""Shared fixtures. Every test runs with no network beyond loopback: a test that tries to reach
a real provider (or anything else off this machine) fails."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from checkout import use_this_checkout

DATA = Path(__file__).parent / "data"


use_this_checkout()


def _is_local(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # unix sockets
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str) and host not in ("localhost",) and not _is_local((host,)):
            raise RuntimeError(f"test tried to resolve a network host: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def store(tmp_path: Path):
    from investigator.store import Store

    s = Store(tmp_path / "store.db")
    yield s
    s.close()


_PROVIDER_HOSTS = ("api.openai.com", "api.anthropic.com")
_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"CONNECT ")


def _provider_host_in_request(data: bytes) -> str | None:
    """The real provider host a plaintext HTTP request (or proxy CONNECT) is addressed to, if any:
    looks at the request line (CONNECT target or absolute URI) and the Host header only."""
    if not data.startswith(_HTTP_METHODS):
        return None
    head = bytes(data[:4096]).split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    lines = head.split("\r\n")
    targets = [lines[0].split(" ")[1] if " " in lines[0] else ""]
    targets += [line.split(":", 1)[1].strip() for line in lines[1:] if line.startswith("host:")]
    for target in targets:
        for host in _PROVIDER_HOSTS:
            if host in target:
                return host
    return None


@pytest.fixture(autouse=True)
def no_real_provider(monkeypatch: pytest.MonkeyPatch):
    """Fails any test that addresses a real LLM provider, directly (name lookup) or through an
    HTTP proxy (the CONNECT line or Host header sent to a loopback proxy). SDKs wrap connection
    errors and may retry them, so the attempt is also remembered and fails the test at teardown."""
    attempts: list[str] = []
    real_send = socket.socket.send
    real_sendall = socket.socket.sendall
    real_getaddrinfo = socket.getaddrinfo

    def check(data: object) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            host = _provider_host_in_request(bytes(data[:4096]))
            if host:
                attempts.append(host)
                raise RuntimeError(f"test tried to reach a real LLM provider: {host}")

    def guarded_send(self: socket.socket, data: bytes, *args: object) -> int:
        check(data)
        return real_send(self, data, *args)

    def guarded_sendall(self: socket.socket, data: bytes, *args: object) -> None:
        check(data)
        return real_sendall(self, data, *args)

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str) and host.lower().rstrip(".") in _PROVIDER_HOSTS:
            attempts.append(host)
            raise RuntimeError(f"test tried to reach a real LLM provider: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "send", guarded_send)
    monkeypatch.setattr(socket.socket, "sendall", guarded_sendall)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    if attempts:
        pytest.fail(f"test tried to reach a real LLM provider: {', '.join(sorted(set(attempts)))}")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped demo corpus ingested and analysed by the rules layer, once per session."""
    from investigator.ingest.pipeline import ingest_paths
    from investigator.rules import run_rules
    from investigator.store import Store

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with Store(path) as s:
        ingest_paths(s, [str(Path(__file__).parents[1] / "evals" / "data" / "demo" / "traces")])
        run_rules(s)
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def demo_store(demo_db: Path, tmp_path: Path):
    """A private copy of the analysed demo store."""
    import shutil

    from investigator.store import Store

    copy = tmp_path / "demo.db"
    shutil.copy(demo_db, copy)
    s = Store(copy)
    yield s
    s.close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """The fake provider server on loopback, with the OpenAI and Anthropic clients pointed at it."""
    import fake_llm_server as fake

    from investigator.providers.base import BREAKER

    BREAKER.reset()
    with fake.FakeLLMServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{srv.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-test-key")
        yield srv
    BREAKER.reset()
