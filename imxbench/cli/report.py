"""`imxbench report`: a run's page (or several runs', merged) in every format."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("runs", nargs=-1)
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where the runs are (RUN may be a run id there, or a run directory).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file (html default: <run>/report.html; other formats: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown", "csv", "json"]),
    default="html",
    show_default=True,
)
@click.option(
    "--merge",
    is_flag=True,
    help="One page over all RUNs (e.g. the shards of a nightly) instead of a comparison.",
)
@click.option(
    "--night",
    help="Merge the nightly runs recorded with `nightly --night NIGHT` under --reports.",
)
def report(
    runs: tuple[str, ...],
    reports_dir: Path,
    out: Path | None,
    fmt: str,
    merge: bool,
    night: str | None,
) -> None:
    """Write the report of RUN (default: the newest run); several RUNs: the last compared
    with the others; --merge / --night: several runs (nightly shards) as one page."""
    from imxbench.report.build import load_report, render, resolve_runs, write_report

    if merge or night:
        from imxbench.report.merge import merge_runs, night_runs

        found = night_runs(reports_dir, night) if night else resolve_runs(runs, reports_dir)
        data = merge_runs(found, night=night)
        if fmt == "html" and out is None:
            out = data.run.path / "report.html"
    else:
        data = load_report(resolve_runs(runs, reports_dir))
    if fmt != "html" and out is None:
        click.echo(render(data, fmt), nl=False)
        return
    click.echo(f"report: {write_report(data, fmt, out)}")
