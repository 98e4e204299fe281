"""`nightly --dry-run`: what a night would be judged against, read from the history only.

For each planned cell: its series (model/series.py SeriesKey's digest), the earlier nights the
nightly would read (history/baselines.py `series_histories`, the very function `judge_run`
uses), the newest of them, and the nights the detector would take as the baseline
(analysis/detector.py picks them from the history alone: tonight's value does not choose
them); then the cells of the previous comparable night that the plan lacks (`missing`).
Reads the store, writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imxbench.analysis.regression import DEFAULT_THRESHOLDS, Thresholds
from imxbench.history.baselines import (
    BaselinePolicy,
    missing_cells,
    nights_of,
    series_histories,
)
from imxbench.history.store import Store
from imxbench.model.records import RunRecord


@dataclass(frozen=True)
class SeriesPreview:
    """One planned cell's series and what tonight would be compared with."""

    board: str
    cell: str
    series: str
    """The series' digest (SeriesKey.digest), as the store indexes its cells."""
    nights: int
    """Earlier nights of the series with a usable latency (failed nights left out)."""
    newest_run_id: str | None
    newest_started_at: str | None
    baseline_run_ids: tuple[str, ...]
    """The nights the detector would take as the baseline, oldest first (none: no baseline)."""
    baseline_latency_us: float | None
    frozen: bool
    """The series has an unaccepted regression: the baseline is the level before it."""
    note: str

    @property
    def expect(self) -> str:
        if not self.baseline_run_ids:
            return self.note or "no baseline: the first night of this series"
        first, last = self.baseline_run_ids[0], self.baseline_run_ids[-1]
        span = first if first == last else f"{first} .. {last}"
        frozen = ", frozen before an unaccepted regression" if self.frozen else ""
        return f"judged against {len(self.baseline_run_ids)} baseline night(s) {span}{frozen}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "cell": self.cell,
            "series": self.series,
            "nights": self.nights,
            "newest_run_id": self.newest_run_id,
            "newest_started_at": self.newest_started_at,
            "baseline_run_ids": list(self.baseline_run_ids),
            "baseline_latency_us": self.baseline_latency_us,
            "frozen": self.frozen,
            "expect": self.expect,
        }


@dataclass(frozen=True)
class MissingPreview:
    board: str
    cell: str
    baseline_run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board, "cell": self.cell, "baseline_run_id": self.baseline_run_id}


def preview_night(
    store: Store,
    record: RunRecord,
    policy: BaselinePolicy,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> tuple[tuple[SeriesPreview, ...], tuple[MissingPreview, ...]]:
    """Every cell of `record` (tonight's plan: cells without samples) against the store."""
    from imxbench.analysis.detector import judge

    history = series_histories(store, record, policy)
    cfg = thresholds.detector_config()
    out = []
    for cell in record.cells:
        key = (cell.board, cell.cell)
        nights, points = nights_of(history.points.get(key, ()), history.accepted)
        chosen: Sequence[int] = ()
        level, frozen = None, False
        if nights:  # the baseline comes from the history; any tonight gives the same nights
            found = judge(nights, nights[-1].latencies_us, cfg)
            chosen, level, frozen = found.baseline_nights, found.baseline_us, found.frozen
        newest = points[-1] if points else None
        out.append(
            SeriesPreview(
                board=cell.board,
                cell=cell.cell,
                series=record.series(cell).digest,
                nights=len(nights),
                newest_run_id=newest.run_id if newest else None,
                newest_started_at=newest.started_at if newest else None,
                baseline_run_ids=tuple(points[i].run_id for i in chosen),
                baseline_latency_us=level,
                frozen=frozen,
                note=history.notes.get(key, ""),
            )
        )
    gone = tuple(
        MissingPreview(m.board, m.cell, m.baseline_run_id)
        for m in missing_cells(store, record, history.named)
    )
    return tuple(out), gone
