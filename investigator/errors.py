"""Every error the investigator raises on purpose, in one place: each says what is wrong and, where
it can, the file, line and field, or what to do instead."""

from __future__ import annotations

from http import HTTPStatus


class InputError(Exception):
    """A path that cannot be read at all (missing, unreadable, not a trace file)."""


class RecordError(ValueError):
    """Raised inside an adapter when a record cannot be normalised; the message is the reason."""


class ProtobufError(ValueError):
    """The bytes are not an OTLP ExportTraceServiceRequest."""


class InspectError(ValueError):
    """The text is not `util.inspect` output; the message names the line and column."""


class TaxonomyError(ValueError):
    """A taxonomy file is malformed or inconsistent; the message says where."""


class DatasetError(ValueError):
    """The dataset directory is missing a part or a truth row is malformed."""


class EmbeddingsUnavailable(RuntimeError):
    """Sentence embeddings were asked for but their package is not installed."""


class RequestError(Exception):
    """A request that is answered with an error: its HTTP status, the reason, extra headers, and
    whether the connection must close (when the body was not read, so it cannot be skipped)."""

    def __init__(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.close = close


class ToolError(Exception):
    """A tool cannot do what was asked; the message tells the model what to do instead."""


class ProviderError(Exception):
    """A model call failed for good; the message is meant for the user."""


class TransientProviderError(ProviderError):
    """A failure worth retrying: rate limit, server error, timeout, dropped connection.

    Providers raise it; `generate` retries it and, once attempts run out, re-raises a plain
    `ProviderError`. `retry_after` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
