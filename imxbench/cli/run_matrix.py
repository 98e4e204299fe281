"""`imxbench run` with several models (`--model A --model B,C`, `--models models.yaml`): the
model matrix (run/matrix.py), printed grouped by model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imxbench.cli.options import emulation_note, terminal_table
from imxbench.cli.output import echo
from imxbench.cli.run import report_at_end, throttle_lines

if TYPE_CHECKING:
    from imxbench.accuracy.phase import AccuracyRequest
    from imxbench.analysis.plan import RunSettings
    from imxbench.config.inventory import Board
    from imxbench.config.models import ModelEntry
    from imxbench.run.matrix import MatrixResult, ModelRun


def run_models(
    boards: list[Board],
    entries: list[ModelEntry],
    delegate_names: str | None,
    settings: RunSettings,
    reports_dir: Path,
    accuracy: AccuracyRequest | None,
    *,
    wide: bool,
    db_url: str | None,
    emulate: bool,
    emulation: Any,
    emulate_bsp: str | None,
    slowdown: str | None,
    fmt: str,
    resume: Path | None = None,
    models_given: bool = True,
) -> None:
    """Check every model, then run them one after another on the boards (held once for the
    whole matrix), print each model's table, write the reports; exit 1 if a cell failed, 3 if
    a board could not be used (as `run` with one model).
    `resume`: a matrix directory to go on with (run/matrix_resume.py; `models_given`: the
    command named its models)."""
    from imxbench.board.connect import emulated_boards
    from imxbench.board.locks import locked_boards
    from imxbench.cli.progress_display import ProgressDisplay
    from imxbench.config.delegates import load_catalogue
    from imxbench.lab.places import reach_boards
    from imxbench.prepare.model_prep import default_cache_root
    from imxbench.run.deferred_store import DeferredStore
    from imxbench.run.job import JobInterrupted, new_run_id
    from imxbench.run.matrix import prepare_matrix, run_matrix
    from imxbench.run.matrix_resume import check_matrix_resume, resumed_plans
    from imxbench.run.recording import RunInterrupted
    from imxbench.rundir.matrix import MATRIX_PREFIX

    catalogue = load_catalogue()
    vela_cache = default_cache_root()
    started = None
    if resume is not None:  # the same matrix, going on where it stopped
        resumed = check_matrix_resume(
            resume, reports_dir, boards, entries, delegate_names, settings, models_given
        )
        plans = resumed_plans(
            resumed, boards, catalogue, delegate_names, vela_cache, accuracy, reports_dir
        )
        matrix_id, started = resumed.matrix_id, resumed.started
    else:
        plans = prepare_matrix(boards, entries, catalogue, delegate_names, vela_cache, accuracy)
        matrix_id = MATRIX_PREFIX + new_run_id()
    job = f"run {matrix_id}"
    try:
        with (
            DeferredStore(db_url, reports_dir) as store,  # opened while the boards work
            locked_boards(
                [] if emulate else [b.name for b in boards], reports_dir / "locks", job=job
            ),
            reach_boards(boards, job=job, emulate=emulate) as reached,
            emulated_boards(reached, emulation) as targets,  # plain boards from here on
            ProgressDisplay() as progress,
        ):
            matrix = run_matrix(
                targets,
                plans,
                catalogue,
                delegate_names,
                settings,
                reports_dir,
                vela_cache,
                store,
                emulated=emulate,
                emulation=emulation_note(emulate_bsp, slowdown) if emulate else None,
                progress=progress,
                matrix_id=matrix_id,
                preload=["imxbench.report.build:warm_up"],
                started=started,
            )
    except (JobInterrupted, RunInterrupted) as exc:
        exc.resume_dir = reports_dir / matrix_id  # the whole matrix goes on from there
        raise
    finally:
        for plan in plans:  # a model never run (busy board, Ctrl-C) leaves no scratch files
            if plan.evaluation is not None:
                plan.evaluation.close()
    for warning in matrix.warnings:
        echo(f"\nWARNING: {warning}\n", err=True)
    if fmt == "json":
        click.echo(json.dumps(matrix_document(matrix), indent=2))
    elif fmt == "csv":
        _print_csv(matrix)
    else:
        _print_text(matrix, wide, emulation_note(emulate_bsp, slowdown) if emulate else None)
    for run_dir in matrix.run_dirs:
        report_at_end(run_dir, to_stdout=fmt == "text")
    _matrix_view_at_end(matrix, to_stdout=fmt == "text")
    if matrix.exit_code:
        sys.exit(matrix.exit_code)


def matrix_document(matrix: MatrixResult) -> dict[str, Any]:
    """`run --format json` of a matrix: the matrix, then per model what a one-model run says."""
    return {
        "matrix_id": matrix.matrix_id,
        "out_dir": str(matrix.out_dir),
        "failures": matrix.failures,
        "skipped": matrix.skipped,
        "warnings": matrix.warnings,
        "models": [_model_document(run) for run in matrix.runs],
    }


def _model_document(run: ModelRun) -> dict[str, Any]:
    result = run.result
    doc: dict[str, Any] = {"name": run.entry.name, "path": str(run.entry.path)}
    if result is None:
        return {**doc, "run_id": run.header.run_id, "out_dir": None}
    return {
        **doc,
        "run_id": result.run_id,
        "out_dir": str(result.out_dir),
        "failures": result.failures,
        "skipped": result.skipped,
        "summary": json.loads(result.summary.to_json(orient="records") or "[]"),
        "accuracy": str(result.out_dir / "accuracy.json") if _has_accuracy(result) else None,
    }


def _has_accuracy(result: Any) -> bool:
    """Measured now, or kept from before a resume (its accuracy.json)."""
    return result.accuracy is not None or (result.out_dir / "accuracy.json").is_file()


def _print_csv(matrix: MatrixResult) -> None:
    import pandas as pd

    from imxbench.analysis.results import csv_safe

    tables = [r.result.table for r in matrix.runs if r.result is not None]
    if tables:
        click.echo(csv_safe(pd.concat(tables, ignore_index=True)).to_csv(index=False), nl=False)


def _print_text(matrix: MatrixResult, wide: bool, note: str | None) -> None:
    """One table per model, each under a heading naming the model."""
    for run in matrix.runs:
        result = run.result
        if result is None:
            continue
        echo(f"\n=== model {run.entry.name} ({run.entry.path.name}) ===")
        click.echo(terminal_table(result.summary, wide))
        for line in throttle_lines(result.table):
            echo(line)
        if result.accuracy is not None:
            from imxbench.accuracy.summary import render_accuracy

            echo("\n" + render_accuracy(result.accuracy))
        elif _has_accuracy(result):  # a run kept from before a resume
            echo(f"accuracy: {result.out_dir / 'accuracy.json'}")
        click.echo(f"results: {result.out_dir}")
    if note:
        echo(f"EMULATED as asked: {note}")
    click.echo(f"\nmatrix: {matrix.out_dir / 'matrix.json'}")
    for line in matrix.failures:
        echo(f"FAILED {line}", err=True)


def _matrix_view_at_end(matrix: MatrixResult, to_stdout: bool) -> None:
    """The HTML matrix view (report/matrix.py), if installed; a failure here only warns."""
    from imxbench.run.matrix import matrix_report

    try:
        path = matrix_report(matrix.run_dirs, matrix.out_dir)
    except Exception as exc:  # never lose a run to its report
        echo(f"imxbench: matrix report not written: {exc}", err=True)
        return
    if path is not None:
        click.echo(f"matrix report: {path.resolve()}", err=not to_stdout)
