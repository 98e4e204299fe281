"""The accuracy phase's journal: `accuracy/<board>.jsonl` (rundir/layout.py), one line per
evaluation that ran to its end, appended and fsynced the moment it ends (like run/pipeline.py's
step journal), so that `run --resume` keeps the evaluations that had finished, after any kind
of death, and runs only the others.

A line (format 1) names what was evaluated (delegate, benchmark cell, threads, the graph on the
board, the sha256 of the packed inputs: data set, limit and preprocessing in one) and what came
of it (status, error, runtime, duration, the result file and its sha256). `kept_evaluations`
returns, per delegate, the last line that can be reused as it stands: an "ok" one, of the same
graph and inputs, whose result file is still on disk with its sha256. A failed evaluation, one
cut by a death (no line), or one whose result file is gone or changed runs again; a line cut
mid-write is skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from imxbench.rundir.atomic import file_sha256
from imxbench.rundir.layout import RunDir

if TYPE_CHECKING:
    from imxbench.accuracy.phase import AccuracyCell

JOURNAL_FORMAT = 1


@dataclass(frozen=True)
class JournaledCell:
    """One finished evaluation, as journaled."""

    delegate: str
    cell: str
    threads: int | None
    graph: str | None
    status: str
    error: str | None
    packed_inputs_sha256: str
    runtime: str | None
    runtime_version: str | None
    duration_s: float
    result_file: str | None
    result_sha256: str | None


def journal_cell(out_dir: Path, cell: AccuracyCell, packed_inputs_sha256: str) -> None:
    """Append a finished evaluation to `accuracy/<board>.jsonl` and flush it to the disk (after
    its result and predictions files are written, so a line always has them)."""
    result = Path(cell.result_file) if cell.result_file and cell.status == "ok" else None
    entry = JournaledCell(
        delegate=cell.delegate,
        cell=cell.cell,
        threads=cell.threads,
        graph=cell.graph,
        status=cell.status,
        error=cell.error,
        packed_inputs_sha256=packed_inputs_sha256,
        runtime=cell.runtime,
        runtime_version=cell.runtime_version,
        duration_s=cell.duration_s,
        result_file=result.name if result else None,
        result_sha256=file_sha256(result) if result else None,
    )
    path = RunDir(out_dir).accuracy_journal(cell.board)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"format": JOURNAL_FORMAT, **asdict(entry)})
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(out_dir: Path, board: str) -> list[JournaledCell]:
    """Every evaluation journaled for `board`, oldest first; a line cut by a death mid-write, or
    of a format this version does not know, is skipped."""
    path = RunDir(out_dir).accuracy_journal(board)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    names = {f.name for f in fields(JournaledCell)}
    found = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
            if doc.get("format") != JOURNAL_FORMAT:
                continue
            found.append(JournaledCell(**{k: v for k, v in doc.items() if k in names}))
        except (ValueError, TypeError, AttributeError):
            continue
    return found


def kept_evaluations(
    out_dir: Path, board: str, packed_inputs_sha256: str, graphs: dict[str, str]
) -> dict[str, JournaledCell]:
    """delegate -> its journaled evaluation that a resumed run reuses instead of running it
    again: "ok", of the same packed inputs and the same graph on the board (`graphs`: delegate
    -> graph deployed now), its result file on disk and unchanged."""
    found: dict[str, JournaledCell] = {}
    for entry in read_journal(out_dir, board):
        found.pop(entry.delegate, None)  # the last line of a delegate is its outcome
        if (
            entry.status == "ok"
            and entry.packed_inputs_sha256 == packed_inputs_sha256
            and entry.graph is not None
            and graphs.get(entry.delegate) == entry.graph
            and _result_intact(out_dir, board, entry)
        ):
            found[entry.delegate] = entry
    return found


def _result_intact(out_dir: Path, board: str, entry: JournaledCell) -> bool:
    path = RunDir(out_dir).accuracy_file(board, entry.delegate, "npz")
    if entry.result_file != path.name or entry.result_sha256 is None:
        return False
    try:
        return file_sha256(path) == entry.result_sha256
    except OSError:
        return False
