"""The benchmark pipeline for one board: probe, deploy, run the plan, parse, record.

A failing step fails its cell (with the error and the stderr tail); the other cells go on.
A delegate that cannot run the model (model_prep.UnfitModel, found on the host) gets skipped
cells, one record each (status and kind `skipped`, the reason as the error), once the probe has
said how many cores the board has: they never touch the board and never count as failures.
A lost connection is re-opened with backoff (in every phase: `Connection.retrying`); when the
board stays away, the cells that had not finished fail and what finished is kept. Every step's
record is appended to `steps/<board>.jsonl` (flushed to disk) the moment it finishes, so that
`--resume` skips it after any kind of death, SIGKILL included.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import secrets
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imxbench.analysis.benchmark_log import parse_log, timed_first_us
from imxbench.analysis.npu_profile import parse_npu_profile
from imxbench.analysis.plan import (
    Cell,
    RunSettings,
    Step,
    adaptive_argv,
    expected_processes,
    plan_cells,
    resolve_specs,
    route_note,
)
from imxbench.analysis.sampling import (
    MIN_PROCESSES,
    Process,
    SamplingPolicy,
    next_process,
    steady,
)
from imxbench.board import clocks
from imxbench.board.deploy import deploy_bytes, deploy_file
from imxbench.board.probe import probe_board
from imxbench.board.transport import BoardSession, CommandResult, quote_command
from imxbench.config.delegates import DelegateSpec
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError, ConnectError, InfrastructureError, RemoteTimeout
from imxbench.model.facts import BoardFacts
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.prepare.model_prep import PreparedModel, UnfitModel
from imxbench.run import board_state, op_profile_reuse, vela_on_board
from imxbench.run.connection import (
    BOARD_SIDE_ERRORS,
    BoardSessions,
    Cancelled,
    CancelToken,
    Connection,
    PhaseFailed,
)
from imxbench.rundir.layout import RunDir

BoardHook = Callable[["Connection", "BoardRun", Progress], None]
"""Work run on the board's connection after its benchmark cells (run_board's `after_cells`);
it reconnects through `Connection.retrying`, stops on `Connection.cancel`, and reports its own
failure as PhaseFailed."""
StepKey = tuple[str, str, int]
"""(cell, kind, repetition): identifies a step across a run and its resumption."""


@dataclass(frozen=True)
class StepRecord:
    board: str
    cell: str
    delegate: str
    variant: str
    threads: int | None
    kind: str
    repetition: int
    status: str  # "ok" | "failed" | "skipped" (the delegate cannot run the model)
    error: str | None
    stderr_tail: str | None
    exit_status: int | None
    duration_s: float
    metrics: dict[str, Any]
    log_file: str | None
    route: str | None = None
    """How the cell reached its accelerator (plan.Cell.route)."""
    clocks: dict[str, Any] | None = None
    """The clock and thermal columns around the step (board/clocks.step_columns)."""
    diagnosis: dict[str, Any] | None = None
    """A failed step's dmesg lines and remoteproc state (board/clocks.diagnose)."""
    skip_reason: str | None = None
    """A skipped cell's reason in a few words (e.g. "float32 model"); `error` has it whole."""


@dataclass(frozen=True)
class StepOutcome:
    """A step's record and the clock/thermal snapshots its own command took right before and
    after benchmark_model (None when it was killed before printing them)."""

    record: StepRecord
    before: clocks.ClockSnapshot | None
    after: clocks.ClockSnapshot | None


@dataclass
class BoardRun:
    board: Board
    facts: BoardFacts | None = None
    records: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    deployed: dict[str, str] = field(default_factory=dict)  # delegate -> graph path on the board
    reconnects: int = 0
    interrupted: bool = False
    phases: dict[str, str] = field(default_factory=dict)
    """phase ("benchmark", "accuracy") -> "complete" | "failed" | "interrupted"."""
    warnings: list[str] = field(default_factory=list)
    """Said once per run (e.g. the board's Vela differs from the host's)."""
    governor: dict[str, str | None] = field(default_factory=dict)
    """--cpu-governor: {"set": ..., "previous": ..., "restored": ...}."""
    skipped: list[StepRecord] = field(default_factory=list)
    """One record per cell of a delegate that cannot run the model (status "skipped")."""
    prepared: dict[str, PreparedModel] = field(default_factory=dict)
    """Models compiled on this board (`--vela-on board`): they replace the host's for its rows."""
    cell_errors: dict[str, str] = field(default_factory=dict)
    """delegate -> why its cells cannot run on this board (e.g. no Vela to compile with)."""

    @property
    def failed_cells(self) -> list[str]:
        return sorted({r.cell for r in self.records if r.status == "failed"})


def run_board(
    board: Board,
    specs: list[DelegateSpec],
    prepared: dict[str, PreparedModel],
    settings: RunSettings,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    skip: frozenset[StepKey] = frozenset(),
    cancel: CancelToken | None = None,
    after_cells: BoardHook | None = None,
    unfit: Sequence[tuple[DelegateSpec, UnfitModel]] = (),
    sessions: BoardSessions | None = None,
) -> BoardRun:
    """Run every cell on one board. Never raises for board-side failures: they are recorded.

    Steps in `skip` (done in an earlier, partial run) are not run again. Setting `cancel`
    stops the board after killing the step in flight (`BoardRun.interrupted`). `unfit`: the
    delegates that cannot run the model, with why: their cells are skipped (`BoardRun.skipped`).
    `sessions` (a model matrix's): the connection an earlier job left is used, and this job's
    is left there instead of closed.
    """
    result = BoardRun(board)
    say = progress or (lambda *_: None)
    cancel = cancel or CancelToken()
    result.phases["benchmark"] = "failed"  # until it ends
    try:
        conn = Connection(board, cancel) if sessions is None else sessions.connect(board, cancel)
        try:
            _run_connected(conn, result, specs, prepared, settings, out_dir, say, skip, unfit)
            result.phases["benchmark"] = "complete"
            if after_cells is not None and not cancel.is_set():
                _after_cells(after_cells, conn, result, say)  # e.g. the accuracy evaluation
        finally:
            result.reconnects = conn.reconnects
            try:
                board_state.restore_governor_at_end(
                    conn, result, say
                )  # normal end, Ctrl-C, failure
            finally:
                if sessions is None:
                    conn.close()
                else:  # the matrix's next model goes on with them; it closes them at its end
                    sessions.keep(conn)
    except Cancelled:
        result.interrupted = True
        result.error = f"{board.name}: interrupted"
    except ConnectError as exc:
        result.error = exc.message
    except InfrastructureError as exc:
        result.error = exc.message + (f" ({exc.hint})" if exc.hint else "")
    except BOARD_SIDE_ERRORS as exc:  # e.g. an SFTP failure outside any phase's own handling
        result.error = f"{board.name}: {type(exc).__name__}: {exc}"
    if cancel.is_set():  # whatever failed after a cancel failed because of it
        result.interrupted = True
        result.error = f"{board.name}: interrupted"
        for phase, status in result.phases.items():
            if status != "complete":
                result.phases[phase] = "interrupted"
    return result


def _after_cells(hook: BoardHook, conn: Connection, result: BoardRun, say: Progress) -> None:
    """The phase after the benchmark cells: its failure fails that phase (and makes the run
    partial), never what the benchmark phase had finished."""
    phase = "accuracy"
    result.phases[phase] = "failed"  # until it ends
    try:
        hook(conn, result, say)
    except PhaseFailed as exc:
        result.phases[exc.phase] = "failed"
        result.error = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return
    except Cancelled:
        raise
    except (InfrastructureError, *BOARD_SIDE_ERRORS) as exc:
        message = exc.message if isinstance(exc, InfrastructureError) else f"{exc}"
        result.error = f"{result.board.name}: {phase} phase failed: " + message.removeprefix(
            result.board.name + ": "
        )
        return
    result.phases[phase] = "complete"


def _run_connected(
    conn: Connection,
    result: BoardRun,
    specs: list[DelegateSpec],
    prepared: dict[str, PreparedModel],
    settings: RunSettings,
    out_dir: Path,
    say: Progress,
    skip: frozenset[StepKey],
    unfit: Sequence[tuple[DelegateSpec, UnfitModel]] = (),
) -> None:
    board = result.board
    connected = "connected (reused)" if conn.reused else "connected"  # reused: a matrix's
    say(ProgressEvent(board.name, "board", f"{connected}; probing"))
    # setup reconnects like every phase (Connection.retrying): a dropped channel is retried
    result.facts = conn.retrying("the board probe", probe_board)
    RunDir(out_dir).write_facts(board.name, result.facts.to_dict())
    _check_soc(board, result.facts)
    # reconnects too: on a reused connection, this is the first command
    conn.retrying(
        "the leftover governor check",
        lambda s: board_state.restore_leftover_governor(s, result, say),
    )
    on_board = vela_on_board.board_compiles(result, specs, prepared, settings, say)
    # the host's Vela against the board's, for the graphs the host compiled
    board_state.check_vela(result, [s for s in specs if s.name not in on_board], prepared, say)
    specs = resolve_specs(specs, result.facts)  # e.g. LF5.15's built-in Ethos-U op
    _skip_unfit(result, unfit, settings, say)
    benchmark_model = board.benchmark_model or result.facts.benchmark_model
    if not benchmark_model:
        raise InfrastructureError(
            f"{board.name}: no benchmark_model on the board (looked for "
            "/usr/bin/tensorflow-lite-*/examples/benchmark_model); set benchmark_model "
            "in boards.yaml"
        )
    say(ProgressEvent(board.name, "board", "deploying models"))
    facts = result.facts
    conn.retrying("the workdir check", lambda s: _check_workdir(s, facts, specs, prepared))
    governor = settings.cpu_governor or board.cpu_governor  # the option wins over boards.yaml
    if governor:
        board_state.set_governor(conn.session, result, governor, say)
    uploads = {n: vela_on_board.source_only(m) if n in on_board else m for n, m in prepared.items()}
    result.deployed = conn.retrying("the model upload", lambda s: _deploy_models(s, specs, uploads))
    for spec in specs:
        if spec.name in on_board:
            _compile_on_board(conn, result, spec, prepared[spec.name], out_dir, say)
    cells = plan_cells(
        specs,
        result.deployed,
        benchmark_model,
        board.workdir,
        int(result.facts.raw.get("cpu_count") or 1),
        settings,
    )
    todo = [st for c in cells for st in c.steps if (c.name, st.kind, st.repetition) not in skip]
    # an adaptive cell's timed template: the fewest processes, corrected as the cell goes on
    planned = [sum(expected_processes(st, settings) for st in todo)]
    for cell in cells:
        note = route_note(cell.route, cell.steps[0].env if cell.steps else {})
        if note is not None:
            say(ProgressEvent(board.name, "board", note, cell.name))
    say(ProgressEvent(board.name, "planned", f"{planned[0]} benchmark steps", planned=planned[0]))
    for cell in cells:
        model = result.prepared.get(cell.delegate) or prepared.get(cell.delegate)
        graph_sha256 = model.info.sha256 if model is not None else None
        _run_cell(conn, result, cell, specs, settings, out_dir, say, skip, planned, graph_sha256)


def _skip_unfit(
    result: BoardRun,
    unfit: Sequence[tuple[DelegateSpec, UnfitModel]],
    settings: RunSettings,
    say: Progress,
) -> None:
    """A skipped record per cell of each delegate that cannot run the model (its cells are
    named as they would have been: `cpu@4t` needs the board's core count, hence after the
    probe)."""
    board = result.board
    cpu_count = int(result.facts.raw.get("cpu_count") or 1) if result.facts else 1
    for spec, why in unfit:
        for cell in plan_cells([spec], {spec.name: ""}, "", board.workdir, cpu_count, settings):
            record = StepRecord(
                board.name,
                cell.name,
                cell.delegate,
                cell.variant,
                cell.threads,
                "skipped",
                0,
                "skipped",
                why.reason,
                None,
                None,
                0.0,
                {},
                None,
                route=cell.route,
                skip_reason=why.short,
            )
            result.skipped.append(record)
            say(ProgressEvent(board.name, "board", f"skipped: {why.reason}", cell.name))


def _check_soc(board: Board, facts: BoardFacts) -> None:
    if facts.soc is not None and facts.soc != board.soc:
        raise InfrastructureError(
            f"{board.name}: boards.yaml says soc {board.soc} but the board reports "
            f"{facts.raw.get('soc_id')}"
        )


def _check_workdir(
    session: BoardSession,
    facts: BoardFacts,
    specs: list[DelegateSpec],
    prepared: dict[str, PreparedModel],
) -> None:
    """A clear error for a read-only or full workdir, before anything is uploaded."""
    workdir = session.board.workdir
    q = shlex.quote(workdir)
    check = session.run(f"mkdir -p {q} && test -w {q}", timeout_s=30, check=False)
    if check.exit_status != 0:
        raise InfrastructureError(
            f"{session.board.name}: the workdir {workdir} is not writable",
            check.stderr_text.strip() or "check the board's disk (read-only mount?)",
        )
    files = {m.graph for m in prepared.values()} | {m.source for m in prepared.values()}
    need_kb = sum(f.stat().st_size for f in files) // 1024 + 1
    free_kb = facts.raw.get("workdir_free_kb")
    if isinstance(free_kb, int) and free_kb < need_kb:
        raise InfrastructureError(
            f"{session.board.name}: not enough space in {workdir}: the models need {need_kb} kB, "
            f"{free_kb} kB are free"
        )


def _compile_on_board(
    conn: Connection,
    result: BoardRun,
    spec: DelegateSpec,
    model: PreparedModel,
    out_dir: Path,
    say: Progress,
) -> None:
    """The board's Vela compiles the deployed source (run/vela_on_board.py); a failure fails
    this delegate's cells, not the board."""
    source = result.deployed[spec.name]
    try:
        result.deployed[spec.name] = conn.retrying(
            f"{spec.name}: the board's Vela compile",
            lambda s: vela_on_board.compile_on_board(s, result, spec, model, source, out_dir),
        )
    except (InfrastructureError, ConfigError) as exc:
        result.cell_errors[spec.name] = exc.message + (f" ({exc.hint})" if exc.hint else "")
        say(ProgressEvent(result.board.name, "board", result.cell_errors[spec.name], spec.name))


def _deploy_models(
    session: BoardSession, specs: list[DelegateSpec], prepared: dict[str, PreparedModel]
) -> dict[str, str]:
    graphs: dict[str, str] = {}
    for spec in specs:
        model = prepared[spec.name]
        graph = deploy_file(session, model.graph, "models").remote
        if model.provenance_doc:
            # The source goes along: it documents the compiled graph (and the emulator needs it).
            deploy_file(session, model.source, "models")
            doc = json.dumps(model.provenance_doc, indent=1).encode()
            deploy_bytes(session, doc, f"{graph}.json")
        graphs[spec.name] = graph
    return graphs


def _run_cell(
    conn: Connection,
    result: BoardRun,
    cell: Cell,
    specs: list[DelegateSpec],
    settings: RunSettings,
    out_dir: Path,
    say: Progress,
    skip: frozenset[StepKey],
    planned: list[int] | None = None,
    graph_sha256: str | None = None,
) -> None:
    spec = next(s for s in specs if s.name == cell.delegate)
    missing = result.cell_errors.get(spec.name) or _missing_library(spec, result.facts)
    for step in _steps_of(cell, settings, result, say, planned or [0]):
        if (cell.name, step.kind, step.repetition) in skip:
            continue
        if conn.cancel.is_set():
            raise Cancelled()
        if missing:
            record = _failed(result.board, cell, step, missing)
            result.records.append(dataclasses.replace(record, route=cell.route))
            continue
        label = _label(step)
        profile_key = (
            op_profile_reuse.key_parts(result, cell, step, graph_sha256)
            if step.kind == "profile"
            else None
        )
        if profile_key is not None and settings.op_profile_reuse:
            kept = op_profile_reuse.reused(
                out_dir.parent,
                profile_key,
                _record(result.board, cell, step, "ok", None, None, 0, 0.0, {}, None),
            )
            if kept is not None:
                kept = dataclasses.replace(kept, route=cell.route)
                result.records.append(kept)
                journal_step(out_dir, kept, result.deployed.get(kept.delegate))
                origin = kept.metrics["op_profile_from"]
                say(
                    ProgressEvent(
                        result.board.name,
                        "step_ended",
                        f"profile reused from run {origin}",
                        cell.name,
                        step.kind,
                        step.repetition,
                        "benchmark",
                        "ok",
                        0.0,
                    )
                )
                continue
        before, cooldown = board_state.before_step(conn, result, cell, settings, say)
        say(
            ProgressEvent(
                result.board.name,
                "step_started",
                f"{label} ...",
                cell.name,
                step.kind,
                step.repetition,
                "benchmark",
            )
        )
        started = time.monotonic()
        outcome = _run_step_reconnecting(
            conn, result.board, cell, step, settings, out_dir, bool(spec.external_delegate_path)
        )
        if conn.cancel.is_set():
            raise Cancelled()  # the step was killed under us: not a measurement
        record = board_state.after_step(
            conn, cell, outcome, before, cooldown, time.monotonic() - started
        )
        result.records.append(record)
        if profile_key is not None:
            op_profile_reuse.keep(out_dir.parent, profile_key, out_dir.name, record)
        journal_step(out_dir, record, result.deployed.get(record.delegate))
        avg = record.metrics.get("inference_avg_us")
        # a failed step's timing (a delegate that failed to load, the CPU ran it) is not shown
        ok = record.status == "ok"
        detail = f"{avg / 1000:.3f} ms" if avg and ok else (record.error or "")
        if (record.clocks or {}).get("throttled"):
            detail += " [THROTTLED]"
        say(
            ProgressEvent(
                result.board.name,
                "step_ended",
                f"{label} {record.status} {detail}",
                cell.name,
                step.kind,
                step.repetition,
                "benchmark",
                record.status,
                time.monotonic() - started,
            )
        )
        if record.status != "ok" and step.kind == "cold":
            continue  # the warm repetitions may still work


def _steps_of(
    cell: Cell, settings: RunSettings, result: BoardRun, say: Progress, planned: list[int]
) -> Iterator[Step]:
    """The cell's steps. With adaptive sampling (settings.precision) its timed template becomes
    as many processes as analysis/sampling.py asks for, each decided once the one before has
    ended (its record is in `result.records` by then); the cold process counts as one of them
    when it ran the same command and its data show it steady (`_count_cold`). `planned[0]`, the
    board's expected step count (MIN_PROCESSES timed steps per adaptive cell), follows what
    the cell turns out to need."""
    board = result.board.name
    for template in cell.steps:
        if template.kind != "timed" or settings.precision is None:
            yield template
            continue
        policy = SamplingPolicy(settings.precision, settings.max_repetitions, settings.max_seconds)
        warmups: dict[int, float] = {}  # repetition -> its warm-up floor, s
        cold = int(_count_cold(result, cell, template))  # 1: the cold process is one of them
        expected = MIN_PROCESSES - cold  # timed steps the plan counts for this cell
        if cold:
            warmups[0] = _warmup_of(template.argv)  # the cold step's: the same command
            _replan(planned, -cold, board, say)
        repetition = 0
        while True:
            done = _processes(result, cell.name, warmups)
            decision = next_process(done, policy)
            failed = sum(
                1
                for r in result.records
                if r.cell == cell.name and r.kind == "timed" and r.status != "ok"
            )
            if not decision.stop and failed >= 2:
                decision = dataclasses.replace(decision, stop=True, reason=f"{failed} failed")
            elif not decision.stop and repetition + cold >= policy.max_repetitions:
                reason = f"--max-repetitions {policy.max_repetitions} reached"
                decision = dataclasses.replace(decision, stop=True, reason=reason)
            if decision.stop:
                _set_aside_short_warmups(result, cell.name, warmups)
                with_cold = " (the cold one included)" if any(p.cold for p in done) else ""
                say(
                    ProgressEvent(
                        board,
                        "board",
                        f"{len(done)} processes{with_cold}: {decision.reason}",
                        cell.name,
                    )
                )
                if repetition < expected:  # stopped early (failures, --max-seconds)
                    _replan(planned, repetition - expected, board, say)
                break
            repetition += 1
            warmups[repetition] = decision.warmup_secs
            if repetition > expected:
                _replan(planned, 1, board, say)
            argv = adaptive_argv(template.argv, decision.num_runs, decision.warmup_secs)
            yield dataclasses.replace(template, repetition=repetition, argv=tuple(argv))


def _processes(result: BoardRun, cell: str, warmups: dict[int, float]) -> list[Process]:
    """The cell's finished timed processes of this run, for the sampler: its cold process
    first when it counts (`_count_cold` said so in its record; its warm-up is `warmups[0]`)."""
    out = []
    for r in result.records:
        avg = r.metrics.get("inference_avg_us")
        if r.cell != cell or r.status != "ok" or not avg:
            continue
        cold = r.kind == "cold" and r.metrics.get(COUNTED) is True
        if not (cold or r.kind == "timed") or r.repetition not in warmups:
            continue
        out.append(
            Process(
                latency_us=float(avg),
                std_us=r.metrics.get("inference_std_us"),
                count=r.metrics.get("inference_count"),
                duration_s=r.duration_s,
                warmup_secs=warmups[r.repetition],
                first_timed_us=r.metrics.get("timed_first_us"),
                p95_us=r.metrics.get("inference_p95_us") or _p95_normal(r.metrics),
                cold=cold,
            )
        )
    return out


COUNTED = "counted_as_repetition"
"""An adaptive run's cold record: whether its timed phase counted as one of the cell's
processes (results column; analysis/results.py repetition_rows)."""


def _count_cold(result: BoardRun, cell: Cell, template: Step) -> bool:
    """Whether the cell's cold process counts as one of its adaptive processes, said in its
    record (`counted_as_repetition`, with its `timed_first_us`). It must have run the timed
    template's very command (the same --num_runs, --min_secs and warm-up as the first timed
    processes: only its graph cache was emptied first), and its own data must show its
    warm-up (graph compile included) reached the steady state: its first timed inference not
    above its p95 (sampling.steady, the criterion of the slow-start check)."""
    step = next((s for s in cell.steps if s.kind == "cold"), None)
    at = next(
        (i for i, r in enumerate(result.records) if r.cell == cell.name and r.kind == "cold"),
        None,
    )
    if step is None or at is None:
        return False
    record = result.records[at]
    if record.status != "ok" or not record.metrics.get("inference_avg_us"):
        return False
    metrics = dict(record.metrics)
    if metrics.get("timed_first_us") is None:
        metrics["timed_first_us"] = _first_timed_in_log(record.log_file)
    p95 = metrics.get("inference_p95_us") or _p95_normal(metrics)
    same = step.argv == template.argv and step.env == template.env
    metrics[COUNTED] = same and steady(metrics["timed_first_us"], p95)
    result.records[at] = dataclasses.replace(record, metrics=metrics)
    return bool(metrics[COUNTED])


def _first_timed_in_log(log_file: str | None) -> float | None:
    """The first timed inference of a step's log (benchmark_log.timed_first_us), µs."""
    if not log_file:
        return None
    try:
        return timed_first_us(Path(log_file).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def _warmup_of(argv: Sequence[str]) -> float:
    """A step's warm-up floor (`--warmup_min_secs`), s; benchmark_model's default 0.5."""
    for arg in argv:
        if arg.startswith("--warmup_min_secs="):
            return float(arg.split("=", 1)[1])
    return 0.5


def _replan(planned: list[int], change: int, board: str, say: Progress) -> None:
    """The board's expected step count, changed by what a cell turned out to need."""
    planned[0] += change
    say(ProgressEvent(board, "planned", "", planned=planned[0]))


def _p95_normal(metrics: dict[str, Any]) -> float | None:
    """Where benchmark_model prints no percentiles (before TFLite 2.20): avg + 1.645 std."""
    avg, std = metrics.get("inference_avg_us"), metrics.get("inference_std_us")
    return None if avg is None or std is None else float(avg) + 1.645 * float(std)


def _set_aside_short_warmups(result: BoardRun, cell: str, warmups: dict[int, float]) -> None:
    """Processes measured with a warm-up the data showed too short (sampling.slow_starts) are
    no repetitions: kind `short-warmup`, kept in the results, never in the statistics (a cold
    process that counted keeps its kind and counts no more)."""
    if not warmups:
        return
    final = max(warmups.values())
    for i, r in enumerate(result.records):
        if r.cell == cell and r.kind == "timed" and warmups.get(r.repetition, final) < final:
            result.records[i] = dataclasses.replace(r, kind="short-warmup")
        elif r.cell == cell and r.kind == "cold" and _short(r, warmups.get(0, final), final):
            result.records[i] = dataclasses.replace(r, metrics={**r.metrics, COUNTED: False})


def _short(cold: StepRecord, warmup_secs: float, final_secs: float) -> bool:
    """A counted cold process whose warm-up was shorter than the cell's final one."""
    return cold.metrics.get(COUNTED) is True and warmup_secs < final_secs


def _run_step_reconnecting(
    conn: Connection,
    board: Board,
    cell: Cell,
    step: Step,
    settings: RunSettings,
    out_dir: Path,
    expects_delegate: bool,
) -> StepOutcome:
    """Run a step; when the connection drops, reconnect (with backoff) and run it again once."""
    return conn.retrying(
        f"{cell.name} {_label(step)}",
        lambda session: _run_step(
            session, board, cell, step, settings, out_dir, expects_delegate=expects_delegate
        ),
    )


def _label(step: Step) -> str:
    return step.kind if step.kind != "timed" else f"rep {step.repetition}"


def _missing_library(spec: DelegateSpec, facts: BoardFacts | None) -> str | None:
    path = spec.external_delegate_path
    if path and facts is not None and path not in facts.delegate_libraries:
        return f"delegate library {path} is not on the board"
    return None


def _run_step(
    session: BoardSession,
    board: Board,
    cell: Cell,
    step: Step,
    settings: RunSettings,
    out_dir: Path,
    *,
    expects_delegate: bool = False,
) -> StepOutcome:
    """One round trip: the step's command, bracketed by the clock/thermal snapshots."""
    command = step_command(step)
    log_file = RunDir(out_dir).log_file(board.name, cell.name, step.kind, step.repetition)
    tag = secrets.token_hex(4)
    try:
        run = session.run(
            clocks.with_snapshots(command, tag),
            timeout_s=settings.step_timeout_s,
            check=False,
            hangup_kills=True,
            shown_as=command,
        )
    except RemoteTimeout as exc:
        _write_log(log_file, step, b"", exc.stderr_tail.encode())
        record = _failed(board, cell, step, exc.message, exc.stderr_tail, log_file=log_file)
        return StepOutcome(record, None, None)
    stdout, before, after = clocks.split_snapshots(run.stdout, tag)
    run = dataclasses.replace(run, stdout=stdout)
    return StepOutcome(
        _judge_step(board, cell, step, run, log_file, expects_delegate), before, after
    )


def _judge_step(
    board: Board,
    cell: Cell,
    step: Step,
    run: CommandResult,
    log_file: Path,
    expects_delegate: bool,
) -> StepRecord:
    """The step's record from its output (the log written as benchmark_model printed it)."""
    _write_log(log_file, step, run.stdout, run.stderr)
    parsed = parse_log(run.stdout_text + "\n" + run.stderr_text)
    metrics = parsed[-1].to_dict() if parsed else {}
    if step.kind in ("timed", "cold") and parsed:  # the warm-up check (a cold one may count)
        metrics["timed_first_us"] = timed_first_us(run.stdout_text + "\n" + run.stderr_text)
    if step.kind == "profile":  # --npu-profile: the delegate's own counters, when it printed some
        npu = parse_npu_profile(run.stdout_text + "\n" + run.stderr_text)
        if npu is not None:
            metrics["npu_profile"] = npu.to_dict()
    tail = run.stderr_text[-2000:].strip() or run.stdout_text[-2000:].strip()
    delegated = [d for d in metrics.get("delegates") or [] if d.get("execution") != "none"]
    not_applied = expects_delegate and not delegated
    if run.exit_status != 0 or metrics.get("status") != "ok" or not_applied:
        error = metrics.get("error") or _exit_reason(run.exit_status)
        if run.exit_status != 0 and error != _exit_reason(run.exit_status):
            error = f"{error} [{_exit_reason(run.exit_status)}]"  # e.g. "Killed [... exit 137]"
        if metrics.get("status") == "incomplete" and run.exit_status == 0:
            error = "benchmark_model printed no timings"
        elif not_applied and run.exit_status == 0 and metrics.get("status") == "ok":
            # benchmark_model carries on without a delegate it could not load, or that took no
            # node: these are CPU numbers, not the delegate's
            error = metrics.get("error") or (
                "the delegate executed no node: the whole graph ran on the CPU"
            )
        return _record(
            board,
            cell,
            step,
            "failed",
            error,
            tail,
            run.exit_status,
            run.duration_s,
            metrics,
            log_file,
        )
    return _record(board, cell, step, "ok", None, None, 0, run.duration_s, metrics, log_file)


def step_command(step: Step) -> str:
    """The shell command a step sends to the board (what `run --dry-run` prints): one command,
    one round trip: its cache folder emptied for a cold step and its env's folders created in
    the same line; every argument and value shell-quoted."""
    prepare = [f"mkdir -p {shlex.quote(d)}" for d in _dirs_in(step.env)]
    if step.clear_dir:
        q = shlex.quote(step.clear_dir)
        prepare.insert(0, f"rm -rf {q} && mkdir -p {q}")
    return " && ".join([*prepare, quote_command(step.argv, step.env)])


def _record(
    board: Board,
    cell: Cell,
    step: Step,
    status: str,
    error: str | None,
    stderr_tail: str | None,
    exit_status: int | None,
    duration_s: float,
    metrics: dict[str, Any],
    log_file: Path | None,
) -> StepRecord:
    return StepRecord(
        board.name,
        cell.name,
        cell.delegate,
        cell.variant,
        cell.threads,
        step.kind,
        step.repetition,
        status,
        error,
        stderr_tail,
        exit_status,
        duration_s,
        metrics,
        str(log_file) if log_file else None,
    )


def _exit_reason(status: int) -> str:
    signals = {
        139: "Segmentation fault (exit 139)",
        137: "killed, out of memory? (exit 137)",
        134: "Aborted (exit 134)",
        127: "benchmark_model not found (exit 127)",
    }
    return signals.get(status, f"benchmark_model exited with status {status}")


def _dirs_in(env: dict[str, str]) -> list[str]:
    return [v for k, v in env.items() if k.endswith("_DIR") and posixpath.isabs(v)]


def _failed(
    board: Board,
    cell: Cell,
    step: Step,
    error: str,
    stderr_tail: str | None = None,
    log_file: Path | None = None,
) -> StepRecord:
    return _record(board, cell, step, "failed", error, stderr_tail, None, 0.0, {}, log_file)


def journal_step(out_dir: Path, record: StepRecord, graph: str | None) -> None:
    """Append a finished step's record to `steps/<board>.jsonl` and flush it to the disk: the
    record survives any death of this process (resume reads it: `read_journal`)."""
    path = RunDir(out_dir).journal(record.board)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({**dataclasses.asdict(record), "graph_on_board": graph}, default=str)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(out_dir: Path) -> list[tuple[StepRecord, str | None]]:
    """Every step record journaled under `out_dir`, with its graph on the board; a line cut by
    a death mid-write is skipped."""
    found: list[tuple[StepRecord, str | None]] = []
    names = {f.name for f in dataclasses.fields(StepRecord)}
    for path in RunDir(out_dir).journals():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                doc = json.loads(line)
                record = StepRecord(**{k: v for k, v in doc.items() if k in names})
            except (ValueError, TypeError):
                continue
            found.append((record, doc.get("graph_on_board")))
    return found


def _write_log(path: Path, step: Step, stdout: bytes, stderr: bytes) -> None:
    """The step's output as captured: each stream at most the transport's CAPTURE_BYTES (its
    head and tail), the bytes dropped between them stated where they were."""
    path.parent.mkdir(parents=True, exist_ok=True)
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in step.env.items())
    header = f"$ {env} {shlex.join(step.argv)}\n".encode()
    path.write_bytes(header + stdout + (b"\n--- stderr ---\n" + stderr if stderr else b""))
