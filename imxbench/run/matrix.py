"""Several models in one run: board x model x delegate (issue 19).

A model matrix is one ordinary run per model (`run_job`, its own `reports/<run-id>/`, its own
entry in the results history), so the history, the verdicts, the report, the trends and
`--resume` of each model work as for any run; a parent record, `reports/<matrix-id>/matrix.json`
(rundir/matrix.py), lists them. The models run one after another on every board at once, inside
the one set of board locks, labgrid places and emulated boards the caller holds for the whole
matrix (a board is never benchmarking two models at a time).

1. `prepare_matrix`, on the host, before any board is touched: every model is checked against
   every board's delegates (a model no delegate of a board can run: ConfigError, exit 2), its
   Vela compile done (cached per model sha256, the jobs' own are cache hits) and its accuracy
   data prepared (its own data set from models.yaml; none: latency only).
2. `run_matrix`: each model's job, announced in and recorded to the results history like a
   `run`, its progress tagged with the model's name (`[imx8mp resnet8] vx: ...`); the whole
   matrix is planned on the status bar from the start (an estimate per model, replaced by the
   model's own plan once its boards are probed). Per board, the models' jobs share one SSH
   connection (run/connection.py `BoardSessions`): the first model's job connects, the next
   ones go on with its connection while it is alive (a dropped one: the job connects anew, as
   any job; `[imx8mp resnet8] connected (reused); probing`); each job probes the board itself
   (its facts are its own). Closed when the matrix ends.
3. `matrix_report`: the HTML matrix view (report/matrix.py, rows models x columns
   board x delegate) of the models' run directories, when that module is installed.

`run --resume reports/<matrix-id>` goes on with the same matrix (run/matrix_resume.py): its
plans carry each model's run from before, kept or resumed; `run_matrix` runs only the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.analysis.plan import RunSettings, expected_processes, plan_cells
from imxbench.config.delegates import DelegateSpec
from imxbench.config.inventory import Board
from imxbench.config.models import ModelEntry
from imxbench.errors import ConfigError
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.model.records import RunHeader
from imxbench.run.connection import BoardSessions
from imxbench.run.job import JobInterrupted, JobResult, check_model, new_run_id, run_job
from imxbench.run.recording import announced_run, new_header, record_of
from imxbench.rundir.atomic import file_sha256
from imxbench.rundir.matrix import MATRIX_PREFIX, write_matrix

if TYPE_CHECKING:
    from imxbench.accuracy.phase import AccuracyRequest, Evaluation
    from imxbench.history.store import Store
    from imxbench.run.deferred_store import DeferredStore

ESTIMATED_CORES = {"imx8mp": 4, "imx93": 2, "imx95": 6}
"""For the status bar's first estimate of a model's steps, before its boards are probed (only
"one core or more" changes the count: `cpu@1t` and `cpu@Nt`)."""


@dataclass
class ModelPlan:
    """One model of the matrix, checked on the host: the delegates that will run it per board,
    and its accuracy evaluation (None: latency only)."""

    entry: ModelEntry
    delegates: dict[str, list[DelegateSpec]]
    evaluation: Evaluation | None = None
    sha256: str | None = None
    """The model file's, known from the start (matrix.json lists it before the model runs)."""
    run_id: str | None = None
    """A resumed matrix (run/matrix_resume.py): the model's run id from before (None: new)."""
    resume: Path | None = None
    """... its run directory, resumed: the steps it has are kept, only the others run."""
    kept: JobResult | None = None
    """... its run, finished before: counted as it is, nothing runs on a board."""


@dataclass
class ModelRun:
    entry: ModelEntry
    header: RunHeader
    result: JobResult | None = None
    """None while it runs, or when it was interrupted before its results were written."""


@dataclass
class MatrixResult:
    matrix_id: str
    out_dir: Path
    """reports/<matrix-id>/: matrix.json (and the matrix view, when written)."""
    runs: list[ModelRun] = field(default_factory=list)
    started: str = field(default_factory=lambda: now())
    settings: dict[str, object] | None = None
    """RunSettings.as_dict of every model's run (matrix.json; `--resume` checks them)."""

    @property
    def run_dirs(self) -> list[Path]:
        return [r.result.out_dir for r in self.runs if r.result is not None]

    @property
    def failures(self) -> list[str]:
        return [
            f"{r.entry.name}: {line}" for r in self.runs if r.result for line in r.result.failures
        ]

    @property
    def exit_code(self) -> int:
        """As a one-model run's (JobResult.exit_code): 1 when any model's cell failed, else 3
        when a board could not be used, else 0."""
        codes = {r.result.exit_code for r in self.runs if r.result is not None}
        return 1 if 1 in codes else 3 if 3 in codes else 0

    @property
    def skipped(self) -> list[str]:
        return [
            f"{r.entry.name}: {line}" for r in self.runs if r.result for line in r.result.skipped
        ]

    @property
    def warnings(self) -> list[str]:
        """Each warning once, naming the models it concerns (a board's Vela is every model's)."""
        models: dict[str, list[str]] = {}
        for run in self.runs:
            for line in run.result.warnings if run.result else []:
                models.setdefault(line, []).append(run.entry.name)
        return [f"{', '.join(names)}: {line}" for line, names in models.items()]


def accuracy_request(entry: ModelEntry, default: AccuracyRequest | None) -> AccuracyRequest | None:
    """The model's own data set (models.yaml), else `default` (`--dataset`) for a model given
    with `--model`; a models.yaml entry without a data set gets latency only."""
    if entry.dataset is None:
        return None if entry.from_models_file else default
    from imxbench.accuracy.phase import AccuracyRequest

    return AccuracyRequest(
        entry.dataset, entry.limit, entry.channel_order, entry.mean, entry.scale, entry.labels
    )


def prepare_matrix(
    boards: list[Board],
    entries: Sequence[ModelEntry],
    catalogue: dict[str, DelegateSpec],
    delegate_names: str | None,
    vela_cache: Path,
    default_accuracy: AccuracyRequest | None = None,
) -> list[ModelPlan]:
    """Check every model before any board is touched (ConfigError: exit 2, one line)."""
    if default_accuracy is not None and all(e.from_models_file for e in entries):
        raise ConfigError(
            "--dataset applies to the models given with --model; every model here comes "
            "from models.yaml",
            "give each model its own dataset in models.yaml",
        )
    plans: list[ModelPlan] = []
    try:
        for entry in entries:
            delegates = check_model(
                boards, entry.path, catalogue, delegate_names, vela_cache, entry.skip_delegates
            )
            plan = ModelPlan(entry, delegates, sha256=file_sha256(entry.path))
            plans.append(plan)
            request = accuracy_request(entry, default_accuracy)
            if request is not None:
                from imxbench.accuracy.phase import Evaluation

                plan.evaluation = Evaluation.prepare(request, entry.path)
    except BaseException:
        for plan in plans:
            if plan.evaluation is not None:
                plan.evaluation.close()
        raise
    return plans


def run_matrix(
    boards: list[Board],
    plans: Sequence[ModelPlan],
    catalogue: dict[str, DelegateSpec],
    delegate_names: str | None,
    settings: RunSettings,
    reports_dir: Path,
    vela_cache: Path,
    store: Store | DeferredStore,
    *,
    emulated: bool = False,
    emulation: str | None = None,
    progress: Progress | None = None,
    matrix_id: str | None = None,
    preload: Sequence[str] = (),
    started: str | None = None,
) -> MatrixResult:
    """Run every model on `boards` (already locked, reached and, if emulated, started), one
    model after the other, each recorded in `store`. JobInterrupted (Ctrl-C) after writing
    matrix.json with what finished; the models not reached are listed without a run.

    A resumed matrix (run/matrix_resume.py) gives its `matrix_id` and `started`, and plans
    that say per model what is left: a kept run (nothing runs), a run directory to resume,
    or nothing (a new run)."""
    matrix_id = matrix_id or MATRIX_PREFIX + new_run_id()
    matrix = MatrixResult(matrix_id, reports_dir / matrix_id, settings=settings.as_dict())
    if started is not None:  # a resumed matrix keeps its start
        matrix.started = started
    doc = matrix_doc(matrix, plans, boards, delegate_names)
    write_matrix(matrix.out_dir, doc)
    if progress is not None:
        plan_everything(progress, boards, plans, settings)
    sessions = BoardSessions()  # each board's connection, from model to model
    try:
        for plan in plans:
            entry = plan.entry
            header = new_header(
                "run", entry.path, settings, reports_dir, emulated=emulated, run_id=plan.run_id
            )
            run = ModelRun(entry, header)
            matrix.runs.append(run)
            if plan.kept is not None:  # finished before the resume: counted, not run again
                run.result = plan.kept
                _say_kept(progress, boards, entry.name, plan.kept.run_id)
                continue
            write_matrix(matrix.out_dir, matrix_doc(matrix, plans, boards, delegate_names))
            with _interrupted_into(run), announced_run(store, header):
                run.result = run_job(
                    boards,
                    entry.path,
                    catalogue,
                    delegate_names,
                    settings,
                    reports_dir,
                    vela_cache,
                    emulated=emulated,
                    emulation=emulation,
                    progress=tagged(progress, entry.name) if progress else None,
                    accuracy=plan.evaluation,
                    run_id=header.run_id,
                    resume=plan.resume,
                    preload=preload,
                    background=[store.open_now] if hasattr(store, "open_now") else [],
                    skip_delegates=entry.skip_delegates,
                    sessions=sessions,
                )
                plan.evaluation = None  # the job closed it
                store.record_run(record_of(run.result, header))
    finally:
        sessions.close()
        for plan in plans:
            if plan.evaluation is not None:  # models never reached (Ctrl-C, a failure)
                plan.evaluation.close()
        finished = matrix_doc(matrix, plans, boards, delegate_names)
        write_matrix(
            matrix.out_dir, {**finished, "finished": now(), "status": matrix_status(matrix, plans)}
        )
    return matrix


def _say_kept(progress: Progress | None, boards: list[Board], model: str, run_id: str) -> None:
    """A resumed matrix's model that had finished: one line per board, nothing runs."""
    if progress is None:
        return
    for board in boards:
        message = f"finished before the resume: run {run_id} kept, nothing to run"
        progress(ProgressEvent(f"{board.name} {model}", "board", message))


@contextlib.contextmanager
def _interrupted_into(run: ModelRun) -> Iterator[None]:
    """Keep an interrupted job's partial result on its ModelRun (matrix.json lists it)."""
    try:
        yield
    except JobInterrupted as exc:
        run.result = exc.result
        raise


def matrix_report(run_dirs: list[Path], out_dir: Path) -> Path | None:
    """The HTML matrix view (report/matrix.py `write_matrix_report`) of the models' run
    directories, written into `out_dir`; None when that module is not installed."""
    import importlib

    try:  # written by another part of issue 19; absent from older trees
        matrix_view = importlib.import_module("imxbench.report.matrix")
    except ModuleNotFoundError as exc:
        if exc.name == "imxbench.report.matrix":
            return None
        raise
    return Path(matrix_view.write_matrix_report(run_dirs, out_dir))


def tagged(progress: Progress, model: str) -> Progress:
    """The progress of one model's job: the board is shown as `board model`, so the lines say
    which model a step belongs to and the status bar counts each model's steps apart."""

    def say(event: ProgressEvent) -> None:
        progress(dataclasses.replace(event, board=f"{event.board} {model}"))

    return say


def plan_everything(
    progress: Progress, boards: list[Board], plans: Sequence[ModelPlan], settings: RunSettings
) -> None:
    """Tell the status bar the whole matrix at once: per model and board, an estimate of its
    benchmark steps (and accuracy evaluations), each replaced by the model's own plan."""
    for plan in plans:
        for board in boards:
            specs = plan.delegates.get(board.name) or []
            cores = ESTIMATED_CORES.get(board.soc, 2)
            graphs = {s.name: "" for s in specs}
            cells = plan_cells(specs, graphs, "", board.workdir, cores, settings)
            steps = sum(expected_processes(st, settings) for c in cells for st in c.steps)
            name = f"{board.name} {plan.entry.name}"
            progress(ProgressEvent(name, "planned", f"{steps} benchmark steps", planned=steps))
            if plan.evaluation is not None and specs:
                progress(
                    ProgressEvent(
                        name,
                        "planned",
                        f"then {len(specs)} accuracy evaluations",
                        phase="accuracy",
                        planned=len(specs),
                    )
                )


def matrix_doc(
    matrix: MatrixResult,
    plans: Sequence[ModelPlan],
    boards: list[Board],
    delegate_names: str | None,
    kind: str = "run",
) -> dict[str, Any]:
    """matrix.json's document (rundir/matrix.py) as the matrix stands."""
    started = {r.entry.name: r for r in matrix.runs}
    models = []
    for plan in plans:
        entry, run = plan.entry, started.get(plan.entry.name)
        status = None
        if run is not None and run.result is not None:
            status = _run_status(run.result.out_dir)
        elif run is not None:
            status = "running"
        models.append(
            {
                "name": entry.name,
                "path": str(entry.path),
                "sha256": run.header.model_sha256 if run else plan.sha256,
                "dataset": str(entry.dataset) if entry.dataset else None,
                "skip_delegates": list(entry.skip_delegates),
                "run_id": run.header.run_id if run else None,
                "status": status,
            }
        )
    return {
        "matrix_id": matrix.matrix_id,
        "kind": kind,
        "status": "running",
        "started": matrix.started,
        "boards": [b.name for b in boards],
        "delegates": delegate_names,
        **({"settings": matrix.settings} if matrix.settings is not None else {}),
        "models": models,
    }


def _run_status(run_dir: Path) -> str | None:
    from imxbench.rundir.layout import RunDir

    try:
        status = RunDir(run_dir).read_run().get("status")
    except ConfigError:
        return None
    return str(status) if status else None


def matrix_status(matrix: MatrixResult, plans: Sequence[ModelPlan]) -> str:
    """complete when every model ran to a complete run, else partial."""
    done = [r for r in matrix.runs if r.result is not None]
    if len(done) < len(plans):
        return "partial"
    statuses = {_run_status(r.result.out_dir) for r in done if r.result is not None}
    return "complete" if statuses == {"complete"} else "partial"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
