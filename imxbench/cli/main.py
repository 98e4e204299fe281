"""The command line: parse options, call one library function, print. Nothing imports this.

Exit codes: 0 success; 1 a benchmark cell failed or a regression was found; 2 bad input
(a one-line message naming the file, key or value); 3 infrastructure failure; 130 Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from imxbench import __version__
from imxbench.config.inventory import DEFAULT_INVENTORY, SOCS, Board, emulated_board, load_inventory
from imxbench.errors import ConfigError, ImxbenchError

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is for scripts.",
)
INVENTORY = click.option(
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    envvar="IMXBENCH_BOARDS",
    default=DEFAULT_INVENTORY,
    show_default=True,
    help="The lab inventory (boards.yaml).",
)
MODEL = click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    help="The .tflite model (default: the MLPerf Tiny ResNet-8 reference model).",
)


def benchmark_settings(command: Any) -> Any:
    """The benchmark_model settings that `run` and `nightly` share."""
    options = [
        click.option("--num-runs", type=click.IntRange(1), default=50, show_default=True),
        click.option("--warmup-runs", type=click.IntRange(0), default=1, show_default=True),
        click.option("--min-secs", type=click.FloatRange(0), default=1.0, show_default=True),
        click.option(
            "--threads", type=click.IntRange(1, 64), help="CPU threads (default: 1 and all)."
        ),
        click.option("--no-op-profile", is_flag=True, help="Skip the extra op-profiling pass."),
        click.option(
            "--timeout",
            "step_timeout_s",
            type=click.FloatRange(1),
            default=600.0,
            show_default=True,
            help="Seconds one benchmark_model process may take.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def verdict_settings(command: Any) -> Any:
    """How sure a verdict must be: shared by `compare` and `nightly`."""
    command = click.option(
        "--min-effect",
        type=click.FloatRange(0.1, 100),
        default=3.0,
        show_default=True,
        help="Smallest latency change worth a verdict, percent.",
    )(command)
    return click.option(
        "--alpha",
        type=click.FloatRange(1e-6, 0.5),
        default=0.01,
        show_default=True,
        help="False-alarm rate of all the cells of a run (a night) together.",
    )(command)


EMULATE = click.option(
    "--emulate",
    is_flag=True,
    help="Use a built-in emulated board of the same SoC instead of the real one.",
)
DB = click.option(
    "--db",
    "db_url",
    envvar="IMXBENCH_DB",
    help="The results history: postgresql://USER@HOST/DB for a lab's shared one, or an SQLite "
    "file (default: <reports>/imxbench.sqlite).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imxbench")
def cli() -> None:
    """On-device benchmarking of TFLite models on NXP i.MX boards."""


# -- boards ----------------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
@INVENTORY
@FORMAT
@click.pass_context
def boards(ctx: click.Context, inventory_path: Path, fmt: str) -> None:
    """List the lab inventory (boards.yaml)."""
    ctx.obj = inventory_path
    if ctx.invoked_subcommand is not None:
        return
    inventory = load_inventory(inventory_path)
    rows = [_board_row(b) for b in inventory.boards.values()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        tags = ",".join(row["tags"]) or "-"
        where = f"{row['user']}@{row['host']}:{row['port']:<6}"
        if row["place"]:
            where = f"labgrid place {row['place']}@{row['coordinator'] or '$LG_COORDINATOR'}"
        click.echo(
            f"{row['name']:<14} {row['soc']:<7} {where} workdir={row['workdir']} tags={tags}"
        )


def _board_row(board: Board) -> dict[str, Any]:
    return {
        "name": board.name,
        "soc": board.soc,
        "host": board.host,
        "port": board.port,
        "user": board.user,
        "auth": board.auth.type,
        "host_key_policy": board.host_key_policy,
        "proxy_jump": board.proxy_jump,
        "workdir": board.workdir,
        "tags": list(board.tags),
        "place": board.place,
        "coordinator": board.coordinator,
    }


@boards.command("probe")
@click.argument("name")
@EMULATE
@FORMAT
@click.pass_obj
def boards_probe(inventory_path: Path, name: str, emulate: bool, fmt: str) -> None:
    """Print the facts of board NAME (SoC, BSP, TFLite, delegates, NPU, ...)."""
    from imxbench.board.connect import open_session
    from imxbench.board.probe import probe_board
    from imxbench.lab.places import reach_boards

    board = resolve_board(inventory_path, name, emulate)
    with (
        reach_boards([board], job="boards probe", emulate=emulate) as (board,),
        open_session(board, emulate=emulate) as session,
    ):
        facts = probe_board(session)
    if fmt == "json":
        click.echo(json.dumps(facts.to_dict(), indent=2))
        return
    raw = facts.raw
    lines = [
        ("board", f"{board.name}{'  (EMULATED)' if facts.emulated else ''}"),
        ("soc_id", raw.get("soc_id")),
        ("machine", raw.get("machine")),
        ("kernel", raw.get("kernel")),
        ("os", raw["os_release"].get("pretty_name")),
        ("tflite", facts.tflite_version),
        ("benchmark_model", facts.benchmark_model),
        ("python3", f"{raw.get('python_version')} tflite_runtime={raw.get('tflite_runtime')}"),
        ("delegates", ", ".join(facts.delegate_libraries) or "none"),
        ("npu devices", ", ".join(d for d, ok in raw["npu_devices"].items() if ok) or "none"),
        (
            "cpus",
            f"{raw.get('cpu_count')} governor={raw.get('cpufreq_governor')} "
            f"max={raw.get('cpu_max_khz')} kHz",
        ),
        ("temperature", raw.get("temperature_mc")),
        ("memory free", f"{raw.get('mem_available_kb')} kB"),
        ("workdir free", f"{raw.get('workdir_free_kb')} kB"),
    ]
    for key, value in lines:
        click.echo(f"{key:<16} {value if value is not None else '-'}")


def resolve_board(inventory_path: Path, name: str, emulate: bool) -> Board:
    """The inventory's board; with --emulate a bare SoC name works without an inventory."""
    if emulate and name in SOCS and not inventory_path.exists():
        return emulated_board(name, name)
    inventory = load_inventory(inventory_path)
    if emulate and name in SOCS and name not in inventory.boards:
        return emulated_board(name, name)
    return inventory.get(name)


# -- run -------------------------------------------------------------------------------------
@cli.command()
@click.option(
    "--board",
    "board_names",
    required=True,
    help="A board of the inventory, a comma-separated list, 'all' or 'tag:NAME'.",
)
@MODEL
@click.option(
    "--delegate",
    "delegate_names",
    help="Comma-separated delegates (default: every delegate the board's SoC supports).",
)
@click.option(
    "--repetitions",
    type=click.IntRange(1, 1000),
    default=3,
    show_default=True,
    help="Separate benchmark_model processes per delegate.",
)
@benchmark_settings
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A partial run's directory: run only the steps it is missing, into it.",
)
@click.option(
    "--dataset",
    "dataset_path",
    type=click.Path(path_type=Path),
    help="Also measure accuracy on the board, per delegate, on this test set (CIFAR-10 python "
    "batches, EEMBC ic01 .bin + y_labels.csv, x/y .npy pair, or class folders of images).",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    help="With --dataset: a stratified sample of this many images (fixed seed).",
)
@click.option(
    "--channel-order",
    type=click.Choice(["rgb", "bgr"]),
    default="rgb",
    show_default=True,
    help="With --dataset: the channel order fed to the model.",
)
@DB
@EMULATE
@INVENTORY
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
    model_path: Path | None,
    delegate_names: str | None,
    repetitions: int,
    num_runs: int,
    warmup_runs: int,
    min_secs: float,
    threads: int | None,
    no_op_profile: bool,
    step_timeout_s: float,
    reports_dir: Path,
    resume: Path | None,
    dataset_path: Path | None,
    limit: int | None,
    channel_order: str,
    db_url: str | None,
    emulate: bool,
    inventory_path: Path,
    fmt: str,
) -> None:
    """Deploy the model and run benchmark_model with every delegate the board supports.

    Every run is recorded in the results history (--db)."""
    from imxbench.analysis.plan import RunSettings
    from imxbench.board.locks import locked_boards
    from imxbench.cli.progress_display import ProgressDisplay
    from imxbench.config.delegates import load_catalogue
    from imxbench.prepare.model_prep import default_cache_root
    from imxbench.run.deferred_store import DeferredStore
    from imxbench.run.job import run_job
    from imxbench.run.recording import announced_run, new_header, record_of

    boards_ = resolve_boards(inventory_path, board_names, emulate)
    model = model_path or reference_model()
    if not model.is_file():
        raise ConfigError(f"{model}: model file not found (--model)")
    if dataset_path is None and (limit is not None or channel_order != "rgb"):
        raise ConfigError("--limit and --channel-order need --dataset")
    accuracy = None
    if dataset_path is not None:
        from imxbench.accuracy.phase import AccuracyRequest

        accuracy = AccuracyRequest(dataset_path, limit, channel_order)
    settings = RunSettings(
        repetitions=repetitions,
        num_runs=num_runs,
        warmup_runs=warmup_runs,
        min_secs=min_secs,
        threads=threads,
        op_profile=not no_op_profile,
        step_timeout_s=step_timeout_s,
    )
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
        announced_run(store, header),
        ProgressDisplay() as progress,
    ):
        result = run_job(
            reached,
            model,
            load_catalogue(),
            delegate_names,
            settings,
            reports_dir,
            default_cache_root(),
            emulate=emulate,
            progress=progress,
            resume=resume,
            accuracy=accuracy,
            run_id=header.run_id,
            preload=["imxbench.report.build:warm_up"],  # for _report_at_end
            background=[store.open_now],
        )
        store.record_run(record_of(result, header))
    for warning in result.warnings:  # the preprocessing sanity check: loud, whatever the format
        click.echo(f"\nWARNING: {warning}\n", err=True)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "out_dir": str(result.out_dir),
                    "failures": result.failures,
                    "warnings": result.warnings,
                    "summary": json.loads(result.summary.to_json(orient="records") or "[]"),
                    "accuracy": str(result.out_dir / "accuracy.json") if accuracy else None,
                },
                indent=2,
            )
        )
    elif fmt == "csv":
        click.echo(result.table.to_csv(index=False), nl=False)
    else:
        from imxbench.analysis.results import render_summary

        click.echo(render_summary(result.summary))
        if result.accuracy is not None:
            from imxbench.accuracy.summary import render_accuracy

            click.echo("\n" + render_accuracy(result.accuracy))
        click.echo(f"\nresults: {result.out_dir}")
        for line in result.failures:
            click.echo(f"FAILED {line}", err=True)
    _report_at_end(result.out_dir, to_stdout=fmt == "text")
    if result.failures:
        sys.exit(1)


def _report_at_end(run_dir: Path, to_stdout: bool) -> None:
    """report.html + index.html after a run; a failure here only warns (results are on disk)."""
    from imxbench.report.build import write_run_report

    try:
        path = write_run_report(run_dir)
    except Exception as exc:  # never lose a run to its report
        click.echo(f"imxbench: report not written: {exc}", err=True)
        return
    click.echo(f"report: {path.resolve()}", err=not to_stdout)


def reference_model() -> Path:
    from importlib import resources

    return Path(
        str(resources.files("imxbench") / "reference_models" / "pretrainedResnet_quant.tflite")
    )


def resolve_boards(inventory_path: Path, names: str, emulate: bool) -> list[Board]:
    if emulate and all(n in SOCS for n in names.split(",")) and not inventory_path.exists():
        return [emulated_board(n, n) for n in names.split(",")]
    if "," not in names and names != "all" and not names.startswith("tag:"):
        return [resolve_board(inventory_path, names, emulate)]
    return load_inventory(inventory_path).select(names)


# -- report ----------------------------------------------------------------------------------
@cli.command()
@click.argument("runs", nargs=-1)
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where the runs are (RUN may be a run id there, or a run directory).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file (html default: <run>/report.html; other formats: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown", "csv", "json"]),
    default="html",
    show_default=True,
)
@click.option(
    "--merge",
    is_flag=True,
    help="One page over all RUNs (e.g. the shards of a nightly) instead of a comparison.",
)
@click.option(
    "--night",
    help="Merge the nightly runs recorded with `nightly --night NIGHT` under --reports.",
)
def report(
    runs: tuple[str, ...],
    reports_dir: Path,
    out: Path | None,
    fmt: str,
    merge: bool,
    night: str | None,
) -> None:
    """Write the report of RUN (default: the newest run); several RUNs: the last compared
    with the others; --merge / --night: several runs (nightly shards) as one page."""
    from imxbench.report.build import load_report, render, resolve_runs, write_report

    if merge or night:
        from imxbench.report.merge import merge_runs, night_runs

        found = night_runs(reports_dir, night) if night else resolve_runs(runs, reports_dir)
        data = merge_runs(found, night=night)
        if fmt == "html" and out is None:
            out = data.run.path / "report.html"
    else:
        data = load_report(resolve_runs(runs, reports_dir))
    if fmt != "html" and out is None:
        click.echo(render(data, fmt), nl=False)
        return
    click.echo(f"report: {write_report(data, fmt, out)}")


# -- results history -------------------------------------------------------------------------
REPORTS = click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where runs are written (and the default SQLite history lives).",
)


@cli.command()
@click.option("--board", help="Only runs with this board.")
@click.option("--delegate", help="Only runs with this delegate (or cell, e.g. cpu@1t).")
@click.option("--model", help="Only runs of this model (file name or sha256 prefix).")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Only runs started at or after this date (UTC).",
)
@click.option("--kind", type=click.Choice(["run", "nightly"]), help="Only this kind of run.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
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
    """List recorded runs, newest first."""
    from imxbench.history.store import open_store
    from imxbench.history.view import render_runs

    with open_store(db_url, reports_dir) as store:
        found = store.list_runs(
            board=board,
            delegate=delegate,
            model=model,
            since=since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None,
            kind=kind,
            limit=limit,
        )
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in found], indent=2))
    else:
        click.echo(render_runs(found))


@cli.command()
@click.argument("run_a")
@click.argument("run_b")
@verdict_settings
@DB
@REPORTS
@FORMAT
def compare(
    run_a: str,
    run_b: str,
    alpha: float,
    min_effect: float,
    db_url: str | None,
    reports_dir: Path,
    fmt: str,
) -> None:
    """Judge run RUN_B against run RUN_A (ids, unique prefixes or 'latest'). Exit 1 when a
    cell regressed or failed."""
    from imxbench.analysis.regression import Thresholds
    from imxbench.history.baselines import compare_runs
    from imxbench.history.store import open_store
    from imxbench.history.view import render_verdicts
    from imxbench.run.nightly import verdicts_document

    with open_store(db_url, reports_dir) as store:
        a, b = store.resolve_run(run_a), store.resolve_run(run_b)
        found = compare_runs(store, a, b, Thresholds(alpha=alpha, min_effect=min_effect / 100))
    if fmt == "json":
        doc = {"baseline": a, "run": b, "cells": verdicts_document(found)}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(f"{b} against {a}\n")
        click.echo(render_verdicts(found))
    if any(v.verdict in ("regressed", "failed") for v in found):
        sys.exit(1)


@cli.group()
def baseline() -> None:
    """Named baselines for `imxbench nightly --baseline named[:NAME]`."""


@baseline.command("set")
@click.argument("run")
@click.option("--name", default="default", show_default=True)
@DB
@REPORTS
def baseline_set(run: str, name: str, db_url: str | None, reports_dir: Path) -> None:
    """Make RUN the baseline NAME (this also accepts its timings as the new normal: window
    baselines do not reach back past it)."""
    from imxbench.history.store import open_store
    from imxbench.model.records import holder_name

    with open_store(db_url, reports_dir) as store:
        run_id = store.resolve_run(run)
        store.set_baseline(name, run_id, holder_name())
    click.echo(f"baseline {name} = {run_id}")


@baseline.command("list")
@DB
@REPORTS
@FORMAT
def baseline_list(db_url: str | None, reports_dir: Path, fmt: str) -> None:
    """List the named baselines."""
    from imxbench.history.store import open_store

    with open_store(db_url, reports_dir) as store:
        rows = store.baselines()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['run_id']:<22} set {row['set_at']} by {row['set_by']}")
    if not rows:
        click.echo("no baselines (imxbench baseline set RUN)")


@cli.command()
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
@click.option("--delegate", "delegate_names", help="Comma-separated delegates (default: all).")
@click.option("--repetitions", type=click.IntRange(2, 1000), default=5, show_default=True)
@benchmark_settings
@click.option(
    "--baseline",
    "baseline_policy",
    default="window:5",
    show_default=True,
    help="previous (the previous good run), window:K (the last K good runs) or named[:NAME].",
)
@verdict_settings
@click.option(
    "--lock-wait",
    "lock_wait_s",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for a board another job holds (0: fail fast, naming the holder).",
)
@click.option("--junit", "junit_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--summary", "summary_path", type=click.Path(path_type=Path, dir_okay=False))
@DB
@REPORTS
@EMULATE
@click.option("--emulator-noise", type=click.FloatRange(0, 50), default=1.0, hidden=True)
@click.option(
    "--emulator-faults",
    hidden=True,
    help="Tests: JSON {board: {fault: value}} set on each emulated board after boot.",
)
@INVENTORY
@FORMAT
def nightly(
    board_names: str,
    tag: str | None,
    coordinator: str | None,
    shard: str | None,
    night: str | None,
    model_path: Path | None,
    delegate_names: str | None,
    repetitions: int,
    num_runs: int,
    warmup_runs: int,
    min_secs: float,
    threads: int | None,
    no_op_profile: bool,
    step_timeout_s: float,
    baseline_policy: str,
    alpha: float,
    min_effect: float,
    lock_wait_s: float,
    junit_path: Path | None,
    summary_path: Path | None,
    db_url: str | None,
    reports_dir: Path,
    emulate: bool,
    emulator_noise: float,
    emulator_faults: str | None,
    inventory_path: Path,
    fmt: str,
) -> None:
    """The lab's regression job: every board (or a tag) in parallel, each locked, each cell
    judged against its history. Writes junit.xml and summary.md. Exit 0 clean, 1 regression,
    3 infrastructure failure."""
    from imxbench.analysis.plan import RunSettings
    from imxbench.analysis.regression import Thresholds
    from imxbench.board.connect import Emulation
    from imxbench.cli.progress_display import ProgressDisplay
    from imxbench.config.delegates import load_catalogue
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
    model = model_path or reference_model()
    if not model.is_file():
        raise ConfigError(f"{model}: model file not found (--model)")
    emulation: bool | Emulation = emulate
    if emulate and (emulator_faults or emulator_noise != 1.0):
        emulation = Emulation(emulator_noise, _json_option("--emulator-faults", emulator_faults))
    config = NightlyConfig(
        model=model,
        catalogue=load_catalogue(),
        delegate_names=delegate_names,
        settings=RunSettings(
            repetitions=repetitions,
            num_runs=num_runs,
            warmup_runs=warmup_runs,
            min_secs=min_secs,
            threads=threads,
            op_profile=not no_op_profile,
            step_timeout_s=step_timeout_s,
        ),
        reports_dir=reports_dir,
        vela_cache=default_cache_root(),
        policy=BaselinePolicy.parse(baseline_policy),
        thresholds=Thresholds(alpha=alpha, min_effect=min_effect / 100),
        lock_wait_s=lock_wait_s,
        emulate=emulation,
        junit_path=junit_path,
        summary_path=summary_path,
        night=night,
        shard=shard,
    )
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
        click.echo(f"imxbench nightly {result.run_id}: {result.outcome}")
        for v in result.alarms:
            click.echo(f"{v.verdict.upper()} {v.board} {v.cell}: {v.detail}")
        for board, error in result.board_errors.items():
            click.echo(f"BOARD {board}: {error}")
        click.echo(f"junit: {result.junit_path}\nsummary: {result.summary_path}")
    _report_at_end(result.out_dir, to_stdout=fmt == "text")
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


# -- labgrid lab ----------------------------------------------------------------------------
@cli.group("lab")
def lab_group() -> None:
    """Boards from labgrid places (docs/LAB.md)."""


@lab_group.command("sweep")
@click.option(
    "--coordinator",
    envvar="LG_COORDINATOR",
    required=True,
    help="labgrid coordinator HOST[:PORT] (default: LG_COORDINATOR).",
)
@FORMAT
def lab_sweep(coordinator: str, fmt: str) -> None:
    """Release the places of imxbench jobs that died (lease not renewed for twice its time)."""
    from imxbench.lab.places import sweep

    freed = sweep(coordinator)
    if fmt == "json":
        click.echo(json.dumps({"released": freed}, indent=2))
        return
    for line in freed:
        click.echo(f"released {line}")
    if not freed:
        click.echo("no expired imxbench lease")


# -- emulator --------------------------------------------------------------------------------
@cli.command()
@click.option("--soc", type=click.Choice(["imx8mp", "imx93"]), required=True)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path),
    help="Keep the board's disk here across restarts (default: a temporary folder).",
)
@click.option(
    "--noise",
    "noise_pct",
    type=click.FloatRange(0, 50),
    default=1.0,
    show_default=True,
    help="Run-to-run timing noise of the emulated board, percent.",
)
def emulate(soc: str, port: int, state_dir: Path | None, noise_pct: float) -> None:
    """Serve an emulated i.MX board over SSH on 127.0.0.1 until Ctrl-C."""
    from imxbench.emulator.launcher import serve

    serve(soc, port=port, state_dir=state_dir, noise_pct=noise_pct, write=click.echo)


# -- logs ------------------------------------------------------------------------------------
@cli.command("parse-log")
@click.argument("log_file", type=click.Path(path_type=Path))
@FORMAT
def parse_log_command(log_file: Path, fmt: str) -> None:
    """Parse a benchmark_model console log captured by hand."""
    from imxbench.analysis.benchmark_log import parse_log, runs_to_json

    try:
        text = log_file.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise ConfigError(f"{log_file}: cannot read: {exc.strerror or exc}") from None
    runs = runs_to_json(parse_log(text))
    if fmt == "json":
        click.echo(json.dumps(runs, indent=2))
        return
    for i, run in enumerate(runs, 1):
        delegates = ", ".join(f"{d['name']}:{d['execution']}" for d in run["delegates"]) or "none"
        click.echo(
            f"run {i}: {run['status']:<10} avg={_us(run['inference_avg_us'])} "
            f"init={_us(run['init_us'])} first={_us(run['first_inference_us'])} "
            f"delegates={delegates}" + (f"  error: {run['error']}" if run["error"] else "")
        )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}us"


def _interrupted(exc: BaseException | None) -> None:
    partial = getattr(exc, "result", None)  # job.JobInterrupted: what finished is on disk
    if partial is not None:
        click.echo(
            f"interrupted: partial results in {partial.out_dir} "
            f"(resume with --resume {partial.out_dir})",
            err=True,
        )
    else:
        click.echo("interrupted", err=True)
    sys.exit(130)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt()


def main() -> None:
    """Entry point: the one place that turns errors into messages and exit codes."""
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM stops a run like Ctrl-C: nothing lost
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort as exc:  # click's wrapping of KeyboardInterrupt
        _interrupted(exc.__cause__ or exc.__context__)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ImxbenchError as exc:
        click.echo(f"imxbench: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def entry() -> None:
    """The `imxbench` console script: main(), then a quick exit.

    Tearing the interpreter down (freeing pandas, matplotlib, SQLAlchemy... module by module)
    takes 0.1-0.2 s after a run and nothing of ours needs it: the exit handlers still run and
    the output is flushed, then os._exit. Not when another (non-daemon) thread is still alive:
    a normal exit waits for it. In-process callers (tests) call main().
    """
    import atexit
    import contextlib
    import os
    import threading

    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)  # type: ignore[arg-type]
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what SystemExit("message") does
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe (`| head`): nothing left to say
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
