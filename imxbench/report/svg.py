"""What every report chart shares: the `Chart` value, matplotlib settings, the figure and its
layout, figure → inline SVG, axis styling and the colours of delegates and operators.

SVG text stays text (`svg.fonttype: none`), ids are prefixed with the chart's key so several
charts can share one HTML page, and matplotlib's math parser is off so a `$` in a board name is
just a `$`. Text in the SVG is XML-escaped by matplotlib; tooltips (`<title>`, added here after
matplotlib by the markers' gid) are escaped by `tooltip_text`.

Sizes for phones: an SVG's text scales with the SVG. Each chart is drawn WIDTH_IN wide with
no text under MIN_FONT_PT, so that at a phone's column (PHONE_COLUMN_PX) its text is at
least 10 px; `to_svg` sets each SVG's CSS min-width to the width at which its smallest text
is 10 px (a chart that grew wider for long names scrolls instead of shrinking further) and
its max-width a little over its natural size. Colours: the Okabe–Ito palette, distinguishable
with the common colour-vision deficiencies.

Layout is explicit and cheap (the report is on `imxbench run`'s critical path): no layout engine
and no tight bounding box, which would each lay the figure out again; `fit` sizes the margins
from font metrics of the texts around the axes (tick labels, axis labels, titles, annotations,
legends), so that none is clipped, and the SVG is drawn once. `warm_up` pays matplotlib's
one-time costs ahead (fonts, caches), e.g. in a thread while the boards work.
"""

from __future__ import annotations

import html
import io
import re
import string
import threading
from collections.abc import Iterator, Mapping, Sequence
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

MIN_FONT_PT = 9.0  # no chart text is set smaller
RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": MIN_FONT_PT,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": MIN_FONT_PT,
    "text.hinting": "none",  # `fit` measures text (with Agg) as a browser sets it: unhinted
}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
PHONE_COLUMN_PX = 396  # a 420 px wide page less its padding (report.css)
MIN_TEXT_PX = 10.0  # the smallest chart text on screen, at PHONE_COLUMN_PX and wider
WIDTH_IN = 4.6  # 9 pt text at 4.6 in (331 pt) shown 396 px wide: 10.8 px
MAX_SCALE = 1.3  # on a wide screen a chart grows up to this much over its natural size

# Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green, yellow, blue,
# vermillion, reddish purple, and black/greys
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
    "dark grey": "#555555",
}
DELEGATE_COLORS = {
    "cpu": OKABE_ITO["dark grey"],
    "vx": OKABE_ITO["blue"],
    "gpu": OKABE_ITO["purple"],
    "ethosu": OKABE_ITO["green"],
    "neutron": OKABE_ITO["sky"],
}
EXTRA_COLORS = tuple(OKABE_ITO[c] for c in ("orange", "vermillion", "sky", "black", "yellow"))
DELEGATE_NODE_COLORS = tuple(OKABE_ITO[c] for c in ("blue", "green", "sky", "purple", "black"))
CPU_NODE_COLORS = (
    OKABE_ITO["orange"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["yellow"],
    OKABE_ITO["purple"],
    "#8C5A00",  # dark orange
    OKABE_ITO["grey"],
    "#F5C77E",  # light orange
    "#E8A57F",  # light vermillion
)
REGRESSED_COLOR = OKABE_ITO["vermillion"]
IMPROVED_COLOR = OKABE_ITO["green"]


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


def to_svg(
    fig: Figure,
    key: str,
    tips: Mapping[str, Sequence[str]] | None = None,
    chart: str | None = None,
) -> str:
    """The figure as one <svg> element whose ids all start with `key`, `data-chart` = `chart`
    (default: `key`), sized for any screen (module docstring). `tips`: for the gid of a line
    drawn with markers only, one tooltip per marker, in the order of its points (see
    `add_tooltips`)."""
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
    if tips:
        text = add_tooltips(text, {f"{key}-{gid}": t for gid, t in tips.items()})
    return text.replace(
        "<svg ",
        f'<svg class="chart" role="img" data-chart="{chart or key}" style="{_css_size(text)}" ',
        1,
    )


_WIDTH = re.compile(r'<svg [^>]*?width="([\d.]+)pt"')
_FONT_SIZE = re.compile(r"font-size: ([\d.]+)px")


def _css_size(svg: str) -> str:
    """width 100%, between the width at which the smallest text is MIN_TEXT_PX and MAX_SCALE
    times the natural width (the viewBox is in points; a CSS px is 3/4 pt)."""
    found = _WIDTH.search(svg)
    width_pt = float(found[1]) if found else WIDTH_IN * 72
    smallest = min((float(v) for v in _FONT_SIZE.findall(svg)), default=MIN_FONT_PT)
    least_px = MIN_TEXT_PX * width_pt / smallest
    most_px = max(least_px, MAX_SCALE * width_pt * 4 / 3)
    return f"width:100%;min-width:{least_px:.0f}px;max-width:{most_px:.0f}px"


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def tooltip_text(text: str) -> str:
    """`text` as the content of an SVG <title>: XML-escaped, without the characters XML 1.0
    forbids."""
    return html.escape(_XML_INVALID.sub("", text), quote=False)


def add_tooltips(svg: str, tips: Mapping[str, Sequence[str]]) -> str:
    """Each <use> (one marker) inside the group of id `gid` wrapped in a group holding a
    <title>, the tooltip browsers show on hover. matplotlib writes one <use> per point of a
    line's markers, in the line's order (filled markers are never clipped, and the charts
    pass finite points only); a line whose count differs is left without tooltips."""
    for gid, texts in tips.items():
        start = svg.find(f'<g id="{gid}">')
        if start < 0:
            continue
        end = svg.find("</g>", start)  # the markers' (clip) group holds <use>s only
        if end < 0:
            continue
        block = svg[start:end]
        uses = list(re.finditer(r"<use [^>]*/>", block))
        if len(uses) != len(texts):
            continue
        out, last = [], 0
        for i, (use, tip) in enumerate(zip(uses, texts, strict=True)):
            out.append(block[last : use.start()])
            out.append(f'<g id="{gid}-{i}"><title>{tooltip_text(tip)}</title>{use[0]}</g>')
            last = use.end()
        out.append(block[last:])
        svg = svg[:start] + "".join(out) + svg[end:]
    return svg


# the fonts the charts set text in, (points, weight): ticks and labels, titles, legends, notes
FONTS = ((9.0, "normal"), (10.0, "bold"), (9.0, "bold"))
SMALL_FONTS: tuple[tuple[float, str], ...] = ()
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
            return OKABE_ITO["grey"] if cell.endswith("@1t") else OKABE_ITO["dark grey"]
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
