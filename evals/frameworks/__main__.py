"""Command line:
`python -m investigator.evals.frameworks --out DIR [--seed 7] [--variants 2] [--framework NAME] [--gzip]`."""

from __future__ import annotations

import click

from .generate import FRAMEWORKS, generate


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="frameworks-corpus",
    show_default=True,
    help="Directory to write traces/, truth.jsonl and manifest.json into.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed for the scenarios' variants.")
@click.option(
    "--variants",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Runs of each scenario, each with other names, ids and values.",
)
@click.option(
    "--framework",
    "frameworks",
    multiple=True,
    type=click.Choice(sorted(FRAMEWORKS)),
    help="Only these frameworks (repeatable); default: every one whose packages are installed.",
)
@click.option("--gzip", "compress", is_flag=True, help="Write the trace files gzipped (.jsonl.gz).")
def main(out: str, seed: int, variants: int, frameworks: tuple[str, ...], compress: bool) -> None:
    """Run real agent frameworks offline on scripted models and write the labelled dataset."""
    manifest = generate(out, seed=seed, variants=variants, frameworks=frameworks or None, compress=compress)
    for name, reason in manifest["skipped"].items():
        click.echo(f"skipped {name}: {reason}", err=True)
    counts = manifest["outcomes"]
    click.echo(
        f"wrote {manifest['runs']} runs ({counts.get('clean', 0)} clean, {counts.get('recovered', 0)} recovered,"
        f" {counts.get('faulty', 0)} faulty) from {len(manifest['frameworks'])} frameworks to {out}"
    )


if __name__ == "__main__":
    main()
