"""`imxbench nightly` with several models: one night per model, each judged against its own
model's history, inside one set of board locks, labgrid places and emulated boards.

Each model's night is an ordinary nightly run (nightly.py: its run directory with
verdicts.json, junit.xml and summary.md, its entry in the history, its series keyed by the
model's sha256), so a model's verdicts only ever compare it with itself. The matrix adds
`reports/<matrix-id>/matrix.json` (kind "nightly") and, where asked (`--junit`, `--summary`),
one JUnit file and one Markdown summary over every model. The exit code is the worst night's:
1 a cell regressed or failed, else 3 a board could not be used, else 0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from imxbench.board.connect import emulated_boards
from imxbench.board.locks import hold_boards
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError
from imxbench.history.baselines import judge_run
from imxbench.history.store import Store
from imxbench.lab.places import hold_places
from imxbench.model.progress import Progress
from imxbench.model.records import Fingerprint, RunRecord, utc_now
from imxbench.run.connection import BoardSessions
from imxbench.run.job import new_run_id
from imxbench.run.matrix import (
    MatrixResult,
    ModelPlan,
    ModelRun,
    matrix_doc,
    matrix_status,
    now,
    plan_everything,
    tagged,
)
from imxbench.run.nightly import (
    NightlyConfig,
    NightlyResult,
    _write_night,
    finish_night,
    night_job,
)
from imxbench.run.recording import announced_run, new_header, record_of
from imxbench.rundir import atomic
from imxbench.rundir.matrix import MATRIX_PREFIX, write_matrix


@dataclass(frozen=True)
class ModelNight:
    model: str
    night: NightlyResult


@dataclass(frozen=True)
class NightlyMatrixResult:
    matrix: MatrixResult
    nights: tuple[ModelNight, ...]
    junit_path: Path | None
    summary_path: Path | None

    @property
    def exit_code(self) -> int:
        codes = {n.night.exit_code for n in self.nights}
        return 1 if 1 in codes else 3 if 3 in codes else 0


def run_nightly_models(
    store: Store,
    boards: list[Board],
    config: NightlyConfig,
    plans: Sequence[ModelPlan],
    *,
    progress: Progress | None = None,
) -> NightlyMatrixResult:
    """Every model's night on `boards`, one model after the other (module docstring)."""
    if config.policy.kind == "named" and store.baseline_run(config.policy.name) is None:
        raise ConfigError(
            f"--baseline {config.policy}: no baseline named {config.policy.name!r}",
            f"set one first: imxbench baseline set RUN --name {config.policy.name}",
        )
    matrix_id = MATRIX_PREFIX + new_run_id()
    matrix = MatrixResult(matrix_id, config.reports_dir / matrix_id)
    names = [b.name for b in boards]

    def record(final: bool = False) -> None:
        doc = matrix_doc(matrix, plans, boards, config.delegate_names, kind="nightly")
        if final:
            doc = {**doc, "finished": now(), "status": matrix_status(matrix, plans)}
        write_matrix(matrix.out_dir, doc)

    record()
    nights: list[ModelNight] = []
    sessions = BoardSessions()  # each board's connection, from model to model
    try:
        with (
            hold_boards(
                names,
                config.reports_dir / "locks",
                engine=store.engine,
                job=f"nightly {matrix_id}",
                wait_s=config.lock_wait_s,
            ) as (held, busy),
            hold_places(
                [] if config.emulate else [b for b in boards if b.name in held],
                job=f"nightly {matrix_id}",
                wait_s=config.lock_wait_s,
            ) as (reached, place_busy),
        ):
            busy.update(place_busy)
            chosen = [
                reached.get(b.name, b) for b in boards if b.name in held and b.name not in busy
            ]
            with _started(chosen, config) as targets:
                if progress is not None and targets:
                    plan_everything(progress, targets, plans, config.settings)
                for plan in plans:
                    entry = plan.entry
                    model_config = dataclasses.replace(
                        config, model=entry.path, junit_path=None, summary_path=None
                    )
                    header = new_header(
                        "nightly",
                        entry.path,
                        config.settings,
                        config.reports_dir,
                        emulated=bool(config.emulate),
                    )
                    run = ModelRun(entry, header)
                    matrix.runs.append(run)
                    record()
                    with announced_run(store, header, busy):
                        _write_night(Path(header.out_dir), model_config, names)
                        if targets:
                            say = tagged(progress, entry.name) if progress else None
                            run.result = night_job(
                                model_config, targets, header, say, entry.skip_delegates, sessions
                            )
                            night_record = record_of(run.result, header, busy)
                        else:
                            Path(header.out_dir).mkdir(parents=True, exist_ok=True)
                            prints = tuple(Fingerprint(b, error=e) for b, e in busy.items())
                            night_record = RunRecord(header, prints, (), finished_at=utc_now())
                        verdicts = judge_run(store, night_record, config.policy, config.thresholds)
                        store.record_run(night_record, verdicts, str(config.policy))
                    night = finish_night(model_config, header, night_record, verdicts, names)
                    nights.append(ModelNight(entry.name, night))
    finally:
        sessions.close()
        record(final=True)
    junit = _write_combined_junit(config.junit_path, nights)
    summary = _write_combined_summary(config.summary_path, nights)
    return NightlyMatrixResult(matrix, tuple(nights), junit, summary)


@contextlib.contextmanager
def _started(chosen: list[Board], config: NightlyConfig) -> Iterator[list[Board]]:
    """The emulated boards started once for every model (real ones as they are)."""
    if not chosen:
        yield []
        return
    with emulated_boards(chosen, config.emulate) as targets:
        yield targets


def _write_combined_junit(path: Path | None, nights: Sequence[ModelNight]) -> Path | None:
    """One JUnit file over every model: each model's suites, named `board · model`."""
    if path is None:
        return None
    root = ET.Element("testsuites", name="imxbench nightly (model matrix)")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for model_night in nights:
        tree = ET.parse(model_night.night.junit_path)
        for suite in tree.getroot().iter("testsuite"):
            suite.set("name", f"{suite.get('name')} · {model_night.model}")
            for case in suite.iter("testcase"):
                board = (case.get("classname") or "").removeprefix("imxbench.")
                case.set("classname", f"imxbench.{model_night.model}.{board}")
            for key in totals:
                totals[key] += int(suite.get(key) or 0)
            root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    atomic.write_text(path, text + "\n")
    return path


def _write_combined_summary(path: Path | None, nights: Sequence[ModelNight]) -> Path | None:
    """One Markdown summary: each model's, under a heading naming it."""
    if path is None:
        return None
    parts = [f"## Model {n.model}\n\n{n.night.summary.strip()}\n" for n in nights]
    atomic.write_text(path, f"# imxbench nightly: {len(nights)} models\n\n" + "\n".join(parts))
    return path
