"""Commands over analysis runs: clusters."""

from __future__ import annotations

import click
from rich.table import Table

from investigator.cli import main
from investigator.cli.common import db_option, emit_json, fail, open_store, out


@main.command()
@click.option("--run", "run_id", default=None, help="A run id; default: the latest run.")
@click.option("--new", "fresh", is_flag=True, help="Cluster the stored traces now, as a new run.")
@click.option("--min-cluster-size", type=int, default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per cluster.")
@db_option
def clusters(run_id: str | None, fresh: bool, min_cluster_size: int, as_json: bool, db_path: str | None) -> None:
    """List the failure clusters of a run (clustering the store now when there is no run yet)."""
    from investigator.clustering import ClusterSettings
    from investigator.runs import cluster_window, finish_run, get_run, load_clusters, save_clusters, start_run

    store = open_store(db_path)
    run = None if fresh else get_run(store, run_id)
    if run_id and run is None:
        fail(f"no run {run_id!r} in {store.path}")
    if run is None:
        settings = ClusterSettings(min_cluster_size=min_cluster_size)
        run = start_run(store, None, None, {"stage": "clusters", "min_cluster_size": min_cluster_size})
        found, population, suspects = cluster_window(store, settings=settings)
        save_clusters(store, run.id, found)
        finish_run(store, run, "completed", {"traces": population, "suspects": suspects,
                                             "clusters": sum(not c.noise for c in found)})  # fmt: skip
    found = load_clusters(store, run.id)
    if as_json:
        for cluster in found:
            emit_json({"run_id": run.id, **cluster.as_dict()})
        return
    table = Table("cluster", "size", "prevalence", "impact", "categories", "keywords", "top cohort",
                  title=f"{run.id}: {run.counts.get('suspects', '?')} suspect traces of {run.counts.get('traces', '?')}")  # fmt: skip
    for cluster in found:
        categories = ", ".join(f"{k} ({v})" for k, v in list(cluster.categories.items())[:2])
        cohort = cluster.cohorts[0] if cluster.cohorts else None
        table.add_row(
            cluster.id, str(cluster.size), f"{cluster.prevalence:.1%}", f"{cluster.impact_score:.4f}",
            categories, " ".join(cluster.keywords[:5]),
            f"{cohort.dimension}={cohort.value} ×{cohort.lift:.1f}" if cohort else "",
        )
    out.print(table)
