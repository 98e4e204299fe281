"""What the results history keeps of a run: frozen dataclasses, no I/O.

A `RunRecord` is one run (`imxbench run` or one night of `imxbench nightly`): its header (id,
kind, model, settings), one `Fingerprint` per board (what the board was: BSP, kernel, TFLite,
delegate library hashes, Vela, governor, temperature) and one `CellRecord` per (board, cell)
with its timed repetitions (`Sample`) and accuracy results. Plain data: `run/job_record.py`
makes a record from a finished job.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from imxbench.model.series import SeriesKey, series_settings

if TYPE_CHECKING:

    pass

SAMPLE_METRICS = (
    "inference_avg_us",
    "inference_median_us",
    "inference_p95_us",
    "inference_std_us",
    "inference_count",
    "init_us",
    "first_inference_us",
    "memory_overall_mb",
)
"""Per-repetition metrics kept in the store (the regression statistic is inference_avg_us)."""


def utc_now() -> str:
    """Now, ISO 8601 UTC to the second (sorts as text)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def holder_name() -> str:
    """user@host, for run records and board locks."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class RunHeader:
    """What is known of a run before it starts."""

    run_id: str
    kind: str  # "run" | "nightly"
    started_at: str  # ISO 8601 UTC
    model: str
    model_sha256: str
    settings: Mapping[str, Any]
    holder: str = ""  # user@host
    emulated: bool = False
    out_dir: str = ""

    @property
    def series_settings(self) -> str:
        return series_settings(self.settings)


@dataclass(frozen=True)
class Sample:
    """One timed repetition (one benchmark_model process)."""

    repetition: int
    status: str  # "ok" | "failed"
    metrics: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def latency_us(self) -> float | None:
        """The regression statistic: the repetition's steady-state average, µs."""
        value = self.metrics.get("inference_avg_us")
        return value if self.status == "ok" and value is not None and value > 0 else None


@dataclass(frozen=True)
class AccuracyResult:
    """One accuracy metric of a cell: `value` = correct / total (0..1)."""

    metric: str  # "top1" | "top5"
    value: float
    correct: int | None = None
    total: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def counts(self) -> tuple[int, int] | None:
        if self.total is None or self.total <= 0:
            return None
        correct = self.correct if self.correct is not None else round(self.value * self.total)
        return (int(correct), int(self.total))


@dataclass(frozen=True)
class CellRecord:
    board: str
    cell: str
    delegate: str
    variant: str = ""
    threads: int | None = None
    status: str = "ok"  # "ok" | "failed" (any failed step) | "skipped" (cannot run the model)
    error: str | None = None
    execution: str | None = None
    graph_sha256: str | None = None
    samples: tuple[Sample, ...] = ()
    accuracy: tuple[AccuracyResult, ...] = ()

    @property
    def latencies_us(self) -> tuple[float, ...]:
        return tuple(v for v in (s.latency_us for s in self.samples) if v is not None)

    @property
    def usable(self) -> bool:
        """Has at least one successful timed repetition."""
        return bool(self.latencies_us)


def _board_vela(facts: Mapping[str, Any]) -> str | None:
    """The board's `vela --version` from its probe document (None: no vela there)."""
    from imxbench.model.facts import version_in

    return version_in(facts.get("vela"))


@dataclass(frozen=True)
class Fingerprint:
    """What a board was during a run. `identity()` is what makes timings comparable."""

    board: str
    soc: str | None = None
    bsp: str | None = None
    kernel: str | None = None
    tflite_version: str | None = None
    delegate_hashes: Mapping[str, str | None] = field(default_factory=dict)
    vela_version: str | None = None
    governor: str | None = None
    temperature_mc: int | None = None
    emulated: bool = False
    error: str | None = None
    """The board-level failure (unreachable, busy, ...), if any."""
    facts: Mapping[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, str]:
        """The comparable facts (temperature is reported, not compared), as text."""
        out = {
            "bsp": self.bsp,
            "kernel": self.kernel,
            "tflite": self.tflite_version,
            "vela": self.vela_version,
            # the board's own Vela (NXP's fork) beside the one that compiled the graph
            "vela_board": _board_vela(self.facts),
            "governor": self.governor,
        }
        for path, sha in sorted(self.delegate_hashes.items()):
            out[path] = (sha or "?")[:12]
        return {k: str(v) for k, v in out.items() if v is not None}

    def differences(self, baseline: Fingerprint) -> tuple[str, ...]:
        """'kernel: 6.12.34 -> 6.12.40' for each comparable fact that changed (facts unknown
        on either side are not called changed)."""
        mine, theirs = self.identity(), baseline.identity()
        keys = sorted(set(mine) | set(theirs))
        changed = []
        for key in keys:
            a, b = theirs.get(key), mine.get(key)
            if a is not None and b is not None and a != b:
                changed.append(f"{key}: {a} -> {b}")
            elif (a is None) != (b is None) and key.startswith("/"):
                changed.append(f"{key}: {a or 'absent'} -> {b or 'absent'}")
        return tuple(changed)


@dataclass(frozen=True)
class RunRecord:
    header: RunHeader
    fingerprints: tuple[Fingerprint, ...] = ()
    cells: tuple[CellRecord, ...] = ()
    finished_at: str | None = None
    note: str | None = None
    """Why the run is partial (interrupted, boards that failed)."""

    @property
    def status(self) -> str:
        """'partial' when interrupted or a board failed, else 'complete'."""
        failed_board = any(f.error for f in self.fingerprints)
        return "partial" if failed_board or self.note else "complete"

    def series(self, cell: CellRecord) -> SeriesKey:
        return SeriesKey(
            cell.board,
            cell.cell,
            self.header.model_sha256,
            self.header.series_settings,
            emulated=self.header.emulated,
        )

    def fingerprint(self, board: str) -> Fingerprint | None:
        return next((f for f in self.fingerprints if f.board == board), None)
