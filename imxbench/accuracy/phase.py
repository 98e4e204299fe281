"""Accuracy on the device, per delegate, with agreement against the host CPU reference.

`Evaluation.prepare` does the host side once per run, before any board is touched: read the
data set (dataset_readers.py), derive the preprocessing from the model's input tensor
(preprocess.py), run the host reference (host_reference.py) and the preprocessing sanity check
(preprocess_check.py), and pack the preprocessed inputs into one .npz file (accuracy_files.py).

`Evaluation.run_on_board` runs after a board's benchmark cells, in the same session: it
uploads the packed data and `board/scripts/evaluate.py` (content-addressed, so each is sent
once), then runs the script once per delegate with the same external delegate library, options
and environment as the benchmark cells, on the graph that was benchmarked (for Ethos-U the
Vela-compiled one). The CPU runs once, with the threads of its cell with the most. The result file
is downloaded to `reports/<run-id>/accuracy/<board>/<delegate>.npz` and turned into metrics
(accuracy_stats.py), against the host reference and against the board's own CPU cell (same
images, same runtime). A result whose graph took another input dtype, scale or zero point than
the inputs were prepared for fails its cell. A failure fails that accuracy cell only; the
other delegates go on.
A dropped connection is re-opened with backoff, as in the benchmark phase, and the evaluation
in flight runs again; a failed upload, or a board that stays away, fails the phase (PhaseFailed:
the run is partial, the benchmark results are kept). A cancel (Ctrl-C, SIGTERM) kills the
evaluation in flight on the board and starts no other.

Each evaluation that ran to its end is journaled (accuracy/journal.py, fsynced as it ends): a
`run --resume` makes its cell again from its result file instead of running it; a failed one,
or one a death cut short, runs again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import secrets
import shlex
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imxbench.accuracy.dataset_readers import load_dataset
from imxbench.accuracy.datasets import Dataset, with_model_labels
from imxbench.accuracy.files import (
    BoardResult,
    input_mismatch,
    pack_inputs,
    read_board_result,
    write_predictions,
)
from imxbench.accuracy.host_reference import HostModel, ModelOutputs
from imxbench.accuracy.journal import JournaledCell, journal_cell, kept_evaluations
from imxbench.accuracy.preprocess import Preprocessing, preprocess, preprocessing_for
from imxbench.accuracy.preprocess_check import SanityCheck, check_preprocessing
from imxbench.analysis.accuracy_stats import (
    AccuracyMetrics,
    Agreement,
    LatencyStats,
    accuracy_metrics,
    agreement,
    latency_stats,
)
from imxbench.analysis.model_info import inspect_model
from imxbench.analysis.plan import uses_builtin_ethosu, uses_nnapi
from imxbench.board.deploy import deploy_file, file_sha256
from imxbench.board.transport import BoardSession
from imxbench.config.delegates import FIRST as CPU_DELEGATE
from imxbench.config.delegates import DelegateSpec, external_delegate_options
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError, ConnectError, ImxbenchError, RemoteTimeout
from imxbench.model.facts import BoardFacts
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.rundir.layout import RunDir

if TYPE_CHECKING:
    from imxbench.run.connection import Connection
    from imxbench.run.pipeline import BoardHook, BoardRun

SCRIPT = Path(__file__).resolve().parents[1] / "board" / "scripts" / "evaluate.py"
REMOTE_SUBDIR = "accuracy"
PROGRESS_PREFIX = "imxbench-progress "
BASE_TIMEOUT_S = 120.0
TIMEOUT_PER_IMAGE_S = 0.5


@dataclass(frozen=True)
class AccuracyRequest:
    """What `imxbench run --dataset PATH [--limit N] [--channel-order rgb|bgr]` asks for, or a
    models.yaml entry (which may add a normalisation and class names)."""

    dataset: Path
    limit: int | None = None
    channel_order: str = "rgb"
    mean: tuple[float, ...] | None = None
    """x = (pixel - mean) * scale before the input's own mapping (accuracy/preprocess.py)."""
    scale: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    """Class names instead of the data set's (one per output class)."""


@dataclass(frozen=True)
class AccuracyCell:
    """Accuracy of one (board, delegate); `status` is "ok" or "failed"."""

    board: str
    delegate: str
    cell: str
    """The benchmark cell whose settings were used (for the CPU: the most threads)."""
    status: str
    error: str | None
    stderr_tail: str | None = None
    threads: int | None = None
    graph: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    metrics: AccuracyMetrics | None = None
    agreement: Agreement | None = None
    latency: LatencyStats | None = None
    duration_s: float = 0.0
    result_file: str | None = None
    predictions_file: str | None = None
    agreement_cpu: Agreement | None = None
    """A delegate's agreement with the same board's CPU cell (None: the CPU itself, or no CPU)."""


class Evaluation:
    """One run's accuracy work: host side prepared once, then run on each board."""

    def __init__(
        self,
        request: AccuracyRequest,
        model: Path,
        dataset: Dataset,
        preprocessing: Preprocessing,
        inputs: np.ndarray,
        reference: ModelOutputs,
        sanity: SanityCheck,
    ) -> None:
        self.request = request
        self.model = model
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.reference = reference
        self.sanity = sanity
        self.cells: list[AccuracyCell] = []
        self._lock = threading.Lock()
        self._scratch = tempfile.TemporaryDirectory(prefix="imxbench-accuracy-")
        self.packed = Path(self._scratch.name) / "accuracy-inputs.npz"
        pack_inputs(self.packed, inputs, dataset.labels)
        self.packed_sha256 = file_sha256(self.packed)

    @classmethod
    def prepare(cls, request: AccuracyRequest, model: Path) -> Evaluation:
        """Read and check everything on the host; ConfigError before any board is touched."""
        info = inspect_model(model)
        if info.is_vela_compiled:
            raise ConfigError(
                f"{model}: a Vela-compiled model cannot be run on the host for the reference; "
                "give the source model"
            )
        classes = info.outputs[0].elements if info.outputs else 0
        dataset = load_dataset(request.dataset, request.limit, classes=classes or None)
        if request.labels is not None:
            if len(request.labels) != classes:
                raise ConfigError(
                    f"{model}: {len(request.labels)} label names given but the model has "
                    f"{classes} output classes"
                )
            dataset = with_model_labels(dataset, request.labels)
        pre = preprocessing_for(info, request.channel_order, request.mean, request.scale)
        inputs = preprocess(pre, dataset.images)
        if int(dataset.labels.max()) >= classes:
            raise ConfigError(
                f"{dataset.source}: label {int(dataset.labels.max())} but the model has "
                f"{classes} output classes"
            )
        host = HostModel(model)
        reference = host.run(inputs)
        sanity = check_preprocessing(host, pre, dataset)
        return cls(request, model, dataset, pre, inputs, reference, sanity)

    @property
    def classes(self) -> int:
        return int(self.reference.outputs.shape[1])

    @property
    def warnings(self) -> list[str]:
        return [self.sanity.warning] if self.sanity.warning else []

    @property
    def failures(self) -> list[str]:
        return [
            f"{c.board} accuracy {c.delegate}: {c.error}" for c in self.cells if c.status != "ok"
        ]

    def close(self) -> None:
        self._scratch.cleanup()

    def board_hook(self, specs: list[DelegateSpec], out_dir: Path) -> BoardHook:
        """The pipeline's `after_cells` hook that evaluates `specs` on a board."""

        def hook(conn: Connection, run: BoardRun, say: Progress) -> None:
            benchmarked = [(r.delegate, r.cell, r.threads) for r in run.records]
            self.run_on_board(conn, run.facts, run.deployed, specs, benchmarked, out_dir, say)

        return hook

    # -- on a board ----------------------------------------------------------------------------
    def run_on_board(
        self,
        conn: Connection,
        facts: BoardFacts | None,
        deployed: dict[str, str],
        specs: list[DelegateSpec],
        benchmarked: Sequence[tuple[str, str, int | None]],
        out_dir: Path,
        say: Progress,
    ) -> list[AccuracyCell]:
        """Evaluate every delegate that was benchmarked; failures become failed cells.

        `benchmarked` lists the board's benchmark steps as (delegate, cell, threads): each
        delegate is evaluated with the settings of its cell (the CPU: its most threads).
        Raises PhaseFailed when the phase cannot go on (the upload failed, the board stays
        away) and Cancelled on a cancel; the cells that finished are kept either way.
        """
        board = conn.session.board
        cpu_count = int((facts.raw.get("cpu_count") if facts else 0) or 1)
        chosen = {s.name: _cell_for(s, benchmarked, cpu_count) for s in specs}
        cells: list[AccuracyCell] = []
        try:
            todo = self._reuse_journaled(board, deployed, specs, cells, out_dir, say)
            if todo:
                say(
                    ProgressEvent(
                        board.name,
                        "accuracy",
                        f"{len(self.dataset)} images; uploading data and script",
                        "accuracy",
                        phase="accuracy",
                    )
                )
                self._evaluate(conn, facts, deployed, todo, chosen, cells, out_dir, say)
            cells[:] = self._versus_board_cpu(cells)
        finally:
            with self._lock:
                self.cells.extend(cells)
        return cells

    def _versus_board_cpu(self, cells: list[AccuracyCell]) -> list[AccuracyCell]:
        """Each delegate's agreement with the board's own CPU on the same images: the same
        runtime, so a difference is the delegate's (agreement with the host also holds the
        host runtime's own rounding, models/README.md: three images flip between runtimes)."""

        def result(cell: AccuracyCell) -> BoardResult | None:
            if cell.status != "ok" or not cell.result_file:
                return None
            try:
                return read_board_result(Path(cell.result_file), len(self.dataset), self.classes)
            except (OSError, ValueError, KeyError):
                return None

        cpu = next((c for c in cells if c.delegate == CPU_DELEGATE and c.status == "ok"), None)
        base = result(cpu) if cpu is not None else None
        if base is None:
            return cells
        out = []
        for cell in cells:
            mine = result(cell) if cell is not cpu else None
            if mine is not None:
                versus = agreement(mine.outputs, mine.top_k[:, 0], base.outputs, base.top_k[:, 0])
                cell = dataclasses.replace(cell, agreement_cpu=versus)
            out.append(cell)
        return out

    def _reuse_journaled(
        self,
        board: Board,
        deployed: dict[str, str],
        specs: list[DelegateSpec],
        cells: list[AccuracyCell],
        out_dir: Path,
        say: Progress,
    ) -> list[DelegateSpec]:
        """On `--resume`: the evaluations that had finished (accuracy/journal.py) become cells
        again, from their result files, without running; returns the specs still to evaluate
        (all of them in a fresh run directory)."""
        journaled = kept_evaluations(out_dir, board.name, self.packed_sha256, deployed)
        todo: list[DelegateSpec] = []
        for spec in specs:
            entry = journaled.get(spec.name)
            cell = self._journaled_cell(board, spec, entry, out_dir) if entry else None
            if cell is None:
                todo.append(spec)
                continue
            cells.append(cell)
            say(
                ProgressEvent(
                    board.name,
                    "accuracy",
                    f"kept from before the resume: {_outcome(cell)}",
                    f"accuracy {spec.name}",
                    phase="accuracy",
                    status="ok",
                )
            )
        return todo

    def _journaled_cell(
        self, board: Board, spec: DelegateSpec, entry: JournaledCell, out_dir: Path
    ) -> AccuracyCell | None:
        """A journaled evaluation's cell, its metrics computed again from its result file as
        they were when it ran (None: the file cannot be read, so it runs again)."""
        local = RunDir(out_dir).accuracy_file(board.name, spec.name, "npz")
        if entry.graph is None:
            return None
        try:
            result = read_board_result(local, len(self.dataset), self.classes)
        except (OSError, ValueError, KeyError):
            return None
        target = _Target(spec, entry.cell, entry.threads, entry.graph)
        cell = self._cell(board, target, result, local, time.monotonic())
        return dataclasses.replace(cell, duration_s=entry.duration_s)

    def _evaluate(
        self,
        conn: Connection,
        facts: BoardFacts | None,
        deployed: dict[str, str],
        specs: list[DelegateSpec],
        chosen: dict[str, tuple[str, int | None]],
        cells: list[AccuracyCell],
        out_dir: Path,
        say: Progress,
    ) -> None:
        """Upload, then evaluate each delegate in turn, appending its cell to `cells`."""
        from imxbench.run.connection import BOARD_SIDE_ERRORS, Cancelled, PhaseFailed

        board = conn.session.board

        def fail_the_rest(error: str) -> None:
            done = {c.delegate for c in cells}
            cells.extend(
                _failed(board, s.name, chosen[s.name][0], error)
                for s in specs
                if s.name not in done
            )

        if not (facts and facts.raw.get("python3")):
            fail_the_rest(
                "no python3 on the board; the accuracy evaluation needs python3 with numpy "
                "and tflite_runtime"
            )
            return
        try:
            data, script = conn.retrying(
                "the accuracy upload",
                lambda session: (
                    deploy_file(session, self.packed, REMOTE_SUBDIR).remote,
                    deploy_file(session, SCRIPT, REMOTE_SUBDIR).remote,
                ),
            )
        except (ImxbenchError, *BOARD_SIDE_ERRORS) as exc:
            error = self._upload_error(conn, exc)
            fail_the_rest(error)
            raise PhaseFailed("accuracy", f"{board.name}: accuracy phase failed: {error}") from None
        for spec in specs:
            if conn.cancel.is_set():
                raise Cancelled()
            name, threads = chosen[spec.name]
            graph = deployed.get(spec.name)
            if graph is None:
                cells.append(_failed(board, spec.name, name, "the model was not deployed"))
                continue
            if uses_nnapi(spec, facts):  # the benchmark's --use_nnapi=true has no Python form
                say(
                    ProgressEvent(
                        board.name,
                        "accuracy",
                        "not evaluated: this board reaches its NPU only through NNAPI "
                        "(--use_nnapi=true), which the board's tflite_runtime Python API "
                        "cannot load",
                        name,
                        phase="accuracy",
                    )
                )
                continue
            target = _Target(spec, name, threads, graph)
            try:
                cell = conn.retrying(
                    f"accuracy {spec.name}",
                    functools.partial(
                        self._run_delegate,
                        facts=facts,
                        target=target,
                        data=data,
                        script=script,
                        out_dir=out_dir,
                        say=say,
                    ),
                )
            except ConnectError as exc:  # the board stays away: the phase ends here
                fail_the_rest(exc.message)
                raise PhaseFailed("accuracy", exc.message, exc.hint) from None
            if conn.cancel.is_set():
                raise Cancelled()  # the evaluation was killed under us: not a result
            cells.append(cell)
            journal_cell(out_dir, cell, self.packed_sha256)  # --resume keeps it from now on
            say(
                ProgressEvent(
                    board.name,
                    "accuracy",
                    _outcome(cell),
                    f"accuracy {spec.name}",
                    phase="accuracy",
                    status="failed" if cell.error else "ok",
                )
            )

    def _upload_error(self, conn: Connection, exc: BaseException) -> str:
        """Why the upload failed, in one line: with the free space of the workdir when the
        board can still tell (an SFTP server says only "Failure" for a full disk)."""
        text = exc.message if isinstance(exc, ImxbenchError) else f"{type(exc).__name__}: {exc}"
        text = text.removeprefix(conn.session.board.name + ": ")
        size_kb = self.packed.stat().st_size // 1024 + 1
        folder = f"{conn.session.board.workdir}/{REMOTE_SUBDIR}"
        try:
            df = conn.session.run(
                f"df -Pk {shlex.quote(folder)} | awk 'NR==2 {{print $4}}'",
                timeout_s=15,
                check=False,
            )
            free_kb = int(df.stdout_text.strip())
        except (ImxbenchError, ValueError, OSError, EOFError):
            return f"uploading the data ({size_kb} kB) failed: {text}"
        if free_kb < size_kb:
            return (
                f"not enough space in {folder} for the accuracy data: it needs {size_kb} kB, "
                f"{free_kb} kB are free ({text})"
            )
        return f"uploading the data ({size_kb} kB) failed: {text}"

    def _run_delegate(
        self,
        session: BoardSession,
        facts: BoardFacts | None,
        target: _Target,
        data: str,
        script: str,
        out_dir: Path,
        say: Progress,
    ) -> AccuracyCell:
        board, spec, graph, threads = session.board, target.spec, target.graph, target.threads

        def failed(error: str, tail: str | None = None) -> AccuracyCell:
            return _failed(board, spec.name, target.cell, error, tail, threads, graph)

        library = spec.external_delegate_path
        if uses_builtin_ethosu(spec, facts):  # LF5.15: TFLite's own ethos-u op, as benchmarked
            library = None
        if library and facts is not None and library not in facts.delegate_libraries:
            return failed(f"delegate library {library} is not on the board")
        remote_out = f"{board.workdir}/{REMOTE_SUBDIR}/result-{secrets.token_hex(6)}.npz"
        argv = ["python3", script, "--model", graph, "--data", data, "--out", remote_out]
        if library:
            argv += ["--delegate", library, "--options", external_delegate_options(spec)]
        if threads is not None:
            argv += ["--threads", str(threads)]
        env = {k: v.replace("{workdir}", board.workdir) for k, v in spec.env.items()}
        local = RunDir(out_dir).accuracy_file(board.name, spec.name, "npz")
        started = time.monotonic()
        progress = _ProgressLines(board.name, f"accuracy {spec.name}", say)
        try:  # a ConnectError (or paramiko's own) goes up: the caller reconnects and runs it again
            _make_env_dirs(session, env)
            run = session.run(
                argv,
                env=env,
                timeout_s=BASE_TIMEOUT_S + TIMEOUT_PER_IMAGE_S * len(self.dataset),
                on_stderr=progress.feed,
                check=False,
                hangup_kills=True,
            )
            tail = _tail(run.stderr_text)
            if run.exit_status != 0:
                error = _script_error(run.stderr_text) or _exit_reason(run.exit_status)
                return failed(error, tail)
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                session.get(remote_out, local)
            except OSError as exc:
                if not session.is_alive:
                    raise ConnectError(f"{board.name}: connection lost: {exc}") from None
                return failed(f"cannot download the result file: {exc}")
        except RemoteTimeout as exc:
            return failed(exc.message, exc.stderr_tail)
        except ConnectError:
            raise
        except ImxbenchError as exc:
            return failed(exc.message)
        _remove_quietly(session, remote_out)  # the result is here: a failure now loses nothing
        try:
            result = read_board_result(local, len(self.dataset), self.classes)
        except (OSError, ValueError, KeyError) as exc:
            return failed(f"bad result file: {exc}")
        mismatch = input_mismatch(result.header, self.preprocessing)
        if mismatch:
            return failed(mismatch)
        return self._cell(board, target, result, local, started)

    def _cell(
        self, board: Board, target: _Target, result: BoardResult, local: Path, started: float
    ) -> AccuracyCell:
        predictions = local.with_suffix(".csv")
        write_predictions(predictions, self.dataset, result.top_k, self.reference.top1)
        return AccuracyCell(
            board=board.name,
            delegate=target.spec.name,
            cell=target.cell,
            status="ok",
            error=None,
            threads=target.threads,
            graph=target.graph,
            runtime=result.header.get("runtime"),
            runtime_version=result.header.get("runtime_version"),
            metrics=accuracy_metrics(self.dataset.labels, result.top_k, self.dataset.class_names),
            agreement=agreement(
                result.outputs,
                result.top_k[:, 0],
                self.reference.outputs,
                self.reference.top1,
            ),
            latency=latency_stats(result.invoke_ns),
            duration_s=time.monotonic() - started,
            result_file=str(local),
            predictions_file=str(predictions),
        )


@dataclass(frozen=True)
class _Target:
    """What one evaluation runs: the delegate, its benchmark cell's threads, the graph."""

    spec: DelegateSpec
    cell: str
    threads: int | None
    graph: str


def _cell_for(
    spec: DelegateSpec, benchmarked: Sequence[tuple[str, str, int | None]], cpu_count: int
) -> tuple[str, int | None]:
    """(cell, threads) to evaluate `spec` with: its benchmark cell (CPU: the most threads)."""
    mine = sorted(
        {(cell, threads) for delegate, cell, threads in benchmarked if delegate == spec.name},
        key=lambda item: (item[1] or 0, item[0]),
    )
    if mine:
        return mine[-1]
    if spec.external_delegate_path or not spec.threads:
        return spec.name, None
    return f"{spec.name}@{cpu_count}t", cpu_count


_EXIT_REASONS = {
    139: "evaluate.py crashed (Segmentation fault, exit 139)",
    137: "evaluate.py was killed, out of memory? (exit 137)",
    134: "evaluate.py aborted (exit 134)",
    127: "python3 not found (exit 127)",
}


def _exit_reason(status: int) -> str:
    return _EXIT_REASONS.get(status, f"evaluate.py exited with status {status}")


class _ProgressLines:
    """Turns evaluate.py's stderr chunks into progress messages (one per complete line)."""

    def __init__(self, board: str, cell: str, say: Progress) -> None:
        self._board, self._cell, self._say = board, cell, say
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith(PROGRESS_PREFIX):
                self._say(self._event(line[len(PROGRESS_PREFIX) :]))

    def _event(self, text: str) -> ProgressEvent:
        """evaluate.py's `DONE/TOTAL [top1=X]` is a count; anything else a lasting line."""
        done, _, rest = text.partition("/")
        total = rest.split(" ", 1)[0]
        if done.isdigit() and total.isdigit():
            return ProgressEvent(
                self._board,
                "accuracy_count",
                text,
                self._cell,
                phase="accuracy",
                planned=int(total),
                done=int(done),
            )
        return ProgressEvent(self._board, "accuracy", text, self._cell, phase="accuracy")


def _remove_quietly(session: BoardSession, remote: str) -> None:
    # the connection may have dropped: the next evaluation reconnects
    with contextlib.suppress(ImxbenchError, OSError, EOFError):
        session.run(["rm", "-f", remote], timeout_s=30, check=False)


def _make_env_dirs(session: BoardSession, env: dict[str, str]) -> None:
    """Create the folders the delegate's environment names (e.g. the VX graph cache)."""
    dirs = [v for k, v in env.items() if k.endswith("_DIR") and v.startswith("/")]
    if dirs:
        session.run(" && ".join(f"mkdir -p {shlex.quote(d)}" for d in dirs), timeout_s=60)


def _script_error(stderr: str) -> str | None:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("evaluate.py: ")]
    return lines[-1] if lines else None


def _tail(text: str, chars: int = 2000) -> str | None:
    return text[-chars:].strip() or None


def _outcome(cell: AccuracyCell) -> str:
    if cell.status != "ok" or cell.metrics is None:
        return f"failed: {cell.error}"
    text = f"top-1 {cell.metrics.top1:.2%} on {cell.metrics.images} images"
    if cell.agreement is not None:
        text += f", agreement {cell.agreement.top1_rate:.2%}"
    return text


def _failed(
    board: Board,
    delegate: str,
    cell: str,
    error: str,
    stderr_tail: str | None = None,
    threads: int | None = None,
    graph: str | None = None,
) -> AccuracyCell:
    return AccuracyCell(board.name, delegate, cell, "failed", error, stderr_tail, threads, graph)
