"""`imxbench nightly` with several models (`--model A --model B`, `--models models.yaml`): one
night per model, each judged against that model's history (run/nightly_matrix.py)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from imxbench.cli.output import echo
from imxbench.cli.run import report_at_end

if TYPE_CHECKING:
    from imxbench.config.inventory import Board
    from imxbench.config.models import ModelEntry
    from imxbench.run.nightly import NightlyConfig
    from imxbench.run.nightly_matrix import NightlyMatrixResult


def nightly_models(
    boards: list[Board],
    entries: list[ModelEntry],
    config: NightlyConfig,
    db_url: str | None,
    note: str | None,
    fmt: str,
) -> None:
    """Check every model, run each one's night, print the verdicts per model; exit with the
    worst night's code."""
    from imxbench.cli.progress_display import ProgressDisplay
    from imxbench.history.store import open_store
    from imxbench.run.matrix import prepare_matrix
    from imxbench.run.nightly_matrix import run_nightly_models

    plans = prepare_matrix(
        boards, entries, dict(config.catalogue), config.delegate_names, config.vela_cache
    )
    with open_store(db_url, config.reports_dir) as store, ProgressDisplay() as progress:
        result = run_nightly_models(store, boards, config, plans, progress=progress)
    if fmt == "json":
        click.echo(json.dumps(nightly_document(result), indent=2))
    else:
        _print_text(result, note)
    for model_night in result.nights:
        report_at_end(model_night.night.out_dir, to_stdout=fmt == "text")
    from imxbench.run.matrix import matrix_report

    try:
        path = matrix_report(result.matrix.run_dirs, result.matrix.out_dir)
    except Exception as exc:  # never lose a night to its report
        echo(f"imxbench: matrix report not written: {exc}", err=True)
    else:
        if path is not None:
            click.echo(f"matrix report: {path.resolve()}", err=fmt != "text")
    sys.exit(result.exit_code)


def nightly_document(result: NightlyMatrixResult) -> dict[str, Any]:
    from imxbench.run.nightly import verdicts_document

    return {
        "matrix_id": result.matrix.matrix_id,
        "out_dir": str(result.matrix.out_dir),
        "exit_code": result.exit_code,
        "junit": str(result.junit_path) if result.junit_path else None,
        "summary": str(result.summary_path) if result.summary_path else None,
        "models": [
            {
                "name": n.model,
                "run_id": n.night.run_id,
                "outcome": n.night.outcome,
                "exit_code": n.night.exit_code,
                "out_dir": str(n.night.out_dir),
                "junit": str(n.night.junit_path),
                "summary": str(n.night.summary_path),
                "board_errors": dict(n.night.board_errors),
                "cells": verdicts_document(n.night.verdicts),
            }
            for n in result.nights
        ],
    }


def _print_text(result: NightlyMatrixResult, note: str | None) -> None:
    from imxbench.history.view import render_verdicts

    for model_night in result.nights:
        night = model_night.night
        echo(f"=== model {model_night.model} ===")
        click.echo(f"imxbench nightly {night.run_id}: {night.headline}\n")
        echo(render_verdicts(night.verdicts, detail=False) + "\n")
        for v in [*night.alarms, *night.not_compared]:
            echo(f"{v.verdict.upper()} {model_night.model} {v.board} {v.cell}: {v.detail}")
        for board, error in night.board_errors.items():
            echo(f"BOARD {board}: {error}")
        click.echo(f"junit: {night.junit_path}\nsummary: {night.summary_path}\n")
    if note:
        echo(f"EMULATED as asked: {note}\n")
    if result.junit_path:
        click.echo(f"junit (every model): {result.junit_path}")
    if result.summary_path:
        click.echo(f"summary (every model): {result.summary_path}")
    click.echo(f"matrix: {result.matrix.out_dir / 'matrix.json'}")
