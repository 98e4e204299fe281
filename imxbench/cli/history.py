"""`imxbench history`, `compare` and `baseline`: the results history and its verdicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from imxbench.analysis.regression import Thresholds

from imxbench.cli.options import DB, FORMAT, REPORTS, verdict_settings
from imxbench.cli.output import echo
from imxbench.errors import ConfigError


@click.command()
@click.option("--board", help="Only runs with this board.")
@click.option("--delegate", help="Only runs with this delegate (or cell, e.g. cpu@1t).")
@click.option("--model", help="Only runs of this model (file name or sha256 prefix).")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Only runs started at or after this date (UTC).",
)
@click.option("--kind", type=click.Choice(["run", "nightly"]), help="Only this kind of run.")
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many runs."
)
@DB
@REPORTS
@FORMAT
def history(
    board: str | None,
    delegate: str | None,
    model: str | None,
    since: Any,
    kind: str | None,
    limit: int,
    db_url: str | None,
    reports_dir: Path,
    fmt: str,
) -> None:
    """List recorded runs, newest first.

    \b
    Examples:
      imxbench history
      imxbench history --board imx8mp --delegate vx --since 2026-11-01
      imxbench history --format json
    """
    from imxbench.history.store import open_store
    from imxbench.history.view import render_runs

    with open_store(db_url, reports_dir, create=False) as store:
        found = store.list_runs(
            board=board,
            delegate=delegate,
            model=model,
            since=since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None,
            kind=kind,
            limit=limit,
        )
        if not found and board and board not in (known := store.known_boards()):
            raise ConfigError(
                f"unknown board {board!r}: the history has runs of "
                f"{', '.join(known) or 'no board yet'} ({store.where})"
            )
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in found], indent=2))
    else:
        echo(render_runs(found))


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@verdict_settings
@DB
@REPORTS
@FORMAT
def compare(
    run_a: str,
    run_b: str,
    thresholds: Thresholds,
    db_url: str | None,
    reports_dir: Path,
    fmt: str,
) -> None:
    """Judge run RUN_B against run RUN_A (ids, unique prefixes or 'latest'): RUN_A is the
    baseline night, its series' earlier nights teach the noise. Exit 1 when a cell regressed or
    failed.

    \b
    Examples:
      imxbench compare 20261201 latest
      imxbench compare 20261201 latest --format json
    """
    from imxbench.history.baselines import compare_runs
    from imxbench.history.store import open_store
    from imxbench.history.view import render_verdicts
    from imxbench.run.nightly import verdicts_document

    with open_store(db_url, reports_dir, create=False) as store:
        a, b = store.resolve_run(run_a), store.resolve_run(run_b)
        found = compare_runs(store, a, b, thresholds)
    if fmt == "json":
        doc = {"baseline": a, "run": b, "cells": verdicts_document(found)}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(f"{b} against {a}\n")
        echo(render_verdicts(found))
    if any(v.verdict in ("regressed", "failed") for v in found):
        sys.exit(1)


@click.group()
def baseline() -> None:
    """Named baselines for `imxbench nightly --baseline named[:NAME]`.

    \b
    Examples:
      imxbench baseline set latest --name release-6.12
      imxbench baseline list
    """


@baseline.command("set")
@click.argument("run")
@click.option(
    "--name",
    default="default",
    show_default=True,
    help="The baseline's name (nightly --baseline named:NAME).",
)
@DB
@REPORTS
def baseline_set(run: str, name: str, db_url: str | None, reports_dir: Path) -> None:
    """Make RUN the baseline NAME: this accepts its timings as the new normal (the nightly's
    baseline starts at RUN; a regression up to it is no longer reported).

    \b
    Examples:
      imxbench baseline set latest   # accept tonight's timings as normal
      imxbench baseline set 20261203-0200 --name release-6.12
    """
    from imxbench.history.baselines import baseline_name
    from imxbench.history.store import open_store
    from imxbench.model.records import holder_name

    name = baseline_name(name)
    with open_store(db_url, reports_dir) as store:
        run_id = store.resolve_run(run)
        store.set_baseline(name, run_id, holder_name())
    click.echo(f"baseline {name} = {run_id}")


@baseline.command("list")
@DB
@REPORTS
@FORMAT
def baseline_list(db_url: str | None, reports_dir: Path, fmt: str) -> None:
    """List the named baselines.

    \b
    Examples:
      imxbench baseline list
      imxbench baseline list --format json
    """
    from imxbench.history.store import open_store

    with open_store(db_url, reports_dir, create=False) as store:
        rows = store.baselines()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        echo(f"{row['name']:<16} {row['run_id']:<22} set {row['set_at']} by {row['set_by']}")
    if not rows:
        click.echo("no baselines (imxbench baseline set RUN)")
