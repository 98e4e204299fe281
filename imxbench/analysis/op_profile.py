"""The op-profiling part of benchmark_model's output, and the number parsing both parts share.

Pure and total: nothing here does I/O or raises on any input.

With `--enable_op_profiling=true` benchmark_model prints blocks of tables. Newer builds (about
2.2 on) print two blocks, each introduced by a heading and closed by an `N nodes observed` line:

    Profiling Info for Benchmark Initialization:          <- ModifyGraphWithDelegate/AllocateTensors
    ... tables ...
    1 nodes observed
    Operator-wise Profiling Info for Regular Benchmark Runs:
    ============================== Run Order ==============================
    ...
    ============================== Summary by node type ==============================
        [Node type]	[count]	[avg ms]	[avg %]	[cdf %]	[mem KB]	[times called]
        CONV_2D	15	2651.853	89.897%	89.897%	0.000	15
    ...
    Timings (microseconds): count=50 first=... avg=...

Old builds (up to about 2.0) print the same tables with no heading at all.

Rule (`parse_op_profile`): the result is the first "Summary by node type" table inside the
"Operator-wise Profiling Info for Regular Benchmark Runs" block (for a multi-subgraph model that
is the primary graph's). When there is no such block, it is the first summary table that is not
inside a "Profiling Info for Benchmark Initialization" block (the headless old format). `None`
means no such table was printed (profiling off, or the log was cut before it); an empty tuple
means the table heading was printed but no row could be read.

A table ends at a blank line, a `====` line, `Timings (`, `Memory (bytes)`, `nodes observed` or
another profiling heading. Other lines inside it that are not rows (driver or kernel noise) are
skipped. A row is the node type (which may contain spaces, e.g. `Vx Delegate`) followed by five
or six numeric columns: count, avg ms, avg %, cdf %, mem KB and (since about 1.13) times called.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_INT_RE = re.compile(r"[-+]?\d{1,18}")
_NODES_OBSERVED_RE = re.compile(r"\d+ nodes observed")
_TABLE_END_MARKERS = ("====", "Timings (", "Memory (bytes)", "nodes observed", "Profiling Info")

_INIT_HEADING = "Profiling Info for Benchmark Initialization"
_REGULAR_HEADING = "Operator-wise Profiling Info for Regular Benchmark Runs"
_SUMMARY_HEADING = "Summary by node type"


def parse_float(token: str) -> float | None:
    """The float written as the whole of `token` (scientific notation allowed), else None."""
    if _NUMBER_RE.fullmatch(token) is None:
        return None
    return float(token)


def leading_float(text: str) -> float | None:
    """The float at the start of `text` (after blanks), ignoring what follows; else None."""
    match = _NUMBER_RE.match(text.lstrip())
    return None if match is None else float(match.group())


def parse_int(token: str) -> int | None:
    """The int written as the whole of `token` (at most 18 digits), else None."""
    if _INT_RE.fullmatch(token) is None:
        return None
    return int(token)


@dataclass(frozen=True)
class OpTypeTiming:
    """One row of the "Summary by node type" table: time spent per node type per inference."""

    node_type: str
    count: int
    avg_ms: float
    percent: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form: `{node_type, count, avg_ms, percent}`."""
        return {
            "node_type": self.node_type,
            "count": self.count,
            "avg_ms": self.avg_ms,
            "percent": self.percent,
        }


def parse_op_profile(lines: Sequence[str]) -> tuple[OpTypeTiming, ...] | None:
    """The regular-runs "Summary by node type" table of one run's lines (rule: module doc)."""
    block = "headless"  # "init", "regular" or "headless" (old builds, or between blocks)
    tables: dict[str, list[OpTypeTiming]] = {}
    collecting: list[OpTypeTiming] | None = None
    for line in lines:
        if collecting is not None:
            if line.strip() and not any(marker in line for marker in _TABLE_END_MARKERS):
                row = parse_summary_row(line)
                if row is not None:
                    collecting.append(row)
                continue
            collecting = None  # the end line may itself open or close a block: fall through
        if _INIT_HEADING in line:
            block = "init"
        elif _REGULAR_HEADING in line:
            block = "regular"
        elif _SUMMARY_HEADING in line:
            collecting = []
            tables.setdefault(block, collecting)
            if tables[block] is not collecting:
                collecting = None  # only the first table of a block counts
        elif "nodes observed" in line and _NODES_OBSERVED_RE.search(line):
            block = "headless"
    table = tables.get("regular", tables.get("headless"))
    return None if table is None else tuple(table)


def parse_summary_row(line: str) -> OpTypeTiming | None:
    """One "Summary by node type" row (tab- or space-separated), or None for any other line."""
    tokens = line.split()
    numeric_tail = 0
    for token in reversed(tokens):
        if numeric_tail == 6 or parse_float(token.rstrip("%")) is None:
            break
        numeric_tail += 1
    if numeric_tail < 5 or len(tokens) == numeric_tail:
        return None
    first_column = len(tokens) - numeric_tail
    count = parse_int(tokens[first_column])
    avg_ms = parse_float(tokens[first_column + 1])
    percent = parse_float(tokens[first_column + 2].rstrip("%"))
    if count is None or avg_ms is None or percent is None:
        return None
    node_type = " ".join(tokens[:first_column])
    return OpTypeTiming(node_type=node_type, count=count, avg_ms=avg_ms, percent=percent)
