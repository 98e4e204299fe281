"""The output formats' one registry (report/formats.py): what `report`, `run` and `nightly`
write is looked up there, so a new format is one new entry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from click.testing import CliRunner

from imxbench.cli.main import cli
from imxbench.errors import ConfigError
from imxbench.report.formats import (
    COMPARISON_FORMATS,
    NIGHT_FORMATS,
    REPORT_FORMATS,
    comparison_format,
    formats_help,
    night_format,
    report_format,
)
from imxbench.report.nightly_formats import NightContext, NightVerdicts
from imxbench.rundir.layout import JUNIT, REPORT_HTML, SUMMARY_MD
from tests.locations import REPO

TABLES = (REPORT_FORMATS, COMPARISON_FORMATS, NIGHT_FORMATS)


@pytest.mark.parametrize("table", TABLES)
def test_each_entry_names_its_file_and_media_type(table: Mapping[str, Any]) -> None:
    assert table
    for name, fmt in table.items():
        assert fmt.name == name and fmt.help and callable(fmt.write)
        assert fmt.media_type.split(";")[0] in (
            "text/html",
            "text/markdown",
            "text/csv",
            "application/json",
            "application/xml",
        )
    files = [fmt.file_name for fmt in table.values()]
    assert len(set(files)) == len(files)  # no two formats overwrite each other


def test_run_directory_files_are_the_layouts() -> None:
    assert report_format("html").file_name == REPORT_HTML
    assert night_format("junit").file_name == JUNIT
    assert night_format("summary").file_name == SUMMARY_MD
    assert comparison_format("html").file_name == "index.html"  # compare-A-B/index.html


def test_an_unknown_format_is_a_user_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="written as html, json, not 'markdown'"):
        comparison_format("markdown")
    with pytest.raises(ConfigError, match="html, markdown, csv, json"):
        report_format("pdf")


def test_the_cli_offers_exactly_the_registered_formats() -> None:
    shown = CliRunner().invoke(cli, ["report", "--help"], terminal_width=200)
    assert f"--format [{'|'.join(REPORT_FORMATS)}]" in shown.output
    assert formats_help(REPORT_FORMATS).split(";")[0] in shown.output


def test_night_formats_write_the_verdicts() -> None:
    night = NightContext(
        run_id="20261204-020000-0001",
        started_at="2026-12-04T02:00:00+0000",
        model="m.tflite",
        model_sha256="0" * 64,
        policy="anchored",
        alpha=0.01,
        min_effect=0.03,
        board_errors={"imx93": "unreachable <b>"},
        boards=["imx93"],
    )
    doc = NightVerdicts((), night)
    assert night_format("junit").write(doc).startswith('<?xml version="1.0"')
    assert "INFRASTRUCTURE FAILURE" in night_format("summary").write(doc)


def test_the_registry_loads_no_renderer() -> None:
    """The CLI builds --format from it at start-up: no pandas, Jinja2 or matplotlib."""
    code = (
        "import sys, imxbench.report.formats; "
        "print(sorted(m for m in ('pandas', 'jinja2', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert done.stdout.strip() == "[]"
