"""The command line: parse options, call one library function, print. Nothing imports this.

Exit codes: 0 success; 1 a benchmark cell failed or a regression was found; 2 bad input
(a one-line message naming the file, key or value); 3 infrastructure failure; 130 Ctrl-C.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from imxbench import __version__
from imxbench.errors import ConfigError, ImxbenchError
from imxbench.inventory import DEFAULT_INVENTORY, SOCS, Board, emulated_board, load_inventory

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
EMULATE = click.option(
    "--emulate",
    is_flag=True,
    help="Use a built-in emulated board of the same SoC instead of the real one.",
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
        click.echo(
            f"{row['name']:<14} {row['soc']:<7} {row['user']}@{row['host']}:{row['port']:<6} "
            f"workdir={row['workdir']} tags={tags}"
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
    }


@boards.command("probe")
@click.argument("name")
@EMULATE
@FORMAT
@click.pass_obj
def boards_probe(inventory_path: Path, name: str, emulate: bool, fmt: str) -> None:
    """Print the facts of board NAME (SoC, BSP, TFLite, delegates, NPU, ...)."""
    from imxbench.lab import open_session
    from imxbench.probe import probe_board

    board = resolve_board(inventory_path, name, emulate)
    with open_session(board, emulate=emulate) as session:
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
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    help="The .tflite model (default: the MLPerf Tiny ResNet-8 reference model).",
)
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
@click.option("--num-runs", type=click.IntRange(1), default=50, show_default=True)
@click.option("--warmup-runs", type=click.IntRange(0), default=1, show_default=True)
@click.option("--min-secs", type=click.FloatRange(0), default=1.0, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), help="CPU threads (default: 1 and all).")
@click.option("--no-op-profile", is_flag=True, help="Skip the extra op-profiling pass.")
@click.option(
    "--timeout",
    "step_timeout_s",
    type=click.FloatRange(1),
    default=600.0,
    show_default=True,
    help="Seconds one benchmark_model process may take.",
)
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
)
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
    emulate: bool,
    inventory_path: Path,
    fmt: str,
) -> None:
    """Deploy the model and run benchmark_model with every delegate the board supports."""
    from imxbench.delegates import load_catalogue
    from imxbench.job import run_job
    from imxbench.model_prep import default_cache_root
    from imxbench.plan import RunSettings
    from imxbench.results import render_summary

    boards_ = resolve_boards(inventory_path, board_names, emulate)
    model = model_path or reference_model()
    if not model.is_file():
        raise ConfigError(f"{model}: model file not found (--model)")
    settings = RunSettings(
        repetitions=repetitions,
        num_runs=num_runs,
        warmup_runs=warmup_runs,
        min_secs=min_secs,
        threads=threads,
        op_profile=not no_op_profile,
        step_timeout_s=step_timeout_s,
    )
    result = run_job(
        boards_,
        model,
        load_catalogue(),
        delegate_names,
        settings,
        reports_dir,
        default_cache_root(),
        emulate=emulate,
        progress=_progress,
    )
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "out_dir": str(result.out_dir),
                    "failures": result.failures,
                    "summary": json.loads(result.summary.to_json(orient="records") or "[]"),
                },
                indent=2,
            )
        )
    elif fmt == "csv":
        click.echo(result.table.to_csv(index=False), nl=False)
    else:
        click.echo(render_summary(result.summary))
        click.echo(f"\nresults: {result.out_dir}")
        for line in result.failures:
            click.echo(f"FAILED {line}", err=True)
    if result.failures:
        sys.exit(1)


def _progress(board: str, cell: str, message: str) -> None:
    click.echo(f"[{board}] {cell + ': ' if cell != '-' else ''}{message}", err=True)


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
    from imxbench.benchmark_log import parse_log, runs_to_json

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


def main() -> None:
    """Entry point: the one place that turns errors into messages and exit codes."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ImxbenchError as exc:
        click.echo(f"imxbench: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
