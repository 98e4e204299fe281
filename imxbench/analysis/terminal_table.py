"""The board x delegate table for the terminal: fits the terminal's width, marks the fastest
cell of each board, and uses colour only when asked (a terminal, NO_COLOR unset).

Columns have a priority; at the given width the table keeps the most important ones that fit
(`wide` keeps them all). One board: its name goes to the title instead of a column. Text from
the board is made terminal-safe here, so the caller prints the table (with its own colour codes)
as it is. Pure: a summary DataFrame in, text out.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imxbench.analysis.text_safety import terminal_safe

BOLD, GREEN, RED, YELLOW, RESET = "\033[1m", "\033[32m", "\033[31m", "\033[33m", "\033[0m"


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    priority: int
    """Lower is kept first when the width is short."""
    value: Callable[[Any], str]
    left: bool = False


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fmt(spec: str, scale: float = 1.0, suffix: str = "") -> Callable[[Any], str]:
    def show(value: Any) -> str:
        number = _num(value)
        return "-" if number is None else f"{number * scale:{spec}}{suffix}"

    return show


def _field(name: str, show: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda row: show(getattr(row, name, None))


def _accuracy(name: str) -> Callable[[Any], str]:
    def show(row: Any) -> str:
        if getattr(row, "accuracy_status", "ok") == "not evaluated":
            return "n/e"
        number = _num(getattr(row, name, None))
        return "-" if number is None else f"{100 * number:.1f}%"

    return show


def _status(row: Any) -> str:
    if getattr(row, "status", None) == "skipped":
        return f"skipped: {getattr(row, 'skip_reason', None) or 'cannot run the model'}"
    if row.failed:
        return f"FAILED ({row.failed})"
    if row.execution and row.execution != "full" and row.delegate != "cpu":
        return f"ok; {row.execution}"
    return "ok"


COLUMNS = {
    "board": Column("board", 10, 0, _field("board", str), left=True),
    "cell": Column("delegate", 9, 0, _field("cell", str), left=True),
    "latency": Column("latency ms", 10, 0, _field("latency_ms", _fmt(".3f"))),
    "speedup": Column("speedup", 8, 1, _field("speedup", _fmt(".2f", suffix="x"))),
    "status": Column("status", 14, 1, _status, left=True),
    "p95": Column("p95 ms", 8, 2, _field("p95_ms", _fmt(".3f"))),
    "precision": Column("±95%", 6, 1, _field("precision_pct", _fmt(".2f", suffix="%"))),
    "top1": Column("top1", 6, 2, _accuracy("top1")),
    "spread": Column("spread", 6, 3, _field("spread_pct", _fmt(".1f", suffix="%"))),
    "delegated": Column("deleg.", 6, 3, _field("npu_share", _fmt(".0f", 100, "%"))),
    "first": Column("first ms", 9, 4, _field("first_ms", _fmt(".2f"))),
    "cold": Column("cold 1st", 9, 5, _field("cold_first_ms", _fmt(".1f"))),
    "init": Column("init ms", 8, 6, _field("init_ms", _fmt(".2f"))),
    "top5": Column("top5", 6, 6, _accuracy("top5")),
    "agree": Column("agree", 6, 7, _accuracy("agreement_top1")),
}
ORDER = (
    "board",
    "cell",
    "latency",
    "precision",
    "p95",
    "spread",
    "speedup",
    "init",
    "first",
    "cold",
    "delegated",
    "top1",
    "top5",
    "agree",
    "status",
)
ACCURACY = {"top1", "top5", "agree"}
STATUS_WIDTH_MAX = 26
"""The status column widens (up to this) for a skipped cell's `skipped: float32 model`."""


def render_table(
    summary: pd.DataFrame, *, width: int = 80, wide: bool = False, color: bool = False
) -> str:
    """The summary as text lines of at most `width` characters (unless `wide`)."""
    if summary.empty:
        return "no results"
    rows = list(summary.itertuples(index=False))
    boards = list(dict.fromkeys(str(r.board) for r in rows))
    emulated = "emulated" in summary and summary["emulated"].fillna(False).astype(bool).any()
    names = [n for n in ORDER if n not in ACCURACY or "top1" in summary.columns]
    if "precision_pct" not in summary or summary["precision_pct"].isna().all():
        names.remove("precision")  # no cell has the 6 processes an interval needs
    if len(boards) == 1:
        names.remove("board")
    longest = max(len(_status(r)) for r in rows)
    columns = dict(COLUMNS)
    if longest > columns["status"].width:
        wider = min(longest, STATUS_WIDTH_MAX if not wide else longest)
        columns["status"] = dataclasses.replace(columns["status"], width=wider)
    if not wide:
        names = _fitting(names, width, columns)
    title = terminal_safe(f"{', '.join(boards)}{' · EMULATED' if emulated else ''}")
    lines = [_paint(title, BOLD, color), _line([columns[n] for n in names], None, color)]
    lines.append("-" * min(len(lines[-1]), width if not wide else 10**6))
    fastest = _fastest(summary)
    for row in rows:
        marked = (str(row.board), str(row.cell)) in fastest
        lines.append(_line([columns[n] for n in names], row, color, marked))
    legend = ["* fastest cell of its board"] if fastest else []  # none: every cell failed
    notes = " · ".join(legend + ([] if wide else ["--wide: every column"]))
    if "precision" in names and "precision_pct" in summary:
        notes += "\n±95%: the 95% interval of the median over processes (- : under 6 processes)"
    for row in rows:  # the whole reason: the status column has room for a few words only
        if getattr(row, "status", None) == "skipped":
            where = f"{row.board} {row.cell}" if len(boards) > 1 else str(row.cell)
            notes += f"\n{where} skipped: {getattr(row, 'error', None) or 'cannot run the model'}"
    if emulated:
        notes += "\nEMULATED: timings come from the emulator's cost model, not from a board."
    for note in filter(None, notes.split("\n")):
        lines.extend(textwrap.wrap(note, width) if not wide else [note])
    return "\n".join(lines)


def _fitting(names: list[str], width: int, columns: dict[str, Column] | None = None) -> list[str]:
    """The columns that fit `width`, dropping the least important first."""
    columns = columns or COLUMNS
    kept = list(names)
    while sum(columns[n].width + 1 for n in kept) + 1 > width:
        droppable = [n for n in kept if columns[n].priority > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda n: (columns[n].priority, kept.index(n))))
    return kept


def _fastest(summary: pd.DataFrame) -> set[tuple[str, str]]:
    ok = summary[(summary["failed"] == 0) & summary["latency_ms"].notna()]
    if ok.empty:
        return set()
    best = ok.loc[ok.groupby("board")["latency_ms"].idxmin()]
    return {(str(b), str(c)) for b, c in zip(best["board"], best["cell"], strict=True)}


def _line(columns: list[Column], row: Any, color: bool, marked: bool = False) -> str:
    cells = []
    for column in columns:
        text = column.header if row is None else terminal_safe(column.value(row))
        if row is not None and column.header == "delegate" and marked:
            text = f"{text}*"
        text = text if len(text) <= column.width else text[: column.width - 1] + "…"
        padded = f"{text:<{column.width}}" if column.left else f"{text:>{column.width}}"
        if row is not None and color:
            if column.header == "status":
                hue = GREEN if text.startswith("ok") else YELLOW if text.startswith("skip") else RED
                padded = _paint(padded, hue, True)
            elif marked and column.header in ("delegate", "latency ms"):
                padded = _paint(padded, BOLD, True)
        cells.append(padded)
    return " ".join(cells).rstrip()


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text
