"""`imxbench nightly`: the lab's regression job.

1. Lock every board (board_lock.py): a busy board is an infrastructure failure that names its
   holder; the others go on.
2. One `run_job` over the locked boards, in parallel (one thread per board), announced in the
   results history first (recording.py).
3. Judge every cell against its series' history (history/baselines.py builds the nights,
   analysis/detector.py judges), then record the run and its verdicts in one transaction.
4. Write `verdicts.json`, `junit.xml` and `summary.md` into reports/<run-id>/ (or where asked).

Exit code (NightlyResult.exit_code): 1 when a cell regressed or failed, else 3 when a board
could not be used (unreachable, busy, lost), else 0. A regression outranks an infrastructure
failure: it is the one that needs a developer; the summary lists both. A first night (no cell
has an earlier night to compare with) exits 0 with the outcome NO BASELINE, never CLEAN.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imxbench.analysis.plan import RunSettings
from imxbench.analysis.regression import DEFAULT_THRESHOLDS, CellVerdict, Thresholds
from imxbench.board.connect import Emulation, emulated_boards
from imxbench.board.locks import hold_boards
from imxbench.config.delegates import DelegateSpec
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError
from imxbench.history.baselines import BaselinePolicy, judge_run
from imxbench.history.store import Store
from imxbench.lab.places import hold_places
from imxbench.model.progress import Progress
from imxbench.model.records import Fingerprint, RunHeader, RunRecord, utc_now
from imxbench.report.formats import NIGHT_FORMATS
from imxbench.report.nightly_formats import NightContext, NightVerdicts, headline, outcome
from imxbench.run.connection import BoardSessions
from imxbench.run.job import JobResult, run_job
from imxbench.run.recording import announced_run, new_header, record_of
from imxbench.rundir import atomic
from imxbench.rundir.layout import RunDir

EXIT_CODES = {"CLEAN": 0, "NO BASELINE": 0, "REGRESSION": 1, "INFRASTRUCTURE FAILURE": 3}


@dataclass(frozen=True)
class NightlyConfig:
    model: Path
    catalogue: Mapping[str, DelegateSpec]
    delegate_names: str | None
    settings: RunSettings
    reports_dir: Path
    vela_cache: Path
    policy: BaselinePolicy = field(default_factory=lambda: BaselinePolicy("anchored"))
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    lock_wait_s: float = 0.0
    emulate: bool | Emulation = False
    emulation_note: str | None = None
    """How the emulated boards differ from the default (BSP, --slowdown), for the report."""
    junit_path: Path | None = None
    summary_path: Path | None = None
    night: str | None = None  # shards of one night share it (`report --night`)
    shard: str | None = None  # "i/n"


@dataclass(frozen=True)
class NightlyResult:
    run_id: str
    out_dir: Path
    verdicts: tuple[CellVerdict, ...]
    board_errors: Mapping[str, str]
    junit_path: Path
    summary_path: Path
    summary: str

    @property
    def outcome(self) -> str:
        return outcome(self.verdicts, self.board_errors)

    @property
    def headline(self) -> str:
        """The outcome, with how many cells had no baseline (not compared)."""
        return headline(self.verdicts, self.board_errors)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def alarms(self) -> list[CellVerdict]:
        """The cells that make the night fail: regressed or failed."""
        return [v for v in self.verdicts if v.verdict in ("regressed", "failed")]

    @property
    def not_compared(self) -> list[CellVerdict]:
        """The cells with no baseline: nothing was compared."""
        return [v for v in self.verdicts if v.verdict == "no baseline"]


def run_nightly(
    store: Store, boards: list[Board], config: NightlyConfig, *, progress: Progress | None = None
) -> NightlyResult:
    if config.policy.kind == "named" and store.baseline_run(config.policy.name) is None:
        raise ConfigError(
            f"--baseline {config.policy}: no baseline named {config.policy.name!r}",
            f"set one first: imxbench baseline set RUN --name {config.policy.name}",
        )
    header = new_header(
        "nightly", config.model, config.settings, config.reports_dir, emulated=bool(config.emulate)
    )
    out_dir = Path(header.out_dir)
    names = [b.name for b in boards]
    with (
        hold_boards(
            names,
            config.reports_dir / "locks",
            engine=store.engine,
            job=f"nightly {header.run_id}",
            wait_s=config.lock_wait_s,
        ) as (held, busy),
        hold_places(  # labgrid places (lab_places.py): reserved, acquired, always released
            [] if config.emulate else [b for b in boards if b.name in held],
            job=f"nightly {header.run_id}",
            wait_s=config.lock_wait_s,
        ) as (reached, place_busy),
        announced_run(store, header, busy),
    ):
        busy.update(place_busy)
        chosen = [reached.get(b.name, b) for b in boards if b.name in held and b.name not in busy]
        _write_night(out_dir, config, names)
        if chosen:
            with emulated_boards(chosen, config.emulate) as targets:
                job = night_job(config, targets, header, progress)
            record = record_of(job, header, busy)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            fingerprints = tuple(Fingerprint(b, error=e) for b, e in busy.items())
            record = RunRecord(header, fingerprints, (), finished_at=utc_now())
        verdicts = judge_run(store, record, config.policy, config.thresholds)
        store.record_run(record, verdicts, str(config.policy))
    return finish_night(config, header, record, verdicts, names)


def night_job(
    config: NightlyConfig,
    targets: list[Board],
    header: RunHeader,
    progress: Progress | None,
    skip_delegates: Collection[str] = (),
    sessions: BoardSessions | None = None,
) -> JobResult:
    """The night's `run_job` on boards held and reached (`skip_delegates`: models.yaml's;
    `sessions`: a model matrix's connections, run/connection.py)."""
    return run_job(
        targets,
        config.model,
        dict(config.catalogue),
        config.delegate_names,
        config.settings,
        config.reports_dir,
        config.vela_cache,
        emulated=bool(config.emulate),
        emulation=config.emulation_note,
        progress=progress,
        run_id=header.run_id,
        # judging, then the night's report
        preload=[
            "scipy.stats",
            "imxbench.analysis.detector",
            "imxbench.report.build:warm_up",
        ],
        skip_delegates=skip_delegates,
        kind="nightly",
        sessions=sessions,
    )


def finish_night(
    config: NightlyConfig,
    header: RunHeader,
    record: RunRecord,
    verdicts: tuple[CellVerdict, ...],
    names: list[str],
) -> NightlyResult:
    """Write the night's verdicts.json, junit.xml and summary.md; its result."""
    out_dir = Path(header.out_dir)
    board_errors = {f.board: f.error for f in record.fingerprints if f.error}
    night = NightContext(
        run_id=header.run_id,
        started_at=header.started_at,
        model=header.model,
        model_sha256=header.model_sha256,
        policy=str(config.policy),
        alpha=config.thresholds.alpha,
        min_effect=config.thresholds.min_effect,
        board_errors=board_errors,
        boards=names,
        emulated=header.emulated,
    )
    asked = {"junit": config.junit_path, "summary": config.summary_path}  # --junit, --summary
    paths, texts = {}, {}
    for fmt in NIGHT_FORMATS.values():  # report/formats.py: junit.xml, summary.md, ...
        texts[fmt.name] = fmt.write(NightVerdicts(verdicts, night))
        paths[fmt.name] = asked.get(fmt.name) or out_dir / fmt.file_name
        atomic.write_text(paths[fmt.name], texts[fmt.name])
    RunDir(out_dir).write_verdicts(verdicts_document(verdicts))
    return NightlyResult(
        header.run_id,
        out_dir,
        verdicts,
        board_errors,
        paths["junit"],
        paths["summary"],
        texts["summary"],
    )


def verdicts_document(verdicts: tuple[CellVerdict, ...]) -> list[dict[str, Any]]:
    """verdicts.json: one entry per cell (read by the HTML report)."""
    out = []
    for v in verdicts:
        lat = v.latency
        out.append(
            {
                "board": v.board,
                "cell": v.cell,
                "delegate": v.delegate,
                "verdict": v.verdict,
                "latency_verdict": lat.verdict,
                "change_pct": None if lat.change is None else 100 * lat.change,
                "ci_pct": None if lat.ci is None else [100 * lat.ci[0], 100 * lat.ci[1]],
                "p_value": lat.p_value,
                "alpha": lat.alpha,
                "reps_needed": lat.reps_needed,
                "baseline_run_ids": list(v.baseline_run_ids),
                "baseline_latency_us": v.baseline_latency_us,
                "current_latency_us": v.current_latency_us,
                "fingerprint_changed": bool(v.fingerprint_changes),
                "fingerprint_changes": list(v.fingerprint_changes),
                "accuracy": [
                    {"metric": a.metric, "verdict": a.verdict, "change": a.change, "ci": a.ci}
                    for a in v.accuracy
                ],
                "detail": v.detail,
            }
        )
    return out


def _write_night(out_dir: Path, config: NightlyConfig, boards: list[str]) -> None:
    """night.json: which night and shard this run is (`imxbench report --night` merges)."""
    if config.night or config.shard:
        doc = {"night": config.night, "shard": config.shard, "boards": boards}
        RunDir(out_dir).write_night(doc)
