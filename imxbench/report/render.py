"""The report pipeline's template step: view model → HTML or Markdown (Jinja2), and the CSV and
JSON exports of the same data.

HTML autoescapes everything (a board named `<script>…` prints as text); the only markup let
through is the charts' SVG, marked safe in report_view.py. Markdown escapes every printed value
for Markdown and HTML (`finalize`), so CI comments cannot be broken or injected either.
"""

from __future__ import annotations

import io
import json
import math
import re
from functools import cache
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from imxbench.analysis.model_facts import facts_document
from imxbench.report.data import ReportData
from imxbench.report.headline import headline

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


@cache
def html_environment() -> Environment:
    return Environment(
        loader=PackageLoader("imxbench.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )


def markdown_escape(value: Any) -> Any:
    """A printed value, safe inside Markdown (tables included) and against raw HTML."""
    if not isinstance(value, str):
        return value
    text = " ".join(value.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


@cache
def markdown_environment() -> Environment:
    return Environment(
        loader=PackageLoader("imxbench.report", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        finalize=markdown_escape,
        keep_trailing_newline=True,
    )


def render_html(view: dict[str, Any]) -> str:
    return html_environment().get_template("report.html.j2").render(**view)


def render_markdown(view: dict[str, Any]) -> str:
    text = markdown_environment().get_template("report.md.j2").render(**view)
    return re.sub(r"\n{3,}", "\n\n", text)


def render_index(view: dict[str, Any]) -> str:
    return html_environment().get_template("index.html.j2").render(**view)


# -- exports ---------------------------------------------------------------------------------
def matrix_frame(data: ReportData) -> pd.DataFrame:
    """The board x cell table with raw numbers (ms, fractions), verdicts and the run id."""
    frame = data.summary.copy()
    if frame.empty:
        return frame
    verdicts = {(v.board, v.cell): v for v in data.verdicts or ()}
    keys = list(zip(frame["board"], frame["cell"], strict=True))
    frame["verdict"] = [getattr(verdicts.get(k), "verdict", None) for k in keys]
    frame["verdict_change_pct"] = [getattr(verdicts.get(k), "change_pct", None) for k in keys]
    frame["verdict_p_value"] = [getattr(verdicts.get(k), "p_value", None) for k in keys]
    frame["emulated"] = [b in data.emulated_boards for b in frame["board"]]
    frame.insert(0, "run_id", data.run.run_id)
    return frame


def export_csv(data: ReportData) -> str:
    buf = io.StringIO()
    matrix_frame(data).to_csv(buf, index=False)
    return buf.getvalue()


def export_json(data: ReportData) -> str:
    """The report's data as one JSON document (format 1)."""
    run = data.run
    points = data.history.points
    doc = {
        "format": 1,
        "headline": headline(data).as_dict(),
        "run": {
            "run_id": run.run_id,
            "started": run.started,
            "model": run.model,
            "boards": list(run.boards),
            "settings": dict(run.settings),
            "emulated_boards": sorted(data.emulated_boards),
        },
        "matrix": _records(matrix_frame(data)),
        "verdicts": None if data.verdicts is None else [vars(v) for v in data.verdicts],
        "failures": [vars(f) for f in data.failures],
        "accuracy": (
            None
            if data.accuracy is None
            else {
                "dataset": data.accuracy.dataset,
                "samples": data.accuracy.samples,
                "cells": [vars(c) for c in data.accuracy.cells],
            }
        ),
        "history": {
            "runs": [r.run_id for r in data.history.runs],
            "points": _records(points.assign(started_at=points["started_at"].astype(str)))
            if not points.empty
            else [],
            "env_changes": [
                {**vars(c), "started_at": str(c.started_at)} for c in data.history.env_changes
            ],
        },
        "facts": {board: dict(facts) for board, facts in data.facts.items()},
        "model": (
            facts_document(data.model.facts)
            if data.model is not None and data.model.facts is not None
            else None
        ),
    }
    return json.dumps(doc, indent=1, default=_jsonable, allow_nan=False) + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
