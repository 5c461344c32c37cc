"""Ingest adapters, one module per export format (see registry.py), and the pipeline that runs them."""
