"""The trace investigator: recurring failures in LLM-agent traces, as ranked, trace-cited findings."""

__version__ = "0.1.0"
