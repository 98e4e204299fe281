"""History for the report's trends: earlier run directories of the same series.

A trend is what the regression detector calls a series (model/series.py SeriesKey): the same
model by its sha256 (not its file name: models/a/model.tflite and models/b/model.tflite, or a
retrained model.tflite, are different models), the same settings but the repetition count,
emulated or real; board and cell are the points' own. So a chart never mixes what the verdicts
keep apart (`same_series`).

The default source is the run directories under one reports directory (a database source can
come later). Only the small files are read per run — run.json, summary.json, facts/*.json and
verdicts.json — never results.json or the logs, so a year of nightlies loads quickly.

Environment changes: between consecutive runs of a board, the facts that make timings
incomparable — TFLite version, kernel, OS release, delegate libraries (by sha256).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from imxbench.model.facts import BoardFacts
from imxbench.report.data import (
    EnvChange,
    History,
    RunMeta,
    is_run_dir,
    load_meta,
    parse_verdicts,
)
from imxbench.rundir.layout import RunDir

POINT_COLUMNS = (
    "run_id",
    "started_at",
    "board",
    "cell",
    "latency_ms",
    "failed",
    "verdict",
    "p5_ms",
    "p95_ms",
)


@dataclass(frozen=True)
class RunSnapshot:
    """What the trends need of one run."""

    meta: RunMeta
    summary: tuple[Mapping[str, Any], ...]
    facts: Mapping[str, Mapping[str, Any]]
    verdicts: Mapping[tuple[str, str], str]  # (board, cell) -> verdict


def run_dirs(reports_dir: Path) -> list[Path]:
    """The run directories directly under `reports_dir` (those with a run.json)."""
    if not reports_dir.is_dir():
        return []
    return sorted(p for p in reports_dir.iterdir() if p.is_dir() and is_run_dir(p))


def read_snapshot(run_dir: Path, meta: RunMeta | None = None) -> RunSnapshot:
    files = RunDir(run_dir)
    facts = files.read_facts()
    verdicts = parse_verdicts(files.read_verdicts() or [])
    return RunSnapshot(
        meta=meta or load_meta(run_dir),
        summary=tuple(files.read_summary() or ()),
        facts=facts,
        verdicts={(v.board, v.cell): v.verdict for v in verdicts},
    )


def history_for(current: RunMeta, candidates: Iterable[Path], limit: int | None = None) -> History:
    """The history of `current`: candidate runs of the same series (`same_series`) that
    started no later than it, oldest first, `current` last (at most `limit` runs)."""
    snapshots = []
    for run_dir in candidates:
        if run_dir.resolve() == current.path.resolve():
            continue
        try:
            meta = load_meta(run_dir)
            if not same_series(meta, current) or _later(meta, current):
                continue
            snapshots.append(read_snapshot(run_dir, meta))
        except Exception:  # a broken old run must not break today's report
            continue
    snapshots.sort(key=lambda s: _order_key(s.meta))
    if limit is not None:
        snapshots = snapshots[-(limit - 1) :] if limit > 1 else []
    return build_history([*snapshots, read_snapshot(current.path)])


def same_series(meta: RunMeta, current: RunMeta) -> bool:
    """Whether `meta`'s cells belong to the series of `current`'s, as the history keys them
    (SeriesKey: model sha256, settings without the repetition count, emulated or real). A
    run.json written before it recorded the model's sha256 matches another such run by the
    model's file name, never a run that has a sha256."""
    if meta.emulated != current.emulated or meta.series_settings != current.series_settings:
        return False
    if meta.model_sha256 or current.model_sha256:
        return meta.model_sha256 == current.model_sha256
    return meta.model == current.model


def build_history(snapshots: Sequence[RunSnapshot]) -> History:
    """Pure: trend points and environment changes from snapshots in chronological order."""
    rows: list[tuple[Any, ...]] = []
    for snap in snapshots:
        for row in snap.summary:
            board, cell = str(row.get("board")), str(row.get("cell"))
            latency = row.get("latency_ms")
            p5, p95 = row.get("p5_ms"), row.get("p95_ms")  # p5_ms: summaries since issue 18
            rows.append(
                (
                    snap.meta.run_id,
                    snap.meta.started_at,
                    board,
                    cell,
                    float(latency) if isinstance(latency, int | float) else None,
                    bool(row.get("failed")),
                    snap.verdicts.get((board, cell)),
                    float(p5) if isinstance(p5, int | float) else None,
                    float(p95) if isinstance(p95, int | float) else None,
                )
            )
    points = pd.DataFrame(rows, columns=list(POINT_COLUMNS))
    return History(
        runs=tuple(s.meta for s in snapshots),
        points=points,
        env_changes=tuple(env_changes(snapshots)),
    )


def fingerprint(facts: Mapping[str, Any]) -> dict[str, str]:
    """The facts whose change makes a board's timings incomparable, as display strings."""
    board_facts = BoardFacts(dict(facts))
    out = {
        "tflite": board_facts.tflite_version or "?",
        "kernel": str(facts.get("kernel") or "?"),
        "os": str((facts.get("os_release") or {}).get("pretty_name") or "?"),
    }
    for path, sha in sorted(board_facts.delegate_libraries.items()):
        out[Path(path).name] = (sha or "?")[:12]
    return out


def env_changes(snapshots: Sequence[RunSnapshot]) -> list[EnvChange]:
    """One EnvChange per (run, board) whose fingerprint differs from the board's previous run."""
    previous: dict[str, dict[str, str]] = {}
    found = []
    for snap in snapshots:
        for board, facts in snap.facts.items():
            now = fingerprint(facts)
            before = previous.get(board)
            previous[board] = now
            if before is None or before == now:
                continue
            changes = tuple(
                f"{key} {before.get(key, 'none')} → {now.get(key, 'none')}"
                for key in sorted(set(before) | set(now), key=_fact_order)
                if before.get(key) != now.get(key)
            )
            found.append(EnvChange(board, snap.meta.run_id, snap.meta.started_at, changes))
    return found


def _fact_order(key: str) -> tuple[int, str]:
    fixed = ("tflite", "kernel", "os")
    return (fixed.index(key), key) if key in fixed else (len(fixed), key)


def _order_key(meta: RunMeta) -> tuple[float, str]:
    stamp = meta.started_at.timestamp() if meta.started_at else 0.0
    return (stamp, meta.run_id)


def _later(meta: RunMeta, current: RunMeta) -> bool:
    return _order_key(meta) > _order_key(current)


def naive(moment: datetime | None) -> datetime | None:
    """`moment` without its time zone (matplotlib's date axis wants one kind)."""
    return None if moment is None else moment.replace(tzinfo=None)
