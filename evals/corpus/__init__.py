"""Labelled trace corpus: realistic agent runs in every supported export format, with injected
faults and their ground truth. `python -m investigator.evals.corpus --seed 7 --traces 500
--out evals/data/demo` writes the demo dataset; `--variant renamed` the held-out one."""

from .generate import generate

__all__ = ["generate"]
