"""An HTTP server on a free loopback port, serving from a thread for the length of a `with` block:
the stand-in for the services the real SDKs under test talk to (the framework corpus's scripted
model is one)."""

from investigator.evals.frameworks.model_server import LoopbackServer

__all__ = ["LoopbackServer"]
