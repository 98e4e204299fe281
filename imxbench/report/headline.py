"""The verdict headline: what a run says, in one status and one sentence.

`headline(data)` is pure (ReportData in, Headline out): the HTML page prints it first, `report
--format json` carries it as `headline`, and a terminal can print `Headline.sentence`.

Status, worst first: `failed` (a benchmark cell or a whole board failed), `regression` (a
verdict says regressed), `attention` (the numbers ran but need a look: top-1 accuracy below
1.5× chance, the preprocessing sanity check fired, a delegate cell fell back to the CPU, an
accuracy evaluation failed, the run is incomplete, no cell had a baseline), else `ok`. A
skipped cell (its delegate cannot run the model) is neither ok nor failed: the summary names it
("1 skipped (imx8mp · vx: float32 model)") and it changes no status. The
sentence names, per board, the fastest cell, its speedup over the board's fastest CPU cell,
and its top-1 accuracy with its confidence interval when it was measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeGuard

from imxbench.report.accelerators import delegate_of
from imxbench.report.data import ACCURACY_STATUS, ReportData

Status = Literal["ok", "attention", "regression", "failed"]
CHANCE_FACTOR = 1.5
"""Top-1 below this multiple of chance (1 / classes) means the model is not really working:
wrong preprocessing, wrong labels, or a broken delegate."""


@dataclass(frozen=True)
class BoardBest:
    """One board's fastest cell and how it compares with the board's fastest CPU cell."""

    board: str
    cell: str | None  # None: no cell of the board succeeded
    latency_ms: float | None
    cpu_cell: str | None
    cpu_latency_ms: float | None
    speedup: float | None  # cpu_latency_ms / latency_ms
    accuracy_status: str | None  # ok | failed | not evaluated; None: accuracy not measured
    top1: float | None  # fraction 0..1
    top1_ci_low: float | None
    top1_ci_high: float | None
    text: str  # e.g. "imx8mp: vx fastest at 0.22 ms, 6.54× its CPU (cpu@4t 1.44 ms)"


@dataclass(frozen=True)
class Headline:
    status: Status
    summary: str  # the problems in short ("1 regression · 1 failed cell"), or "All 7 cells ran"
    sentence: str  # one sentence: the summary, then each board's fastest cell
    reasons: tuple[str, ...]  # why attention is needed (also when the status is worse)
    boards: tuple[BoardBest, ...]

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["reasons"] = list(self.reasons)
        return doc


def headline(data: ReportData) -> Headline:
    every = [] if data.summary.empty else data.summary.to_dict(orient="records")
    skipped = [r for r in every if r.get("status") == "skipped"]
    records = [r for r in every if r.get("status") != "skipped"]
    failed = _failed_cells(data)
    regressed = [v for v in data.verdicts or () if v.verdict == "regressed"]
    reasons = attention_reasons(data, records, failed)
    parts = []
    if regressed:
        parts.append(_plural(len(regressed), "regression"))
    failed_boards = sum(1 for _, cell in failed if not cell)  # a whole board: no cell ran
    if failed_boards:
        parts.append(_plural(failed_boards, "failed board"))
    if len(failed) > failed_boards:
        parts.append(_plural(len(failed) - failed_boards, "failed cell"))
    status: Status
    if failed:
        status = "failed"
    elif regressed:
        status = "regression"
    elif reasons or not records or _nothing_compared(data):
        status = "attention"
    else:
        status = "ok"
    if parts:
        summary = " · ".join(parts)
    elif reasons:
        summary = "Attention: " + " · ".join(reasons)
    elif not records:
        summary = "No results"
    else:
        summary = f"All {_plural(len(records), 'cell')} ran"
        if _nothing_compared(data):
            summary += " · no baseline: nothing compared"
        elif data.verdicts is not None:
            summary += " · no regressions"
    if skipped:
        cells = ", ".join(
            f"{r['board']} · {r['cell']}: {r.get('skip_reason') or 'cannot run the model'}"
            for r in skipped
        )
        summary += f" · {len(skipped)} skipped ({cells})"
    boards = tuple(board_best(board, rows) for board, rows in _by_board(every).items())
    facts = "; ".join(b.text for b in boards)
    sentence = f"{summary}. {facts}." if facts else f"{summary}."
    return Headline(status, summary, sentence, tuple(reasons), boards)


# -- attention -------------------------------------------------------------------------------
def attention_reasons(
    data: ReportData, records: Sequence[Mapping[str, Any]], failed: set[tuple[str, str]]
) -> list[str]:
    reasons = []
    low = below_chance(data, records)
    if low:
        classes = data.accuracy.classes if data.accuracy else None
        cells = ", ".join(f"{b} · {c} {_pct(top1)}" for b, c, top1 in low)
        reasons.append(
            f"top-1 accuracy below {CHANCE_FACTOR:g}× chance "
            f"({_pct(CHANCE_FACTOR / classes) if classes else '?'} for {classes} classes): {cells}"
        )
    accuracy = data.accuracy
    if accuracy is not None and accuracy.warning:
        best, configured = accuracy.sanity_best, accuracy.sanity_configured
        reasons.append(
            f"the preprocessing sanity check scores {best.name} ({_pct(best.top1)}) above the "
            f"configured {configured.name} ({_pct(configured.top1)})"
            if best is not None and configured is not None
            else "the preprocessing sanity check warned (see Accuracy)"
        )
    for rec in records:
        execution = rec.get("execution")
        key = (str(rec["board"]), str(rec["cell"]))
        if delegate_of(key[1]) == "cpu" or key in failed or execution in (None, "full"):
            continue
        if isinstance(execution, str):
            how = "entirely" if execution == "none" else "partly"
            reasons.append(f"{key[0]} · {key[1]} fell back to the CPU {how}")
    for cell in accuracy.cells if accuracy is not None else ():
        if cell.error and (cell.board, cell.cell) not in failed:
            reasons.append(f"the accuracy evaluation failed on {cell.board} · {cell.cell}")
    if data.run.status in ("running", "partial"):
        reasons.append(f"the run is {data.run.status}")
    return reasons


def below_chance(
    data: ReportData, records: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, float]]:
    """(board, cell, top-1) of the evaluated cells whose top-1 is below 1.5× chance."""
    classes = data.accuracy.classes if data.accuracy is not None else None
    if not classes:
        return []
    limit = CHANCE_FACTOR / classes
    return [
        (str(r["board"]), str(r["cell"]), float(r["top1"]))
        for r in records
        if r.get(ACCURACY_STATUS) == "ok" and _num(r.get("top1")) and r["top1"] < limit
    ]


def _nothing_compared(data: ReportData) -> bool:
    """Every verdict says "no baseline" (or skipped): the run was judged against nothing."""
    verdicts = [v for v in data.verdicts or () if v.verdict != "skipped"]
    return bool(verdicts) and all(v.verdict == "no baseline" for v in verdicts)


def _failed_cells(data: ReportData) -> set[tuple[str, str]]:
    """Benchmark cells (or whole boards: cell "") that failed; accuracy failures are not here."""
    return {(f.board, f.cell or "") for f in data.failures if f.kind != "accuracy"}


# -- the boards' fastest cells ---------------------------------------------------------------
def _by_board(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        out.setdefault(str(rec["board"]), []).append(rec)
    return out


def board_best(board: str, rows: Sequence[Mapping[str, Any]]) -> BoardBest:
    ran = [r for r in rows if _num(r.get("latency_ms")) and not r.get("failed")]
    if not ran:
        return BoardBest(
            board,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            f"{board}: no cell succeeded",
        )
    best = min(ran, key=lambda r: float(r["latency_ms"]))
    cpus = [r for r in ran if delegate_of(str(r["cell"])) == "cpu"]
    cpu = min(cpus, key=lambda r: float(r["latency_ms"])) if cpus else None
    latency = float(best["latency_ms"])
    cpu_latency = float(cpu["latency_ms"]) if cpu is not None else None
    speedup = cpu_latency / latency if cpu_latency is not None and latency > 0 else None
    cell = str(best["cell"])
    if cpu is None:
        text = f"{board}: {cell} fastest at {_ms(latency)} (no CPU cell to compare)"
    elif best is cpu:
        text = f"{board}: the CPU ({cell}) fastest at {_ms(latency)}, {_no_delegate(rows, ran)}"
    else:
        text = (
            f"{board}: {cell} fastest at {_ms(latency)}, {speedup:.2f}× the CPU "
            f"({cpu['cell']} {_ms(cpu_latency)})"
        )
    status = best.get(ACCURACY_STATUS)
    top1, low, high = best.get("top1"), best.get("top1_ci_low"), best.get("top1_ci_high")
    if status == "ok" and _num(top1):
        text += f", top-1 {_pct(top1)}"
        if _num(low) and _num(high):
            text += f" (CI {low * 100:.1f}–{high * 100:.1f}%)"
    elif status == "failed":
        text += ", its accuracy evaluation failed"
    elif status == "not evaluated":
        text += ", accuracy not evaluated"
    return BoardBest(
        board=board,
        cell=cell,
        latency_ms=latency,
        cpu_cell=str(cpu["cell"]) if cpu is not None else None,
        cpu_latency_ms=cpu_latency,
        speedup=speedup,
        accuracy_status=str(status) if status else None,
        top1=float(top1) if status == "ok" and _num(top1) else None,
        top1_ci_low=float(low) if status == "ok" and _num(low) else None,
        top1_ci_high=float(high) if status == "ok" and _num(high) else None,
        text=text,
    )


def _no_delegate(rows: Sequence[Mapping[str, Any]], ran: Sequence[Mapping[str, Any]]) -> str:
    """Why the CPU is a board's fastest cell: the delegates that ran were slower, or none ran
    (a failed or skipped delegate cell lost nothing: it has no latency to compare)."""
    others = [r for r in rows if delegate_of(str(r["cell"])) != "cpu"]
    lost = [r for r in others if any(r is s for s in ran)]
    not_run = [r for r in others if not any(r is s for s in ran)]
    text = "no delegate beats it" if lost else "no delegate cell ran"
    if not_run:
        text += " (" + ", ".join(f"{r['cell']} {_not_run_status(r)}" for r in not_run) + ")"
    return text


def _not_run_status(row: Mapping[str, Any]) -> str:
    status = str(row.get("status") or "")
    return status if status in ("failed", "skipped") else "no timing"


# -- small formats ---------------------------------------------------------------------------
def _num(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ms(value: float | None) -> str:
    """As the report's tables print a latency (view.fmt_ms): 0.012, 0.220, 1.43, 12.4, 299."""
    if value is None:
        return "–"
    size = abs(value)
    digits = 3 if size < 1 else 2 if size < 10 else 1 if size < 100 else 0
    return f"{value:,.{digits}f} ms"


def _pct(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "–"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
