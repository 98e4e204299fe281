"""Terminal text for `imxbench history` and `imxbench compare`. Pure: data in, text out."""

from __future__ import annotations

import math
from collections.abc import Sequence

from imxbench.analysis.regression import SEVERITY, CellVerdict
from imxbench.history.store import RunSummary


def render_runs(summaries: Sequence[RunSummary]) -> str:
    if not summaries:
        return "no runs recorded (imxbench run and imxbench nightly record them)"
    head = (
        f"{'run':<22} {'started (UTC)':<20} {'kind':<8} {'status':<9} {'cells':>5} "
        f"{'failed':>6}  {'boards':<18} verdicts / note"
    )
    lines = [head, "-" * len(head)]
    for run in summaries:
        said = ", ".join(
            f"{n} {v}" for v, n in sorted(run.verdicts.items(), key=lambda i: -SEVERITY[i[0]])
        )
        note = run.note if run.status != "complete" and run.note else ""
        errors = "; ".join(  # an error that names its board already is not named twice
            f"{b}: {e.removeprefix(f'{b}: ')}" for b, e in run.board_errors.items()
        )
        tail = "; ".join(t for t in (said, errors, note) if t) or "-"
        boards = ",".join(run.boards) + (" (EMULATED)" if run.emulated else "")
        lines.append(
            f"{run.run_id:<22} {run.started_at:<20} {run.kind:<8} {run.status:<9} "
            f"{run.cells:>5} {run.failed_cells:>6}  {boards:<18} {tail}"
        )
    return "\n".join(lines)


def render_verdicts(verdicts: Sequence[CellVerdict], *, detail: bool = True) -> str:
    """The verdict table, worst first; without `detail` (the nightly's terminal summary) it
    fits 80 columns: baseline -> tonight, change and its interval."""
    if not verdicts:
        return "no cells to compare"
    head = (
        f"{'board':<10} {'delegate':<9} {'verdict':<12} {'baseline':>9} {'tonight':>9} "
        f"{'change':>7} {'CI':>15}" + (f" {'p':>8}  detail" if detail else "")
    )
    lines = [head, "-" * len(head)]
    for v in sorted(verdicts, key=lambda v: (-SEVERITY[v.verdict], v.board, v.cell)):
        lat = v.latency
        ci = f"{_pct(lat.ci[0])}..{_pct(lat.ci[1])}" if lat.ci else "-"
        p = "-" if lat.p_value is None else f"{lat.p_value:.2g}"
        lines.append(
            f"{v.board[:10]:<10} {v.cell[:9]:<9} {v.verdict:<12} "
            f"{_ms(v.baseline_latency_us):>9} {_ms(v.current_latency_us):>9} "
            f"{_pct(lat.change):>7} {ci:>15}" + (f" {p:>8}  {v.detail}" if detail else "")
        )
    return "\n".join(lines)


def _ms(value_us: float | None) -> str:
    return "-" if value_us is None else f"{value_us / 1000:.3f}ms"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:+.1f}%"
