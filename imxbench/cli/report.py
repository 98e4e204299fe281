"""`imxbench report`: a run's page (or several runs', merged) in every format."""

from __future__ import annotations

from pathlib import Path

import click

from imxbench.report.formats import COMPARISON_FORMATS, REPORT_FORMATS, formats_help


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
    help="Output file (html default: <run>/report.html, for two RUNs "
    "<reports>/compare-A-B/index.html; other formats: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(REPORT_FORMATS)),
    default="html",
    show_default=True,
    help=f"{formats_help(REPORT_FORMATS)} (all but html on stdout unless --out); two RUNs: "
    f"{', '.join(COMPARISON_FORMATS)}.",
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
@click.option(
    "--matrix",
    is_flag=True,
    help="One model matrix page (HTML) over RUNs, one run per model, or over a model matrix "
    "directory: rows models, columns board x delegate, then each model's facts.",
)
def report(
    runs: tuple[str, ...],
    reports_dir: Path,
    out: Path | None,
    fmt: str,
    merge: bool,
    night: str | None,
    matrix: bool,
) -> None:
    """Write the report of RUN (default: the newest run); two RUNs A B: a comparison page of
    B against A (neither run's own page changes); --merge / --night: several runs (nightly
    shards) as one page. RUN: a run id, a unique prefix of one, `latest`, or a directory.

    \b
    Examples:
      imxbench report                      # the newest run's report.html
      imxbench report 20261204-0210 latest  # a comparison page of two runs
      imxbench report latest --format markdown > comment.md
      imxbench report --matrix RUN_A RUN_B # models x boards x delegates, one page
    """
    from imxbench.report.build import load_report, render, resolve_runs, write_report

    if matrix:
        _matrix(runs, reports_dir, out, fmt)
        return

    if len(runs) == 2 and not (merge or night):
        _compare(resolve_runs(runs, reports_dir), out, fmt)
        return
    if merge or night:
        from imxbench.report.merge import merge_runs, night_runs

        found = night_runs(reports_dir, night) if night else resolve_runs(runs, reports_dir)
        data = merge_runs(found, night=night)
        if fmt == "html" and out is None:
            out = data.run.path / "report.html"
    else:
        data = load_report(resolve_runs(runs, reports_dir))
    if fmt != "html" and out is None:
        text = render(data, fmt)
        if fmt == "markdown":  # read on a terminal; csv and json are data
            from imxbench.cli.output import echo

            echo(text, nl=False)
        else:
            click.echo(text, nl=False)
        return
    from imxbench.cli.options import writable_dir

    if out is not None:
        writable_dir(out.parent, "--out")
    else:  # <run>/report.html, and the reports directory's index.html
        writable_dir(data.run.path, "the run directory")
        writable_dir(data.run.path.parent, "--reports")
    click.echo(f"report: {write_report(data, fmt, out)}")


def _matrix(runs: tuple[str, ...], reports_dir: Path, out: Path | None, fmt: str) -> None:
    from imxbench.cli.options import writable_dir
    from imxbench.report.matrix import MATRIX_PAGE, resolve_matrix, write_matrix_report

    if fmt != "html":
        raise click.UsageError("--matrix writes an HTML page only (--format html)")
    found, out_dir = resolve_matrix(runs, reports_dir)
    out_dir = out.parent if out is not None else out_dir
    writable_dir(out_dir, "--out" if out is not None else "--reports")
    page = write_matrix_report(found, out_dir, out.name if out is not None else MATRIX_PAGE)
    click.echo(f"report: {page}")


def _compare(found: list[Path], out: Path | None, fmt: str) -> None:
    from imxbench.report.compare import load_comparison, render_comparison, write_comparison

    data = load_comparison(found[0], found[1])
    if fmt != "html" and out is None:
        click.echo(render_comparison(data, fmt), nl=False)
        return
    from imxbench.cli.options import writable_dir

    if out is not None:
        writable_dir(out.parent, "--out")
    else:
        writable_dir(data.b.run.path.parent, "--reports")
    click.echo(f"report: {write_comparison(data, fmt, out)}")
