"""Judging a run against its history: build each series' nights from the store as plain data
(analysis/detector.py's `Night`) and ask the detector (regression.latency_verdict, which runs
detector.judge). Reads the store, writes nothing.

A series' history: every earlier night of the same series (same board, emulated or real, cell,
model and settings; nightlies only for the nightly) whose cell ran, whatever it was judged
(regressed nights included: the detector learns its noise from every night, and keeps a
regression out of the baseline itself), oldest first, up to NIGHTS_LIMIT nights. A night is
`accepted` when `imxbench baseline set` named its run: the detector's baseline (segment)
starts there, and everything after follows it.

Baseline policies (`--baseline`):
* `anchored` (the default): the detector's own baseline: the first 30 eligible nights of the
  current segment, which starts at the newest night accepted with `imxbench baseline set`
  (any name), at the first of two nights in a row judged improved, or at the series' first
  night. A regression never accepted never enters it, however many nights pass.
* `named[:NAME]`: the segment starts at the run named NAME (`imxbench baseline set RUN --name
  NAME`, default `default`); other accepted runs are ignored. Earlier nights only teach the
  noise. A named run of another series (model, settings, emulated or real) gives no baseline.
* `previous` and `window:K`: deprecated aliases of `anchored`, still accepted. A rolling
  window of the last K good runs is what let a regression that was never accepted become the
  baseline after K nights (and K = 1 doubled the baseline's noise); the detector's noise
  estimate from the whole history replaces what K traded off.

Short histories (fewer than the detector's `short_history_nights` usable nights) borrow a prior
for the night-to-night noise from the same board's other cells (detector.pooled_noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from imxbench.analysis.regression import (
    DEFAULT_THRESHOLDS,
    CellVerdict,
    LatencyVerdict,
    Thresholds,
    compare_accuracy,
    latency_verdict,
)
from imxbench.errors import ConfigError
from imxbench.history.store import SeriesPoint, Store
from imxbench.model.records import CellRecord, RunRecord

if TYPE_CHECKING:
    from imxbench.analysis.detector import Night, PooledNoise

NIGHTS_LIMIT = 1000
"""Earlier nights of a series read from the store (about three years of nightlies)."""
NOISE_NIGHTS_BEFORE_NAMED = 60
"""With `named`: nights before the named run kept for the noise estimate."""

Key = tuple[str, str]


MAX_BASELINE_NAME = 64


def baseline_name(text: str) -> str:
    """`baseline set --name`: a name `--baseline named:NAME` can give back (letters, digits,
    . _ - +; at most MAX_BASELINE_NAME characters), else ConfigError."""
    if not text or len(text) > MAX_BASELINE_NAME or not all(
        c.isalnum() or c in "._-+" for c in text
    ):
        shown = text if len(text) <= MAX_BASELINE_NAME else f"{text[:20]}..."
        raise ConfigError(
            f"--name {shown!r}: a baseline name is 1 to {MAX_BASELINE_NAME} letters, digits "
            "and . _ - +"
        )
    return text


@dataclass(frozen=True)
class BaselinePolicy:
    kind: str  # anchored | named
    name: str = "default"
    alias: str = ""
    """The deprecated spelling it was given (`previous`, `window:K`), if any."""

    @classmethod
    def parse(cls, text: str) -> BaselinePolicy:
        """`anchored`, `named`, `named:NAME`, or the deprecated `previous` and `window:K`."""
        head, _, arg = text.partition(":")
        if head == "anchored" and not arg:
            return cls("anchored")
        if head == "previous" and not arg:
            return cls("anchored", alias=text)
        if head == "window":
            if arg.isdigit() and 1 <= int(arg) <= 100:
                return cls("anchored", alias=text)
            raise ConfigError(f"--baseline {text}: K must be a whole number 1..100 (window:K)")
        if head == "named":
            return cls("named", name=arg or "default")
        raise ConfigError(
            f"--baseline {text}: expected anchored or named[:NAME] (previous and window:K are "
            "deprecated aliases of anchored)"
        )

    @property
    def deprecation(self) -> str:
        """A warning for a deprecated spelling ('' when none)."""
        if not self.alias:
            return ""
        return (
            f"--baseline {self.alias} is deprecated: it now means `anchored`, the detector's "
            "own baseline (docs/DESIGN.md, 'Results history and regression detection')"
        )

    def __str__(self) -> str:
        return f"named:{self.name}" if self.kind == "named" else "anchored"


@dataclass(frozen=True)
class Missing:
    """A cell of the baseline that tonight's run does not have."""

    board: str
    cell: str
    delegate: str
    baseline_run_id: str
    reason: str


def nights_of(
    points: Sequence[SeriesPoint], accepted: set[str] | frozenset[str]
) -> tuple[list[Night], list[SeriesPoint]]:
    """A series' nights for the detector, oldest first, from its points (oldest first), and
    the points they came from. Nights whose cell failed are left out; so are nights with an
    impossible timing (not finite, <= 0: never stored by this version, but older histories
    may hold one)."""
    from imxbench.analysis.detector import Night

    nights: list[Night] = []
    kept: list[SeriesPoint] = []
    for point in points:
        values = point.latencies_us
        if point.status != "ok" or not values:
            continue
        if not all(math.isfinite(v) and v > 0 for v in values):
            continue
        nights.append(Night(tuple(values), point.verdict, point.run_id in accepted))
        kept.append(point)
    return nights, kept


def judge(
    record: RunRecord,
    histories: Mapping[Key, Sequence[SeriesPoint]],
    accepted: set[str] | frozenset[str],
    missing: Sequence[Missing],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    notes: Mapping[Key, str] | None = None,
) -> tuple[CellVerdict, ...]:
    """Pure: every cell of `record` against its series' history (`histories`: the earlier
    points, oldest first; `accepted`: the run ids accepted as baselines), then the missing
    cells. `notes` go on the cells' verdicts."""
    from imxbench.analysis.detector import pooled_noise

    cfg = thresholds.detector_config()
    series = {key: nights_of(points, accepted) for key, points in histories.items()}
    out = []
    for cell in record.cells:
        key = (cell.board, cell.cell)
        nights, points = series.get(key, ([], []))
        pooled: PooledNoise | None = None
        if len(nights) < cfg.short_history_nights:
            others = [
                series[k][0] for k in series if k[0] == cell.board and k != key and series[k][0]
            ]
            pooled = pooled_noise(others, cfg) if others else None
        verdict = _judge_cell(record, cell, nights, points, pooled, thresholds)
        out.append(replace(verdict, note=(notes or {}).get(key, "")))
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
    nights: Sequence[Night],
    points: Sequence[SeriesPoint],
    pooled: PooledNoise | None,
    thresholds: Thresholds,
) -> CellVerdict:
    current = cell.latencies_us
    if cell.status == "skipped":  # the delegate cannot run the model: never judged
        latency = LatencyVerdict("skipped", detail=cell.error or "skipped")
    elif cell.status != "ok" or not current:
        latency = LatencyVerdict("failed", current_reps=len(current), detail=cell.error or "failed")
    else:
        latency = latency_verdict(nights, current, thresholds, pooled)
    found = latency.judgement
    base = [points[i] for i in found.baseline_nights] if found else []
    base.reverse()  # newest first
    accuracy = []
    if latency.verdict not in ("failed", "no baseline", "skipped"):
        with_accuracy = next((p for p in base if p.accuracy), None)
        reference = {a.metric: a for a in with_accuracy.accuracy} if with_accuracy else {}
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
        baseline_run_ids=tuple(p.run_id for p in base),
        fingerprint_changes=changes,
        baseline_latency_us=found.baseline_us if found else None,
        current_latency_us=found.tonight_us if found else _median(list(current)),
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
    """Tonight's run (not yet recorded, or recorded) against its series' histories."""
    history = series_histories(store, record, policy)
    missing = missing_cells(store, record, history.named)
    return judge(record, history.points, history.accepted, missing, thresholds, notes=history.notes)


@dataclass(frozen=True)
class SeriesHistories:
    """What each cell of a run is judged against (`series_histories`)."""

    points: Mapping[Key, Sequence[SeriesPoint]]
    """(board, cell) -> the series' earlier points, oldest first (as `judge` takes them)."""
    accepted: frozenset[str]
    """The run ids accepted as baselines (`baseline set`; with `named`, the named run)."""
    notes: Mapping[Key, str]
    """Why a cell has no baseline under `named` (another series, no such cell, ...)."""
    named: RunRecord | None
    """The named baseline run (`named` policy), else None."""


def series_histories(store: Store, record: RunRecord, policy: BaselinePolicy) -> SeriesHistories:
    """The history of each cell of `record` from the store, read only: the same for
    `judge_run` and for `nightly --dry-run`'s preview of what a night would be judged against
    (history/preview.py)."""
    kinds = (record.header.kind,)
    before = (record.header.started_at, record.header.run_id)
    named: RunRecord | None = None
    if policy.kind == "named":
        run_id = store.baseline_run(policy.name)
        if run_id is None:
            raise ConfigError(
                f"no baseline named {policy.name!r}",
                f"set one with: imxbench baseline set RUN --name {policy.name}",
            )
        named = store.load_run(run_id)
        accepted = {run_id}
    else:
        accepted = store.baseline_run_ids()
    histories: dict[Key, list[SeriesPoint]] = {}
    notes: dict[Key, str] = {}
    for cell in record.cells:
        key = (cell.board, cell.cell)
        points = store.series_points(
            record.series(cell).digest,
            before=before,
            kinds=kinds,
            limit=NIGHTS_LIMIT,
            emulated=record.header.emulated,
        )[::-1]
        if named is not None:
            points, notes[key] = _from_named(points, named, record, cell, policy.name)
        histories[key] = points
    return SeriesHistories(histories, frozenset(accepted), notes, named)


def missing_cells(store: Store, record: RunRecord, named: RunRecord | None) -> list[Missing]:
    """The cells of the board's previous comparable run that `record` does not have."""
    before = (record.header.started_at, record.header.run_id)
    return _missing(store, record, named, (record.header.kind,), before)


def _from_named(
    points: list[SeriesPoint], named: RunRecord, record: RunRecord, cell: CellRecord, name: str
) -> tuple[list[SeriesPoint], str]:
    """The history of a `named` policy: the named run's night (added if another kind of run)
    and what follows, with NOISE_NIGHTS_BEFORE_NAMED nights before it; a note when the named
    run cannot be the baseline (another series, no such cell, not earlier than tonight)."""
    label = f"baseline {name} ({named.header.run_id})"
    different = _series_note(named, record)
    if different:
        return [], f"{label} is {different}: no baseline"
    if (named.header.started_at, named.header.run_id) >= (
        record.header.started_at,
        record.header.run_id,
    ):
        return [], f"{label} is not earlier than this run: no baseline"
    at = next((i for i, p in enumerate(points) if p.run_id == named.header.run_id), None)
    if at is None:
        own = _points_of(named, cell)
        if not own:
            return [], f"{label} has no {cell.board} {cell.cell}: no baseline"
        order = (named.header.started_at, named.header.run_id)
        at = sum((p.started_at, p.run_id) < order for p in points)
        points = [*points[:at], *own, *points[at:]]
    return points[max(0, at - NOISE_NIGHTS_BEFORE_NAMED) :], ""


def compare_runs(
    store: Store, run_a: str, run_b: str, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[CellVerdict, ...]:
    """Run B against run A: the detector with A as the accepted baseline night, its series'
    earlier nights (any kind of run) for the noise. Runs on an emulated board and on a real
    one are never compared."""
    base, current = store.load_run(run_a), store.load_run(run_b)
    present = {(c.board, c.cell) for c in current.cells}
    missing = [
        Missing(c.board, c.cell, c.delegate, run_a, "not in run B")
        for c in base.cells
        if (c.board, c.cell) not in present
    ]
    if base.header.emulated != current.header.emulated:
        which = "emulated" if base.header.emulated else "real"
        note = f"run A ran on {which} boards, run B did not: never compared"
        empty: dict[Key, list[SeriesPoint]] = {(c.board, c.cell): [] for c in current.cells}
        return judge(current, empty, set(), missing, thresholds, notes=dict.fromkeys(empty, note))
    before = (base.header.started_at, base.header.run_id)
    histories: dict[Key, list[SeriesPoint]] = {}
    for cell in current.cells:
        own = _points_of(base, cell)
        earlier = store.series_points(
            base.series(cell).digest,
            before=before,
            limit=NIGHTS_LIMIT,
            emulated=base.header.emulated,
        )[::-1]
        history = [*earlier, *own] if own else []
        histories[(cell.board, cell.cell)] = [p for p in history if p.run_id != run_b]
    note = _series_note(base, current)
    notes = dict.fromkeys(histories, note) if note else None
    return judge(current, histories, {run_a}, missing, thresholds, notes=notes)


def _points_of(run: RunRecord, cell: CellRecord) -> list[SeriesPoint]:
    """The point of (board, cell) in `run` (none if the run does not have it)."""
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
    if base.header.emulated != current.header.emulated:
        kind = {True: "emulated", False: "real"}
        parts.append(f"{kind[base.header.emulated]} -> {kind[current.header.emulated]} boards")
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
            reference: RunRecord | None = None if _series_note(named, record) else named
        else:
            run_id = store.latest_run_with_board(
                board,
                before=before,
                model_sha256=record.header.model_sha256,
                series_settings=record.header.series_settings,
                kinds=kinds,
                emulated=record.header.emulated,
            )
            reference = store.load_run(run_id) if run_id else None
        if reference is None:
            continue
        fp = record.fingerprint(board)
        reason = f"board failed: {fp.error}" if fp and fp.error else "not run tonight"
        out += [
            Missing(c.board, c.cell, c.delegate, reference.header.run_id, reason)
            for c in reference.cells
            if c.board == board and (c.board, c.cell) not in present and c.status != "skipped"
        ]
    return out
