"""The output formats, in one registry: each a name, the file it is written to, its media type
and its writer. `imxbench report --format`, the page `run` and `nightly` write at their end,
the nightly's junit.xml and summary.md, and `report A B` all look their format up here, so a
new format is one new entry (and its writer).

Three tables, by what a format is drawn from:

* REPORT_FORMATS: one run's ReportData (report/data.py) -> html, markdown, csv, json;
* COMPARISON_FORMATS: two runs' ComparisonData (report/compare.py) -> html, json;
* NIGHT_FORMATS: a night's verdicts (NightVerdicts, report/nightly_formats.py) -> junit,
  summary.

This module is light (no pandas, no Jinja2): the command line builds its `--format` choices
and help from it at start-up; a writer imports its renderer when it is called. File names in
a run directory are rundir/layout.py's (its one owner).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from imxbench.errors import ConfigError
from imxbench.rundir.layout import JUNIT, REPORT_HTML, SUMMARY_MD

if TYPE_CHECKING:
    from imxbench.report.compare import ComparisonData
    from imxbench.report.data import ReportData
    from imxbench.report.nightly_formats import NightVerdicts

S = TypeVar("S")


@dataclass(frozen=True)
class Format(Generic[S]):
    """One output format of a subject S (what it is drawn from)."""

    name: str
    file_name: str
    """The file's name where it is written by default (in the run directory, for a run)."""
    media_type: str
    write: Callable[[S], str]
    """The subject -> the file's text."""
    help: str
    """What it is for, one phrase (the CLI's --format help)."""


def _table(*formats: Format[S]) -> Mapping[str, Format[S]]:
    return {f.name: f for f in formats}


# -- writers: each imports its renderer when called --------------------------------------------
def _report_html(data: ReportData) -> str:
    from imxbench.report.build import html_page

    return html_page(data)


def _report_markdown(data: ReportData) -> str:
    from imxbench.report.build import markdown_page

    return markdown_page(data)


def _report_csv(data: ReportData) -> str:
    from imxbench.report.render import export_csv

    return export_csv(data)


def _report_json(data: ReportData) -> str:
    from imxbench.report.render import export_json

    return export_json(data)


def _comparison_html(data: ComparisonData) -> str:
    from imxbench.report.compare import comparison_html

    return comparison_html(data)


def _comparison_json(data: ComparisonData) -> str:
    from imxbench.report.compare import export_comparison_json

    return export_comparison_json(data)


def _night_junit(night: NightVerdicts) -> str:
    from imxbench.report.nightly_formats import render_junit

    return render_junit(night.verdicts, night.context)


def _night_summary(night: NightVerdicts) -> str:
    from imxbench.report.nightly_formats import render_markdown

    return render_markdown(night.verdicts, night.context)


# -- the registry ------------------------------------------------------------------------------
REPORT_FORMATS: Mapping[str, Format[ReportData]] = _table(
    Format("html", REPORT_HTML, "text/html; charset=utf-8", _report_html, "the page"),
    Format("markdown", "report.md", "text/markdown; charset=utf-8", _report_markdown,
           "for a CI comment"),
    Format("csv", "report.csv", "text/csv; charset=utf-8", _report_csv, "the matrix as data"),
    Format("json", "report.json", "application/json", _report_json,
           "the headline and the data"),
)  # fmt: skip
COMPARISON_FORMATS: Mapping[str, Format[ComparisonData]] = _table(
    Format("html", "index.html", "text/html; charset=utf-8", _comparison_html, "the page"),
    Format("json", "compare.json", "application/json", _comparison_json, "the changes as data"),
)
NIGHT_FORMATS: Mapping[str, Format[NightVerdicts]] = _table(
    Format("junit", JUNIT, "application/xml", _night_junit, "JUnit XML, for CI test reports"),
    Format("summary", SUMMARY_MD, "text/markdown; charset=utf-8", _night_summary,
           "Markdown, e.g. for a merge-request comment"),
)  # fmt: skip


def report_format(name: str) -> Format[ReportData]:
    return _lookup(REPORT_FORMATS, name, "a report")


def comparison_format(name: str) -> Format[ComparisonData]:
    return _lookup(COMPARISON_FORMATS, name, "a comparison of two runs")


def night_format(name: str) -> Format[NightVerdicts]:
    return _lookup(NIGHT_FORMATS, name, "a night's verdicts")


def formats_help(table: Mapping[str, Format[S]]) -> str:
    """`html: the page; csv: the matrix as data; ...` for a --format option's help."""
    return "; ".join(f"{f.name}: {f.help}" for f in table.values())


def _lookup(table: Mapping[str, Format[S]], name: str, what: str) -> Format[S]:
    if name not in table:
        known = ", ".join(table)
        raise ConfigError(f"{what} is written as {known}, not {name!r}")
    return table[name]
