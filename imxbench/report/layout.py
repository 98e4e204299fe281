"""The report charts' layout: margins from font metrics, so that no text is clipped and the
figure is drawn once.

No layout engine and no tight bounding box (each would lay the figure out again: the report is
on `imxbench run`'s critical path). `fit` measures the texts around each axes — tick labels,
axis labels, titles, annotations past a bar's end, legends — with Agg's font metrics, unhinted
as a browser sets them (report_svg.RC), and places the grid of axes so that they all fit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.axis import Axis, XAxis
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.gridspec import SubplotSpec
from matplotlib.legend import Legend
from matplotlib.text import Annotation

EDGE_PT = 4.0  # between the outermost text and the figure's edge
GAP_PT = 6.0  # between the decorations of neighbouring axes
MIN_AXES_SHARE = 0.2  # of the figure's width or height, however long the labels
MIN_SPANS_SHRINK = 0.6  # texts past an axes' ends narrow it to no less than this, then widen
VA_ABOVE = {"top": 0.0, "center": 0.5, "center_baseline": 0.5}  # share of a text above its y


@dataclass
class _Decor:
    """What is drawn around one axes' box, in points: its tick labels, axis labels, title,
    annotations and a legend beside it. `spans`: texts placed along the x axis, as (axes
    fraction, left, right) — their room at the sides depends on the axes' width."""

    left: float = 0.0
    right: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    spans: list[tuple[float, float, float]] = field(default_factory=list)
    legend_h: float = 0.0  # the legend beside: it hangs from the axes' top, the axes as high


def fit(
    fig: Figure,
    *,
    right: Legend | None = None,
    below: Legend | None = None,
    reserve_right_in: float = 0.0,
) -> None:
    """Places the figure's grid of axes (from `fig.subplots`) so that everything around them
    fits inside the figure: tick labels, axis labels, titles, annotations (e.g. a value noted
    past a bar's end), a legend beside an axes (at its right), the figure legend `right` of the
    grid or `below` it, and `reserve_right_in` inches kept free at the right (e.g. for a
    colorbar). Measured from font metrics, without drawing; call it once the axes are complete
    (limits, ticks, labels), inside `drawing()`. When the texts leave the axes less than
    MIN_AXES_SHARE of the figure, or a legend beside an axes is higher than it, the figure
    grows (the page scales it down)."""
    renderer = _renderer(fig.dpi)
    grid = _Grid.of(fig, renderer)
    width_in, height_in = (float(v) for v in fig.get_size_inches())
    edge, gap = EDGE_PT / 72, GAP_PT / 72
    right_in = edge + grid.most("right", grid.ncols - 1) + reserve_right_in
    right_in += _legend_in(right, renderer)[0] if right is not None else 0.0
    top_in = edge + grid.most("top", 0)
    bottom_in = edge + grid.most("bottom", grid.nrows - 1)
    if below is not None:  # centred under the grid: the figure at least as wide
        below_w, below_h = _legend_in(below, renderer)
        bottom_in += below_h
        width_in = max(width_in, below_w + 2 * edge)
    hgap_in = gap + grid.most_between("bottom", "top", grid.nrows)
    wgap_in = gap + grid.most_between("right", "left", grid.ncols)
    left_in, cell_w, width_in = _fit_width(
        width_in,
        (edge + grid.most("left", 0), right_in, wgap_in, grid.ncols),
        grid.spans(0),
        grid.spans(grid.ncols - 1),
    )
    around_in = top_in + bottom_in + (grid.nrows - 1) * hgap_in
    height_in = max(height_in, around_in + max(MIN_AXES_SHARE * height_in, grid.legends_in()))
    fig.set_size_inches(width_in, height_in)
    fig.subplots_adjust(
        left=left_in / width_in,
        right=(left_in + grid.ncols * cell_w + (grid.ncols - 1) * wgap_in) / width_in,
        top=1 - top_in / height_in,
        bottom=bottom_in / height_in,
        wspace=wgap_in / cell_w,
        hspace=hgap_in / ((height_in - around_in) / grid.nrows),
    )


@dataclass(frozen=True)
class _Grid:
    """The figure's grid of visible axes, with what is drawn around each."""

    decor: dict[Axes, _Decor]
    rows: dict[Axes, range]
    cols: dict[Axes, range]
    nrows: int
    ncols: int
    height_ratios: list[float]

    @classmethod
    def of(cls, fig: Figure, renderer: RendererAgg) -> _Grid:
        axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None and ax.get_visible()]
        gridspec = _spec(axes[0]).get_gridspec()
        nrows, ncols = gridspec.get_geometry()
        ratios: Any = gridspec.get_height_ratios()  # typed as any array
        return cls(
            {ax: _decor(ax, renderer) for ax in axes},
            {ax: _spec(ax).rowspan for ax in axes},
            {ax: _spec(ax).colspan for ax in axes},
            nrows,
            ncols,
            [float(r) for r in ratios] if ratios is not None else [1.0] * nrows,
        )

    def most(self, side: str, index: int) -> float:
        """The largest decoration on that side of the axes in that row or column, inches."""
        lines = self.rows if side in ("top", "bottom") else self.cols
        sizes = (getattr(d, side) for ax, d in self.decor.items() if index in lines[ax])
        return max(sizes, default=0.0) / 72

    def most_between(self, before: str, after: str, count: int) -> float:
        """The largest sum of decorations between two neighbouring rows or columns, inches."""
        return max(
            (self.most(before, i) + self.most(after, i + 1) for i in range(count - 1)), default=0.0
        )

    def spans(self, col: int) -> list[tuple[float, float, float]]:
        return [s for ax, d in self.decor.items() if col in self.cols[ax] for s in d.spans]

    def legends_in(self) -> float:
        """The rows' total height (inches) for each legend beside an axes to fit its row."""
        total = sum(self.height_ratios)
        return max(
            (
                d.legend_h / 72 * total / self.height_ratios[self.rows[ax].start]
                for ax, d in self.decor.items()
            ),
            default=0.0,
        )


def _fit_width(
    width_in: float,
    columns: tuple[float, float, float, int],
    firsts: list[tuple[float, float, float]],
    lasts: list[tuple[float, float, float]],
) -> tuple[float, float, float]:
    """The left margin, the width of one column and the figure's width (inches) such that the
    texts placed along x (`spans` of the first and of the last column) stay between the
    figure's left edge and the right margin. A text at axes fraction f moves by f times the
    column's width. `columns`: the left and right margins, the gap between columns and their
    number, before the texts. The texts narrow the columns down to MIN_SPANS_SHRINK of their
    width without them (and MIN_AXES_SHARE of the figure's); past that, the figure widens."""
    left_in, right_in, gap_in, ncols = columns
    k = ncols - 1
    natural = (width_in - right_in - left_in - k * gap_in) / ncols
    least = max(MIN_AXES_SHARE * width_in / ncols, MIN_SPANS_SHRINK * natural)
    cell_w = least
    for _ in range(3):  # the left margin and the width depend on each other: settle both
        room = width_in - right_in - left_in - k * gap_in
        cell_w = room / ncols
        for f, _lo, hi in lasts:
            if k + f > 0:
                cell_w = min(cell_w, (room - hi / 72) / (k + f))
        cell_w = max(cell_w, least)
        needed = max((EDGE_PT / 72 - lo / 72 - f * cell_w for f, lo, _hi in firsts), default=0.0)
        if needed <= left_in + 1e-6:
            break
        left_in = needed
    end = max([ncols * cell_w] + [(k + f) * cell_w + hi / 72 for f, _lo, hi in lasts])
    return left_in, cell_w, max(width_in, left_in + k * gap_in + end + right_in)


def _spec(ax: Axes) -> SubplotSpec:
    spec = ax.get_subplotspec()
    assert spec is not None, "fit lays out a grid from fig.subplots"
    return spec


def _decor(ax: Axes, renderer: RendererAgg) -> _Decor:
    """What is drawn around the axes' box (see `_Decor`)."""
    out = _Decor()
    xpad, xlabels = _tick_decor(ax.xaxis)
    ypad, ylabels = _tick_decor(ax.yaxis)
    out.bottom = xpad + max((h for _f, _w, h, _a in xlabels), default=0.0)
    out.left = ypad + max((w for _f, w, _h, _a in ylabels), default=0.0)
    out.top = max((h / 2 for f, _w, h, _a in ylabels if f > 0.999), default=0.0)  # at the top
    for f, w, _h, align in xlabels:
        lo = -w * {"left": 0.0, "center": 0.5, "right": 1.0}.get(align, 0.5)
        out.spans.append((f, lo, lo + w))
    for axis, label in ((ax.xaxis, ax.xaxis.label), (ax.yaxis, ax.yaxis.label)):
        if label.get_text() and label.get_visible():
            extra = axis.labelpad + text_size_pt(label.get_text(), label.get_fontsize())[1]
            if axis is ax.xaxis:
                out.bottom += extra
            else:
                out.left += extra
    _title_decor(ax, out)
    for text in ax.texts:
        if isinstance(text, Annotation) and text.get_visible():
            _annotation_decor(ax, text, out)
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        width_in, height_in = _legend_in(legend, renderer)
        out.right = max(out.right, width_in * 72)
        out.legend_h = height_in * 72
    return out


TITLE_PLACES: tuple[tuple[Literal["left", "center", "right"], float], ...] = (
    ("left", 0.0),
    ("center", 0.5),
    ("right", 1.0),
)


def _title_decor(ax: Axes, out: _Decor) -> None:
    """The titles' height above the axes and their span along x (they share the font of the
    centre title: none of ours sets another)."""
    size, weight = ax.title.get_fontsize(), ax.title.get_fontweight()
    for loc, f in TITLE_PLACES:
        if title := ax.get_title(loc):
            w, h = text_size_pt(title, size, weight)
            out.top = max(out.top, mpl.rcParams["axes.titlepad"] + h)
            out.spans.append((f, -w * f, w * (1 - f)))


def _tick_decor(axis: Axis) -> tuple[float, list[tuple[float, float, float, str]]]:
    """Points from the axes' edge to the tick labels (tick length and pad), and the labels as
    (axes fraction, width, height, horizontal alignment), width and height in points of their
    box, rotation included."""
    params = axis.get_tick_params()
    is_x = isinstance(axis, XAxis)
    rc = mpl.rcParams
    length = float(params.get("length", rc["xtick.major.size"] if is_x else rc["ytick.major.size"]))
    label = axis.majorTicks[0].label1
    if not label.get_visible():
        return length, []
    pad = float(params.get("pad", rc["xtick.major.pad"] if is_x else rc["ytick.major.pad"]))
    angle = math.radians(label.get_rotation())
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    size, weight = label.get_fontsize(), label.get_fontweight()
    align = str(label.get_horizontalalignment()) if is_x else "center"
    out: list[tuple[float, float, float, str]] = []
    for f, text in _tick_labels(axis):
        w, h = text_size_pt(text, size, weight)
        out.append((f, w * cos + h * sin, w * sin + h * cos, align))
    return length + pad, out


def _tick_labels(axis: Axis) -> list[tuple[float, str]]:
    """The labels the axis will draw, major and minor, as (axes fraction, text)."""
    lo, hi = sorted(float(v) for v in axis.get_view_interval())
    out = []
    for locator, formatter in (
        (axis.get_major_locator(), axis.get_major_formatter()),
        (axis.get_minor_locator(), axis.get_minor_formatter()),
    ):
        locs = [float(v) for v in locator() if within(float(v), lo, hi)]
        if locs:
            labels = formatter.format_ticks(locs)
            out += [(_fraction(axis, v), t) for v, t in zip(locs, labels, strict=True) if t]
    return out


def within(value: float, lo: float, hi: float) -> bool:
    slack = 1e-9 * max(abs(lo), abs(hi), 1e-300)
    return lo - slack <= value <= hi + slack


def _fraction(axis: Axis, value: float) -> float:
    """Where `value` (data) sits along the axis: 0 at the view's start, 1 at its end."""
    scale = axis.get_transform()
    lo, hi = (float(scale.transform(v)) for v in axis.get_view_interval())
    return (float(scale.transform(value)) - lo) / (hi - lo) if hi != lo else 0.5


def _annotation_decor(ax: Axes, text: Annotation, out: _Decor) -> None:
    """An annotation offset in points from a point in data or axes-fraction coordinates: its
    span along x, and how far it rises above the axes when it sits on the top edge."""
    coords = text.xycoords
    xcoords, ycoords = coords if isinstance(coords, tuple) else (coords, coords)
    dx, dy = text.xyann if text.anncoords == "offset points" else (0.0, 0.0)
    w, h = text_size_pt(text.get_text(), text.get_fontsize(), text.get_fontweight())
    x, y = text.xy
    if xcoords in ("data", "axes fraction"):
        f = _fraction(ax.xaxis, float(x)) if xcoords == "data" else float(x)
        lo = dx - w * {"left": 0.0, "center": 0.5, "right": 1.0}[text.get_horizontalalignment()]
        out.spans.append((f, lo, lo + w))
    if ycoords == "axes fraction" and float(y) >= 1.0:
        out.top = max(out.top, dy + h * VA_ABOVE.get(text.get_verticalalignment(), 1.0))


def _legend_in(legend: Legend, renderer: RendererAgg) -> tuple[float, float]:
    """A legend's width and height in inches, with the pad between it and what it borders."""
    box = legend.get_window_extent(renderer)
    pad = legend.borderaxespad * legend.prop.get_size_in_points() / 72
    return box.width / renderer.dpi + pad, box.height / renderer.dpi + pad


@functools.lru_cache(maxsize=8)
def _renderer(dpi: float) -> RendererAgg:
    """A renderer for measuring legends and lines only (it never draws)."""
    return RendererAgg(1, 1, dpi)


@functools.lru_cache(maxsize=4096)
def text_size_pt(text: str, size: float, weight: str | int = "normal") -> tuple[float, float]:
    """Width and height (points) of one line of `text` in the charts' font: the sum of its
    characters' advances, unhinted, as a browser sets it (kerning left out: a little wider,
    rarely narrower), and matplotlib's line height (at least that of "lp")."""
    return sum(_advance_pt(c, size, weight) for c in text), _line_pt(size, weight)


@functools.lru_cache(maxsize=16384)
def _advance_pt(char: str, size: float, weight: str | int) -> float:
    font = get_font(findfont(FontProperties(size=size, weight=weight)))  # shared: set its size
    font.set_size(size, 72)
    return float(font.load_char(ord(char), flags=get_hinting_flag()).linearHoriAdvance) / 65536


@functools.lru_cache(maxsize=64)
def _line_pt(size: float, weight: str | int) -> float:
    prop = FontProperties(size=size, weight=weight)
    _, height, _ = _renderer(72.0).get_text_width_height_descent("lp", prop, ismath=False)
    return float(height)
