"""A finished job as the results history keeps it: the RunRecord of a JobResult, with the
accuracy results of the run directory."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.model.records import (
    SAMPLE_METRICS,
    AccuracyResult,
    CellRecord,
    Fingerprint,
    RunHeader,
    RunRecord,
    Sample,
    utc_now,
)
from imxbench.rundir.layout import RunDir

if TYPE_CHECKING:
    import pandas as pd

    from imxbench.run.job import JobResult


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
            governor=run.governor.get("set"),
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
    governor: str | None = None,
) -> Fingerprint:
    """A board's fingerprint from its probe document (imxbench.board.probe). `governor`: the
    one the run set (--cpu-governor, boards.yaml cpu_governor), else the probe's."""
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
        governor=governor or facts.get("cpufreq_governor"),
        temperature_mc=int(temperature) if isinstance(temperature, int | float) else None,
        emulated=bool(facts.get("emulated")),
        error=error,
        facts=dict(facts),
    )


def cells_from_table(
    table: pd.DataFrame,
    accuracy: Mapping[tuple[str, str], tuple[AccuracyResult, ...]],
) -> tuple[CellRecord, ...]:
    """One CellRecord per (board, cell) of the tidy table, with its timed repetitions.

    A timed repetition said to be ok whose `inference_avg_us` is not a finite number > 0 is an
    impossible timing: the repetition and its cell are failed ("impossible timing: ..."), so
    that it is never stored, judged or shown as a good latency. A cell whose delegate cannot
    run the model (its one row `skipped`) is a skipped cell: no samples, the reason as its
    error; the nightly never judges it."""
    from imxbench.analysis.results import repetition_rows

    if table.empty:
        return ()
    cells = []
    for (board, cell), rows in table.groupby(["board", "cell"], sort=False):
        first = rows.iloc[0]
        counted = repetition_rows(rows)  # an adaptive run's counted cold process too
        timed = rows[(rows["kind"] == "timed") | rows.index.isin(counted.index)]
        samples = []
        impossible = []
        for _, row in timed.iterrows():
            status = str(row["status"])
            avg = _raw_number(row.get("inference_avg_us"))
            if status == "ok" and not (avg is not None and math.isfinite(avg) and avg > 0):
                status = "failed"
                impossible.append(f"repetition {row['repetition']} inference_avg_us={avg!r}")
            samples.append(
                Sample(
                    int(row["repetition"]),
                    status,
                    {m: _number(row.get(m)) for m in SAMPLE_METRICS},
                )
            )
        failed = rows[~rows["status"].isin(["ok", "skipped"])]
        skipped = bool(len(rows)) and bool((rows["status"] == "skipped").all())
        said = rows if skipped else failed
        error = next((str(e) for e in said.get("error", []) if isinstance(e, str) and e), None)
        if impossible:
            error = "impossible timing: " + "; ".join(impossible) + (f"; {error}" if error else "")
        cells.append(
            CellRecord(
                board=str(board),
                cell=str(cell),
                delegate=str(first["delegate"]),
                variant=str(first.get("variant") or ""),
                threads=_int(first.get("threads")),
                status=(
                    "skipped" if skipped else "failed" if len(failed) or impossible else "ok"
                ),
                error=error,
                execution=_text(
                    next((e for e in rows.get("execution", []) if isinstance(e, str)), None)
                ),
                graph_sha256=_text(first.get("graph_sha256")),
                samples=tuple(samples),
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
    """The accuracy results of a run directory's accuracy.json (written by the accuracy step,
    accuracy/summary.py), by (board, cell). No file: no accuracy."""
    doc = RunDir(out_dir).read_accuracy()
    return accuracy_from_doc(doc) if doc is not None else {}


def accuracy_from_doc(doc: Mapping[str, Any]) -> dict[tuple[str, str], tuple[AccuracyResult, ...]]:
    """accuracy.json's `cells` (accuracy/summary.py's cell_document): top-1 and top-5 of each
    evaluated cell, as fractions with their 95% intervals. Failed cells have no results."""
    out: dict[tuple[str, str], tuple[AccuracyResult, ...]] = {}
    for row in doc.get("cells") or []:
        results = tuple(
            AccuracyResult(
                metric,
                float(row[metric]),
                correct=_int(row.get(f"{metric}_correct")),
                total=_int(row.get("images")),
                ci_low=_number((row.get(f"{metric}_ci") or [None, None])[0]),
                ci_high=_number((row.get(f"{metric}_ci") or [None, None])[1]),
            )
            for metric in ("top1", "top5")
            if row.get(metric) is not None
        )
        if results:
            out[(str(row["board"]), str(row["cell"]))] = results
    return out


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _raw_number(value: Any) -> float | None:
    """`value` as a float, NaN and infinities kept (None: not a number at all)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)
