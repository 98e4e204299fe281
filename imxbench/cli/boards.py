"""`imxbench boards` and `boards probe`: the lab inventory and a board's facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from imxbench.cli.options import EMULATE, FORMAT, INVENTORY, resolve_board
from imxbench.cli.output import echo
from imxbench.config.inventory import Board, load_inventory


@click.group(invoke_without_command=True)
@INVENTORY
@FORMAT
@click.pass_context
def boards(ctx: click.Context, inventory_path: Path, fmt: str) -> None:
    """List the lab inventory (boards.yaml).

    \b
    Examples:
      imxbench boards
      imxbench boards --format json
    """
    ctx.obj = inventory_path
    if ctx.invoked_subcommand is not None:
        return
    inventory = load_inventory(inventory_path)
    rows = [_board_row(b) for b in inventory.boards.values()]
    if fmt == "json":
        import json  # here: the text listing does without it (issue 17, startup)

        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        tags = ",".join(row["tags"]) or "-"
        where = f"{row['user']}@{row['host']}:{row['port']:<6}"
        if row["place"]:
            where = f"labgrid place {row['place']}@{row['coordinator'] or '$LG_COORDINATOR'}"
        echo(f"{row['name']:<14} {row['soc']:<7} {where} workdir={row['workdir']} tags={tags}")


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
    """Print the facts of board NAME (SoC, BSP, TFLite, delegates, NPU, ...).

    \b
    Examples:
      imxbench boards probe imx8mp --emulate
      imxbench boards probe evk93 --format json
    """
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
        import json

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
            f"{raw.get('cpu_count')} · governor {raw.get('cpufreq_governor') or '-'} · max "
            f"{_ghz(raw.get('cpu_max_khz'))}",
        ),
        ("temperature", _celsius(raw.get("temperature_mc"))),
        ("memory free", _gib(raw.get("mem_available_kb"))),
        ("workdir free", _gib(raw.get("workdir_free_kb"))),
    ]
    for key, value in lines:
        echo(f"{key:<16} {value if value is not None else '-'}")


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _ghz(khz: object) -> str:
    number = _number(khz)
    return "-" if number is None else f"{number / 1e6:.2f} GHz"


def _celsius(millidegrees: object) -> str:
    number = _number(millidegrees)
    return "-" if number is None else f"{number / 1000:.1f} °C"


def _gib(kib: object) -> str:
    number = _number(kib)
    return "-" if number is None else f"{number / 2**20:.1f} GiB"
