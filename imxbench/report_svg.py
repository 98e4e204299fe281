"""What every report chart shares: the `Chart` value, matplotlib settings, figure → inline SVG,
axis styling and the colours of delegates and operators.

SVG text stays text (`svg.fonttype: none`), ids are prefixed with the chart's key so several
charts can share one HTML page, and matplotlib's math parser is off so a `$` in a board name is
just a `$`. Text in the SVG is XML-escaped by matplotlib.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib as mpl
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from imxbench.results import DELEGATE_NODE_HINTS

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
    """A constrained-layout figure `rows * row_height_in` high (no pyplot, no global state)."""
    with mpl.rc_context(RC):
        return Figure(figsize=(width_in, max(1.6, rows * row_height_in)), layout="constrained")


def to_svg(fig: Figure, key: str) -> str:
    """The figure as one <svg> element whose ids all start with `key`."""
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": key, **RC}):
        fig.savefig(buf, format="svg", metadata=SVG_METADATA, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    # inline SVG in HTML needs no namespace declarations: the page then names no URL at all
    text = re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", text)
    text = text.replace('id="', f'id="{key}-').replace('href="#', f'href="#{key}-')
    text = text.replace("url(#", f"url(#{key}-")
    return text.replace("<svg ", f'<svg class="chart" role="img" data-chart="{key}" ', 1)


def style_axes(ax: Axes, grid: Literal["x", "y"]) -> None:
    ax.grid(axis=grid, color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(length=2)


def ms_formatter(minor: bool = False) -> FuncFormatter:
    """Plain numbers on a log axis (0.1, 1, 10 — not 10^-1); minor ticks: only 2s and 5s."""

    def label(value: float, _pos: int | None) -> str:
        if minor and f"{value:.0e}"[0] not in "25":
            return ""
        return f"{value:g}"

    return FuncFormatter(label)


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
