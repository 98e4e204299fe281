"""What the results history keeps of a run: frozen dataclasses, and their making from a job.

A `RunRecord` is one run (`imxbench run` or one night of `imxbench nightly`): its header (id,
kind, model, settings), one `Fingerprint` per board (what the board was: BSP, kernel, TFLite,
delegate library hashes, Vela, governor, temperature) and one `CellRecord` per (board, cell)
with its timed repetitions (`Sample`) and accuracy results. `record_from_job` builds it from a
`JobResult`; nothing here does I/O except `read_accuracy`, which reads the run directory's
accuracy.json when the accuracy step wrote one.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.analysis.regression import SeriesKey, series_settings

if TYPE_CHECKING:
    import pandas as pd

    from imxbench.run.job import JobResult

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    status: str = "ok"  # "ok" | "failed" (any failed step)
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
            cell.board, cell.cell, self.header.model_sha256, self.header.series_settings
        )

    def fingerprint(self, board: str) -> Fingerprint | None:
        return next((f for f in self.fingerprints if f.board == board), None)


# ---------------------------------------------------------------------------------------------
# From a job


def record_from_job(
    job: JobResult,
    header: RunHeader,
    *,
    board_errors: Mapping[str, str] | None = None,
    accuracy: Mapping[tuple[str, str], tuple[AccuracyResult, ...]] | None = None,
    note: str | None = None,
) -> RunRecord:
    """The record of a finished job. `board_errors` adds boards that never ran (busy, ...);
    `accuracy` maps (board, cell) to its accuracy results (read_accuracy)."""
    vela = _vela_versions(job.table)
    fingerprints = [
        fingerprint_from_facts(
            run.board.name,
            run.board.soc,
            run.facts.raw if run.facts else {},
            vela_version=vela.get(run.board.name),
            error=run.error,
        )
        for run in job.board_runs
    ]
    for board, error in (board_errors or {}).items():
        fingerprints.append(Fingerprint(board, error=error))
    cells = cells_from_table(job.table, accuracy or {})
    return RunRecord(header, tuple(fingerprints), cells, finished_at=utc_now(), note=note)


def fingerprint_from_facts(
    board: str,
    soc: str | None,
    facts: Mapping[str, Any],
    *,
    vela_version: str | None = None,
    error: str | None = None,
) -> Fingerprint:
    """A board's fingerprint from its probe document (imxbench.board.probe)."""
    os_release = facts.get("os_release") or {}
    tflite = [t for t in facts.get("tflite") or [] if t.get("executable", True)]
    newest = max(
        (str(t.get("version", "")) for t in tflite),
        key=lambda v: tuple(int(p) if p.isdigit() else 0 for p in v.split(".")),
        default=None,
    )
    temperature = facts.get("temperature_mc")
    return Fingerprint(
        board=board,
        soc=soc,
        bsp=os_release.get("pretty_name") or os_release.get("version_id"),
        kernel=facts.get("kernel"),
        tflite_version=newest,
        delegate_hashes={str(d.get("path")): d.get("sha256") for d in facts.get("delegates") or []},
        vela_version=vela_version or facts.get("vela"),
        governor=facts.get("cpufreq_governor"),
        temperature_mc=int(temperature) if isinstance(temperature, int | float) else None,
        emulated=bool(facts.get("emulated")),
        error=error,
        facts=dict(facts),
    )


def cells_from_table(
    table: pd.DataFrame,
    accuracy: Mapping[tuple[str, str], tuple[AccuracyResult, ...]],
) -> tuple[CellRecord, ...]:
    """One CellRecord per (board, cell) of the tidy table, with its timed repetitions."""
    if table.empty:
        return ()
    cells = []
    for (board, cell), rows in table.groupby(["board", "cell"], sort=False):
        first = rows.iloc[0]
        timed = rows[rows["kind"] == "timed"]
        samples = tuple(
            Sample(
                int(row["repetition"]),
                str(row["status"]),
                {m: _number(row.get(m)) for m in SAMPLE_METRICS},
            )
            for _, row in timed.iterrows()
        )
        failed = rows[rows["status"] != "ok"]
        error = next((str(e) for e in failed.get("error", []) if isinstance(e, str) and e), None)
        cells.append(
            CellRecord(
                board=str(board),
                cell=str(cell),
                delegate=str(first["delegate"]),
                variant=str(first.get("variant") or ""),
                threads=_int(first.get("threads")),
                status="failed" if len(failed) else "ok",
                error=error,
                execution=_text(
                    next((e for e in rows.get("execution", []) if isinstance(e, str)), None)
                ),
                graph_sha256=_text(first.get("graph_sha256")),
                samples=samples,
                accuracy=accuracy.get((str(board), str(cell)), ()),
            )
        )
    return tuple(cells)


def _vela_versions(table: pd.DataFrame) -> dict[str, str]:
    if table.empty or "vela_version" not in table:
        return {}
    known = table.dropna(subset=["vela_version"])
    return {str(b): str(v) for b, v in known.groupby("board")["vela_version"].first().items()}


def read_accuracy(out_dir: Path) -> dict[tuple[str, str], tuple[AccuracyResult, ...]]:
    """The accuracy results of a run directory's accuracy.json (written by the accuracy step),
    read tolerantly: `{"samples": N, "cells": [{"board", "cell" | "delegate", "images",
    "top1", "top1_correct", "top1_ci": [lo, hi], "top5", "top5_correct", ...}]}`. Missing or
    unreadable: no accuracy."""
    try:
        doc = json.loads((out_dir / "accuracy.json").read_text())
    except (OSError, ValueError):
        return {}
    return accuracy_from_doc(doc)


def accuracy_from_doc(doc: Any) -> dict[tuple[str, str], tuple[AccuracyResult, ...]]:
    top: Mapping[str, Any] = doc if isinstance(doc, Mapping) else {}
    rows = doc if isinstance(doc, list) else top.get("cells") or top.get("results") or []
    out: dict[tuple[str, str], tuple[AccuracyResult, ...]] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping) or row.get("board") is None:
            continue
        cell = row.get("cell") or row.get("delegate")
        total = _int(row.get("images") or row.get("samples") or top.get("samples"))
        results = []
        for metric in ("top1", "top5"):
            value = _fraction(row.get(metric))
            if value is None:
                continue
            ci = row.get(f"{metric}_ci")
            low, high = (
                (ci[0], ci[1]) if isinstance(ci, list | tuple) and len(ci) == 2 else (None, None)
            )
            results.append(
                AccuracyResult(
                    metric,
                    value,
                    correct=_int(row.get(f"{metric}_correct")),
                    total=total,
                    ci_low=_fraction(low),
                    ci_high=_fraction(high),
                )
            )
        if results:
            out[(str(row["board"]), str(cell))] = tuple(results)
    return out


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _fraction(value: Any) -> float | None:
    number = _number(value)
    if number is None:
        return None
    return number / 100.0 if number > 1.0 else number


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
