"""The report's trend chart: latency per board x cell over the run history, with the runs'
regression verdicts and the board's environment changes marked.

A year of nightlies stays light: beyond MAX_POINTS per series, points are thinned evenly (runs
with a regressed/improved verdict are always kept), and long series are drawn without markers.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from imxbench.report.data import History
from imxbench.report.history import naive
from imxbench.report.layout import fit
from imxbench.report.svg import (
    Chart,
    boards_of,
    cell_color,
    drawing,
    figure,
    log_axis,
    style_axes,
    title,
    to_svg,
)

MAX_POINTS = 250  # per series
MARKERS_UP_TO = 40  # points per series drawn with a marker each
VERDICT_MARKERS = (("regressed", "^", "#d62728"), ("improved", "v", "#2ca02c"))


def history_chart(history: History) -> Chart | None:
    """None with fewer than two dated runs."""
    points = history.points
    if points.empty or points["run_id"].nunique() < 2 or points["started_at"].isna().all():
        return None
    points = points[points["started_at"].notna()].copy()
    points["when"] = pd.to_datetime([naive(t) for t in points["started_at"]])
    boards = boards_of(points)
    with drawing():
        fig = figure(len(boards), 2.7)
        axes = fig.subplots(len(boards), 1, sharex=True, squeeze=False)[:, 0]
        for ax, board in zip(axes, boards, strict=True):
            _board_axes(ax, points[points["board"] == board], history, board)
        axes[-1].set_xlabel("run date")
        for label in axes[-1].get_xticklabels():
            label.set_rotation(20)
            label.set_horizontalalignment("right")
        fit(fig)
    return Chart(
        "trend",
        "Latency over time",
        "Median latency per run. ▲ regression, ▼ improvement (that run's verdict), ✕ failed "
        "cell; dotted lines: the board's TFLite, kernel, OS or delegate library changed.",
        to_svg(fig, "trend"),
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


def _board_axes(ax: Axes, points: pd.DataFrame, history: History, board: str) -> None:
    low = float(points["latency_ms"].min()) if points["latency_ms"].notna().any() else 1.0
    for cell, series in points.groupby("cell", sort=False):
        series = thin(series.sort_values("when"))
        ax.plot(
            series["when"],
            series["latency_ms"],
            color=cell_color(str(cell)),
            lw=1.2,
            label=str(cell),
            marker="o" if len(series) <= MARKERS_UP_TO else None,
            ms=3,
        )
        for verdict, marker, color in VERDICT_MARKERS:
            hit = series[series["verdict"] == verdict]
            if not hit.empty:  # no empty collections: each costs as much as a full one
                ax.scatter(
                    hit["when"],
                    hit["latency_ms"],
                    marker=marker,
                    s=46,
                    color=color,
                    edgecolor="black",
                    linewidths=0.5,
                    zorder=4,
                )
        # a failed night has no latency: its ✕ sits at the series' last known one
        failed = series["failed"].astype(bool) & series["latency_ms"].isna()
        if failed.any():
            known = series["latency_ms"].ffill().fillna(low)
            ax.scatter(
                series.loc[failed, "when"],
                known[failed],
                marker="x",
                s=36,
                color="#d62728",
                linewidths=1.5,
                zorder=4,
            )
    for change in history.env_changes:
        if change.board != board or change.started_at is None:
            continue
        when = float(mdates.date2num(naive(change.started_at)))
        ax.axvline(when, color="#7f7f7f", ls=":", lw=1)
        text = change.changes[0] + (
            f" (+{len(change.changes) - 1})" if len(change.changes) > 1 else ""
        )
        ax.annotate(
            text,
            (when, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2),
            textcoords="offset points",
            va="bottom",
            ha="center",
            fontsize=6.5,
            color="#555",
        )
    log_axis(ax.yaxis, minor_labels=True)
    ax.margins(y=0.12)
    ax.set_ylabel("ms (log)")
    title(ax, board, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    style_axes(ax, grid="y")
