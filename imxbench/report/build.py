"""`imxbench report`: run directories → one self-contained HTML page (or Markdown, CSV, JSON).

The pipeline: report_data/report_history (load) → report_charts (SVG) → report_view (display
strings) → report_render (Jinja2). One run is reported against the history of its reports
directory (the earlier runs of the same model); given several runs, the last is reported and the
others are its history (a comparison).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imxbench.errors import ConfigError
from imxbench.report.charts import build_charts
from imxbench.report.data import ReportData, is_run_dir, load_meta, load_run
from imxbench.report.formats import report_format
from imxbench.report.history import history_for, run_dirs
from imxbench.report.index import write_index
from imxbench.report.model_facts import keep_model_facts
from imxbench.report.render import render_html, render_markdown
from imxbench.report.view import build_view
from imxbench.rundir import atomic


def resolve_runs(names: Sequence[str], reports_dir: Path) -> list[Path]:
    """Each name a run directory, or under `reports_dir` a run id, a unique prefix of one, or
    `latest` (the rule of history/store.py's resolve_run, over run directories); no name: the
    newest run."""
    if not names:
        return [newest_run(reports_dir)]
    return [resolve_run(name, reports_dir) for name in names]


def newest_run(reports_dir: Path) -> Path:
    runs = sorted(run_dirs(reports_dir), key=lambda p: _started_key(p))
    if not runs:
        raise ConfigError(
            f"{reports_dir}: no runs here",
            "run `imxbench run --board imx8mp --emulate` first, or pass --reports DIR",
        )
    return runs[-1]


def resolve_run(name: str, reports_dir: Path) -> Path:
    """One run: a run directory, `latest`, a run id under `reports_dir`, or a unique prefix."""
    path = Path(name)
    if is_run_dir(path):
        return path
    if name == "latest":
        return newest_run(reports_dir)
    if "/" not in name and is_run_dir(reports_dir / name):
        return reports_dir / name
    matches = [p for p in run_dirs(reports_dir) if name and p.name.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(
            f"{name}: not a run id under {reports_dir} nor a run directory",
            "name a run by its id, a unique prefix of it, or latest",
        )
    listed = ", ".join(p.name for p in matches[:5])
    raise ConfigError(f"{reports_dir}: {name!r} matches {len(matches)} runs: {listed}")


def _started_key(run_dir: Path) -> tuple[str, str]:
    try:
        return (load_meta(run_dir).started or "", run_dir.name)
    except ConfigError:
        return ("", run_dir.name)


def load_report(runs: Sequence[Path], history_limit: int | None = None) -> ReportData:
    """The last of `runs`, with the others as its history (or, for one run, the earlier runs
    of its reports directory)."""
    current = runs[-1]
    meta = load_meta(current)
    candidates = runs[:-1] if len(runs) > 1 else run_dirs(current.parent)
    return load_run(current, history_for(meta, candidates, limit=history_limit))


def render(data: ReportData, fmt: str) -> str:
    """The report in format `fmt` (report/formats.py REPORT_FORMATS)."""
    return report_format(fmt).write(data)


def html_page(data: ReportData) -> str:
    """The report page: data -> charts -> view -> template."""
    return render_html(build_view(data, build_charts(data)))


def markdown_page(data: ReportData) -> str:
    """The report for a CI comment: the page's view without its charts."""
    return render_markdown(build_view(data, {}))


def write_report(data: ReportData, fmt: str = "html", out: Path | None = None) -> Path:
    """Write the report (default: in the run directory, under its format's file name) and,
    for HTML written into a run directory, refresh the reports directory's index.html."""
    chosen = report_format(fmt)
    path = out or data.run.path / chosen.file_name
    atomic.write_text(path, chosen.write(data))
    if fmt == "html" and path.parent.resolve() == data.run.path.resolve():
        write_index(data.run.path.parent)
    return path


def write_run_report(run_dir: Path) -> Path:
    """`reports/<run-id>/report.html` plus `reports/index.html`: what `run` and `nightly` call
    at their end (and `model.json`, the model's facts, while the model file is at hand).
    Raises like any report; callers keep their results regardless."""
    keep_model_facts(run_dir)
    return write_report(load_report([run_dir]))


def warm_up() -> None:
    """Pay the report's one-time costs ahead, e.g. in a thread while the boards work (job.py's
    preload): matplotlib's (report_svg.warm_up) and compiling the templates. Changes nothing
    but caches."""
    from imxbench.report.render import html_environment
    from imxbench.report.svg import warm_up as warm_up_charts

    warm_up_charts()
    for template in ("report.html.j2", "index.html.j2"):
        html_environment().get_template(template)
