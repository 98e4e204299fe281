"""Running a job with the results history: announce the run, run it, record it.

`announced_run` wraps the job: the run is in the history (as partial) before any board is
touched (`run`: once its boards are busy, see deferred_store.py); Ctrl-C records what finished
(partial, "interrupted"); a crash leaves it partial with the reason; bad input (nothing ran)
removes it again. The caller records the finished job
with `Store.record_run` — with tonight's verdicts, for a nightly — in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from imxbench.analysis.plan import RunSettings
from imxbench.errors import ConfigError
from imxbench.model.records import (
    RunHeader,
    RunRecord,
    holder_name,
    utc_now,
)
from imxbench.run.job import JobInterrupted, JobResult, new_run_id
from imxbench.run.job_record import read_accuracy, record_from_job
from imxbench.rundir.atomic import file_sha256
from imxbench.rundir.layout import RunDir

if TYPE_CHECKING:  # SQLAlchemy loads with the store, which `run` opens while its boards work
    from imxbench.history.store import Store
    from imxbench.run.deferred_store import DeferredStore

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM): the cells that finished are recorded"
INTERRUPTED_UNRECORDED = (
    "interrupted (Ctrl-C or SIGTERM) after its steps: its cells are in its run directory, "
    "not here"
)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM that the job's own JobInterrupted does not describe: outside its
    steps (while it wrote its tables, or they were printed and recorded; the finished steps
    are in the run directory's journal), or any time in a nightly, which has no --resume.
    `out_dir`: the run directory (None: not made yet); `resume_dir`: what `run --resume`
    takes to record and finish it (None: nothing to resume, or not a `run`)."""

    def __init__(self, run_dir: Path, resumable: bool) -> None:
        super().__init__()
        self.out_dir = run_dir if RunDir(run_dir).is_run() else None
        self.resume_dir = self.out_dir if resumable else None


def new_header(
    kind: str,
    model: Path,
    settings: RunSettings,
    reports_dir: Path,
    *,
    emulated: bool,
    run_id: str | None = None,
) -> RunHeader:
    """The header of a run about to start (its id names reports/<run-id>/ too; `run_id`: a
    resumed run's)."""
    run_id = run_id or new_run_id()
    return RunHeader(
        run_id=run_id,
        kind=kind,
        started_at=utc_now(),
        model=model.name,
        model_sha256=file_sha256(model),
        settings=settings.as_dict(),
        holder=holder_name(),
        emulated=emulated,
        out_dir=str(reports_dir / run_id),
    )


def record_of(
    job: JobResult, header: RunHeader, board_errors: Mapping[str, str] | None = None
) -> RunRecord:
    """The history record of a finished job (accuracy from its accuracy.json, if any)."""
    return record_from_job(
        job, header, board_errors=board_errors, accuracy=read_accuracy(job.out_dir)
    )


@contextmanager
def announced_run(
    store: Store | DeferredStore, header: RunHeader, board_errors: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Announce `header` in the history for the duration of the job (see the module doc)."""
    store.begin_run(header)
    try:
        yield
    except JobInterrupted as exc:
        record = record_from_job(
            exc.result,
            header,
            board_errors=board_errors,
            accuracy=read_accuracy(exc.result.out_dir),
            note=INTERRUPTED,
        )
        store.record_run(record)
        if header.kind == "run":
            raise
        raise RunInterrupted(Path(header.out_dir), resumable=False) from exc
    except ConfigError:
        store.discard_run(header.run_id)
        raise
    except KeyboardInterrupt as exc:  # outside the steps: writing the tables, printing them
        resumable = header.kind == "run"
        note = INTERRUPTED_UNRECORDED + ("; --resume records them" if resumable else "")
        store.mark_partial(header.run_id, note)
        raise RunInterrupted(Path(header.out_dir), resumable) from exc
    except BaseException as exc:
        reason = str(getattr(exc, "message", None) or exc) or type(exc).__name__
        store.mark_partial(header.run_id, f"failed: {reason}"[:500])
        raise
