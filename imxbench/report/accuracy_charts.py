"""The report's accuracy charts (from accuracy.json): top-1 with its interval, per-class
top-1, confusion matrices (small multiples: one SVG per cell, in the page's CSS grid). Each
returns None when the run has no such data."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from imxbench.report.data import Accuracy, AccuracyCell
from imxbench.report.layout import fit
from imxbench.report.svg import (
    Chart,
    cell_color,
    drawing,
    figure,
    style_axes,
    title,
    to_svg,
)


def _boards(cells: list[AccuracyCell]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.board for c in cells))


def accuracy_chart(accuracy: Accuracy | None) -> Chart | None:
    cells = [c for c in accuracy.cells if c.top1 is not None] if accuracy else []
    if not cells:
        return None
    with drawing():
        fig = figure(len(cells) + 1, 0.4)
        ax = fig.subplots()
        lows = []
        for y, cell in enumerate(cells):
            top1 = (cell.top1 or 0.0) * 100
            low = top1 if cell.top1_ci_low is None else cell.top1_ci_low * 100
            high = top1 if cell.top1_ci_high is None else cell.top1_ci_high * 100
            lows.append(low)
            ax.errorbar(
                [top1],
                [y],
                xerr=[[top1 - low], [high - top1]],
                fmt="o",
                color=cell_color(cell.cell),
                capsize=4,
                ms=6,
            )
            note = f"{top1:.1f}%"
            if cell.agreement_top1 is not None:
                note += f" · {cell.agreement_top1 * 100:.1f}% agree"
            ax.annotate(note, (high, y), xytext=(6, 0), textcoords="offset points", va="center")
        reference = accuracy.reference_top1 if accuracy else None
        if reference is not None:
            ax.axvline(reference * 100, color="#444", ls="--", lw=0.8)
            ax.annotate(
                f"host CPU {reference * 100:.1f}%",
                (reference * 100, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, 2),
                textcoords="offset points",
                color="#444",
            )
            lows.append(reference * 100)
        ax.set_yticks(range(len(cells)), [f"{c.board} · {c.cell}" for c in cells])
        ax.set_ylim(len(cells) - 0.5, -0.5)
        ax.set_xlim(max(0.0, min(lows) - 10), 100)
        ax.set_xlabel("top-1 accuracy (%), with its confidence interval")
        style_axes(ax, grid="x")
        fit(fig)
    return Chart(
        "accuracy",
        "Top-1 accuracy",
        "On-device top-1 accuracy with its confidence interval; agree: share of samples "
        "whose top-1 class matches the CPU reference's; dashed: the host CPU reference.",
        to_svg(fig, "accuracy"),
        _boards(cells),
    )


def per_class_chart(accuracy: Accuracy | None) -> Chart | None:
    cells = [c for c in accuracy.cells if c.per_class] if accuracy else []
    if not cells:
        return None
    labels = list(dict.fromkeys(label for c in cells for label, _ in c.per_class))
    width = 0.8 / len(cells)
    rotate = len(labels) > 8
    with drawing():
        fig = figure(1, 3.0)
        ax = fig.subplots()
        xs = np.arange(len(labels))
        for i, cell in enumerate(cells):
            values = dict(cell.per_class)
            ax.bar(
                xs + (i - (len(cells) - 1) / 2) * width,
                [values.get(label, np.nan) * 100 for label in labels],
                width=width * 0.95,
                color=cell_color(cell.cell, i),
                label=f"{cell.board} · {cell.cell}",
            )
        ax.set_xticks(xs, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_ylim(0, 105)
        ax.set_ylabel("top-1 (%)")
        longest = max(len(f"{c.board} · {c.cell}") for c in cells)
        legend = fig.legend(loc="outside lower center", ncols=2 if longest <= 24 else 1)
        style_axes(ax, grid="y")
        fit(fig, below=legend)
    return Chart(
        "per_class",
        "Per-class accuracy",
        "Top-1 accuracy within each true class.",
        to_svg(fig, "per_class"),
        _boards(cells),
    )


PANEL_WIDTH_IN = 3.6  # a confusion matrix: 9 pt text stays >= 10 px down to 259 px wide
PANEL_HEIGHT_IN = 3.9


def confusion_chart(accuracy: Accuracy | None, max_panels: int = 6) -> Chart | None:
    cells = [c for c in accuracy.cells if c.confusion] if accuracy else []
    cells = cells[:max_panels]
    if not cells:
        return None
    panels = []
    for i, cell in enumerate(cells):
        with drawing():
            fig = figure(1, PANEL_HEIGHT_IN, width_in=PANEL_WIDTH_IN)
            _confusion_axes(fig.subplots(), cell)
            fit(fig)
        panels.append(to_svg(fig, f"confusion-{i}", chart="confusion"))
    return Chart(
        "confusion",
        "Confusion matrices",
        "Rows: true class; columns: predicted class; colour: share of the true class (white "
        "0%, darkest blue 100%); numbers: sample counts."
        + (f" First {max_panels} shown." if len(cells) == max_panels else ""),
        '<div class="small-multiples">' + "".join(panels) + "</div>",
        _boards(cells),
    )


def _confusion_axes(ax: Axes, cell: AccuracyCell) -> None:
    matrix = np.array(cell.confusion, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    n = matrix.shape[0]
    labels = list(cell.labels[:n]) if len(cell.labels) >= n else [str(i) for i in range(n)]
    if n <= 12:
        # the figure's texts, placed in the axes' data coordinates: as the axes' own texts,
        # each would also get (and never use) the axes' clip path, which costs more than it
        for (r, c), count in np.ndenumerate(matrix):
            if count:
                ax.figure.text(
                    c,
                    r,
                    f"{count:.0f}",
                    transform=ax.transData,
                    ha="center",
                    va="center",
                    color="white" if share[r, c] > 0.5 else "#222",
                )
    ax.set_xticks(range(n), labels, rotation=90)
    ax.set_yticks(range(n), labels)
    title(ax, f"{cell.board} · {cell.cell}", loc="left")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
