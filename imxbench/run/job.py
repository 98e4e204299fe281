"""`imxbench run`: prepare models on the host, run every board (in parallel), write the results.

Everything a run produces goes under `reports/<run-id>/`: results.csv and results.json (the tidy
table), summary.json (board x cell), run.json (what was asked), facts/<board>.json (probe
output) and logs/<board>/<cell>-<step>.log (benchmark_model's raw output).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import DelegateSpec, select_delegates
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError
from imxbench.model.facts import BoardFacts
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.prepare.model_prep import PreparedModel, UnfitModel, prepare_model
from imxbench.run.connection import BoardSessions, CancelToken
from imxbench.run.pipeline import (
    BoardHook,
    BoardRun,
    StepKey,
    StepRecord,
    read_journal,
    run_board,
)
from imxbench.rundir.layout import RunDir

if TYPE_CHECKING:  # pandas (results) and accuracy load when needed: while the boards work
    import pandas as pd

    from imxbench.accuracy.phase import AccuracyRequest, Evaluation


@dataclass
class JobResult:
    run_id: str
    out_dir: Path
    board_runs: list[BoardRun]
    table: pd.DataFrame
    summary: pd.DataFrame
    accuracy: Evaluation | None = None  # with --dataset: accuracy cells, sanity-check warning

    @property
    def failures(self) -> list[str]:
        """One line per failed board or cell."""
        lines = [r.error for r in self.board_runs if r.error]  # errors name their board
        for run in self.board_runs:
            lines += [f"{run.board.name} {cell}: failed" for cell in run.failed_cells]
        return lines + (self.accuracy.failures if self.accuracy else [])

    @property
    def exit_code(self) -> int:
        """1 when a cell (or an accuracy evaluation) failed, else 3 when a board could not be
        used (unreachable, lost, a failed phase), else 0 (cli/main.py's exit codes)."""
        if any(run.failed_cells for run in self.board_runs):
            return 1
        if self.accuracy is not None and self.accuracy.failures:
            return 1
        return 3 if any(run.error for run in self.board_runs) else 0

    @property
    def skipped(self) -> list[str]:
        """One line per skipped cell (a delegate that cannot run the model): not a failure."""
        return [
            f"{r.board} {r.cell}: {r.error}" for run in self.board_runs for r in run.skipped
        ]

    @property
    def warnings(self) -> list[str]:
        boards = list(dict.fromkeys(w for r in self.board_runs for w in r.warnings))  # once
        return boards + (self.accuracy.warnings if self.accuracy else [])


SKIPPED_BY_CONFIG = "models.yaml skips this delegate for this model (skip_delegates)"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def run_job(
    boards: list[Board],
    model: Path,
    catalogue: dict[str, DelegateSpec],
    delegate_names: str | None,
    settings: RunSettings,
    reports_dir: Path,
    vela_cache: Path,
    *,
    emulated: bool = False,
    emulation: str | None = None,
    progress: Progress | None = None,
    resume: Path | None = None,
    accuracy: AccuracyRequest | Evaluation | None = None,
    run_id: str | None = None,
    preload: Sequence[str] = (),
    background: Sequence[Callable[[], object]] = (),
    skip_delegates: Collection[str] = (),
    kind: str = "run",
    sessions: BoardSessions | None = None,
) -> JobResult:
    """Bad input (model, delegate names) fails here, before any board is touched. A delegate
    that cannot run the model (model_prep.UnfitModel: a float model on an integer-only NPU)
    gives skipped cells, unless it leaves a board nothing to run: then its refusal is the
    error (e.g. `--delegate vx` with a float model).

    `resume` names an earlier run directory: its successful steps are kept and only the
    missing ones run, into the same directory. Ctrl-C raises JobInterrupted after writing
    what had finished. `preload`: modules the caller needs after the job (e.g. the report's),
    imported while the boards work (`module:function` also calls the function, e.g. a
    warm-up); `background`: work done then too, first (e.g. opening the results history) —
    should it raise, the boards are cancelled and the job raises that.

    `accuracy` may be an Evaluation prepared already (run/matrix.py prepares every model's
    before any board is touched); the job closes it. `skip_delegates`: delegates not to run
    this model with (models.yaml), shown as skipped cells like an unfit delegate's. `kind`:
    what run.json calls the job, "run" or "nightly". `sessions`: a model matrix's boards'
    connections, used and left there for its next model (None: the job connects and closes
    on its own; it probes the board either way).
    """
    every = {b.name: select_delegates(catalogue, b.soc, delegate_names) for b in boards}
    prepared, unfit = prepare_models(model, every, vela_cache, skip_delegates)
    plans = {b: [s for s in specs if s.name in prepared] for b, specs in every.items()}
    skipped = {
        b: [(s, unfit[s.name]) for s in specs if s.name in unfit]
        for b, specs in every.items()
    }
    evaluation = None
    if accuracy is not None:
        from imxbench.accuracy.phase import Evaluation

        if isinstance(accuracy, Evaluation):
            evaluation = accuracy
        else:
            evaluation = Evaluation.prepare(accuracy, model)
    kept_rows: list[dict[str, Any]] = []
    done: dict[str, frozenset[StepKey]] = {}
    model_sha256 = next(iter(prepared.values())).source_sha256 if prepared else None
    if resume is not None:
        resume = check_resume(resume, reports_dir, boards, model, model_sha256)
        kept_rows, done = previous_steps(resume)
        journaled = _journaled_rows(resume, boards, prepared, settings, done)
        kept_rows += journaled
        done = _steps_of(kept_rows)
        run_id, out_dir = resume.name, resume
    else:
        run_id = run_id or new_run_id()  # given: announced in the results history already
        out_dir = reports_dir / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    run_doc = {
        "run_id": run_id,
        "model": str(model),
        "model_sha256": model_sha256,
        "boards": [b.name for b in boards],
        "delegates": delegate_names,
        "settings": settings.as_dict(),
        "emulate": emulated,
        "emulation": emulation,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "status": "running",
        "kind": kind,  # run | nightly (reports/index.html's kind column)
    }
    RunDir(out_dir).write_run(run_doc)
    hooks = {b: evaluation.board_hook(p, out_dir) for b, p in plans.items()} if evaluation else {}
    board_runs, interrupted, failure = _run_boards(
        boards,
        plans,
        prepared,
        settings,
        out_dir,
        progress,
        done,
        hooks,
        _Preloader(background, ["imxbench.analysis.results", *preload], [b.name for b in boards]),
        skipped,
        sessions,
    )
    from imxbench.analysis.results import build_table, join_accuracy, summarize

    as_given = PreparedModel.as_given(model, next(iter(prepared.values())).source_info)
    rows = kept_rows + [
        _row(run_id, run, record, prepared.get(record.delegate, as_given), settings)
        for run in board_runs
        for record in [*run.records, *run.skipped]
    ]
    table = build_table(rows)
    summary = summarize(table)
    if evaluation is not None:
        from imxbench.accuracy.summary import summary_rows, write_accuracy_json

        summary = join_accuracy(summary, summary_rows(evaluation.cells))
        write_accuracy_json(evaluation, out_dir)
        evaluation.close()
    _write_outputs(out_dir, table, summary, board_runs)
    partial = interrupted or failure is not None or any(r.error for r in board_runs)
    RunDir(out_dir).write_run(
        {
            **run_doc,
            "status": "partial" if partial else "complete",
            "interrupted": interrupted,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "resumed_steps": len(kept_rows),
            "phases": {r.board.name: r.phases for r in board_runs},
        },
    )
    result = JobResult(run_id, out_dir, board_runs, table, summary, evaluation)
    if interrupted:
        raise JobInterrupted(result)
    if failure is not None:  # the background work (the results history) failed: say why
        raise failure
    return result


def check_model(
    boards: list[Board],
    model: Path,
    catalogue: dict[str, DelegateSpec],
    delegate_names: str | None,
    vela_cache: Path,
    skip_delegates: Collection[str] = (),
) -> dict[str, list[DelegateSpec]]:
    """What `run_job` checks of a model before touching a board (a ConfigError, one line), for
    a caller that runs several models and wants every one checked first; the delegates that
    will run it, per board. Vela compiles here are cached: the job's own are cache hits."""
    every = {b.name: select_delegates(catalogue, b.soc, delegate_names) for b in boards}
    prepared, _ = prepare_models(model, every, vela_cache, skip_delegates)
    return {b: [s for s in specs if s.name in prepared] for b, specs in every.items()}


def prepare_models(
    model: Path,
    plans: dict[str, list[DelegateSpec]],
    vela_cache: Path,
    skip_delegates: Collection[str] = (),
) -> tuple[dict[str, PreparedModel], dict[str, UnfitModel]]:
    """Each delegate's prepared model, or why it cannot run the model. A board left with no
    delegate that can raises the refusal of its first one (exit 2, one line). A delegate in
    `skip_delegates` is not prepared: it is unfit, SKIPPED_BY_CONFIG (short: "models.yaml")."""
    prepared: dict[str, PreparedModel] = {}
    unfit: dict[str, UnfitModel] = {
        name: UnfitModel(model, SKIPPED_BY_CONFIG, "models.yaml") for name in skip_delegates
    }
    for specs in plans.values():
        for spec in specs:
            if spec.name not in prepared and spec.name not in unfit:
                try:
                    prepared[spec.name] = prepare_model(model, spec, vela_cache)
                except UnfitModel as exc:
                    unfit[spec.name] = exc
    for specs in plans.values():
        if specs and all(s.name in unfit for s in specs):
            raise unfit[specs[0].name]
    return prepared, unfit


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: what had finished is written (run.json status "partial").
    `resume_dir`: what `--resume` takes to go on (None: the run's own directory; a model
    matrix's directory when the job was one model of it)."""

    def __init__(self, result: JobResult) -> None:
        super().__init__()
        self.result = result
        self.resume_dir: Path | None = None


def _run_boards(
    boards: list[Board],
    plans: dict[str, list[DelegateSpec]],
    prepared: dict[str, PreparedModel],
    settings: RunSettings,
    out_dir: Path,
    progress: Progress | None,
    done: dict[str, frozenset[StepKey]],
    hooks: dict[str, BoardHook] | None,
    preloader: _Preloader,
    unfit: dict[str, list[tuple[DelegateSpec, UnfitModel]]] | None = None,
    sessions: BoardSessions | None = None,
) -> tuple[list[BoardRun], bool, Exception | None]:
    """Every board in its own thread; the main thread waits, and on Ctrl-C cancels them all
    (killing their remote steps) and still collects what they finished. Background work that
    failed cancels them too; its error is returned third."""
    token = CancelToken()
    interrupted = False

    def say(event: ProgressEvent) -> None:
        if event.kind == "step_started":  # this board is busy benchmarking
            preloader.board_busy(event.board)
        if progress is None:
            return
        progress(event)
        if event.kind == "planned" and event.phase != "accuracy" and (hooks or {}).get(event.board):
            evaluations = len(plans[event.board])  # the accuracy phase's, counted from the start
            progress(
                ProgressEvent(
                    event.board,
                    "planned",
                    f"then {evaluations} accuracy evaluations",
                    phase="accuracy",
                    planned=evaluations,
                )
            )

    with ThreadPoolExecutor(max_workers=len(boards), thread_name_prefix="board") as pool:
        futures = [
            pool.submit(
                run_board,
                b,
                plans[b.name],
                prepared,
                settings,
                out_dir,
                progress=say,
                skip=done.get(b.name, frozenset()),
                cancel=token,
                after_cells=(hooks or {}).get(b.name),
                unfit=(unfit or {}).get(b.name, ()),
                sessions=sessions,
            )
            for b in boards
        ]
        for board, future in zip(boards, futures, strict=True):
            future.add_done_callback(functools.partial(preloader.board_done, board.name))
        while True:
            try:
                if not wait(futures, timeout=0.2).not_done:
                    break
                if preloader.error is not None:
                    token.cancel()
            except KeyboardInterrupt:
                interrupted = True
                token.cancel()
        runs = [
            _outcome(b, f, out_dir, done.get(b.name, frozenset()))
            for b, f in zip(boards, futures, strict=True)
        ]
        return runs, interrupted, preloader.error


def _outcome(
    board: Board, future: Future[BoardRun], out_dir: Path, skip: frozenset[StepKey]
) -> BoardRun:
    """The board's run; should its thread have died of something unforeseen, the board failed
    with that error, and its finished steps are taken from their journal (nothing is lost)."""
    try:
        return future.result()
    except Exception as exc:
        run = BoardRun(board, error=f"{board.name}: {type(exc).__name__}: {exc}")
        run.records = [
            r
            for r, _ in read_journal(out_dir)
            if r.board == board.name and (r.cell, r.kind, r.repetition) not in skip
        ]
        return run


class _Preloader:
    """Runs the caller's background work (opening the results history), then imports what the
    end of the job needs (pandas, the report's matplotlib: about a second of CPU), while the
    boards run their benchmark steps and the host only waits: it starts once every board is
    busy with its cells (or done). Not earlier: connecting and probing are many short round
    trips, which work holding the interpreter lock would slow down. In a thread, not the main
    one, so that Ctrl-C never lands in the middle of an import; a failed import is left for the
    real one, later, to report; failed background work is kept in `error`."""

    def __init__(
        self, tasks: Sequence[Callable[[], object]], modules: Sequence[str], boards: Sequence[str]
    ) -> None:
        self._tasks = list(tasks)
        self._modules = list(modules)
        self._waiting = set(boards)
        self._lock = threading.Lock()
        self.error: Exception | None = None

    def board_busy(self, board: str) -> None:
        with self._lock:
            if not self._waiting:
                return  # started already
            self._waiting.discard(board)
            if self._waiting:
                return
        threading.Thread(target=self._load, name="imxbench-preload", daemon=True).start()

    def board_done(self, board: str, _future: object) -> None:
        self.board_busy(board)  # e.g. unreachable: it will not get busy

    def _load(self) -> None:
        # lowest CPU priority (Linux: per thread): a board emulated on this host, or other
        # boards' work, goes first; the host is otherwise idle while boards benchmark
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        for task in self._tasks:
            try:
                task()
            except Exception as exc:
                self.error = exc
                return
        for name in self._modules:
            module, _, function = name.partition(":")
            with contextlib.suppress(Exception):
                loaded = importlib.import_module(module)
                if function:
                    getattr(loaded, function)()


def check_resume(
    run_dir: Path,
    reports_dir: Path,
    boards: list[Board],
    model: Path,
    sha256: str | None,
    settings: RunSettings | None = None,
) -> Path:
    """`--resume DIR`: DIR must be a run directory of this reports directory, of a run of the
    same boards and model (else ConfigError, before anything is written); with `settings`
    (a model matrix's runs, run/matrix_resume.py), of the same settings too. Returns it
    resolved."""
    resolved = run_dir.resolve()
    reports = reports_dir.resolve()
    if resolved.parent != reports:
        raise ConfigError(
            f"--resume {run_dir}: not a run directory of the reports directory {reports_dir}"
        )
    try:
        doc = RunDir(resolved).read_run()
    except ConfigError as exc:
        reason = exc.message.removeprefix(f"{resolved / 'run.json'}: ")
        raise ConfigError(f"--resume {run_dir}: not a run directory (run.json: {reason})") from None
    check_same_boards(run_dir, "run", doc.get("boards"), boards)
    same = (
        doc["model_sha256"] == sha256
        if doc.get("model_sha256") and sha256
        else Path(str(doc.get("model"))).resolve() == model.resolve()
    )
    if not same:
        raise resume_mismatch(run_dir, "run was of the model", str(doc.get("model")), str(model))
    if settings is not None:
        check_same_settings(run_dir, "run", doc.get("settings"), settings)
    return resolved


def resume_mismatch(resume_dir: Path, what: str, before: str, now: str) -> ConfigError:
    """The refusal of a `--resume DIR` whose run (or model matrix) was something else, one line
    (exit 2): `--resume DIR: that run was on boards a, not b`."""
    return ConfigError(f"--resume {resume_dir}: that {what} {before}, not {now}")


def check_same_boards(resume_dir: Path, what: str, before: Any, boards: list[Board]) -> None:
    """`what` ("run", "matrix") was on the boards `before` (names as recorded), the same as
    `boards`, in any order."""
    was, now = sorted(before or []), sorted(b.name for b in boards)
    if was != now:
        raise resume_mismatch(
            resume_dir, f"{what} was on boards", ", ".join(was) or "(none)", ", ".join(now)
        )


def check_same_settings(resume_dir: Path, what: str, before: Any, settings: RunSettings) -> None:
    """`what` was run with the settings `before` (RunSettings.as_dict as recorded; None: not
    recorded, nothing to compare), the same as `settings`; the refusal names those that
    differ."""
    if not isinstance(before, dict):
        return
    now = json.loads(json.dumps(settings.as_dict()))
    differ = [k for k in sorted(before.keys() | now.keys()) if before.get(k) != now.get(k)]
    if differ:

        def said(values: dict[str, Any]) -> str:
            return ", ".join(
                f"{k}={'unset' if values.get(k) is None else values[k]}" for k in differ
            )

        raise resume_mismatch(resume_dir, f"{what} was with", said(before), said(now))


def previous_steps(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, frozenset[StepKey]]]:
    """The successful rows of an earlier (partial) run, and the steps they cover per board."""
    try:
        rows = RunDir(run_dir).read_results() or []
    except ConfigError as exc:
        raise ConfigError(f"{exc.message}: cannot resume from it") from None
    kept = [r for r in rows if r.get("status") == "ok"]
    return kept, _steps_of(kept)


def _steps_of(rows: list[dict[str, Any]]) -> dict[str, frozenset[StepKey]]:
    done: dict[str, set[StepKey]] = {}
    for r in rows:
        done.setdefault(r["board"], set()).add((r["cell"], r["kind"], int(r["repetition"])))
    return {board: frozenset(steps) for board, steps in done.items()}


def _journaled_rows(
    run_dir: Path,
    boards: list[Board],
    prepared: dict[str, PreparedModel],
    settings: RunSettings,
    known: dict[str, frozenset[StepKey]],
) -> list[dict[str, Any]]:
    """The successful steps in the run's journal (pipeline.journal_step) that `known` (the
    results.json of an earlier end) lacks: after a SIGKILL, the journal is all there is."""
    by_name = {b.name: b for b in boards}
    rows: list[dict[str, Any]] = []
    seen = {board: set(steps) for board, steps in known.items()}
    for record, graph in read_journal(run_dir):
        key = (record.cell, record.kind, record.repetition)
        board = by_name.get(record.board)
        if (
            record.status != "ok"
            or board is None
            or record.delegate not in prepared
            or key in seen.setdefault(record.board, set())
        ):
            continue
        seen[record.board].add(key)
        run = BoardRun(board, facts=_facts_on_disk(run_dir, board.name))
        if graph:
            run.deployed[record.delegate] = graph
        rows.append(_row(run_dir.name, run, record, prepared[record.delegate], settings))
    return rows


def _facts_on_disk(run_dir: Path, board: str) -> BoardFacts | None:
    try:
        raw = RunDir(run_dir).read_facts().get(board)
    except ConfigError:
        return None
    return BoardFacts(raw) if raw is not None else None


def _row(
    run_id: str,
    run: BoardRun,
    record: StepRecord,
    model: PreparedModel,
    settings: RunSettings,
) -> dict[str, Any]:
    from imxbench.analysis.results import delegate_share, execution_of

    model = run.prepared.get(record.delegate, model)  # compiled on this board (--vela-on)
    facts = run.facts.raw if run.facts else {}
    metrics = record.metrics
    vela = model.vela
    parsed = {
        k: v for k, v in metrics.items() if k not in ("delegates", "op_profile", "npu_profile")
    }
    return {
        **parsed,  # first: the record's own status and error below take precedence
        "parsed_status": parsed.pop("status", None),
        "run_id": run_id,
        "board": record.board,
        "soc": run.board.soc,
        "emulated": bool(facts.get("emulated")),
        "cell": record.cell,
        "delegate": record.delegate,
        "variant": record.variant,
        "threads": record.threads,
        "kind": record.kind,
        "repetition": record.repetition,
        "status": record.status,
        "error": record.error,
        "skip_reason": record.skip_reason,
        "stderr_tail": record.stderr_tail,
        "exit_status": record.exit_status,
        "duration_s": record.duration_s,
        "execution": execution_of(metrics.get("delegates")),
        "delegate_time_share": delegate_share(metrics.get("op_profile")),
        # the op profile table itself (JSON list of {node_type, count, avg_ms, percent}): the
        # report's op-placement chart
        "op_profile": (
            json.dumps(metrics["op_profile"]) if metrics.get("op_profile") is not None else None
        ),
        **_npu_profile_columns(metrics.get("npu_profile")),
        "vela_estimate_us": vela.estimated_inference_us if vela else None,
        "vela_version": vela.vela_version if vela else None,
        "vela_npu_operators": vela.summary.npu_operators if vela else None,
        "vela_cpu_operators": vela.summary.cpu_operators if vela else None,
        "vela_sram_kib": vela.summary.sram_used_kib if vela else None,
        "vela_dram_kib": vela.summary.dram_used_kib if vela else None,
        "model": model.source.name,
        "model_sha256": model.source_sha256,
        "graph_sha256": model.info.sha256 if record.status != "skipped" else None,
        "graph_on_board": run.deployed.get(record.delegate),
        "tflite_version": run.facts.tflite_version if run.facts else None,
        "kernel": facts.get("kernel"),
        "os": (facts.get("os_release") or {}).get("pretty_name"),
        "cpufreq_governor": facts.get("cpufreq_governor"),
        "temperature_mc": facts.get("temperature_mc"),
        "settings": json.dumps(settings.as_dict(), sort_keys=True),
        "log_file": record.log_file,
        **_board_side_columns(run, record, model),
    }


def _npu_profile_columns(profile: dict[str, Any] | None) -> dict[str, Any]:
    """--npu-profile on the profile step: the Ethos-U delegate's cycle counter (median over its
    inferences), and the whole document (PMU medians, the last qread table) as JSON."""
    return {
        "npu_cycles_median": profile.get("cycles_median") if profile else None,
        "npu_profile": json.dumps(profile) if profile else None,
    }


def _board_side_columns(run: BoardRun, record: StepRecord, model: PreparedModel) -> dict[str, Any]:
    """Per step: how the cell reached the NPU, the clock and thermal state around it, the BSP
    and both Velas, and for a failed step the kernel's side (docs/DESIGN.md "Clock, thermal,
    BSP")."""
    from imxbench.board.clocks import diagnosis_columns, step_columns
    from imxbench.model.facts import major_minor

    compiled_on = model.provenance_doc.get("compiled_on", "host") if model.vela else None
    host_vela = model.vela.vela_version if model.vela and compiled_on == "host" else None
    board_vela = run.facts.vela_version if run.facts else None
    both = host_vela is not None and board_vela is not None
    return {
        "npu_route": record.route,
        "vela_compiled_on": compiled_on,  # host | board (--vela-on) | None: no Vela
        **step_columns(None, None),  # every column, also for steps run before this existed
        **(record.clocks or {}),
        "cpu_governor_set": run.governor.get("set"),
        "bsp_version_id": run.facts.bsp_version_id if run.facts else None,
        "vela_host": host_vela,
        "vela_board": board_vela,
        "vela_mismatch": major_minor(host_vela) != major_minor(board_vela) if both else None,
        **diagnosis_columns(record.diagnosis),
    }


def _write_outputs(
    out_dir: Path, table: pd.DataFrame, summary: pd.DataFrame, runs: list[BoardRun]
) -> None:
    from imxbench.analysis.results import csv_safe

    files = RunDir(out_dir)
    files.write_tables(
        results_csv=csv_safe(table).to_csv(index=False),
        results_json=table.to_json(orient="records", indent=1) or "[]",
        summary_json=summary.to_json(orient="records", indent=1) or "[]",
    )
    files.write_boards(
        [
            {
                "board": r.board.name,
                "error": r.error,
                "failed_cells": r.failed_cells,
                "phases": r.phases,
            }
            for r in runs
        ]
    )


