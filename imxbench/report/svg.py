"""What every report chart shares: the `Chart` value, matplotlib settings, the figure and its
layout, figure → inline SVG, axis styling and the colours of delegates and operators.

SVG text stays text (`svg.fonttype: none`), ids are prefixed with the chart's key so several
charts can share one HTML page, and matplotlib's math parser is off so a `$` in a board name is
just a `$`. Text in the SVG is XML-escaped by matplotlib.

Layout is explicit and cheap (the report is on `imxbench run`'s critical path): no layout engine
and no tight bounding box, which would each lay the figure out again; `fit` sizes the margins
from font metrics of the texts around the axes (tick labels, axis labels, titles, annotations,
legends), so that none is clipped, and the SVG is drawn once. `warm_up` pays matplotlib's
one-time costs ahead (fonts, caches), e.g. in a thread while the boards work.
"""

from __future__ import annotations

import io
import re
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib as mpl
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis, XAxis
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, NullFormatter

from imxbench.analysis.results import DELEGATE_NODE_HINTS
from imxbench.report.layout import fit, text_size_pt, within

mpl.use("Agg")

RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "text.hinting": "none",  # `fit` measures text (with Agg) as a browser sets it: unhinted
}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
WIDTH_IN = 10.0

DELEGATE_COLORS = {
    "cpu": "#7f7f7f",
    "vx": "#1f77b4",
    "gpu": "#9467bd",
    "ethosu": "#2ca02c",
    "neutron": "#17becf",
}
EXTRA_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e", "#393b79")
DELEGATE_NODE_COLORS = ("#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#393b79")
CPU_NODE_COLORS = (
    "#ff7f0e",
    "#d62728",
    "#ffbb78",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
    "#f7b6d2",
    "#c49c94",
)


@dataclass(frozen=True)
class Chart:
    key: str  # stable, unique in a page: also the SVG id prefix
    title: str
    caption: str
    svg: str  # one <svg> element
    boards: tuple[str, ...]  # whose data it shows (for the "emulated" badge)


def figure(rows: float, row_height_in: float, width_in: float = WIDTH_IN) -> Figure:
    """A figure `rows * row_height_in` high (no pyplot, no global state, no layout engine: lay it
    out with `fit`)."""
    return Figure(figsize=(width_in, max(1.6, rows * row_height_in)))


_DRAWING = threading.RLock()


@contextmanager
def drawing() -> Iterator[None]:
    """The charts' matplotlib settings (RC) while a chart is built or saved. rcParams are the
    process's, so one thread at a time: a chart waits for a `warm_up` running in another."""
    with _DRAWING, mpl.rc_context(RC):
        yield


def to_svg(fig: Figure, key: str) -> str:
    """The figure as one <svg> element whose ids all start with `key`."""
    buf = io.StringIO()
    with _DRAWING, mpl.rc_context({"svg.hashsalt": key, **RC}):
        fig.savefig(buf, format="svg", metadata=SVG_METADATA)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    # inline SVG in HTML needs no namespace declarations: the page then names no URL at all
    text = re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", text)
    text = text.replace('id="', f'id="{key}-').replace('href="#', f'href="#{key}-')
    text = text.replace("url(#", f"url(#{key}-")
    return text.replace("<svg ", f'<svg class="chart" role="img" data-chart="{key}" ', 1)


# the fonts the charts set text in, (points, weight): ticks and labels, titles, legends, notes
FONTS = ((9.0, "normal"), (10.0, "bold"), (9.0, "bold"), (8.0, "normal"), (7.5, "normal"))
SMALL_FONTS = ((7.0, "normal"), (6.5, "normal"), (6.0, "normal"))
WARM_UP_TEXT = string.ascii_letters + string.digits + string.punctuation + " ·×–%"


def warm_up() -> None:
    """Pays matplotlib's one-time costs now (e.g. in a thread while the boards work) instead
    of in the first real chart: draws one small throwaway chart (the SVG backend's import,
    font loading, caches) and looks up the charts' fonts and the widths of common characters.
    Changes no settings: it holds the same lock as the charts while rcParams are theirs."""
    with drawing():
        for size, weight in FONTS + SMALL_FONTS:
            findfont(FontProperties(size=size, weight=weight))
            text_size_pt(WARM_UP_TEXT, size, weight)
        fig = figure(2, 0.8)
        axes = fig.subplots(2, 1, sharex=True, squeeze=False)[:, 0]
        for ax, board in zip(axes, ("warm-up · a", "warm-up · b"), strict=True):
            ax.barh([0, 1], [0.3, 30.0], color=DELEGATE_COLORS["vx"], label="bar")
            ax.plot([0.5, 2.0], [0, 1], marker="D", ls="none", color="black")
            ax.scatter([1.0], [1], s=12, color="black", linewidths=0)
            ax.annotate("2.5 ms", (30.0, 1), xytext=(3, 0), textcoords="offset points")
            ax.set_yticks([0, 1], ["cpu@4t", "vx"])
            title(ax, board, loc="left")
            log_axis(ax.xaxis, minor_labels=True)
            style_axes(ax, grid="x")
        axes[-1].set_xlabel("ms (log scale)")
        fit(fig, right=fig.legend(loc="outside right upper"))
    to_svg(fig, "warm-up")


def style_axes(ax: Axes, grid: Literal["x", "y"]) -> None:
    ax.grid(axis=grid, color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(length=2)


def title(ax: Axes, text: str, **kwargs: Any) -> None:
    """The axes' title, just above it (y=1). matplotlib would otherwise look, at every draw,
    for tick labels above the axes to move it clear of (measuring the axes again); ours have
    none there."""
    ax.set_title(text, y=1.0, **kwargs)


def ms_formatter(minor: bool = False) -> FuncFormatter:
    """Plain numbers on a log axis (0.1, 1, 10 — not 10^-1); minor ticks: only 2s and 5s."""

    def label(value: float, _pos: int | None) -> str:
        if minor and f"{value:.0e}"[0] not in "25":
            return ""
        return f"{value:g}"

    return FuncFormatter(label)


def log_axis(axis: Axis, minor_labels: bool | None) -> None:
    """A log axis in plain numbers (`ms_formatter`), minor ticks at the 2s and 5s only (not
    at every digit: fewer ticks to build and draw). `minor_labels`: label them (True), never
    (False), or as matplotlib's default does, only over a short range (None)."""
    if isinstance(axis, XAxis):
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
    axis.set_major_locator(InView(LogLocator()))
    axis.set_major_formatter(ms_formatter())
    axis.set_minor_locator(InView(LogLocator(subs=(2.0, 5.0))))
    if minor_labels:
        axis.set_minor_formatter(ms_formatter(minor=True))
    elif minor_labels is False:
        axis.set_minor_formatter(NullFormatter())


class InView(Locator):
    """The ticks of `base` inside the axis' view only: matplotlib builds a tick (five artists)
    for every location its locator returns, drawn or not, and a log locator returns a decade
    more on either side. For formatters that label each value alone (not ScalarFormatter,
    whose precision depends on the locations)."""

    def __init__(self, base: Locator) -> None:
        self.base = base

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.base.set_axis(axis)

    def __call__(self) -> list[float]:
        assert self.axis is not None
        lo, hi = sorted(float(v) for v in self.axis.get_view_interval())
        return [float(v) for v in self.base() if within(float(v), lo, hi)]

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return self.base.tick_values(vmin, vmax)


def delegate_of(cell: str) -> str:
    """The delegate part of a cell name (`cpu@4t` → `cpu`)."""
    return cell.split("@", 1)[0].split(":", 1)[0]


def cell_color(cell: str, index: int = 0) -> str:
    delegate = delegate_of(cell)
    if delegate in DELEGATE_COLORS:
        if delegate == "cpu" and "@" in cell:
            return "#b0b0b0" if cell.endswith("@1t") else "#5f5f5f"
        return DELEGATE_COLORS[delegate]
    return EXTRA_COLORS[(sum(map(ord, cell)) + index) % len(EXTRA_COLORS)]


def delegate_node(node_type: str) -> bool:
    """True when an op-profile node type is a delegate partition (not a CPU kernel)."""
    lowered = node_type.lower()
    return any(hint in lowered for hint in DELEGATE_NODE_HINTS)


def op_colors(placement: pd.DataFrame) -> dict[str, str]:
    """A colour per node type: blues/greens for delegate partitions, warm colours for CPU ops."""
    colors: dict[str, str] = {}
    delegated = list(dict.fromkeys(placement.loc[placement["delegated"], "node_type"]))
    on_cpu = list(dict.fromkeys(placement.loc[~placement["delegated"], "node_type"]))
    for i, node in enumerate(delegated):
        colors[node] = DELEGATE_NODE_COLORS[i % len(DELEGATE_NODE_COLORS)]
    for i, node in enumerate(on_cpu):
        colors[node] = CPU_NODE_COLORS[i % len(CPU_NODE_COLORS)]
    return colors


def cells_of(frame: pd.DataFrame, board: str) -> list[str]:
    """The board's cells in table order."""
    return list(dict.fromkeys(frame.loc[frame["board"] == board, "cell"]))


def boards_of(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["board"])) if not frame.empty else []
