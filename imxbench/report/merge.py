"""One report over several runs that each covered part of the lab: the shards of a nightly
(`imxbench nightly --shard i/n`), merged into one page (`imxbench report --merge RUN...` or
`--night ID`).

Merging is a data step: the runs' tables are concatenated, facts, verdicts and failures pooled,
and the page's history is the earlier runs of the same model in the reports directory plus the
merged run as the newest point. The rest of the pipeline (charts, view, templates) is the one
every report uses. The merged page lives in `<reports>/night-<ID>/report.html` (a directory
without run.json: it is not a run).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from imxbench.errors import ConfigError
from imxbench.report.data import Accuracy, ReportData, RunMeta, load_run
from imxbench.report.history import (
    RunSnapshot,
    build_history,
    read_snapshot,
    run_dirs,
    same_series,
)
from imxbench.rundir.layout import RunDir

STATUS_RANK = {"complete": 0, None: 0, "partial": 1, "running": 2}


def night_runs(reports_dir: Path, night: str) -> list[Path]:
    """The run directories of nightly shards recorded with `--night NIGHT` (night.json); a
    shard run more than once counts with its newest run."""
    newest: dict[str, Path] = {}
    for run_dir in run_dirs(reports_dir):  # sorted by name: run ids start with the time
        doc = RunDir(run_dir).read_night()
        if isinstance(doc, dict) and doc.get("night") == night:
            newest[str(doc.get("shard") or run_dir.name)] = run_dir
    if not newest:
        raise ConfigError(
            f"{reports_dir}: no run of night {night!r}",
            "pass --night to every shard's `imxbench nightly`, and collect their run "
            "directories into one reports directory",
        )
    return sorted(newest.values())


def merged_dir(runs: Sequence[Path], night: str | None) -> Path:
    label = night or f"{runs[0].name}+{len(runs) - 1}"
    return runs[0].parent / f"night-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}"


def merge_runs(runs: Sequence[Path], *, night: str | None = None) -> ReportData:
    """The runs as one: all boards on one page (see the module doc)."""
    if not runs:
        raise ConfigError("nothing to merge: name the runs (or --night)")
    parts = [load_run(p) for p in runs]
    meta = _merged_meta([p.run for p in parts], merged_dir(runs, night), night)
    results = _concat([p.results for p in parts])
    summary = _concat([p.summary for p in parts])
    facts = {board: f for p in parts for board, f in p.facts.items()}
    verdicts = [v for p in parts for v in (p.verdicts or ())]
    accuracies = [p.accuracy for p in parts if p.accuracy is not None]
    accuracy: Accuracy | None = None
    if accuracies:
        accuracy = replace(
            accuracies[0], cells=tuple(c for a in accuracies for c in a.cells)
        )  # dataset and reference: the same model and data set in every shard
    current = RunSnapshot(
        meta=meta,
        summary=tuple(row for run in runs for row in read_snapshot(run).summary),
        facts=facts,
        verdicts={(v.board, v.cell): v.verdict for v in verdicts},
    )
    return ReportData(
        run=meta,
        results=results,
        summary=summary,
        facts=facts,
        failures=tuple(f for p in parts for f in p.failures),
        verdicts=tuple(verdicts) if any(p.verdicts is not None for p in parts) else None,
        accuracy=accuracy,
        history=build_history([*_earlier(runs, meta), current]),
        model=next((p.model for p in parts if p.model and p.model.facts), parts[0].model),
    )


def _merged_meta(metas: Sequence[RunMeta], path: Path, night: str | None) -> RunMeta:
    first = min(metas, key=lambda m: (m.started_at is None, m.started or "", m.run_id))
    status = max((m.status for m in metas), key=lambda s: STATUS_RANK.get(s, 1))
    boards = tuple(sorted({b for m in metas for b in m.boards}))
    label = f"night {night}" if night else " + ".join(m.run_id for m in metas)
    settings = {**first.settings, "merged runs": ", ".join(m.run_id for m in metas)}
    return replace(
        first,
        run_id=label,
        path=path,
        boards=boards,
        status=status,
        settings=settings,
        emulated=any(m.emulated for m in metas),
    )


def _earlier(runs: Sequence[Path], meta: RunMeta) -> list[RunSnapshot]:
    """Earlier runs of the same series (history.same_series) in the reports directory, oldest
    first."""
    mine = {p.resolve() for p in runs}
    start = meta.started_at.timestamp() if meta.started_at else float("inf")
    snapshots = []
    for run_dir in run_dirs(runs[0].parent):
        if run_dir.resolve() in mine:
            continue
        try:
            snap = read_snapshot(run_dir)
        except Exception:  # a broken old run must not break today's report
            continue
        when = snap.meta.started_at.timestamp() if snap.meta.started_at else 0.0
        if same_series(snap.meta, meta) and when < start:
            snapshots.append((when, snap.meta.run_id, snap))
    return [s for *_, s in sorted(snapshots, key=lambda t: (t[0], t[1]))]


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One table, boards in name order (each board's rows in their own order)."""
    present = [f for f in frames if not f.empty]
    if not present:
        return pd.DataFrame()
    table = pd.concat(present, ignore_index=True)
    if "board" in table:
        table = table.sort_values("board", kind="stable", ignore_index=True)
    return table
