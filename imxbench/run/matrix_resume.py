"""`run --resume reports/<matrix-id>`: a model matrix goes on where it stopped.

matrix.json (rundir/matrix.py) says which models had started and under which run id. The
resumed matrix must be the same matrix: the same boards, delegates and settings, the same
models by name and sha256 (given in any order; they run in the matrix's order, each with the
skip_delegates it had), and each started model's run.json must say the same as a one-model
`--resume` checks it (job.check_resume, settings included). Anything else is a one-line
ConfigError (exit 2) before any board is touched. Then, per model:

* finished: its run.json says `complete` and matrix.json says so too (the matrix recorded it in
  the history and moved on): kept as it is (`kept_result` reads it back), counted in the
  matrix's output, exit code and report; nothing runs on a board, the history is not written;
* started: its run directory is resumed as `run --resume` does it (the steps and accuracy
  evaluations journaled ok are kept, the rest runs) under its own run id, so its history record
  is replaced, not doubled (Store.begin_run / record_run of a known id); a run id whose
  directory was never written (a death between matrix.json and the job) runs anew under it;
* not started: it runs anew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import DelegateSpec
from imxbench.config.inventory import Board
from imxbench.config.models import ModelEntry
from imxbench.errors import ConfigError
from imxbench.run.job import (
    JobResult,
    check_resume,
    check_same_boards,
    check_same_settings,
    resume_mismatch,
)
from imxbench.run.matrix import ModelPlan, prepare_matrix
from imxbench.rundir.atomic import file_sha256
from imxbench.rundir.layout import RunDir, read_optional_json
from imxbench.rundir.matrix import read_matrix

if TYPE_CHECKING:
    from imxbench.accuracy.phase import AccuracyRequest

KEPT, RESUMED, NEW = "kept", "resumed", "new"


@dataclass(frozen=True)
class ResumedModel:
    entry: ModelEntry
    sha256: str
    run_id: str | None
    """Its run id from before (None: it never started: a new run)."""
    state: str
    """KEPT (finished: nothing runs), RESUMED (its run directory goes on) or NEW."""


@dataclass(frozen=True)
class ResumedMatrix:
    matrix_id: str
    out_dir: Path
    started: str | None
    models: list[ResumedModel]


@dataclass
class KeptRun(JobResult):
    """A model's run that had finished before the resume, read back from its directory: its
    failures and skipped cells as the job said them (boards.json, results.json,
    accuracy.json); its warnings were said when it ran and are not kept on disk."""

    kept_failures: list[str] = field(default_factory=list)
    kept_skipped: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return list(self.kept_failures)

    @property
    def exit_code(self) -> int:
        """A finished run kept as it is had no unusable board (it would have been partial)."""
        return 1 if self.kept_failures else 0

    @property
    def skipped(self) -> list[str]:
        return list(self.kept_skipped)

    @property
    def warnings(self) -> list[str]:
        return []


def check_matrix_resume(
    matrix_dir: Path,
    reports_dir: Path,
    boards: list[Board],
    entries: list[ModelEntry],
    delegate_names: str | None,
    settings: RunSettings,
    models_given: bool = True,
) -> ResumedMatrix:
    """`--resume MATRIX_DIR`: what is left of the matrix, per model, after checking that this
    is the same matrix (module doc; ConfigError, one line, before anything is written).
    `models_given`: False when the command named no model (the matrix's are required)."""
    resolved = matrix_dir.resolve()
    if resolved.parent != reports_dir.resolve():
        raise ConfigError(
            f"--resume {matrix_dir}: not a matrix directory of the reports directory {reports_dir}"
        )
    try:
        doc = read_matrix(resolved)
    except ConfigError as exc:
        reason = exc.message.removeprefix(f"{resolved / 'matrix.json'}: ")
        raise ConfigError(
            f"--resume {matrix_dir}: not a model matrix (matrix.json: {reason})"
        ) from None
    if doc.get("kind", "run") != "run":
        raise ConfigError(
            f"--resume {matrix_dir}: a {doc.get('kind')} model matrix; `run --resume` goes on "
            "with a run's"
        )
    records: list[dict[str, Any]] = [m for m in doc.get("models") or [] if isinstance(m, dict)]
    names = [str(m.get("name")) for m in records]
    if not models_given:
        raise ConfigError(
            f"--resume {matrix_dir}: give the matrix's {len(names)} models again as it was "
            f"started (--model or --models): {', '.join(names)}"
        )
    check_same_boards(matrix_dir, "matrix", doc.get("boards"), boards)
    was, now = _delegates(doc.get("delegates")), _delegates(delegate_names)
    if was != now:
        raise resume_mismatch(matrix_dir, "matrix was of the delegates", was, now)
    check_same_settings(matrix_dir, "matrix", doc.get("settings"), settings)
    by_name = {e.name: e for e in entries}
    if sorted(names) != sorted(by_name):
        raise resume_mismatch(
            matrix_dir, "matrix was of the models", ", ".join(names), ", ".join(by_name)
        )
    models = [_model(matrix_dir, reports_dir, boards, settings, r, by_name) for r in records]
    return ResumedMatrix(resolved.name, resolved, doc.get("started"), models)


def _delegates(names: object) -> str:
    given = sorted({n.strip() for n in str(names or "").split(",") if n.strip()})
    return ",".join(given) or "(every delegate)"


def _model(
    matrix_dir: Path,
    reports_dir: Path,
    boards: list[Board],
    settings: RunSettings,
    record: dict[str, Any],
    by_name: dict[str, ModelEntry],
) -> ResumedModel:
    """One model of the matrix: the same file (sha256) and skip_delegates as recorded, and,
    once started, a run directory of the same run; what is left of it."""
    entry = by_name[str(record.get("name"))]
    sha256 = file_sha256(entry.path)
    what = f"matrix's model {entry.name}"
    if record.get("sha256") and record["sha256"] != sha256:
        raise resume_mismatch(
            matrix_dir,
            f"{what} had sha256",
            str(record["sha256"])[:16],
            f"{sha256[:16]} ({entry.path})",
        )
    skipped_before = sorted(record.get("skip_delegates") or [])
    if skipped_before != sorted(entry.skip_delegates):
        raise resume_mismatch(
            matrix_dir,
            f"{what} skipped the delegates",
            ", ".join(skipped_before) or "(none)",
            ", ".join(sorted(entry.skip_delegates)) or "(none)",
        )
    run_id = record.get("run_id")
    if not run_id:
        return ResumedModel(entry, sha256, None, NEW)
    run_dir = reports_dir / str(run_id)
    if not RunDir(run_dir).is_run() and run_dir.resolve().parent == reports_dir.resolve():
        return ResumedModel(entry, sha256, str(run_id), NEW)  # announced, never written
    resolved = check_resume(run_dir, reports_dir, boards, entry.path, sha256, settings)
    finished = record.get("status") == "complete" and _run_status(resolved) == "complete"
    return ResumedModel(entry, sha256, str(run_id), KEPT if finished else RESUMED)


def _run_status(run_dir: Path) -> str | None:
    status = RunDir(run_dir).read_run().get("status")
    return str(status) if status else None


def resumed_plans(
    resumed: ResumedMatrix,
    boards: list[Board],
    catalogue: dict[str, DelegateSpec],
    delegate_names: str | None,
    vela_cache: Path,
    default_accuracy: AccuracyRequest | None,
    reports_dir: Path,
) -> list[ModelPlan]:
    """run_matrix's plans for a resumed matrix: the kept runs read back, the others checked
    and prepared as `prepare_matrix` does (their Vela compiles and accuracy data), in the
    matrix's order."""
    kept = {
        m.entry.name: kept_result(reports_dir / str(m.run_id))
        for m in resumed.models
        if m.state == KEPT
    }
    todo = [m for m in resumed.models if m.state != KEPT]
    # --dataset is for the models given with --model: none of them left, nothing to prepare
    accuracy = default_accuracy if any(not m.entry.from_models_file for m in todo) else None
    prepared = iter(
        prepare_matrix(
            boards, [m.entry for m in todo], catalogue, delegate_names, vela_cache, accuracy
        )
    )
    plans = []
    for model in resumed.models:
        if model.state == KEPT:
            plan = ModelPlan(model.entry, {}, sha256=model.sha256, kept=kept[model.entry.name])
        else:
            plan = next(prepared)
            if model.state == RESUMED:
                plan.resume = reports_dir / str(model.run_id)
        plan.run_id = model.run_id
        plans.append(plan)
    return plans


def kept_result(run_dir: Path) -> KeptRun:
    """A finished run of the matrix as the matrix counts it, from its directory alone."""
    import pandas as pd

    files = RunDir(run_dir)
    rows = files.read_results() or []
    boards = read_optional_json(files.boards_json) or []
    accuracy = files.read_accuracy() or {}
    failures = [str(b["error"]) for b in boards if b.get("error")]
    failures += [
        f"{b['board']} {cell}: failed" for b in boards for cell in b.get("failed_cells") or []
    ]
    failures += [
        f"{c.get('board')} accuracy {c.get('delegate')}: {c.get('error')}"
        for c in accuracy.get("cells") or []
        if c.get("status") != "ok"
    ]
    skipped = [
        f"{r['board']} {r['cell']}: {r.get('error')}" for r in rows if r.get("status") == "skipped"
    ]
    return KeptRun(
        run_dir.name,
        run_dir,
        [],
        pd.DataFrame(rows),
        pd.DataFrame(files.read_summary() or []),
        kept_failures=failures,
        kept_skipped=list(dict.fromkeys(skipped)),
    )
