"""The matrix page's view model: MatrixData → plain dicts of display strings (the template
only loops and prints).

Colour by speedup against the board's fastest CPU cell of the same run, in bands that also
print as words, so colour is never the only cue: a single-hue blue ramp (ColorBrewer "Blues",
readable with every colour-vision deficiency) for faster than the CPU, Okabe-Ito orange for
slower, grey for about the same.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imxbench import __version__
from imxbench.report.matrix import Column, MatrixData, MatrixModel
from imxbench.report.model_facts import ModelFactsSource
from imxbench.report.model_view import fmt_count, model_section_view

SPEEDUP_BANDS: tuple[tuple[float, str, str, str], ...] = (
    # (lower bound, css class, the cell's words, the legend's words)
    (10.0, "s5", "≥10× faster", "10× or more faster than the CPU"),
    (5.0, "s4", "5–10× faster", "5–10× faster than the CPU"),
    (2.0, "s3", "2–5× faster", "2–5× faster than the CPU"),
    (1.1, "s2", "faster", "1.1–2× faster than the CPU"),
    (0.9, "s1", "≈ CPU", "about the CPU's speed (0.9–1.1×)"),
    (0.0, "s0", "slower", "slower than the CPU (under 0.9×)"),
)
EMULATED_NOTE = (
    "EMULATED: timings come from the emulator's cost model, not from a board "
    "(boards marked EMULATED below)."
)


def speedup_band(speedup: float | None) -> tuple[str, str]:
    """(css class, the cell's words) of a speedup; no speedup: ("", "")."""
    if speedup is None or not math.isfinite(speedup):
        return "", ""
    for low, css, words, _legend in SPEEDUP_BANDS:
        if speedup >= low:
            return css, words
    return SPEEDUP_BANDS[-1][1], SPEEDUP_BANDS[-1][2]


def matrix_view(data: MatrixData, page_dir: Path) -> dict[str, Any]:
    emulated = any(c.emulated for c in data.columns)
    boards: list[dict[str, Any]] = []
    for column in data.columns:
        last = boards[-1] if boards else None
        if last and (last["board"], last["emulated"]) == (column.board, column.emulated):
            last["span"] += 1
        else:
            boards.append({"board": column.board, "span": 1, "emulated": column.emulated})
    rows = [_row(i, m, data.columns) for i, m in enumerate(data.models)]
    return {
        "page": {
            "title": f"imxbench · model matrix · {len(data.models)} model"
            + ("s" if len(data.models) != 1 else ""),
            "version": __version__,
            "emulated_note": EMULATED_NOTE if emulated else "",
            "runs": ", ".join(m.data.run.run_id for m in data.models),
        },
        "boards": boards,
        "columns": [{"board": c.board, "cell": c.cell} for c in data.columns],
        "rows": rows,
        "legend": [{"css": css, "words": words} for _, css, _, words in SPEEDUP_BANDS],
        "models": [_detail(i, m, page_dir) for i, m in enumerate(data.models)],
    }


def _row(index: int, model: MatrixModel, columns: tuple[Column, ...]) -> dict[str, Any]:
    summary = _summary_rows(model)
    planned = {(b, model.emulated(b)) for b in model.data.run.boards}
    facts = model.data.model.facts if model.data.model is not None else None
    brief = (
        f"{fmt_count(facts.parameters)} params · {fmt_count(facts.macs)} MACs · "
        f"{'int8' if facts.is_fully_int else 'float'}"
        if facts is not None
        else "facts unavailable"
    )
    return {
        "anchor": f"model-{index + 1}",
        "name": model.name,
        "brief": brief,
        "cells": [
            _cell(
                summary.get((c.board, c.cell)) if model.emulated(c.board) == c.emulated else None,
                (c.board, c.cell),
                (c.board, c.emulated) in planned,
            )
            for c in columns
        ],
    }


def _summary_rows(model: MatrixModel) -> dict[tuple[str, str], Mapping[str, Any]]:
    summary = model.data.summary
    if summary.empty or "board" not in summary or "cell" not in summary:
        return {}
    return {(str(r["board"]), str(r["cell"])): r for r in summary.to_dict(orient="records")}


def _cell(row: Mapping[str, Any] | None, key: tuple[str, str], board_ran: bool) -> dict[str, Any]:
    board, cell = key
    base = {"board": board, "cell": cell, "title": f"{board} · {cell}", "band": ""}
    if row is None:
        why = "this model's run did not plan this cell" if board_ran else "board not in this run"
        return {**base, "css": "none", "status": "not run", "lines": [why]}
    status = str(row.get("status") or ("failed" if row.get("failed") else "ok"))
    if status == "skipped":
        reason = _text(row.get("skip_reason")) or _text(row.get("error")) or "cannot run"
        return {
            **base,
            "css": "skipped",
            "status": "skipped",
            "lines": [reason],
            "title": f"{board} · {cell}: {_text(row.get('error')) or reason}",
        }
    if status != "ok":
        error = _text(row.get("error")) or "no result"
        return {
            **base,
            "css": "failed",
            "status": "failed",
            "lines": [_first_line(error)],
            "title": f"{board} · {cell}: {error}",
        }
    speedup = _number(row.get("speedup"))
    css, words = speedup_band(speedup)
    lines = [f"{_number(row.get('latency_ms')) or 0:.3f} ms"]
    if speedup is not None:
        lines.append(f"{speedup:.2f}× CPU")
    top1 = _number(row.get("top1"))
    if top1 is not None and row.get("accuracy_status") in (None, "ok"):
        lines.append(f"top-1 {top1 * 100:.1f}%")
    if row.get("execution") == "partial":
        lines.append("partly on the CPU")
    return {
        **base,
        "css": css,
        "status": "ok",
        "lines": lines,
        "band": words,
        "title": f"{board} · {cell}: {words} ({speedup:.2f}× the CPU)"
        if speedup is not None
        else base["title"],
    }


def _detail(index: int, model: MatrixModel, page_dir: Path) -> dict[str, Any]:
    run = model.data.run
    report = run.path / "report.html"
    accuracy = model.data.accuracy
    return {
        "anchor": f"model-{index + 1}",
        "name": model.name,
        "run_id": run.run_id,
        "started": run.started or "–",
        "status": run.status or "–",
        "file": run.model or "–",
        "emulated": bool(model.data.emulated_boards),
        "report_href": _href(report, page_dir) if report.is_file() else "",
        "accuracy": (
            f"accuracy on {accuracy.dataset or 'its data set'}"
            + (f" ({accuracy.samples} samples)" if accuracy.samples else "")
            if accuracy is not None
            else "latency only (no data set)"
        ),
        "model": model_section_view(
            model.data.model or ModelFactsSource(None, "not read"),
            model.cells,
            model.data.emulated_boards,
        ),
    }


def _href(target: Path, page_dir: Path) -> str:
    """A relative link from the page to `target`, percent-encoded, never read as a scheme."""
    relative = os.path.relpath(target.resolve(), page_dir.resolve())
    encoded = quote(relative.replace(os.sep, "/"))
    return encoded if encoded.startswith("../") else f"./{encoded}"


def _first_line(text: str, limit: int = 90) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
