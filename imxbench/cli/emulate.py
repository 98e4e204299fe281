"""`imxbench emulate`: serve an emulated board over SSH."""

from __future__ import annotations

from pathlib import Path

import click

from imxbench.cli.options import FiniteFloatRange


@click.command()
@click.option(
    "--soc",
    type=click.Choice(["imx8mp", "imx93"]),
    required=True,
    help="The SoC of the board to serve: i.MX 8M Plus or i.MX 93.",
)
@click.option(
    "--bsp",
    type=click.Choice(["lf-5.10.52", "lf-5.15", "lf-6.1", "lf-6.6", "lf-6.12"]),
    default=None,
    help="NXP BSP release the board runs (file layout, TFLite version, delegates; "
    "docs/DESIGN.md). Default: the state dir's own, else lf-6.12.",
)
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
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the board's disk here across restarts (default: a temporary folder).",
)
@click.option(
    "--noise",
    "noise_pct",
    type=FiniteFloatRange(0, 50),
    default=1.0,
    show_default=True,
    help="Run-to-run timing noise of the emulated board, percent.",
)
def emulate(soc: str, bsp: str | None, port: int, state_dir: Path | None, noise_pct: float) -> None:
    """Serve an emulated i.MX board over SSH on 127.0.0.1 until Ctrl-C.

    \b
    Examples:
      imxbench emulate --soc imx8mp --port 2222  # ssh -p 2222 root@127.0.0.1
      imxbench emulate --soc imx93 --bsp lf-5.15
    """
    from imxbench.emulator.launcher import serve

    serve(soc, port=port, state_dir=state_dir, bsp=bsp, noise_pct=noise_pct, write=click.echo)
