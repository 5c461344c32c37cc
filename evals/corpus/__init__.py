"""Labelled trace corpus: realistic agent runs in every supported export format, with injected
faults and their ground truth. `python -m investigator.evals.corpus --seed 7 --traces 500
--out DIR` writes the demo dataset (shipped as evals/data/demo); `--variant renamed` the held-out one."""

from .generate import generate

__all__ = ["generate"]
