"""The report pipeline's figure step: loaded data → inline SVG charts (matplotlib, Agg).

One function per chart; each takes already-loaded data (it never reads files) and returns a
`Chart`, or None when the run has no data for it (no timed row, no profile, no Ethos-U cell, a
single run of history, no accuracy.json, ...). `build_charts` gathers them in reading order,
with Python's cyclic garbage collector paused meanwhile.
This module: latency, speedup, first inference, op placement, Vela; trends and accuracy live in
report_trend_chart.py and report_accuracy_charts.py.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from imxbench.analysis.results import repetition_rows
from imxbench.report.accelerators import accelerator, partition_label
from imxbench.report.accuracy_charts import accuracy_chart, confusion_chart, per_class_chart
from imxbench.report.data import ReportData
from imxbench.report.layout import fit
from imxbench.report.svg import (
    MIN_FONT_PT,
    OKABE_ITO,
    Chart,
    boards_of,
    cell_color,
    cells_of,
    delegate_node,
    drawing,
    figure,
    log_axis,
    op_colors,
    style_axes,
    title,
    to_svg,
)
from imxbench.report.trend_chart import history_chart

MAX_CPU_OP_TYPES = 7  # op placement: the rest of the CPU node types become "other CPU ops"


def build_charts(data: ReportData) -> dict[str, Chart]:
    """Every chart the data has material for, by key, in reading order."""
    makers: Sequence[Callable[[], Chart | None]] = (
        lambda: latency_chart(data.results),
        lambda: speedup_chart(data.summary),
        lambda: cold_warm_chart(data.summary),
        lambda: op_placement_chart(data.results),
        lambda: vela_chart(data.summary),
        lambda: history_chart(data.history),
        lambda: accuracy_chart(data.accuracy),
        lambda: per_class_chart(data.accuracy),
        lambda: confusion_chart(data.accuracy),
    )
    charts = {}
    with _gc_paused():
        for make in makers:
            chart = make()
            if chart is not None:
                charts[chart.key] = chart
    return charts


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the charts are drawn: matplotlib makes thousands of
    objects per chart, and the collector's passes over them (and over everything pandas and
    matplotlib loaded) cost about a tenth of the time. What the charts leave is collected
    after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ok_rows(results: pd.DataFrame, kind: str) -> pd.DataFrame:
    if results.empty or "kind" not in results:
        return results.iloc[0:0]
    return results[(results["kind"] == kind) & (results["status"] == "ok")]


def _label(ax_labels: pd.DataFrame) -> list[str]:
    return [f"{b} · {c}" for b, c in zip(ax_labels["board"], ax_labels["cell"], strict=True)]


def _note(ax: Any, text: str, xy: tuple[Any, Any], size: float = MIN_FONT_PT, dx: int = 3) -> None:
    ax.annotate(text, xy, xytext=(dx, 0), textcoords="offset points", va="center", fontsize=size)


# -- latency, speedup, first inference -------------------------------------------------------
def latency_chart(results: pd.DataFrame) -> Chart | None:
    """Per board: each cell's median latency (diamond), its repetitions (dots) and the
    p5–p95 range of the inferences over all repetitions (bar). Log scale."""
    timed = repetition_rows(results) if "kind" in results else results.iloc[0:0]
    if not timed.empty and "status" in results:  # a failed cell has no latency to show
        bad = results[~results["status"].isin(["ok", "skipped"])]
        failed = set(zip(bad["board"], bad["cell"], strict=True))
        keep = [(b, c) not in failed for b, c in zip(timed["board"], timed["cell"], strict=True)]
        timed = timed[keep]
    if timed.empty:
        return None
    boards = boards_of(timed)
    cells = {b: cells_of(timed, b) for b in boards}
    with drawing():
        fig = figure(sum(len(c) for c in cells.values()) + len(boards), 0.34)
        axes = fig.subplots(
            len(boards),
            1,
            sharex=True,
            squeeze=False,
            height_ratios=[len(cells[b]) + 0.6 for b in boards],
        )[:, 0]
        groups = dict(list(timed.groupby(["board", "cell"], sort=False)))
        for ax, board in zip(axes, boards, strict=True):
            for y, cell in enumerate(cells[board]):
                _latency_row(ax, y, cell, groups[(board, cell)])
            ax.set_yticks(range(len(cells[board])), cells[board])
            ax.set_ylim(len(cells[board]) - 0.4, -0.6)
            title(ax, board, loc="left")
            log_axis(ax.xaxis, minor_labels=True)
            style_axes(ax, grid="x")
        axes[-1].set_xlabel("steady-state latency per inference (ms, log scale)")
        fit(fig)
    return Chart(
        "latency",
        "Latency per delegate",
        "◆ median of the timed repetitions · • each repetition's average · shaded bar: p5–p95 "
        "of the single inferences over all repetitions (often hidden by the diamond on this "
        "log scale; the trends below show it per cell).",
        to_svg(fig, "latency"),
        tuple(boards),
    )


def _latency_row(ax: Any, y: int, cell: str, reps: pd.DataFrame) -> None:
    """One cell's row: p5–p95 bar, one dot per repetition, the median's diamond and note.
    Markers as lines without a line, not scatter collections: the same marks, cheaper."""
    color = cell_color(cell)
    low = reps["inference_p5_us"].min() / 1000
    high = reps["inference_p95_us"].max() / 1000
    if not (math.isnan(low) or math.isnan(high)):
        ax.plot([low, high], [y, y], color=color, lw=7, alpha=0.45, solid_capstyle="butt")
    averages = reps["inference_avg_us"].to_numpy(dtype=float) / 1000
    ax.plot(
        averages,
        [y] * len(averages),
        ls="none",
        marker="o",
        ms=math.sqrt(12),
        color="black",
        mew=0,
        zorder=3,
    )
    median = float(np.median(averages))
    ax.plot(
        [median],
        [y],
        ls="none",
        marker="D",
        ms=math.sqrt(40),
        mfc=color,
        mec="black",
        mew=0.6,
        zorder=4,
    )
    _note(ax, f"{median:.3g} ms", (max(median, high if high == high else median), y), dx=6)


def speedup_chart(summary: pd.DataFrame) -> Chart | None:
    if summary.empty or "speedup" not in summary or summary["speedup"].isna().all():
        return None
    rows = summary[summary["speedup"].notna()]
    boards = boards_of(rows)
    with drawing():
        fig = figure(len(rows) + len(boards), 0.3)
        axes = fig.subplots(
            len(boards),
            1,
            sharex=True,
            squeeze=False,
            height_ratios=[int((rows["board"] == b).sum()) + 0.6 for b in boards],
        )[:, 0]
        for ax, board in zip(axes, boards, strict=True):
            part = rows[rows["board"] == board]
            ys = np.arange(len(part))
            values = part["speedup"].astype(float).to_numpy()
            ax.barh(ys, values, color=[cell_color(c) for c in part["cell"]], height=0.6)
            for y, value in zip(ys, values, strict=True):
                _note(ax, f"{value:.2f}×", (value, y))
            ax.axvline(1.0, color="#444", lw=0.8, ls="--")
            ax.set_yticks(ys, list(part["cell"]))
            ax.set_ylim(len(part) - 0.4, -0.6)
            title(ax, board, loc="left")
            style_axes(ax, grid="x")
        axes[-1].set_xlim(0, float(rows["speedup"].max()) * 1.15)
        axes[-1].set_xlabel("speedup vs the board's fastest CPU cell (×; dashed: 1×)")
        fit(fig)
    return Chart(
        "speedup",
        "Speedup vs CPU",
        "Median steady-state latency of the board's fastest CPU cell divided by the cell's.",
        to_svg(fig, "speedup"),
        tuple(boards),
    )


COLD_WARM_SERIES = (
    ("cold_first_ms", "cold first inference", OKABE_ITO["vermillion"]),
    ("first_ms", "warm first inference", OKABE_ITO["orange"]),
    ("latency_ms", "steady state", OKABE_ITO["blue"]),
)


def cold_warm_chart(summary: pd.DataFrame) -> Chart | None:
    """Delegate cells: cold first inference (graph cache cleared), warm first inference,
    steady state."""
    needed = {"cold_first_ms", "first_ms", "latency_ms", "delegate"}
    if summary.empty or not needed <= set(summary):
        return None
    rows = summary[(summary["delegate"] != "cpu") & summary["first_ms"].notna()]
    if rows.empty:
        return None
    with drawing():
        fig = figure(len(rows) + 1, 0.62)
        ax = fig.subplots()
        ys = np.arange(len(rows))
        for i, (column, name, color) in enumerate(COLD_WARM_SERIES):
            values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
            offsets = ys + (i - 1) * 0.26
            ax.barh(offsets, np.nan_to_num(values, nan=0.0), height=0.25, color=color, label=name)
            for y, value in zip(offsets, values, strict=True):
                if math.isnan(value):
                    ax.annotate(
                        "no cold step",
                        (0, y),
                        xycoords=("axes fraction", "data"),
                        xytext=(3, 0),
                        textcoords="offset points",
                        va="center",
                        color="#6b7280",
                    )
                else:
                    _note(ax, f"{value:.3g} ms", (value, y))
        log_axis(ax.xaxis, minor_labels=None)
        ax.set_yticks(ys, _label(rows))
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel("ms (log scale)")
        legend = fig.legend(loc="outside lower center", ncols=2)
        style_axes(ax, grid="x")
        fit(fig, below=legend)
    where = sorted({accelerator(str(d)) for d in rows["delegate"]})
    return Chart(
        "cold_warm",
        "First inference: cold vs warm",
        "Cold: first inference after the cell's own compiled-graph cache "
        f"({' / '.join(where)}) was cleared; warm: first inference of the timed repetitions "
        "(median); steady state: median latency.",
        to_svg(fig, "cold_warm"),
        tuple(boards_of(rows)),
    )


# -- op placement, Vela ----------------------------------------------------------------------
PLACEMENT_COLUMNS = ["board", "cell", "node_type", "share", "delegated"]


def op_placement(results: pd.DataFrame) -> pd.DataFrame:
    """Board x cell x node type → share (0..1) of the profiled inference time.

    From the op profile table (`op_profile` column) when the run stored it, else only the
    delegate/CPU split (`delegate_time_share`). Beyond MAX_CPU_OP_TYPES CPU node types, the
    smallest are summed as "other CPU ops"."""
    out: list[tuple[Any, ...]] = []
    for row in _ok_rows(results, "profile").to_dict(orient="records"):
        table = _op_table(row.get("op_profile"))
        total = sum(float(t.get("percent") or 0) for t in table)
        share = row.get("delegate_time_share")
        own = partition_label(str(row.get("delegate") or row["cell"]))
        if table and total > 0:
            for t in table:
                name = str(t.get("node_type"))
                part = float(t.get("percent") or 0) / total
                delegated = delegate_node(name)
                label = own if delegated else name  # the VX delegate runs the NPU and the GPU
                out.append((row["board"], row["cell"], label, part, delegated))
        elif isinstance(share, int | float) and not math.isnan(share):
            out.append((row["board"], row["cell"], own, float(share), True))
            out.append((row["board"], row["cell"], "CPU kernels", 1 - float(share), False))
    placement = pd.DataFrame(out, columns=PLACEMENT_COLUMNS)
    if placement.empty:  # e.g. run with --no-op-profile
        return placement
    on_cpu = placement[~placement["delegated"].astype(bool)]
    ranked = on_cpu.groupby("node_type")["share"].sum().sort_values(ascending=False)
    rest = set(ranked.index[MAX_CPU_OP_TYPES:])
    if rest:
        placement.loc[placement["node_type"].isin(rest), "node_type"] = "other CPU ops"
        placement = placement.groupby(
            [*PLACEMENT_COLUMNS[:3], "delegated"], sort=False, as_index=False
        )["share"].sum()[PLACEMENT_COLUMNS]
    return placement


def _op_table(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def op_placement_chart(results: pd.DataFrame) -> Chart | None:
    placement = op_placement(results)
    if placement.empty:
        return None
    colors = op_colors(placement)
    with drawing():
        fig = figure(placement.groupby(["board", "cell"]).ngroups + 2 + len(colors) / 4, 0.34)
        ax = fig.subplots()
        keys = _placement_bars(ax, placement, colors)
        ax.set_yticks(range(len(keys)), [f"{b} · {c}" for b, c in keys])
        ax.set_ylim(len(keys) - 0.4, -0.6)
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the profiled inference time (%)")
        legend = fig.legend(
            loc="outside lower center", ncols=min(2, len(ax.containers)), title="node type"
        )
        style_axes(ax, grid="x")
        fit(fig, below=legend)
    return Chart(
        "op_placement",
        "Op placement: delegate vs CPU fallback",
        "From the op-profiling pass: share of inference time per node type. Blue/green: "
        "delegate partitions, named by the cell's delegate and the processor it runs on; "
        "warm colours: operators run on the CPU.",
        to_svg(fig, "op_placement"),
        tuple(dict.fromkeys(b for b, _ in keys)),
    )


def _placement_bars(
    ax: Any, placement: pd.DataFrame, colors: dict[str, str]
) -> list[tuple[str, str]]:
    """One stacked bar per board x cell (delegate partitions first, then by share), noted with
    its delegated share; drawn as one barh per node type (fewer, larger artists; the legend
    lists the node types in order of first appearance). Returns the (board, cell) rows."""
    keys: list[tuple[str, str]] = []
    segments: dict[str, tuple[list[int], list[float], list[float]]] = {}  # ys, widths, lefts
    for y, (key, part) in enumerate(placement.groupby(["board", "cell"], sort=False)):
        keys.append((str(key[0]), str(key[1])))
        part = part.sort_values(["delegated", "share"], ascending=[False, False])
        left = 0.0
        for node, share in zip(part["node_type"], part["share"], strict=True):
            ys, widths, lefts = segments.setdefault(node, ([], [], []))
            ys.append(y)
            widths.append(share * 100)
            lefts.append(left)
            left += share * 100
        delegated = part.loc[part["delegated"].astype(bool), "share"].sum() * 100
        _note(ax, f"{delegated:.0f}% delegated", (100, y), dx=5)
    for node, (ys, widths, lefts) in segments.items():
        ax.barh(
            ys,
            widths,
            left=lefts,
            height=0.62,
            color=colors[node],
            label=node,
            edgecolor="white",
            linewidth=0.5,
        )
    return keys


def vela_chart(summary: pd.DataFrame) -> Chart | None:
    if summary.empty or "vela_estimate_ms" not in summary or "latency_ms" not in summary:
        return None
    rows = summary[summary["vela_estimate_ms"].notna() & summary["latency_ms"].notna()]
    if rows.empty:
        return None
    estimate = rows["vela_estimate_ms"].astype(float).to_numpy()
    measured = rows["latency_ms"].astype(float).to_numpy()
    with drawing():
        fig = figure(len(rows) + 1, 0.7)
        ax = fig.subplots()
        ys = np.arange(len(rows))
        ax.barh(ys - 0.17, estimate, height=0.32, color=OKABE_ITO["sky"], label="Vela estimate")
        ax.barh(
            ys + 0.17, measured, height=0.32, color=OKABE_ITO["green"], label="measured (median)"
        )
        for y, est, mea in zip(ys, estimate, measured, strict=True):
            _note(ax, f"{est:.3g} ms", (est, y - 0.17))
            _note(ax, f"{mea:.3g} ms ({mea / est:.2f}×)", (mea, y + 0.17))
        ax.set_yticks(ys, _label(rows))
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, max(measured.max(), estimate.max()) * 1.7)
        ax.set_xlabel("ms per inference")
        legend = fig.legend(loc="outside lower center", ncols=2)
        style_axes(ax, grid="x")
        fit(fig, below=legend)
    return Chart(
        "vela",
        "Ethos-U: Vela estimate vs measured",
        "Vela's performance estimate for the compiled graph against the measured steady-state "
        "latency (×: measured / estimate).",
        to_svg(fig, "vela"),
        tuple(boards_of(rows)),
    )
