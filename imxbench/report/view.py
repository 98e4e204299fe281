"""The report's view model: ReportData + charts → plain dicts of display strings.

Everything the templates print is decided and formatted here (units, rounding, which columns
exist, badges, severity classes); the templates only loop and print. Strings are plain text:
the HTML environment escapes them, the Markdown one escapes them its own way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from markupsafe import Markup

from imxbench import __version__
from imxbench.report.accelerators import accelerator
from imxbench.report.data import ACCURACY_STATUS, Accuracy, ReportData, Verdict
from imxbench.report.headline import headline
from imxbench.report.model_view import model_view
from imxbench.report.svg import Chart
from imxbench.report.view_details import (
    clocks_view,
    facts_view,
    failures_view,
    npu_profile_view,
    settings_view,
    throttled_steps,
)

PERFORMANCE_CHARTS = ("latency", "speedup", "cold_warm", "op_placement", "vela")
TREND_CHARTS = ("trend",)
ACCURACY_CHARTS = ("accuracy", "per_class", "confusion")
VERDICT_ORDER = (
    "failed",
    "regressed",
    "missing",
    "inconclusive",
    "no baseline",
    "improved",
    "unchanged",
    "skipped",
)
VERDICT_CSS = {
    "failed": "bad",
    "regressed": "bad",
    "missing": "warn",
    "inconclusive": "warn",
    "no baseline": "info",
    "improved": "good",
    "unchanged": "muted",
    "skipped": "muted",
}
HEADLINE_CSS = {"ok": "good", "attention": "warn", "regression": "bad", "failed": "bad"}


# -- number formats --------------------------------------------------------------------------
def is_num(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_ms(value: Any) -> str:
    if not is_num(value):
        return "–"
    size = abs(value)
    digits = 3 if size < 1 else 2 if size < 10 else 1 if size < 100 else 0
    return f"{value:,.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}%" if is_num(value) else "–"


def fmt_fraction(value: Any, digits: int = 1) -> str:
    return fmt_pct(value * 100 if is_num(value) else None, digits)


def fmt_x(value: Any) -> str:
    return f"{value:.2f}×" if is_num(value) else "–"


def fmt_change(value: Any) -> str:
    return f"{value:+.1f}%" if is_num(value) else "–"


def fmt_mb(value: Any) -> str:
    return f"{value:.1f}" if is_num(value) else "–"


def fmt_time(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "–"


# -- the whole page --------------------------------------------------------------------------
def build_view(data: ReportData, charts: Mapping[str, Chart]) -> dict[str, Any]:
    emulated = data.emulated_boards
    return {
        "page": page_view(data),
        "verdict": verdict_view(data),
        "matrix": matrix_view(data),
        "sections": {
            "performance": chart_views(charts, PERFORMANCE_CHARTS, emulated),
            "trends": chart_views(charts, TREND_CHARTS, emulated),
            "accuracy": chart_views(charts, ACCURACY_CHARTS, emulated),
        },
        "history": history_view(data),
        "accuracy": accuracy_view(data),
        "facts": facts_view(data.facts, emulated),
        "settings": settings_view(data.run),
        "failures": failures_view(data.failures, data.results),
        "clocks": clocks_view(data.results),
        "model": model_view(data),
        "npu_profiles": npu_profile_view(data.results),
    }


def page_view(data: ReportData) -> dict[str, Any]:
    run = data.run
    emulated = sorted(data.emulated_boards)
    boards = ", ".join(run.boards) or ", ".join(sorted(set(data.summary.get("board", []))))
    return {
        "title": f"imxbench · {run.model or 'model'} on {boards or 'no board'}",
        "run_id": run.run_id,
        "started": fmt_time(run.started_at) if run.started_at else (run.started or "–"),
        "model": run.model or "–",
        "boards": boards or "–",
        "emulated": bool(emulated),
        "emulated_note": (
            f"EMULATED: data from {', '.join(emulated)} came from the built-in board emulator "
            "(timings from its cost model, outputs from really running the model), not from a "
            "board." + (f" Emulated as asked: {run.emulation}." if run.emulation else "")
            if emulated
            else ""
        ),
        "version": __version__,
        "status_note": (
            f"This run is {run.status}: "
            + (
                "still running, the numbers are incomplete."
                if run.status == "running"
                else "it was interrupted or a board failed; resume with imxbench run --resume."
            )
            if run.status in ("running", "partial")
            else ""
        ),
    }


# -- verdict ---------------------------------------------------------------------------------
def verdict_view(data: ReportData) -> dict[str, Any]:
    """The headline (report/headline.py), then regressions, failures and what needs a look;
    skipped cells (their delegate cannot run the model) apart, with their reasons."""
    failed_cells = _failed_cells(data)
    verdicts = list(data.verdicts or ())
    counts = {name: sum(v.verdict == name for v in verdicts) for name in VERDICT_ORDER}
    found = headline(data)
    shown_failed = {(f["board"], f["cell"]) for f in failed_cells}
    important = sorted(
        (
            v
            for v in verdicts
            if v.verdict not in ("unchanged", "skipped")
            and not (v.verdict == "failed" and (v.board, v.cell) in shown_failed)
        ),
        key=lambda v: VERDICT_ORDER.index(v.verdict) if v.verdict in VERDICT_ORDER else 99,
    )
    return {
        "level": HEADLINE_CSS[found.status],
        "status": found.status,
        "headline": found.summary,
        "boards": [b.text for b in found.boards],
        "reasons": list(found.reasons) if found.status != "attention" else [],
        "counts": [
            {"label": name, "count": str(n), "css": VERDICT_CSS[name]}
            for name, n in counts.items()
            if n
        ],
        "entries": [_verdict_item(v) for v in important],
        "failed_cells": failed_cells,
        "skipped_cells": _skipped_cells(data),
        "note": (
            "Not compared with history: no regression verdicts were recorded for this run "
            "(imxbench nightly judges each run against its baseline)."
            if data.verdicts is None
            else ""
        ),
    }


def _verdict_item(v: Verdict) -> dict[str, str]:
    return {
        "board": v.board,
        "cell": v.cell,
        "verdict": v.verdict,
        "css": VERDICT_CSS.get(v.verdict, "warn"),
        "change": fmt_change(v.change_pct) if is_num(v.change_pct) else "",
        "p_value": f"{v.p_value:.3g}" if is_num(v.p_value) else "",
        "detail": v.detail or "",
        "environment": "environment changed" if v.fingerprint_changed else "",
    }


def _failed_cells(data: ReportData) -> list[dict[str, str]]:
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for f in data.failures:
        key = (f.board, f.cell or "")
        if key not in seen:
            first_line = f.error.strip().splitlines()[0] if f.error.strip() else "failed"
            seen[key] = {"board": f.board, "cell": f.cell or "whole board", "error": first_line}
    return list(seen.values())


def _skipped_cells(data: ReportData) -> list[dict[str, str]]:
    """Cells whose delegate cannot run the model: neither ok nor failed."""
    if data.summary.empty or "status" not in data.summary:
        return []
    return [
        {
            "board": str(rec["board"]),
            "cell": str(rec["cell"]),
            "reason": str(rec.get("error") or rec.get("skip_reason") or "cannot run the model"),
        }
        for rec in data.summary.to_dict(orient="records")
        if rec.get("status") == "skipped"
    ]


# -- the board x delegate matrix -------------------------------------------------------------
@dataclass(frozen=True)
class MatrixContext:
    records: Sequence[Mapping[str, Any]]
    previous: Mapping[tuple[str, str], float]  # latency in the previous run
    verdicts: Mapping[tuple[str, str], Verdict]
    throttled: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(board, cell) -> how many of its steps ran throttled (clock or thermal)."""
    precision_target_pct: float | None = None
    """The adaptive run's --precision, percent (None: fixed repetitions)."""

    def any_number(self, key: str) -> bool:
        return any(is_num(r.get(key)) for r in self.records)


Cell = tuple[str, str]  # (text, css class)
CellFn = Callable[[Mapping[str, Any], MatrixContext], Cell]


@dataclass(frozen=True)
class Column:
    label: str
    title: str  # the header's tooltip: what the number is
    cell: CellFn
    shown: Callable[[MatrixContext], bool]


def _delegated(rec: Mapping[str, Any], _m: MatrixContext) -> Cell:
    share = rec.get("npu_share")
    where = accelerator(str(rec.get("delegate") or rec["cell"]))
    if not is_num(share) or where == "CPU":
        return ("–", "num")
    return (f"{fmt_fraction(share, 0)} on {where}", "num")


def _key(rec: Mapping[str, Any]) -> tuple[str, str]:
    return (str(rec["board"]), str(rec["cell"]))


def _op_profile(rec: Mapping[str, Any], _m: MatrixContext) -> Cell:
    origin = rec.get("op_profile_from")
    if isinstance(origin, str) and origin:
        return (f"reused from run {origin}", "muted")
    return ("this run" if is_num(rec.get("npu_share")) else "–", "")


def _fmt_count(value: Any) -> str:
    return f"{int(value)}" if is_num(value) else "–"


def number(label: str, title: str, key: str, fmt: Callable[[Any], str]) -> Column:
    return Column(
        label, title, lambda rec, _m: (fmt(rec.get(key)), "num"), lambda m: m.any_number(key)
    )


def _precision(rec: Mapping[str, Any], m: MatrixContext) -> Cell:
    """The achieved precision; marked when it misses the adaptive run's target."""
    value, target = rec.get("precision_pct"), m.precision_target_pct
    text = fmt_pct(value, 2)
    if is_num(value) and target is not None and value > target + 1e-9:
        return (f"{text} (target {target:g}%)", "num warn")
    return (text, "num")


def _precision_target_pct(settings: Mapping[str, Any]) -> float | None:
    target = settings.get("precision")
    return 100 * float(target) if is_num(target) and target > 0 else None


def _status(rec: Mapping[str, Any], m: MatrixContext) -> Cell:
    if rec.get("status") == "skipped":
        return (f"skipped: {rec.get('skip_reason') or 'cannot run the model'}", "muted")
    if rec.get("failed"):
        steps = int(rec["failed"])
        return (f"FAILED ({steps} step{'s' if steps != 1 else ''})", "bad")
    throttled = m.throttled.get(_key(rec), 0)
    hot = f" · THROTTLED ({throttled} step{'s' if throttled != 1 else ''})" if throttled else ""
    execution = rec.get("execution")
    if isinstance(execution, str) and execution != "full" and rec.get("delegate") != "cpu":
        return (f"ok · delegation {execution}{hot}", "warn")
    return ("ok" + hot, "warn" if hot else "good")


def _verdict(rec: Mapping[str, Any], m: MatrixContext) -> Cell:
    verdict = m.verdicts.get(_key(rec))
    if verdict is None:
        return ("–", "muted")
    text = verdict.verdict
    if is_num(verdict.change_pct):
        text += f" {fmt_change(verdict.change_pct)}"
    return (text, VERDICT_CSS.get(verdict.verdict, "warn"))


def _change(rec: Mapping[str, Any], m: MatrixContext) -> Cell:
    now, before = rec.get("latency_ms"), m.previous.get(_key(rec))
    if not (is_num(now) and before):
        return ("–", "num")
    return (fmt_change(100 * (now / before - 1)), "num")


def _top1(rec: Mapping[str, Any], _m: MatrixContext) -> Cell:
    status = rec.get(ACCURACY_STATUS)
    if status == "not evaluated":
        return ("not evaluated", "muted")
    if status == "failed":
        return ("evaluation failed", "bad")
    top1, low, high = rec.get("top1"), rec.get("top1_ci_low"), rec.get("top1_ci_high")
    text = fmt_fraction(top1)
    if is_num(top1) and is_num(low) and is_num(high):
        text += f" [{low * 100:.1f}–{high * 100:.1f}]"
    return (text, "num")


MATRIX_COLUMNS: tuple[Column, ...] = (
    Column(
        "status",
        "ok; the first error of the cell's failed processes; or skipped: the delegate cannot "
        "run the model (not a failure)",
        _status,
        lambda m: True,
    ),
    Column(
        "verdict",
        "regression verdict against history",
        _verdict,
        lambda m: bool(m.verdicts),
    ),
    number(
        "latency ms",
        "median over the timed repetitions of their average latency",
        "latency_ms",
        fmt_ms,
    ),
    Column(
        "±95%",
        "achieved precision: the larger distance from the median latency to its "
        "distribution-free 95% confidence interval (order statistics of the repetitions; "
        "none below 6), relative to it; `(target N%)`: the run's --precision was not reached",
        _precision,
        lambda m: m.any_number("precision_pct"),
    ),
    Column(
        "reps",
        "timed benchmark_model processes (repetitions); `incl. cold`: an adaptive run counted "
        "the cold process's steady timed phase as one of them",
        lambda rec, _m: (
            _fmt_count(rec.get("reps"))
            + (" incl. cold" if rec.get("cold_counted") in (True, 1) else ""),
            "num",
        ),
        lambda m: m.any_number("reps"),
    ),
    number(
        "p95 ms",
        "median of the repetitions' 95th percentiles (benchmark_model reports "
        "p5, median and p95; no p90)",
        "p95_ms",
        fmt_ms,
    ),
    number("spread", "(max - min) / median of the repetitions' averages", "spread_pct", fmt_pct),
    Column(
        "Δ prev. run",
        "latency change against the previous run of this model (a plain "
        "difference, not a significance test; shown when there are no verdicts)",
        _change,
        lambda m: bool(m.previous) and not m.verdicts,
    ),
    number("speedup", "the board's fastest CPU cell's latency / this cell's", "speedup", fmt_x),
    number("init ms", "interpreter and delegate initialisation", "init_ms", fmt_ms),
    number("first ms", "first inference, warm (median of the repetitions)", "first_ms", fmt_ms),
    number(
        "cold 1st ms",
        "first inference after the delegate's compiled-graph cache was cleared",
        "cold_first_ms",
        fmt_ms,
    ),
    Column(
        "top-1 [CI]",
        "on-device top-1 accuracy [confidence interval]",
        _top1,
        lambda m: m.any_number("top1") or any(r.get(ACCURACY_STATUS) for r in m.records),
    ),
    number("top-5", "on-device top-5 accuracy", "top5", fmt_fraction),
    number(
        "agree\u00adment",
        "share of samples whose top-1 matches the CPU reference's",
        "agreement_top1",
        fmt_fraction,
    ),
    number(
        "memory MB", "overall memory footprint reported by benchmark_model", "memory_mb", fmt_mb
    ),
    Column(
        "delegated",
        "share of the profiled time spent in delegate partitions, and the processor they ran "
        "on (NPU or GPU)",
        _delegated,
        lambda m: m.any_number("npu_share"),
    ),
    number("Vela est. ms", "Vela's estimated inference time (Ethos-U)", "vela_estimate_ms", fmt_ms),
    Column(
        "op profile",
        "where the op profile (the delegated share) comes from: measured in this run, or "
        "reused from an earlier run of the same model, board fingerprint and delegate "
        "(run --op-profile auto)",
        _op_profile,
        lambda m: any(r.get("op_profile_from") for r in m.records),
    ),
)


def matrix_view(data: ReportData) -> dict[str, Any]:
    """Board x cell rows; a column exists only when some row has data for it."""
    if data.summary.empty:
        return {"columns": [], "rows": []}
    context = MatrixContext(
        records=data.summary.to_dict(orient="records"),
        previous=_previous_latency(data),
        verdicts={(v.board, v.cell): v for v in data.verdicts or ()},
        throttled=throttled_steps(data.results),
        precision_target_pct=_precision_target_pct(data.run.settings),
    )
    columns = [c for c in MATRIX_COLUMNS if c.shown(context)]
    emulated = data.emulated_boards
    rows = []
    for rec in context.records:
        skipped = rec.get("status") == "skipped"
        failed = not skipped and (bool(rec.get("failed")) or not is_num(rec.get("latency_ms")))
        cells = [c.cell(rec, context) for c in columns]
        rows.append(
            {
                "board": str(rec["board"]),
                "cell": str(rec["cell"]),
                "emulated": str(rec["board"]) in emulated,
                "css": "failed" if failed else "skipped" if skipped else "",
                "cells": [{"text": text, "css": css} for text, css in cells],
            }
        )
    return {"columns": [{"label": c.label, "title": c.title} for c in columns], "rows": rows}


def _previous_latency(data: ReportData) -> dict[tuple[str, str], float]:
    """(board, cell) → median latency in the run before this one (from the history)."""
    points = data.history.points
    runs = [r.run_id for r in data.history.runs]
    if points.empty or len(runs) < 2:
        return {}
    before = points[points["run_id"] == runs[-2]]
    return {
        (str(b), str(c)): float(v)
        for b, c, v in zip(before["board"], before["cell"], before["latency_ms"], strict=True)
        if is_num(v)
    }


# -- charts, history, accuracy ---------------------------------------------------------------
def chart_views(
    charts: Mapping[str, Chart], keys: Sequence[str], emulated: frozenset[str]
) -> list[dict[str, Any]]:
    return [
        {
            "key": chart.key,
            "title": chart.title,
            "caption": chart.caption,
            "svg": Markup(chart.svg),  # the one trusted markup: matplotlib escapes its text
            "emulated": any(b in emulated for b in chart.boards),
        }
        for key in keys
        if (chart := charts.get(key)) is not None
    ]


def history_view(data: ReportData) -> dict[str, Any]:
    history = data.history
    runs = history.runs
    if len(runs) < 2:
        note = (
            "No earlier run of this model in this reports directory: trends appear from the "
            "second run on."
        )
    else:
        note = (
            f"{len(runs)} runs of {data.run.model or 'this model'} from "
            f"{fmt_time(runs[0].started_at)} to {fmt_time(runs[-1].started_at)}."
        )
    return {
        "note": note,
        "env_changes": [
            {
                "board": c.board,
                "run_id": c.run_id,
                "date": fmt_time(c.started_at),
                "changes": "; ".join(c.changes),
            }
            for c in history.env_changes
        ],
    }


def accuracy_view(data: ReportData) -> dict[str, Any]:
    accuracy = data.accuracy
    if accuracy is None:
        return {
            "present": False,
            "note": "No accuracy measured in this run (imxbench run --dataset PATH measures it).",
            "warning": "",
        }
    parts = [
        f"dataset {accuracy.dataset}" if accuracy.dataset else "",
        f"{accuracy.samples} images evaluated per cell" if accuracy.samples else "",
        f"host CPU reference top-1 {fmt_fraction(accuracy.reference_top1)}"
        if accuracy.reference_top1 is not None
        else "",
    ]
    return {
        "present": True,
        "note": " · ".join(p for p in parts if p),
        "warning": sanity_warning(accuracy),
    }


def sanity_warning(accuracy: Accuracy) -> str:
    """The preprocessing sanity check's warning, worded here from its numbers so that the
    image counts say which images (the check runs on a subset, on the host CPU)."""
    best, configured = accuracy.sanity_best, accuracy.sanity_configured
    if not accuracy.warning:
        return ""
    if best is None or configured is None:
        return f"WARNING: {accuracy.warning}"
    subset = f"{configured.images} images" if configured.images else "a subset"
    if configured.images and accuracy.samples and configured.images < accuracy.samples:
        subset += f" (a subset of the {accuracy.samples} evaluated)"
    hint = (
        f"the model fits {best.channel_order.upper()} input better (images read with OpenCV "
        f"are BGR): rerun with --channel-order {best.channel_order}"
        if best.channel_order != configured.channel_order
        else "are the pixels in the range the model's quantization expects?"
    )
    return (
        f"WARNING: the preprocessing sanity check, on the host CPU over {subset}, scores the "
        f"configured preprocessing ({configured.name}) {fmt_fraction(configured.top1)} top-1 "
        f"but {best.name} {fmt_fraction(best.top1)}; {hint}"
    )
