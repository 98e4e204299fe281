"""`--op-profile auto`: a cell's op profile is measured once per (model, board fingerprint,
delegate) and reused until one of them changes (kept by rundir/op_profiles.py).

The key's parts: the graph's sha256 (what the board runs: the Vela-compiled one for Ethos-U),
the board's name and its fingerprint's identity (BSP, kernel, TFLite, delegate library sha256s,
Vela, governor: run/job_record.fingerprint_from_facts, as the history compares boards), the
cell (delegate and threads), and the profile step's command line and environment (delegate
options, benchmark_model's path; the graph's board path is content-addressed). A reused
profile is a `profile` row like a measured one, its metrics the kept ones, with
`op_profile_from` = the run that measured it (the report and the progress line say so).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.analysis.plan import Cell, Step
from imxbench.rundir import op_profiles

if TYPE_CHECKING:
    from imxbench.run.pipeline import BoardRun, StepRecord


def key_parts(result: BoardRun, cell: Cell, step: Step, graph_sha256: str | None) -> dict[str, Any]:
    from imxbench.run.job_record import fingerprint_from_facts

    facts = result.facts.raw if result.facts else {}
    governor = result.governor.get("set")
    identity = fingerprint_from_facts(
        result.board.name, result.board.soc, facts, governor=governor
    ).identity()
    return {
        "graph_sha256": graph_sha256,
        "board": result.board.name,
        "soc": result.board.soc,
        "emulated": bool(facts.get("emulated")),
        "fingerprint": identity,
        "cell": cell.name,
        "argv": list(step.argv),
        "env": dict(step.env),
    }


def reused(reports_dir: Path, parts: dict[str, Any], template: StepRecord) -> StepRecord | None:
    """The kept profile for these parts as this run's profile record, or None."""
    doc = op_profiles.read_profile(reports_dir, op_profiles.profile_key(parts))
    if doc is None:
        return None
    metrics = {**doc["metrics"], "op_profile_from": doc["run_id"]}
    return dataclasses.replace(
        template, metrics=metrics, log_file=doc.get("log_file"), duration_s=0.0
    )


def keep(reports_dir: Path, parts: dict[str, Any], run_id: str, record: StepRecord) -> None:
    """Keep a profile this run measured (a failed one is never kept)."""
    if record.status != "ok" or record.metrics.get("op_profile_from"):
        return
    metrics = {k: v for k, v in record.metrics.items() if k != "op_profile_from"}
    # a cache that cannot be written only means measuring again next time
    with contextlib.suppress(OSError):
        op_profiles.write_profile(
            reports_dir, op_profiles.profile_key(parts), parts, run_id, metrics, record.log_file
        )
