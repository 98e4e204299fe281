"""`reports/index.html`: every run of a reports directory, newest first, linking its report.

Reads only run.json, summary.json and verdicts.json of each run (and, for run directories
written before run.json named its kind, whether a nightly's files are there). Every value is
printed through the template's autoescape, and links are relative paths percent-encoded: a run
directory's name is never markup, nor a URL scheme.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imxbench import __version__
from imxbench.analysis.regression import SEVERITY
from imxbench.report.data import load_meta, parse_verdicts
from imxbench.report.history import run_dirs
from imxbench.report.render import render_index
from imxbench.rundir import atomic
from imxbench.rundir.layout import REPORT_HTML, RunDir, read_optional_json

INDEX_NAME = "index.html"


def index_view(reports_dir: Path) -> dict[str, Any]:
    rows = []
    for run_dir in run_dirs(reports_dir):
        try:
            rows.append(_run_row(run_dir))
        except Exception:  # one unreadable run must not hide the others
            rows.append(_broken_row(run_dir))
    rows.sort(key=lambda r: (r["sort"], r["run_id"]), reverse=True)
    return {
        "runs": rows,
        "note": f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {reports_dir.resolve()}",
        "version": __version__,
    }


def _run_row(run_dir: Path) -> dict[str, Any]:
    meta = load_meta(run_dir)
    files = RunDir(run_dir)
    summary = files.read_summary() or []
    verdicts = parse_verdicts(files.read_verdicts() or [])
    failed = sum(1 for row in summary if row.get("failed"))
    board_errors = [b for b in read_optional_json(files.boards_json) or [] if b.get("error")]
    regressed = sum(v.verdict in ("regressed", "failed") for v in verdicts)
    kind = run_kind(run_dir, meta.kind)
    return {
        "sort": meta.started or "",
        "run_id": meta.run_id,
        "kind": kind,
        "href": report_href(run_dir) if files.report_html.is_file() else "",
        "started": (meta.started_at.strftime("%Y-%m-%d %H:%M") if meta.started_at else "–"),
        "model": meta.model or "–",
        "status": meta.status or "–",
        "status_css": "warn" if meta.status in ("running", "partial") else "",
        "boards": ", ".join(meta.boards) or "–",
        "emulated": any(row.get("emulated") for row in summary) or meta.emulated,
        "cells": str(len(summary)),
        "failed": str(failed + len(board_errors)),
        "failed_css": "bad" if failed or board_errors else "",
        "verdicts": verdict_counts([v.verdict for v in verdicts], kind),
        "verdict_css": "bad" if regressed else "",
        "css": "failed" if failed or board_errors or regressed else "",
        "fastest": _fastest(summary),
    }


def run_kind(run_dir: Path, said: str | None) -> str:
    """run | nightly: what run.json says, else (written before it said) a nightly's files."""
    if said:
        return said
    files = RunDir(run_dir)
    nightly = (files.verdicts_json, files.junit_xml, files.summary_md, files.night_json)
    return "nightly" if any(path.is_file() for path in nightly) else "run"


def verdict_counts(verdicts: list[str], kind: str) -> str:
    """`7 no baseline`, `1 regressed, 6 unchanged`: every verdict counted, the most alarming
    first; no verdicts: `–` for a run (never judged), `not judged` for a nightly."""
    if not verdicts:
        return "not judged" if kind == "nightly" else "–"
    counts = Counter(verdicts)
    order = sorted(counts, key=lambda name: (-SEVERITY.get(name, -1), name))
    return ", ".join(f"{counts[name]} {name}" for name in order)


def report_href(run_dir: Path) -> str:
    """The run's report.html relative to index.html: `./` and percent-encoded, so no name
    reads as a URL scheme (`javascript:`) or breaks out of its path segment."""
    return f"./{quote(run_dir.name, safe='')}/{REPORT_HTML}"


def _fastest(summary: list[dict[str, Any]]) -> str:
    best: dict[str, tuple[float, str]] = {}
    for row in summary:
        latency = row.get("latency_ms")
        if not isinstance(latency, int | float) or math.isnan(latency):
            continue
        board = str(row.get("board"))
        if board not in best or latency < best[board][0]:
            best[board] = (float(latency), str(row.get("cell")))
    return " · ".join(f"{b}: {c} {ms:.3g} ms" for b, (ms, c) in best.items()) or "–"


def _broken_row(run_dir: Path) -> dict[str, Any]:
    return {
        "sort": "",
        "run_id": run_dir.name,
        "kind": run_kind(run_dir, None),
        "href": "",
        "started": "–",
        "model": "unreadable run.json",
        "status": "–",
        "status_css": "",
        "boards": "–",
        "emulated": False,
        "cells": "–",
        "failed": "–",
        "failed_css": "",
        "verdicts": "–",
        "verdict_css": "",
        "css": "",
        "fastest": "–",
    }


def write_index(reports_dir: Path) -> Path:
    return atomic.write_text(reports_dir / INDEX_NAME, render_index(index_view(reports_dir)))
