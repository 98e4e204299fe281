"""`imxbench lab sweep`: boards from labgrid places."""

from __future__ import annotations

import json

import click

from imxbench.cli.options import FORMAT


@click.group("lab")
def lab_group() -> None:
    """Boards from labgrid places (docs/LAB.md).

    \b
    Examples:
      imxbench lab sweep --coordinator lab-host:20408
      imxbench nightly --tag lab1 --coordinator lab-host:20408
    """


@lab_group.command("sweep")
@click.option(
    "--coordinator",
    envvar="LG_COORDINATOR",
    required=True,
    help="labgrid coordinator HOST[:PORT] (default: LG_COORDINATOR).",
)
@FORMAT
def lab_sweep(coordinator: str, fmt: str) -> None:
    """Release the places of imxbench jobs that died (lease not renewed for twice its time).

    \b
    Examples:
      imxbench lab sweep --coordinator lab-host:20408
      imxbench lab sweep --coordinator lab-host --format json
    """
    from imxbench.lab.places import sweep

    freed = sweep(coordinator)
    if fmt == "json":
        click.echo(json.dumps({"released": freed}, indent=2))
        return
    for line in freed:
        click.echo(f"released {line}")
    if not freed:
        click.echo("no expired imxbench lease")
