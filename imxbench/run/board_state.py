"""The board's own state around a run's steps: the CPU governor set for a run and always
restored (even on the next connection after a lost board), the host's Vela against the board's,
and before/after every step the clock and thermal snapshot, the --cooldown wait and, for a
failed step, the kernel's side (dmesg, remoteproc). Facts and sources: docs/DESIGN.md "Clock,
thermal, BSP and failure diagnosis (per step)"."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from imxbench.analysis.plan import ROUTE_BUILTIN_ETHOSU, Cell, RunSettings
from imxbench.board import clocks
from imxbench.board.transport import BoardSession
from imxbench.config.delegates import DelegateSpec
from imxbench.errors import ConnectError, InfrastructureError
from imxbench.model.facts import major_minor
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.prepare.model_prep import PreparedModel
from imxbench.run.connection import BOARD_SIDE_ERRORS, Cancelled, Connection

if TYPE_CHECKING:
    from imxbench.run.pipeline import BoardRun, StepOutcome, StepRecord


def restore_leftover_governor(session: BoardSession, result: BoardRun, say: Progress) -> None:
    """A run that lost its board before restoring the CPU governor left the restore file: put
    the board's own governor back now, on this connection."""
    try:
        restored = clocks.restore_governor(session)
    except ConnectError:
        raise  # the connection's, not the governor's: Connection.retrying reconnects
    except InfrastructureError as exc:
        result.warnings.append(exc.message)
        return
    if restored:
        result.governor["restored_leftover"] = restored
        say(
            ProgressEvent(
                result.board.name,
                "board",
                f"restored the CPU governor {restored} an earlier run had left changed",
            )
        )


def set_governor(session: BoardSession, result: BoardRun, governor: str, say: Progress) -> None:
    previous = clocks.set_governor(session, governor)
    result.governor.update({"set": governor, "previous": previous})
    say(
        ProgressEvent(
            result.board.name,
            "board",
            f"CPU governor {governor} for this run (was {previous or 'unknown'})",
        )
    )


def restore_governor_at_end(conn: Connection, result: BoardRun, say: Progress) -> None:
    """After a normal end, a failure or Ctrl-C: put the board's governor back. A board that is
    gone keeps its restore file; the next connection restores it."""
    if not result.governor.get("set"):
        return
    try:
        restored = clocks.restore_governor(conn.session)
    except (InfrastructureError, *BOARD_SIDE_ERRORS) as exc:
        text = exc.message if isinstance(exc, InfrastructureError) else str(exc)
        result.warnings.append(
            f"{result.board.name}: CPU governor not restored ({text}); the next imxbench "
            "connection to the board restores it"
        )
        return
    result.governor["restored"] = restored
    say(ProgressEvent(result.board.name, "board", f"CPU governor restored to {restored}"))


def check_vela(
    result: BoardRun, specs: list[DelegateSpec], prepared: dict[str, PreparedModel], say: Progress
) -> None:
    """The host's Vela against the board's own (NXP's fork, matched to the BSP: NXP_FACTS
    §4.1, §10): a different major.minor can place ops, round and time differently."""
    board_vela = result.facts.vela_version if result.facts else None
    for spec in specs:
        model = prepared.get(spec.name)
        host_vela = model.vela.vela_version if model and model.vela else None
        if not host_vela or not board_vela:
            continue
        if major_minor(host_vela) != major_minor(board_vela):
            warning = (
                f"{result.board.name}: the model was compiled with Vela {host_vela} on the host;"
                f" the board's BSP ships Vela {board_vela} (NXP's fork): op placement, accuracy"
                " and latency can differ (compile with the BSP's Vela to match)"
            )
            result.warnings.append(warning)
            say(ProgressEvent(result.board.name, "board", "WARNING: " + warning.split(": ", 1)[1]))
        return  # one model, one host Vela: once per board


def snapshot(conn: Connection) -> clocks.ClockSnapshot | None:
    try:
        return clocks.take_snapshot(conn.session)
    except BOARD_SIDE_ERRORS:  # the step's own reconnect deals with a lost connection
        return None


def before_step(
    conn: Connection, result: BoardRun, cell: Cell, settings: RunSettings, say: Progress
) -> tuple[clocks.ClockSnapshot | None, dict[str, Any]]:
    """With --cooldown: wait (at most cooldown_timeout_s) until the hottest zone is below
    cooldown_c, and return the last snapshot polled. Without: nothing to do here, the step's
    own command takes its snapshots (clocks.with_snapshots: no round trip of their own)."""
    limit = settings.cooldown_c
    if limit is None:
        return None, {}
    snap = snapshot(conn)
    started = time.monotonic()
    announced = False
    while snap is not None and snap.max_temp_c is not None and snap.max_temp_c >= limit:
        if conn.cancel.is_set():
            raise Cancelled()
        waited = time.monotonic() - started
        if waited >= settings.cooldown_timeout_s:
            say(
                ProgressEvent(
                    result.board.name,
                    "board",
                    f"still {snap.max_temp_c:.1f} °C after {waited:.0f} s of cooldown "
                    f"(limit {settings.cooldown_timeout_s:g} s): running the step anyway",
                    cell.name,
                )
            )
            return snap, {"cooldown_s": round(waited, 1), "cooldown_timed_out": True}
        if not announced:
            say(
                ProgressEvent(
                    result.board.name,
                    "board",
                    f"cooling down: {snap.max_temp_c:.1f} °C ≥ {limit:g} °C, waiting "
                    f"(at most {settings.cooldown_timeout_s:g} s)",
                    cell.name,
                )
            )
            announced = True
        time.sleep(min(1.0, max(0.05, settings.cooldown_timeout_s - waited)))
        snap = snapshot(conn)
    waited = round(time.monotonic() - started, 1)
    return snap, {"cooldown_s": waited, "cooldown_timed_out": False}


def after_step(
    conn: Connection,
    cell: Cell,
    outcome: StepOutcome,
    polled: clocks.ClockSnapshot | None,
    cooldown: dict[str, Any],
    elapsed_s: float,
) -> StepRecord:
    """The record with its route, the clock/thermal columns and, for a failed step, the
    kernel's side of the failure (dmesg since the step began, remoteproc state). The snapshots
    are the step's own; one its command did not print (killed, timed out) is taken now
    (after) or stands for the --cooldown poll's (before)."""
    record = outcome.record
    before = outcome.before or polled
    after = outcome.after or snapshot(conn)
    if (
        cell.route == ROUTE_BUILTIN_ETHOSU
        and record.status == "ok"
        and record.metrics.get("op_profile") is not None
        and not any(
            "ethos" in str(r.get("node_type", "")).lower() for r in record.metrics["op_profile"]
        )
    ):
        record = dataclasses.replace(
            record,
            status="failed",
            error="no ethos-u op ran: the whole graph ran on the CPU (a Vela-compiled model "
            "runs on the NPU through TFLite's built-in ethos-u op on this BSP)",
        )
    diagnosis = None
    if record.status != "ok":
        try:
            since = before.uptime_s if before else None
            if since is None and after is not None and after.uptime_s is not None:
                since = after.uptime_s - elapsed_s  # the step began about then
            diagnosis = clocks.diagnose(conn.session, since)
        except BOARD_SIDE_ERRORS:
            diagnosis = None
    columns = {**clocks.step_columns(before, after), **cooldown}
    return dataclasses.replace(record, route=cell.route, clocks=columns, diagnosis=diagnosis)
