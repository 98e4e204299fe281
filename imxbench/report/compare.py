"""`imxbench report A B`: run B against run A on a page of its own.

The page lives in `<reports>/compare-<A>-<B>/index.html` (or `--out`); neither run's own
report.html is touched. Per board x cell it shows A's and B's median latency, the change, an
interval (the confidence interval of B's regression verdict when B has one, else the p5–p95
range of the single inferences of both runs), B's verdict, and the top-1 change.

The same pipeline as a run's page: data (ComparisonData, from two ReportData) → view (display
strings) → template (compare.html.j2). No charts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from imxbench import __version__
from imxbench.analysis.results import repetition_rows
from imxbench.report.data import ACCURACY_STATUS, History, ReportData, load_run
from imxbench.report.formats import comparison_format
from imxbench.report.headline import headline
from imxbench.report.render import html_environment
from imxbench.report.view import fmt_change, fmt_fraction, fmt_ms, fmt_time, is_num
from imxbench.rundir import atomic


@dataclass(frozen=True)
class CellChange:
    board: str
    cell: str
    a_ms: float | None  # median latency in run A (None: the cell is not in A, or failed)
    b_ms: float | None
    change_pct: float | None  # 100 * (b / a - 1)
    a_p5_ms: float | None  # p5–p95 of the single inferences over all timed repetitions
    a_p95_ms: float | None
    b_p5_ms: float | None
    b_p95_ms: float | None
    verdict: str | None  # B's regression verdict (against its own baseline)
    verdict_ci_pct: tuple[float, float] | None  # that verdict's interval of the change, in %
    a_top1: float | None  # fraction 0..1, only for a cell evaluated in that run
    b_top1: float | None


@dataclass(frozen=True)
class ComparisonData:
    a: ReportData
    b: ReportData
    cells: tuple[CellChange, ...]


def load_comparison(run_a: Path, run_b: Path) -> ComparisonData:
    a, b = load_run(run_a, History()), load_run(run_b, History())
    return ComparisonData(a, b, tuple(cell_changes(a, b)))


def cell_changes(a: ReportData, b: ReportData) -> list[CellChange]:
    """One CellChange per board x cell of either run: B's order, then cells only in A."""
    rows_a, rows_b = _rows(a), _rows(b)
    ranges_a, ranges_b = _p5_p95(a.results), _p5_p95(b.results)
    verdicts = {(v.board, v.cell): v for v in b.verdicts or ()}
    out = []
    for key in [*rows_b, *(k for k in rows_a if k not in rows_b)]:
        ra, rb = rows_a.get(key, {}), rows_b.get(key, {})
        a_ms, b_ms = _latency(ra), _latency(rb)
        verdict = verdicts.get(key)
        out.append(
            CellChange(
                board=key[0],
                cell=key[1],
                a_ms=a_ms,
                b_ms=b_ms,
                change_pct=100 * (b_ms / a_ms - 1) if a_ms and b_ms is not None else None,
                a_p5_ms=ranges_a.get(key, (None, None))[0],
                a_p95_ms=ranges_a.get(key, (None, None))[1],
                b_p5_ms=ranges_b.get(key, (None, None))[0],
                b_p95_ms=ranges_b.get(key, (None, None))[1],
                verdict=verdict.verdict if verdict else None,
                verdict_ci_pct=verdict.ci_pct if verdict else None,
                a_top1=_top1(ra),
                b_top1=_top1(rb),
            )
        )
    return out


def _rows(data: ReportData) -> dict[tuple[str, str], Mapping[str, Any]]:
    if data.summary.empty:
        return {}
    return {(str(r["board"]), str(r["cell"])): r for r in data.summary.to_dict(orient="records")}


def _latency(row: Mapping[str, Any]) -> float | None:
    value = row.get("latency_ms")
    return float(value) if is_num(value) and not row.get("failed") else None


def _top1(row: Mapping[str, Any]) -> float | None:
    value = row.get("top1")
    return float(value) if row.get(ACCURACY_STATUS) == "ok" and is_num(value) else None


def _p5_p95(results: pd.DataFrame) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    needed = {"kind", "status", "inference_p5_us", "inference_p95_us"}
    if results.empty or not needed <= set(results):
        return {}
    timed = repetition_rows(results)
    out: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for (board, cell), reps in timed.groupby(["board", "cell"], sort=False):
        low = float(reps["inference_p5_us"].min()) / 1000
        high = float(reps["inference_p95_us"].max()) / 1000
        out[(str(board), str(cell))] = (
            None if math.isnan(low) else low,
            None if math.isnan(high) else high,
        )
    return out


# -- where, and the formats ------------------------------------------------------------------
def comparison_path(data: ComparisonData, fmt: str = "html") -> Path:
    """`<B's reports directory>/compare-<A>-<B>/index.html` (other formats: their file name
    in that directory)."""
    name = f"compare-{data.a.run.run_id}-{data.b.run.run_id}"
    folder = data.b.run.path.parent / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return folder / comparison_format(fmt).file_name


def write_comparison(data: ComparisonData, fmt: str = "html", out: Path | None = None) -> Path:
    """Default: `compare-<A>-<B>/` under its format's file name (index.html for the page)."""
    chosen = comparison_format(fmt)
    path = out or comparison_path(data, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, chosen.write(data))
    return path


def render_comparison(data: ComparisonData, fmt: str) -> str:
    """The comparison in format `fmt` (report/formats.py COMPARISON_FORMATS)."""
    return comparison_format(fmt).write(data)


def comparison_html(data: ComparisonData) -> str:
    return html_environment().get_template("compare.html.j2").render(**comparison_view(data))


def export_comparison_json(data: ComparisonData) -> str:
    doc = {
        "format": 1,
        "comparison": {"a": data.a.run.run_id, "b": data.b.run.run_id},
        "headline": {"a": headline(data.a).as_dict(), "b": headline(data.b).as_dict()},
        "cells": [asdict(c) for c in data.cells],
    }
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


# -- view ------------------------------------------------------------------------------------
def comparison_view(data: ComparisonData) -> dict[str, Any]:
    a, b = data.a.run, data.b.run
    both = [c for c in data.cells if c.a_ms is not None and c.b_ms is not None]
    slower = [c for c in both if c.verdict == "regressed"]
    failed = [c for c in data.cells if (c.a_ms is None) != (c.b_ms is None)]
    if slower:
        level = "bad"
        summary = f"{len(slower)} cell{'s' if len(slower) != 1 else ''} regressed in {b.run_id}"
    elif failed:
        level = "warn"
        summary = f"{len(failed)} cell{'s' if len(failed) != 1 else ''} ran in only one run"
    else:
        level = "good"
        summary = f"{len(both)} cell{'s' if len(both) != 1 else ''} in both runs"
    biggest = max(both, key=lambda c: abs(c.change_pct or 0.0), default=None)
    if biggest is not None and is_num(biggest.change_pct):
        summary += (
            f" · largest change {biggest.board} · {biggest.cell} "
            f"{fmt_ms(biggest.a_ms)} → {fmt_ms(biggest.b_ms)} ms "
            f"({fmt_change(biggest.change_pct)})"
        )
    notes = []
    if a.model != b.model:
        notes.append(f"The runs measured different models: {a.model} and {b.model}.")
    elif a.model_sha256 and b.model_sha256 and a.model_sha256 != b.model_sha256:
        notes.append(
            f"The runs measured different models of the same file name {a.model} (sha256 "
            f"{a.model_sha256[:12]} and {b.model_sha256[:12]})."
        )
    return {
        "page": {
            "title": f"imxbench · {a.run_id} → {b.run_id}",
            "a": {"run_id": a.run_id, "started": fmt_time(a.started_at), "model": a.model or "–"},
            "b": {"run_id": b.run_id, "started": fmt_time(b.started_at), "model": b.model or "–"},
            "emulated": bool(data.a.emulated_boards or data.b.emulated_boards),
            "version": __version__,
        },
        "verdict": {
            "level": level,
            "headline": summary,
            "a": headline(data.a).sentence,
            "b": headline(data.b).sentence,
            "notes": notes,
        },
        "rows": [_row(c) for c in data.cells],
        "any_accuracy": any(c.a_top1 is not None or c.b_top1 is not None for c in data.cells),
        "any_verdict": any(c.verdict for c in data.cells),
    }


def _row(c: CellChange) -> dict[str, str]:
    if c.verdict_ci_pct is not None:
        low, high = c.verdict_ci_pct
        interval = f"change CI {low:+.1f}% … {high:+.1f}%"
    else:
        interval = f"A {_range(c.a_p5_ms, c.a_p95_ms)} · B {_range(c.b_p5_ms, c.b_p95_ms)}"
    change_css = ""
    if is_num(c.change_pct) and c.a_p95_ms and c.b_p5_ms and c.b_p5_ms > c.a_p95_ms:
        change_css = "bad"  # B's fastest 5% slower than A's slowest 5%: ranges apart
    elif is_num(c.change_pct) and c.a_p5_ms and c.b_p95_ms and c.b_p95_ms < c.a_p5_ms:
        change_css = "good"
    top1_change = (
        f"{(c.b_top1 - c.a_top1) * 100:+.1f} pp"
        if c.a_top1 is not None and c.b_top1 is not None
        else "–"
    )
    return {
        "board": c.board,
        "cell": c.cell,
        "a": fmt_ms(c.a_ms) if c.a_ms is not None else "not run",
        "b": fmt_ms(c.b_ms) if c.b_ms is not None else "not run",
        "change": fmt_change(c.change_pct),
        "change_css": change_css,
        "interval": interval,
        "verdict": c.verdict or "–",
        "verdict_css": {"regressed": "bad", "improved": "good"}.get(c.verdict or "", "muted"),
        "top1": f"{fmt_fraction(c.a_top1)} → {fmt_fraction(c.b_top1)}",
        "top1_change": top1_change,
    }


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"{fmt_ms(low)}–{fmt_ms(high)} ms"
