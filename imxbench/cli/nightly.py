"""`imxbench nightly`: the lab's regression job."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imxbench.cli.options import (
    DB,
    EMULATE,
    EMULATOR_BSP,
    FORMAT,
    INVENTORY,
    MODEL,
    MODELS,
    REPORTS,
    SLOWDOWN,
    FiniteFloatRange,
    benchmark_settings,
    dry_run_option,
    emulation_for,
    emulation_note,
    model_entries,
    resolve_boards,
    verdict_settings,
    writable_dir,
)
from imxbench.cli.output import echo
from imxbench.cli.run import report_at_end
from imxbench.config.inventory import Board, load_inventory
from imxbench.errors import ConfigError

if TYPE_CHECKING:
    from imxbench.analysis.plan import RunSettings
    from imxbench.analysis.regression import Thresholds


@click.command()
@click.option(
    "--board",
    "board_names",
    default="all",
    show_default=True,
    help="Boards: 'all', a comma-separated list or 'tag:NAME'.",
)
@click.option(
    "--tag",
    help="Only the boards with this tag (same as --board tag:NAME); with a labgrid coordinator "
    "also its places tagged so (NAME or KEY=VALUE, see docs/LAB.md).",
)
@click.option(
    "--coordinator",
    envvar="LG_COORDINATOR",
    help="labgrid coordinator HOST[:PORT] whose places --tag also selects (default: "
    "LG_COORDINATOR).",
)
@click.option(
    "--shard",
    help="I/N: run only this runner's share of the selected boards (stable; N runners with the "
    "same selection cover every board exactly once).",
)
@click.option(
    "--night",
    envvar="IMXBENCH_NIGHT",
    help="An id shared by the shards of one night (e.g. the CI pipeline id): "
    "`imxbench report --night ID` merges them.",
)
@MODEL
@MODELS
@click.option("--delegate", "delegate_names", help="Comma-separated delegates (default: all).")
@benchmark_settings(repetitions=5, min_repetitions=2)
@click.option(
    "--baseline",
    "baseline_policy",
    default="anchored",
    show_default=True,
    help="anchored (the detector's baseline: from the last `baseline set` run on) or "
    "named[:NAME] (from that baseline's run on); previous and window:K are deprecated aliases "
    "of anchored.",
)
@verdict_settings
@click.option(
    "--lock-wait",
    "lock_wait_s",
    type=FiniteFloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for a board another job holds (0: fail fast, naming the holder).",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the JUnit XML here (default: <run dir>/junit.xml), for CI test reports.",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the Markdown summary here (default: <run dir>/summary.md), e.g. for a "
    "merge-request comment.",
)
@DB
@REPORTS
@EMULATE
@EMULATOR_BSP
@SLOWDOWN
@click.option(
    "--emulator-noise",
    type=FiniteFloatRange(0, 50),
    default=1.0,
    hidden=True,
    help="Tests: the emulated boards' timing noise, percent.",
)
@click.option(
    "--emulator-faults",
    hidden=True,
    help="Tests: JSON {board: {fault: value}} set on each emulated board after boot.",
)
@INVENTORY
@dry_run_option(
    "Print each board's commands with the nightly's settings (as `run --dry-run`) and "
    "what each cell would be judged against (history, baseline, its series' nights), read "
    "only; writes nothing. --dry-run=probe runs only the read-only probe on each board."
)
@FORMAT
def nightly(
    board_names: str,
    tag: str | None,
    coordinator: str | None,
    shard: str | None,
    night: str | None,
    model_paths: tuple[Path, ...],
    models_file: Path | None,
    delegate_names: str | None,
    settings: RunSettings,
    baseline_policy: str,
    thresholds: Thresholds,
    lock_wait_s: float,
    junit_path: Path | None,
    summary_path: Path | None,
    db_url: str | None,
    reports_dir: Path,
    emulate: bool,
    emulate_bsp: str | None,
    slowdown: str | None,
    emulator_noise: float,
    emulator_faults: str | None,
    inventory_path: Path,
    dry_run: str | None,
    fmt: str,
) -> None:
    """The lab's regression job: every board (or a tag) in parallel, each locked, each cell
    judged against its history. Writes junit.xml and summary.md. Exit 0 clean (or no baseline:
    a first night, nothing compared), 1 regression, 3 infrastructure failure.

    \b
    Examples:
      imxbench nightly --emulate
      imxbench nightly --tag lab1 --db postgresql://db/imxbench --junit junit.xml
      imxbench nightly --emulate --slowdown vx=8%   # watch a regression be caught
      imxbench nightly --emulate --models models/models.yaml  # per-model verdicts
      imxbench nightly --tag lab1 --dry-run   # plan + baselines, runs nothing
    """
    from imxbench.board.connect import Emulation
    from imxbench.cli.progress_display import ProgressDisplay
    from imxbench.config.delegates import load_catalogue, with_vela_on
    from imxbench.history.baselines import BaselinePolicy
    from imxbench.history.store import open_store
    from imxbench.prepare.model_prep import default_cache_root
    from imxbench.run.nightly import NightlyConfig, run_nightly, verdicts_document

    if tag:
        board_names = f"tag:{tag}"
    if emulate and board_names == "all" and not inventory_path.exists():
        board_names = "imx8mp,imx93"
    boards_ = _lab_boards(inventory_path, board_names, tag, emulate, coordinator)
    if shard:
        from imxbench.lab.selection import parse_shard, shard_of

        boards_ = shard_of(boards_, *parse_shard(shard))
        shown = ", ".join(b.name for b in boards_) or "none"
        click.echo(f"shard {shard}: {shown}", err=True)
    entries = model_entries(model_paths, models_file)
    model = entries[0].path
    if not dry_run:  # a dry run writes nothing, not even the reports folder
        writable_dir(reports_dir, "--reports")
        for option, path in (("--junit", junit_path), ("--summary", summary_path)):
            if path is not None:  # checked now, not after the night has run
                writable_dir(path.parent, option)
    emulation: bool | Emulation = emulation_for(boards_, emulate, emulate_bsp, slowdown)
    if emulate and (emulator_faults or emulator_noise != 1.0):
        faults = dict(emulation.faults) if isinstance(emulation, Emulation) else {}
        faults.update(_json_option("--emulator-faults", emulator_faults))
        bsp = emulation.bsp if isinstance(emulation, Emulation) else None
        emulation = Emulation(emulator_noise, faults, bsp=bsp)
    policy = BaselinePolicy.parse(baseline_policy)
    if policy.deprecation:
        click.echo(f"warning: {policy.deprecation}", err=True)
    config = NightlyConfig(
        model=model,
        catalogue=with_vela_on(load_catalogue(), settings.vela_on),
        delegate_names=delegate_names,
        settings=settings,
        reports_dir=reports_dir,
        vela_cache=default_cache_root(),
        policy=policy,
        thresholds=thresholds,
        lock_wait_s=lock_wait_s,
        emulate=emulation,
        emulation_note=emulation_note(emulate_bsp, slowdown) if emulate else None,
        junit_path=junit_path,
        summary_path=summary_path,
        night=night,
        shard=shard,
    )
    if dry_run:  # nothing is sent (but the probe), nothing is written (cli/dry_run.py)
        from imxbench.cli.dry_run import planned_boards, print_night_plan, probe_boards

        probed = probe_boards(boards_, emulation) if dry_run == "probe" else None
        planned = planned_boards(boards_, emulate)
        print_night_plan(planned, entries, config, db_url, fmt, probed)
        return
    if len(entries) > 1 or models_file is not None:  # one night per model (run/nightly_matrix.py)
        from imxbench.cli.nightly_matrix import nightly_models

        note = emulation_note(emulate_bsp, slowdown) if emulate else None
        nightly_models(boards_, entries, config, db_url, note, fmt)
        return
    with open_store(db_url, reports_dir) as store, ProgressDisplay() as progress:
        result = run_nightly(store, boards_, config, progress=progress)
    if fmt == "json":
        doc = {
            "run_id": result.run_id,
            "outcome": result.outcome,
            "exit_code": result.exit_code,
            "out_dir": str(result.out_dir),
            "junit": str(result.junit_path),
            "summary": str(result.summary_path),
            "board_errors": dict(result.board_errors),
            "cells": verdicts_document(result.verdicts),
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        from imxbench.history.view import render_verdicts

        click.echo(f"imxbench nightly {result.run_id}: {result.headline}\n")
        if emulate and (note := emulation_note(emulate_bsp, slowdown)):
            echo(f"EMULATED as asked: {note}\n")
        echo(render_verdicts(result.verdicts, detail=False) + "\n")
        for v in [*result.alarms, *result.not_compared]:
            echo(f"{v.verdict.upper()} {v.board} {v.cell}: {v.detail}")
        for board, error in result.board_errors.items():
            echo(f"BOARD {board}: {error}")
        click.echo(f"junit: {result.junit_path}\nsummary: {result.summary_path}")
    report_at_end(result.out_dir, to_stdout=fmt == "text")
    sys.exit(result.exit_code)


def _lab_boards(
    inventory_path: Path, names: str, tag: str | None, emulate: bool, coordinator: str | None
) -> list[Board]:
    """The nightly's boards; `--tag` with a coordinator: boards.yaml's and the lab's places."""
    if not (tag and coordinator) or emulate:
        return resolve_boards(inventory_path, names, emulate)
    from imxbench.lab.selection import lab_boards, merge_boards

    listed = load_inventory(inventory_path).boards.values() if inventory_path.exists() else []
    chosen = merge_boards([b for b in listed if tag in b.tags], lab_boards(coordinator, tag))
    if not chosen:
        raise ConfigError(
            f"no board in {inventory_path} and no place of {coordinator} has the tag {tag!r}"
        )
    return chosen


def _json_option(name: str, text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a JSON object")
    return value
