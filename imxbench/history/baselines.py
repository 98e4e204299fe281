"""Judging a run against its baseline: choose the baseline runs of each series from the
history, estimate the series' noise, and ask regression.py. Reads the store, writes nothing.

Baseline policies (`--baseline`):
* `window:K` (default K = 5): the last K *good* runs of the series, not reaching back past a
  level change (a run judged improved, or a run named as a baseline: `imxbench baseline set`);
* `previous`: the previous good run (window:1);
* `named[:NAME]`: the run set with `imxbench baseline set RUN [--name NAME]` (default name
  `default`).
A good run: the cell succeeded and was not judged regressed or failed (a regression stays a
regression, night after night, until fixed or accepted with `baseline set`). The noise history:
the last 30 good runs, judged improved ones excepted (a level change is not noise).
Only runs of the same kind count (nightlies against nightlies; ad-hoc `imxbench run`s do not
move the nightly baseline). Cells are compared with Bonferroni: the family false-alarm rate is
divided by the number of cells tested tonight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from imxbench.analysis.regression import (
    DEFAULT_THRESHOLDS,
    CellVerdict,
    LatencyVerdict,
    Thresholds,
    compare_accuracy,
    compare_samples,
    estimate_noise,
)
from imxbench.errors import ConfigError
from imxbench.history.store import SeriesPoint, Store
from imxbench.model.records import CellRecord, RunRecord

HISTORY_RUNS = 30
BAD = ("regressed", "failed")


@dataclass(frozen=True)
class BaselinePolicy:
    kind: str  # window | named
    size: int = 5
    name: str = "default"

    @classmethod
    def parse(cls, text: str) -> BaselinePolicy:
        """`previous`, `window:K`, `named` or `named:NAME`."""
        head, _, arg = text.partition(":")
        if head == "previous" and not arg:
            return cls("window", 1)
        if head == "window":
            if arg.isdigit() and 1 <= int(arg) <= 100:
                return cls("window", int(arg))
            raise ConfigError(f"--baseline {text}: K must be a whole number 1..100 (window:K)")
        if head == "named":
            return cls("named", name=arg or "default")
        raise ConfigError(f"--baseline {text}: expected previous, window:K or named[:NAME]")

    def __str__(self) -> str:
        if self.kind == "named":
            return f"named:{self.name}"
        return "previous" if self.size == 1 else f"window:{self.size}"


@dataclass(frozen=True)
class Missing:
    """A cell of the baseline that tonight's run does not have."""

    board: str
    cell: str
    delegate: str
    baseline_run_id: str
    reason: str


def is_good(point: SeriesPoint) -> bool:
    return point.status == "ok" and bool(point.latencies_us) and point.verdict not in BAD


def window_baseline(
    points: Sequence[SeriesPoint], size: int, level_changes: set[str]
) -> list[SeriesPoint]:
    """The last `size` good points (newest first in, newest first out), stopping after a level
    change (a run judged improved, or one named as a baseline)."""
    chosen: list[SeriesPoint] = []
    for point in points:
        if not is_good(point):
            continue
        chosen.append(point)
        if len(chosen) == size or point.verdict == "improved" or point.run_id in level_changes:
            break
    return chosen


def noise_history(points: Sequence[SeriesPoint]) -> list[tuple[float, ...]]:
    """Samples of the good runs for the noise estimate, oldest first (improved runs left out)."""
    good = [p for p in points if is_good(p) and p.verdict != "improved"][:HISTORY_RUNS]
    return [p.latencies_us for p in reversed(good)]


def judge(
    record: RunRecord,
    bases: Mapping[tuple[str, str], Sequence[SeriesPoint]],
    histories: Mapping[tuple[str, str], Sequence[SeriesPoint]],
    missing: Sequence[Missing],
    thresholds: Thresholds,
    *,
    note: str = "",
) -> tuple[CellVerdict, ...]:
    """Pure: every cell of `record` against its baseline points (newest first), then the
    missing ones. `thresholds.alpha` is the night's family rate; `note` goes on every cell."""
    tested = [
        c for c in record.cells if c.status == "ok" and c.usable and bases.get((c.board, c.cell))
    ]
    per_cell = thresholds.per_comparison(len(tested))
    out = [
        replace(
            _judge_cell(record, cell, bases.get((cell.board, cell.cell), ()), histories, per_cell),
            note=note,
        )
        for cell in record.cells
    ]
    for gone in missing:
        out.append(
            CellVerdict(
                gone.board,
                gone.cell,
                gone.delegate,
                LatencyVerdict("missing", detail=gone.reason),
                baseline_run_ids=(gone.baseline_run_id,),
            )
        )
    return tuple(out)


def _judge_cell(
    record: RunRecord,
    cell: CellRecord,
    base: Sequence[SeriesPoint],
    histories: Mapping[tuple[str, str], Sequence[SeriesPoint]],
    thresholds: Thresholds,
) -> CellVerdict:
    key = (cell.board, cell.cell)
    base_ids = tuple(p.run_id for p in base)
    current = cell.latencies_us
    if cell.status != "ok" or not current:
        latency = LatencyVerdict("failed", current_reps=len(current), detail=cell.error or "failed")
    elif not base:
        latency = LatencyVerdict("new", current_reps=len(current), detail="no baseline yet")
    else:
        history = noise_history(histories.get(key, base))
        latency = compare_samples(
            [p.latencies_us for p in base], current, estimate_noise(history), thresholds
        )
    accuracy = []
    if latency.verdict not in ("failed", "new"):
        reference = {a.metric: a for a in base[0].accuracy} if base else {}
        for result in cell.accuracy:
            before = reference.get(result.metric)
            accuracy.append(
                compare_accuracy(
                    result.metric, before.counts if before else None, result.counts, thresholds
                )
            )
    current_fp = record.fingerprint(cell.board)
    base_fp = base[0].fingerprint if base else None
    changes = current_fp.differences(base_fp) if current_fp and base_fp else ()
    return CellVerdict(
        board=cell.board,
        cell=cell.cell,
        delegate=cell.delegate,
        latency=latency,
        accuracy=tuple(accuracy),
        baseline_run_ids=base_ids,
        fingerprint_changes=changes,
        baseline_latency_us=_median([v for p in base for v in p.latencies_us]),
        current_latency_us=_median(list(current)),
    )


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# ---------------------------------------------------------------------------------------------
# From the store


def judge_run(
    store: Store,
    record: RunRecord,
    policy: BaselinePolicy,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> tuple[CellVerdict, ...]:
    """Tonight's run (not yet recorded, or recorded) against its baseline per `policy`."""
    kinds = (record.header.kind,)
    before = (record.header.started_at, record.header.run_id)
    level_changes = store.baseline_run_ids()
    named: RunRecord | None = None
    if policy.kind == "named":
        run_id = store.baseline_run(policy.name)
        if run_id is None:
            raise ConfigError(
                f"no baseline named {policy.name!r}",
                f"set one with: imxbench baseline set RUN --name {policy.name}",
            )
        named = store.load_run(run_id)
    bases: dict[tuple[str, str], list[SeriesPoint]] = {}
    histories: dict[tuple[str, str], list[SeriesPoint]] = {}
    for cell in record.cells:
        key = (cell.board, cell.cell)
        points = store.series_points(
            record.series(cell).digest, before=before, kinds=kinds, limit=2 * HISTORY_RUNS
        )
        histories[key] = points
        if named is not None:
            same = not _series_note(named, record)
            bases[key] = _points_of(named, cell) if same else []
        else:
            bases[key] = window_baseline(points, policy.size, level_changes)
    missing = _missing(store, record, named, kinds, before)
    return judge(record, bases, histories, missing, thresholds)


def compare_runs(
    store: Store, run_a: str, run_b: str, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[CellVerdict, ...]:
    """Run B against run A (the baseline); noise from the series' history before B."""
    base, current = store.load_run(run_a), store.load_run(run_b)
    before = (current.header.started_at, current.header.run_id)
    bases: dict[tuple[str, str], list[SeriesPoint]] = {}
    histories: dict[tuple[str, str], list[SeriesPoint]] = {}
    for cell in current.cells:
        key = (cell.board, cell.cell)
        points = _points_of(base, cell)
        bases[key] = points
        history = store.series_points(current.series(cell).digest, before=before)
        if points and all(p.run_id != run_a for p in history):
            history = [*points, *history]
        histories[key] = history
    present = {(c.board, c.cell) for c in current.cells}
    missing = [
        Missing(c.board, c.cell, c.delegate, run_a, "not in run B")
        for c in base.cells
        if (c.board, c.cell) not in present
    ]
    note = _series_note(base, current)
    return judge(current, bases, histories, missing, thresholds, note=note)


def _points_of(run: RunRecord, cell: CellRecord) -> list[SeriesPoint]:
    """The baseline point of (board, cell) in `run` (none if the run does not have it)."""
    mine = next((c for c in run.cells if (c.board, c.cell) == (cell.board, cell.cell)), None)
    if mine is None:
        return []
    return [
        SeriesPoint(
            run_id=run.header.run_id,
            started_at=run.header.started_at,
            kind=run.header.kind,
            status=mine.status,
            latencies_us=mine.latencies_us,
            verdict=None,
            accuracy=mine.accuracy,
            fingerprint=run.fingerprint(cell.board),
        )
    ]


def _series_note(base: RunRecord, current: RunRecord) -> str:
    """Why two runs' cells are not the same series ('' when they are)."""
    parts = []
    if base.header.model_sha256 != current.header.model_sha256:
        parts.append(f"model {base.header.model} -> {current.header.model}")
    if base.header.series_settings != current.header.series_settings:
        parts.append("settings differ")
    return "not the same series: " + ", ".join(parts) if parts else ""


def _missing(
    store: Store,
    record: RunRecord,
    named: RunRecord | None,
    kinds: tuple[str, ...],
    before: tuple[str, str],
) -> list[Missing]:
    boards = sorted({f.board for f in record.fingerprints} | {c.board for c in record.cells})
    present = {(c.board, c.cell) for c in record.cells}
    out: list[Missing] = []
    for board in boards:
        if named is not None:
            reference: RunRecord | None = named
        else:
            run_id = store.latest_run_with_board(
                board,
                before=before,
                model_sha256=record.header.model_sha256,
                series_settings=record.header.series_settings,
                kinds=kinds,
            )
            reference = store.load_run(run_id) if run_id else None
        if reference is None:
            continue
        fp = record.fingerprint(board)
        reason = f"board failed: {fp.error}" if fp and fp.error else "not run tonight"
        out += [
            Missing(c.board, c.cell, c.delegate, reference.header.run_id, reason)
            for c in reference.cells
            if c.board == board and (c.board, c.cell) not in present
        ]
    return out
