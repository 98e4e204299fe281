"""`imxbench parse-log`: a benchmark_model log captured by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click

from imxbench.cli.options import FORMAT
from imxbench.cli.output import echo
from imxbench.errors import ConfigError


@click.command("parse-log")
@click.argument("log_file", type=click.Path(path_type=Path))
@FORMAT
def parse_log_command(log_file: Path, fmt: str) -> None:
    """Parse a benchmark_model console log captured by hand (times in ms; --format json keeps
    benchmark_model's µs). Exit 2 when the file holds no benchmark_model run.

    \b
    Examples:
      # capture: ssh board benchmark_model --graph=m.tflite >m.log 2>&1
      imxbench parse-log m.log
      imxbench parse-log m.log --format json | jq '.[0].inference_avg_us'
    """
    from imxbench.analysis.benchmark_log import parse_log, runs_to_json

    try:
        text = log_file.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise ConfigError(f"{log_file}: cannot read: {exc.strerror or exc}") from None
    runs = runs_to_json(parse_log(text))
    if not runs:
        raise ConfigError(f"{log_file}: no benchmark_model run in it (not a benchmark_model log?)")
    if fmt == "json":
        click.echo(json.dumps(runs, indent=2))
        return
    for i, run in enumerate(runs, 1):
        delegates = ", ".join(f"{d['name']}:{d['execution']}" for d in run["delegates"]) or "none"
        echo(
            f"run {i}: {run['status']:<10} avg={_ms(run['inference_avg_us'])} "
            f"init={_ms(run['init_us'])} first={_ms(run['first_inference_us'])} "
            f"delegates={delegates}" + (f"  error: {run['error']}" if run["error"] else "")
        )


def _ms(value_us: float | None) -> str:
    return "-" if value_us is None else f"{value_us / 1000:.3f} ms"
