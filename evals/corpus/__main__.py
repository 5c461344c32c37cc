"""Command line: `python -m investigator.evals.corpus --seed 7 --traces 500 --out DIR [--variant renamed]`."""

from __future__ import annotations

import click

from .generate import generate
from .vocab import VARIANTS


@click.command()
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; same seed, same bytes.")
@click.option("--traces", type=int, default=500, show_default=True, help="Number of traces to generate.")
@click.option("--out", type=click.Path(file_okay=False), default="demo-corpus", show_default=True,
              help="Directory to write into (relative to the current one); never the shipped data unless named.")
@click.option("--variant", type=click.Choice(sorted(VARIANTS)), default="default", show_default=True,
              help="'renamed' writes the held-out corpus: other names and wording, same faults.")
def main(seed: int, traces: int, out: str, variant: str) -> None:
    """Write a labelled trace dataset (traces/, truth.jsonl, labels.jsonl, manifest.json)."""
    manifest = generate(seed=seed, traces=traces, out=out, variant=variant)
    faulty = manifest["trace_count"] - manifest["families"].get("clean", 0)
    click.echo(f"wrote {manifest['trace_count']} traces ({faulty} with injected faults, "
               f"{len(manifest['families']) - 1} fault families) to {out}")


if __name__ == "__main__":
    main()
