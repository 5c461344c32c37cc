"""A labelled corpus written by real agent frameworks through their real instrumentation.

Each module here drives one framework's own agent loop against `model_server.ScriptedModel` (a
scripted model on loopback speaking OpenAI's wire format) with real tools, records the spans its
instrumentation writes, and states by construction where each planted fault was authored and
where it surfaced. `python -m investigator.evals.frameworks --out DIR` writes the dataset that
`investigator eval DIR` scores.
"""
