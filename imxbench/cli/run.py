"""`imxbench run`: deploy, benchmark every delegate, measure accuracy, store, report."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imxbench.cli.options import (
    DB,
    EMULATE,
    EMULATOR_BSP,
    INVENTORY,
    MODEL,
    MODELS,
    REPORTS,
    SLOWDOWN,
    WIDE,
    accuracy_options,
    benchmark_settings,
    dry_run_option,
    emulation_for,
    emulation_note,
    model_entries,
    resolve_boards,
    terminal_table,
    writable_dir,
)
from imxbench.cli.output import echo
from imxbench.errors import ConfigError

if TYPE_CHECKING:
    from imxbench.accuracy.phase import AccuracyRequest
    from imxbench.analysis.plan import RunSettings


@click.command()
@click.option(
    "--board",
    "board_names",
    required=True,
    help="A board of the inventory, a comma-separated list, 'all' or 'tag:NAME'.",
)
@MODEL
@MODELS
@click.option(
    "--delegate",
    "delegate_names",
    help="Comma-separated delegates (default: every delegate the board's SoC supports).",
)
@benchmark_settings(repetitions=3, min_repetitions=1, adaptive=True)
@REPORTS
@click.option(
    "--resume",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A partial run's directory, or a model matrix's (reports/<matrix-id>, with the "
    "same models): run only what it is missing, into it.",
)
@accuracy_options
@WIDE
@DB
@EMULATE
@EMULATOR_BSP
@SLOWDOWN
@INVENTORY
@dry_run_option(
    "Print every command each board would get (probe, uploads, Vela, each "
    "benchmark_model line with its env), quoted as sent, with the assumptions made; writes "
    "nothing. --dry-run connects to no board; --dry-run=probe runs only the read-only probe "
    "on each board so that the plan uses its facts."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
    help="Output format; json and csv are for scripts.",
)
def run(
    board_names: str,
    model_paths: tuple[Path, ...],
    models_file: Path | None,
    delegate_names: str | None,
    settings: RunSettings,
    reports_dir: Path,
    resume: Path | None,
    accuracy: AccuracyRequest | None,
    wide: bool,
    db_url: str | None,
    emulate: bool,
    emulate_bsp: str | None,
    slowdown: str | None,
    inventory_path: Path,
    dry_run: str | None,
    fmt: str,
) -> None:
    """Deploy the model and run benchmark_model with every delegate the board supports.

    Every run is recorded in the results history (--db).

    \b
    Examples:
      imxbench run --board imx8mp --emulate
      imxbench run --board imx93 --delegate cpu,ethosu --emulate
      imxbench run --board imx93 --dataset cifar-10-batches-py --limit 500
      imxbench run --board all --format json > run.json
      imxbench run --board imx8mp,imx93 --emulate --model a.tflite,b.tflite
      imxbench run --board imx8mp --emulate --models models/models.yaml
      imxbench run --board all --dry-run --npu-profile
      imxbench run --board imx93 --emulate --emulate-bsp lf-5.15 --dry-run=probe
    """
    from imxbench.board.connect import emulated_boards
    from imxbench.board.locks import locked_boards
    from imxbench.cli.progress_display import ProgressDisplay
    from imxbench.config.delegates import load_catalogue, with_vela_on
    from imxbench.prepare.model_prep import default_cache_root
    from imxbench.run.deferred_store import DeferredStore
    from imxbench.run.job import run_job
    from imxbench.run.recording import announced_run, new_header, record_of

    boards_ = resolve_boards(inventory_path, board_names, emulate)
    emulation = emulation_for(boards_, emulate, emulate_bsp, slowdown)
    entries = model_entries(model_paths, models_file)
    if dry_run:  # nothing is sent, nothing is written (cli/dry_run.py)
        from imxbench.cli.dry_run import planned_boards, print_plan, probe_boards

        probed = probe_boards(boards_, emulation) if dry_run == "probe" else None
        print_plan(
            planned_boards(boards_, emulate),
            entries,
            delegate_names,
            settings,
            fmt,
            resume,
            accuracy is not None,
            probed,
        )
        return
    writable_dir(reports_dir, "--reports")
    from imxbench.rundir.matrix import is_matrix_dir

    resumes_matrix = resume is not None and is_matrix_dir(resume)
    if len(entries) > 1 or models_file is not None or resumes_matrix:  # cli/run_matrix.py
        from imxbench.cli.run_matrix import run_models

        if resume is not None and not resumes_matrix:
            raise ConfigError(
                f"--resume {resume}: one model's run (no matrix.json), not a model matrix",
                "resume a matrix with its reports/<matrix-id>, a model's run with its --model",
            )
        if resume is not None:
            writable_dir(resume, "--resume")
        run_models(
            boards_,
            entries,
            delegate_names,
            settings,
            reports_dir,
            accuracy,
            wide=wide,
            db_url=db_url,
            emulate=emulate,
            emulation=emulation,
            emulate_bsp=emulate_bsp,
            slowdown=slowdown,
            fmt=fmt,
            resume=resume,
            models_given=bool(model_paths) or models_file is not None,
        )
        return
    model = entries[0].path
    if resume is not None:
        writable_dir(resume, "--resume")
    store = DeferredStore(db_url, reports_dir)  # opened while the boards work
    resumed = resume.name if resume else None
    header = new_header("run", model, settings, reports_dir, emulated=emulate, run_id=resumed)
    from imxbench.lab.places import reach_boards

    with (
        store,
        locked_boards(  # emulated boards are this job's own
            [] if emulate else [b.name for b in boards_],
            reports_dir / "locks",
            job=f"run {header.run_id}",
        ),
        reach_boards(boards_, job=f"run {header.run_id}", emulate=emulate) as reached,
        emulated_boards(reached, emulation) as targets,  # the edge: plain boards from here on
        announced_run(store, header),
        ProgressDisplay() as progress,
    ):
        result = run_job(
            targets,
            model,
            with_vela_on(load_catalogue(), settings.vela_on),  # --vela-on board: no host Vela
            delegate_names,
            settings,
            reports_dir,
            default_cache_root(),
            emulated=emulate,
            emulation=emulation_note(emulate_bsp, slowdown) if emulate else None,
            progress=progress,
            resume=resume,
            accuracy=accuracy,
            run_id=header.run_id,
            preload=["imxbench.report.build:warm_up"],  # for report_at_end
            background=[store.open_now],
        )
        with interrupts_held() as held:  # the job finished: its table and record are whole
            try:
                progress.close()  # the table first: the history and the report after it
                print_results(
                    result,
                    fmt,
                    wide,
                    accuracy,
                    emulation_note(emulate_bsp, slowdown) if emulate else None,
                )
            finally:  # recorded even when stdout is gone (a closed pipe)
                store.record_run(record_of(result, header))
    if held:  # Ctrl-C or SIGTERM came while it was recorded: stop now, without the report
        raise KeyboardInterrupt
    report_at_end(result.out_dir, to_stdout=fmt == "text")
    if result.exit_code:  # 1 a failed cell, 3 a board that could not be used
        sys.exit(result.exit_code)


@contextmanager
def interrupts_held() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM are held (listed) until the block is done: printing a finished
    job's table and recording it in the history, one short transaction, happen whole; the
    caller stops after it when the list is not empty. A second one interrupts at once (a
    database that does not answer is not waited for against the user's will)."""
    held: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        held.append(signum)
        if len(held) > 1:
            raise KeyboardInterrupt

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in before.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, hold)
    try:
        yield held
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def print_results(result: Any, fmt: str, wide: bool, accuracy: Any, note: str | None) -> None:
    """The run's results on stdout (the table, or JSON/CSV), warnings and failures on stderr."""
    for warning in result.warnings:  # the preprocessing sanity check: loud, whatever the format
        echo(f"\nWARNING: {warning}\n", err=True)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "out_dir": str(result.out_dir),
                    "failures": result.failures,
                    "skipped": result.skipped,  # cells whose delegate cannot run the model
                    "warnings": result.warnings,
                    "summary": json.loads(result.summary.to_json(orient="records") or "[]"),
                    "accuracy": str(result.out_dir / "accuracy.json") if accuracy else None,
                },
                indent=2,
            )
        )
    elif fmt == "csv":
        from imxbench.analysis.results import csv_safe

        click.echo(csv_safe(result.table).to_csv(index=False), nl=False)
    else:
        click.echo(terminal_table(result.summary, wide))  # made terminal-safe by the table
        if note:
            echo(f"EMULATED as asked: {note}")
        for line in throttle_lines(result.table):
            echo(line)
        if result.accuracy is not None:
            from imxbench.accuracy.summary import render_accuracy

            echo("\n" + render_accuracy(result.accuracy))
        click.echo(f"\nresults: {result.out_dir}")
        for line in result.failures:
            echo(f"FAILED {line}", err=True)


def throttle_lines(table: Any) -> list[str]:
    """A marker per cell that had steps run throttled or off their expected clock."""
    if table is None or table.empty or "throttled" not in table.columns:
        return []
    hot = table[table["throttled"].fillna(False).astype(bool)]
    lines = []
    for (board, cell), rows in hot.groupby(["board", "cell"], sort=False):
        reason = next((r for r in rows["throttle_reason"] if isinstance(r, str)), "")
        lines.append(f"THROTTLED {board} {cell}: {len(rows)} step(s); first: {reason}")
    return ([""] if lines else []) + lines


def report_at_end(run_dir: Path, to_stdout: bool) -> None:
    """report.html + index.html after a run; a failure here only warns (results are on disk)."""
    from imxbench.report.build import write_run_report

    try:
        path = write_run_report(run_dir)
    except Exception as exc:  # never lose a run to its report
        echo(f"imxbench: report not written: {exc}", err=True)
        return
    click.echo(f"report: {path.resolve()}", err=not to_stdout)
