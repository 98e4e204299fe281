"""The report's trend: small multiples, one small chart per board x cell over the run history,
each with its own linear y axis in ms, so that a few percent is visible.

Each panel: the median latency per run (line), the p5–p95 band of the single inferences (runs
whose summary has p5_ms and p95_ms), the runs' regression verdicts marked on their points
(▲ regressed, ▼ improved), failed runs (✕ at the last known latency) and the board's
environment changes (dotted line, named at the top). The y axis is padded around everything
drawn and ends on labelled ticks, so no point lies outside the labelled range (`y_range`).
All panels share the time axis. Every point has a tooltip (value, run id, date), added to the
SVG by `svg.to_svg`. The panels are separate SVGs in one `<div class="small-multiples">` (a
CSS grid: several per row on a wide screen, one on a phone).

A year of nightlies stays light: beyond MAX_POINTS per series, points are thinned evenly (runs
with a regressed/improved verdict are always kept), and long series have invisible markers
(they still carry the tooltips).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from imxbench.report.data import EnvChange, History
from imxbench.report.history import naive
from imxbench.report.layout import fit
from imxbench.report.svg import (
    IMPROVED_COLOR,
    REGRESSED_COLOR,
    Chart,
    InView,
    boards_of,
    cell_color,
    drawing,
    figure,
    style_axes,
    title,
    to_svg,
)

MAX_POINTS = 150  # per series: a panel is about 200 pt wide
MARKERS_UP_TO = 40  # points per series drawn with a visible marker each
PANEL_WIDTH_IN = 3.6  # 9 pt text stays >= 10 px down to a 259 px wide panel
PANEL_HEIGHT_IN = 2.1
Y_BINS = 4
VERDICT_MARKERS = (("regressed", "^", REGRESSED_COLOR), ("improved", "v", IMPROVED_COLOR))
CHANGE_COLOR = "#555555"
CAPTION = (
    "One chart per board and delegate, each on its own scale (ms, linear). Line: median "
    "latency per run; band: p5–p95 of the single inferences; ▲ regression, ▼ improvement "
    "(that run's verdict), ✕ failed cell; dotted line: the board's TFLite, kernel, OS or "
    "delegate library changed (first change named). Hover a point for its value, run and date."
)


def history_chart(history: History) -> Chart | None:
    """None with fewer than two dated runs."""
    points = history.points
    if points.empty or points["run_id"].nunique() < 2 or points["started_at"].isna().all():
        return None
    points = points[points["started_at"].notna()].copy()
    points["when"] = pd.to_datetime([naive(t) for t in points["started_at"]])
    for column in ("p5_ms", "p95_ms"):
        if column not in points:
            points[column] = np.nan
    boards = boards_of(points)
    span = _time_span(points["when"])
    panels: list[str] = []
    for board in boards:
        changes = [c for c in history.env_changes if c.board == board and c.started_at]
        on_board = points[points["board"] == board]
        for cell, series in on_board.groupby("cell", sort=False):
            if not (series["latency_ms"].notna().any() or series["failed"].astype(bool).any()):
                continue  # e.g. a cell skipped on every run: nothing to draw
            key = f"trend-{len(panels)}"
            panels.append(_panel(key, board, str(cell), series, changes, span))
    return Chart(
        "trend",
        "Latency over time",
        CAPTION,
        '<div class="small-multiples">' + "".join(panels) + "</div>",
        tuple(boards),
    )


def thin(series: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """At most about `max_points` rows, evenly spread, keeping every row with a verdict mark."""
    if len(series) <= max_points:
        return series
    keep = set(np.linspace(0, len(series) - 1, max_points).astype(int))
    marked = series["verdict"].isin([v for v, _, _ in VERDICT_MARKERS]).to_numpy()
    keep |= set(np.flatnonzero(marked).tolist())
    return series.iloc[sorted(keep)]


def y_range(values: Sequence[float], bins: int = Y_BINS) -> tuple[float, float, list[float]]:
    """A linear axis for `values` (ms, > 0): padded a little around them, from a labelled tick
    to a labelled tick (so every value lies within the labelled range), at most about `bins`
    steps of 1, 2, 2.5 or 5 x 10^n. Returns (bottom, top, ticks)."""
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = (hi - lo) * 0.08 if hi > lo else max(abs(hi) * 0.05, 1e-3)
    lo_pad, hi_pad = max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad
    ticks = [
        float(t) for t in MaxNLocator(bins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo_pad, hi_pad)
    ]
    bottom = max((t for t in ticks if t <= lo_pad + 1e-12), default=ticks[0])
    top = min((t for t in ticks if t >= hi_pad - 1e-12), default=ticks[-1])
    return bottom, top, [t for t in ticks if bottom - 1e-12 <= t <= top + 1e-12]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The ticks with as many decimals as their step needs (0.20, 0.25, 0.30)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(ticks[0]) or 1.0
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    if round(step * 10**digits, 6) % 1:  # 2.5 x 10^n
        digits += 1
    return [f"{t:.{digits}f}" for t in ticks]


def _time_span(when: pd.Series) -> tuple[datetime, datetime]:
    first, last = when.min().to_pydatetime(), when.max().to_pydatetime()
    pad = max((last - first) * 0.04, timedelta(minutes=1))
    return first - pad, last + pad


def _tip(row: dict[str, Any], board: str, cell: str) -> str:
    when = row["when"].strftime("%Y-%m-%d %H:%M")
    if isinstance(row["latency_ms"], float) and math.isfinite(row["latency_ms"]):
        value = f"{row['latency_ms']:.3f} ms"
        if math.isfinite(row["p5_ms"]) and math.isfinite(row["p95_ms"]):
            value += f" (p5–p95 {row['p5_ms']:.3f}–{row['p95_ms']:.3f})"
    else:
        value = "failed"
    verdict = f" · {row['verdict']}" if isinstance(row["verdict"], str) else ""
    return f"{board} · {cell}: {value}{verdict} · run {row['run_id']} · {when}"


def _panel(
    key: str,
    board: str,
    cell: str,
    series: pd.DataFrame,
    changes: Sequence[EnvChange],
    span: tuple[datetime, datetime],
) -> str:
    series = thin(series.sort_values("when"))
    latency = series["latency_ms"].astype(float)
    p5, p95 = series["p5_ms"].astype(float), series["p95_ms"].astype(float)
    band = latency.notna() & p5.notna() & p95.notna()
    failed = series["failed"].astype(bool) & latency.isna()
    first_known = latency.dropna().iloc[0] if latency.notna().any() else 1.0
    failed_at = latency.ffill().fillna(first_known)
    drawn = [*latency, *p5[band], *p95[band], *failed_at[failed]]
    bottom, top, ticks = y_range([float(v) for v in drawn])
    if any(_within(c, span) for c in changes):
        top, ticks = _headroom(bottom, top, ticks)
    color = cell_color(cell)
    tips: dict[str, list[str]] = {}
    records = series.assign(p5_ms=p5, p95_ms=p95).to_dict(orient="records")
    with drawing():
        fig = figure(1, PANEL_HEIGHT_IN, width_in=PANEL_WIDTH_IN)
        ax = fig.subplots()
        if band.any():
            ax.fill_between(
                series["when"], p5.where(band), p95.where(band), color=color, alpha=0.28, lw=0
            )
        ax.plot(series["when"], latency, color=color, lw=1.4)
        known = latency.notna().to_numpy()
        visible = len(series) <= MARKERS_UP_TO
        ax.plot(
            series["when"][known],
            latency[known],
            ls="none",
            marker="o",
            ms=4 if visible else 5,
            color=color,
            alpha=1.0 if visible else 0.0,
            gid="points",
            zorder=5,
        )
        tips["points"] = [_tip(r, board, cell) for r, k in zip(records, known, strict=True) if k]
        for verdict, marker, marker_color in VERDICT_MARKERS:
            hit = (series["verdict"] == verdict).to_numpy() & known
            if hit.any():
                ax.plot(
                    series["when"][hit],
                    latency[hit],
                    ls="none",
                    marker=marker,
                    ms=9,
                    mfc=marker_color,
                    mec="black",
                    mew=0.6,
                    gid=verdict,
                    zorder=6,
                )
                tips[verdict] = [
                    _tip(r, board, cell) for r, h in zip(records, hit, strict=True) if h
                ]
        if failed.any():
            ax.plot(
                series["when"][failed],
                failed_at[failed],
                ls="none",
                marker="X",
                ms=8,
                mfc=REGRESSED_COLOR,
                mec="black",
                mew=0.5,
                gid="failed",
                zorder=6,
            )
            tips["failed"] = [
                _tip(r, board, cell) for r, f in zip(records, failed.to_numpy(), strict=True) if f
            ]
        for change in changes:
            _change_line(ax, change, span)
        ax.set_xlim(float(mdates.date2num(span[0])), float(mdates.date2num(span[1])))
        ax.set_ylim(bottom, top)
        ax.set_yticks(ticks, tick_labels(ticks))
        _date_axis(ax, span)
        ax.set_ylabel("ms")
        title(ax, f"{board} · {cell}", loc="left")
        style_axes(ax, grid="y")
        fit(fig)
    return to_svg(fig, key, tips, chart="trend")


def _headroom(bottom: float, top: float, ticks: list[float]) -> tuple[float, list[float]]:
    """One more tick step on top: room for the names of environment changes."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else (top - bottom) or 1.0
    return top + step, [*ticks, top + step]


def _within(change: EnvChange, span: tuple[datetime, datetime]) -> bool:
    moment = naive(change.started_at)
    return moment is not None and span[0] <= moment <= span[1]


def _change_line(ax: Axes, change: EnvChange, span: tuple[datetime, datetime]) -> None:
    moment = naive(change.started_at)
    if moment is None or not _within(change, span):
        return
    when = float(mdates.date2num(moment))
    ax.axvline(when, color=CHANGE_COLOR, ls=":", lw=1.2, zorder=1)
    name = change.changes[0].split(" ", 1)[0] if change.changes else "changed"
    if len(change.changes) > 1:
        name += f" +{len(change.changes) - 1}"
    right_half = moment > span[0] + (span[1] - span[0]) / 2
    ax.annotate(
        name,
        (when, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(-3 if right_half else 3, -2),
        textcoords="offset points",
        va="top",
        ha="right" if right_half else "left",
        color=CHANGE_COLOR,
    )


def _date_axis(ax: Axes, span: tuple[datetime, datetime]) -> None:
    """A few dates (at most 5), formatted for the span (times within a day, months over a
    year)."""
    length = span[1] - span[0]
    if length <= timedelta(hours=2):
        fmt = "%H:%M:%S" if length <= timedelta(minutes=5) else "%H:%M"
    elif length <= timedelta(days=2):
        fmt = "%d %H:%M"
    elif length <= timedelta(days=400):
        fmt = "%b %d"
    else:
        fmt = "%Y-%m"
    ax.xaxis.set_major_locator(InView(mdates.AutoDateLocator(minticks=2, maxticks=4)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))
