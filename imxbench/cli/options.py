"""Option sets shared by several commands, defined once, and the helpers that resolve
boards and the default model from them."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from imxbench.config.inventory import (
    CPU_GOVERNORS,
    DEFAULT_INVENTORY,
    SOCS,
    Board,
    emulated_board,
    load_inventory,
)
from imxbench.errors import ConfigError


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses `nan` and `inf`: a NaN passes every bound check
    (it compares False), and would disable a timeout or land in run.json as invalid JSON."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


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
    "model_paths",
    type=click.Path(path_type=Path),
    multiple=True,
    help="A .tflite model (default: the MLPerf Tiny ResNet-8 reference model); repeat it, or "
    "give a comma-separated list, for several models in one run.",
)
MODELS = click.option(
    "--models",
    "models_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A models.yaml listing models with their own data set, preprocessing, labels and "
    "delegates to skip (see models/models.yaml).",
)


def dry_run_option(help_text: str) -> Callable[[Any], Any]:
    """`--dry-run[=probe]` (run, nightly): None, "offline" (the bare flag: no connection) or
    "probe" (only the read-only probe on each board); `help_text` says what the command
    prints."""
    return click.option(
        "--dry-run",
        type=click.Choice(["offline", "probe"]),
        is_flag=False,
        flag_value="offline",
        default=None,
        help=help_text,
    )


def option_group(
    target: str, build: Callable[..., Any], options: list[tuple[str, Callable[[Any], Any]]]
) -> Callable[[Any], Any]:
    """Declare several options at once and hand the command one object built from them.

    `options` are (parameter name, click.option(...)) pairs; the command receives a single
    keyword argument `target` = build(**those parameters) instead of one argument each.
    """

    def decorate(command: Any) -> Any:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name, _ in options}
            return command(*args, **{target: build(**values)}, **kwargs)

        for _, option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def _given(param: str) -> bool:
    """Whether the user gave option `param` on the command line (not its default)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and (
        ctx.get_parameter_source(param) is click.core.ParameterSource.COMMANDLINE
    )


def benchmark_settings(
    repetitions: int, min_repetitions: int, adaptive: bool = False
) -> Callable[[Any], Any]:
    """The benchmark_model settings that `run` and `nightly` share, as one RunSettings
    (`settings`); the commands differ in the default and least number of repetitions, and
    `adaptive` (run) samples each cell to a precision unless --repetitions is given."""

    def build(no_op_profile: bool, op_profile_mode: str, **values: Any) -> Any:
        from imxbench.analysis.plan import RunSettings

        if no_op_profile:
            if _given("op_profile_mode") and op_profile_mode != "never":
                raise ConfigError(f"--no-op-profile contradicts --op-profile {op_profile_mode}")
            op_profile_mode = "never"
        values["op_profile_reuse"] = op_profile_mode == "auto"

        precision = values.pop("precision", None)
        if values.get("repetitions") is None:  # adaptive: the sampler decides per cell
            values["repetitions"] = repetitions
            values["precision"] = precision
        else:
            sampling = [o for o in ("precision", "max_repetitions", "max_seconds") if _given(o)]
            if sampling:
                option = "--" + sampling[0].replace("_", "-")
                raise ConfigError(
                    f"--repetitions {values['repetitions']} runs exactly that many processes; "
                    f"{option} is for adaptive sampling: give one of them"
                )
            values.pop("max_repetitions", None)
            values.pop("max_seconds", None)
        return RunSettings(op_profile=op_profile_mode != "never", **values)

    return option_group(
        "settings",
        build,
        [
            (
                "repetitions",
                click.option(
                    "--repetitions",
                    type=click.IntRange(min_repetitions, 1000),
                    default=None if adaptive else repetitions,
                    show_default=not adaptive,
                    help="Exactly N benchmark_model processes per cell"
                    + (" (fixed: no adaptive sampling)." if adaptive else "."),
                ),
            ),
            *(_ADAPTIVE_OPTIONS if adaptive else []),
            (
                "num_runs",
                click.option(
                    "--num-runs",
                    type=click.IntRange(1),
                    default=50,
                    show_default=True,
                    help="Timed inferences per benchmark_model process (at least; see "
                    "--min-secs). With fixed repetitions; adaptive sampling sizes its own.",
                ),
            ),
            (
                "warmup_runs",
                click.option(
                    "--warmup-runs",
                    type=click.IntRange(0),
                    default=1,
                    show_default=True,
                    help="Untimed inferences before the timed ones.",
                ),
            ),
            (
                "min_secs",
                click.option(
                    "--min-secs",
                    type=FiniteFloatRange(0),
                    default=1.0,
                    show_default=True,
                    help="Least seconds of timed inferences per process (fixed repetitions).",
                ),
            ),
            (
                "threads",
                click.option(
                    "--threads",
                    type=click.IntRange(1, 64),
                    help="CPU threads (default: 1 and all).",
                ),
            ),
            (
                "no_op_profile",
                click.option(
                    "--no-op-profile", is_flag=True, help="Skip the op-profiling pass (= never)."
                ),
            ),
            (
                "op_profile_mode",
                click.option(
                    "--op-profile",
                    "op_profile_mode",
                    type=click.Choice(["always", "auto", "never"]),
                    default="auto",
                    show_default=True,
                    help="The op-profiling pass per cell: always measured; auto: measured once "
                    "per model, board fingerprint and delegate, then reused from the reports "
                    "dir (the report names the run it came from); never.",
                ),
            ),
            (
                "step_timeout_s",
                click.option(
                    "--timeout",
                    "step_timeout_s",
                    type=FiniteFloatRange(1),
                    default=600.0,
                    show_default=True,
                    help="Seconds one benchmark_model process may take.",
                ),
            ),
            (
                "cpu_governor",
                click.option(
                    "--cpu-governor",
                    type=click.Choice(CPU_GOVERNORS),
                    help="Set this cpufreq governor on the boards for the run; the previous "
                    "one is restored afterwards (also after Ctrl-C, or on the next connection "
                    "after a lost board). Overrides boards.yaml's cpu_governor.",
                ),
            ),
            (
                "cooldown_c",
                click.option(
                    "--cooldown",
                    "cooldown_c",
                    type=FiniteFloatRange(20, 120),
                    metavar="C",
                    help="Before each step, wait until the SoC is below C °C "
                    "(at most --cooldown-timeout).",
                ),
            ),
            (
                "cooldown_timeout_s",
                click.option(
                    "--cooldown-timeout",
                    "cooldown_timeout_s",
                    type=FiniteFloatRange(0),
                    default=300.0,
                    show_default=True,
                    help="Seconds --cooldown waits at most before a step.",
                ),
            ),
            (
                "npu_profile",
                click.option(
                    "--npu-profile",
                    is_flag=True,
                    help="Add the delegate's own NPU profiling to the profile step (Ethos-U: "
                    "cycle counter, PMU counters, per-command cycles; VX: the driver's "
                    "CNN_PERF log); never to the timed steps.",
                ),
            ),
            (
                "vela_on",
                click.option(
                    "--vela-on",
                    type=click.Choice(["host", "board", "auto"]),
                    help="Where Vela compiles: the host's Vela, the board's own (NXP's fork, "
                    "NXP's defaults), or the board when it has one (default: the delegate "
                    "file's vela.compile).",
                ),
            ),
        ],
    )


def _percent(ctx: Any, param: Any, value: str) -> float:
    """`1%` or `1` (percent) as a fraction, 0 < p <= 50%."""
    try:
        number = float(str(value).strip().removesuffix("%")) / 100
    except ValueError:
        number = 0.0
    if not 0 < number <= 0.5:
        raise click.BadParameter(f"{value!r}: expected a percentage such as 1%")
    return number


_ADAPTIVE_OPTIONS = [
    (
        "precision",
        click.option(
            "--precision",
            default="1%",
            show_default=True,
            callback=_percent,
            help="Adaptive sampling: run processes until the 95% confidence interval of each "
            "cell's median latency is within this much of it (distribution-free; at least 6 "
            "processes). --repetitions N turns it off.",
        ),
    ),
    (
        "max_repetitions",
        click.option(
            "--max-repetitions",
            type=click.IntRange(6, 1000),
            default=30,
            show_default=True,
            help="Adaptive sampling: processes per cell at most.",
        ),
    ),
    (
        "max_seconds",
        click.option(
            "--max-seconds",
            type=FiniteFloatRange(1),
            default=60.0,
            show_default=True,
            help="Adaptive sampling: seconds of timed processes per cell at most.",
        ),
    ),
]


def _thresholds(alpha: float, min_effect: float) -> Any:
    from imxbench.analysis.regression import Thresholds

    return Thresholds(alpha=alpha, min_effect=min_effect / 100)


verdict_settings = option_group(
    "thresholds",
    _thresholds,
    [
        (
            "alpha",
            click.option(
                "--alpha",
                type=FiniteFloatRange(1e-6, 0.5),
                default=0.01,
                show_default=True,
                help="False-alarm budget of one cell on one night (the regression detector's "
                "alphas scale with it; validated at the default).",
            ),
        ),
        (
            "min_effect",
            click.option(
                "--min-effect",
                type=FiniteFloatRange(0.1, 100),
                default=3.0,
                show_default=True,
                help="Smallest latency change worth a verdict, percent.",
            ),
        ),
    ],
)
"""How sure a verdict must be, as one Thresholds (`thresholds`): `compare` and `nightly`."""


EMULATE = click.option(
    "--emulate",
    is_flag=True,
    help="Use a built-in emulated board of the same SoC instead of the real one.",
)
BSPS = ("lf-5.10.52", "lf-5.15", "lf-6.1", "lf-6.6", "lf-6.12")
SLOWDOWN_TARGETS = {"cpu": "cpu", "vx": "npu", "ethosu": "npu", "gpu": "gpu"}
"""Where each shipped delegate's work runs on an emulated board (emulator/faults.py's names)."""


def parse_slowdown(text: str | None, soc: str | None = None) -> dict[str, Any]:
    """`vx=8%` (or `vx,gpu=8%`): emulator faults that slow those delegates' work by 8%. With
    `soc`, only the named delegates that run on that SoC (the catalogue's `socs`): `vx=8%`
    slows an 8M Plus's NPU, never an i.MX 93's Ethos-U (both are `npu` to the emulator)."""
    if not text:
        return {}
    names, sep, percent = text.partition("=")
    try:
        factor = 1 + float(percent.strip().removesuffix("%")) / 100
    except ValueError:
        factor = 0.0
    targets = [SLOWDOWN_TARGETS.get(n.strip()) for n in names.split(",")]
    if not sep or factor <= 0 or None in targets:
        raise ConfigError(
            f"--slowdown {text!r}: expected DELEGATE=PERCENT, e.g. vx=8% "
            f"(delegates: {', '.join(SLOWDOWN_TARGETS)})"
        )
    if soc is not None:
        from imxbench.config.delegates import load_catalogue

        catalogue = load_catalogue()
        runs_here = {n.strip() for n in names.split(",")}
        targets = [
            SLOWDOWN_TARGETS[n]
            for n in runs_here
            if n == "cpu" or (n in catalogue and soc in catalogue[n].socs)
        ]
        if not targets:
            return {}
    return {"slowdown": factor, "slowdown_delegates": sorted(set(targets))}


def emulation_note(bsp: str | None, slowdown: str | None) -> str | None:
    """How the emulated boards differ from the default, for run.json and the EMULATED note."""
    said = [f"BSP {bsp}"] if bsp else []
    if slowdown:
        names, _, percent = slowdown.partition("=")
        said.append(f"{names} made {percent.strip().removesuffix('%')}% slower (--slowdown)")
    return "; ".join(said) or None


EMULATOR_BSP = click.option(
    "--emulate-bsp",
    type=click.Choice(BSPS),
    help="With --emulate: the NXP BSP release the emulated boards imitate (default lf-6.12).",
)
SLOWDOWN = click.option(
    "--slowdown",
    help="With --emulate: make the emulated boards slower for one delegate, e.g. vx=8% "
    "(to watch a nightly catch a regression).",
)


def emulation_for(boards: list[Board], emulate: bool, bsp: str | None, slowdown: str | None) -> Any:
    """What `--emulate` asks of the pipeline: False, True, or an Emulation with settings."""
    if not emulate:
        if bsp or slowdown:
            raise ConfigError("--emulate-bsp and --slowdown need --emulate")
        return False
    parse_slowdown(slowdown)  # a bad value is exit 2 even when no board runs the delegate
    faults = {b.name: f for b in boards if (f := parse_slowdown(slowdown, b.soc))}
    if slowdown and not faults:
        raise ConfigError(
            f"--slowdown {slowdown!r}: no chosen board runs that delegate "
            f"(boards: {', '.join(f'{b.name} ({b.soc})' for b in boards)})"
        )
    if not bsp and not faults:
        return True
    from imxbench.board.connect import Emulation

    return Emulation(faults=faults, bsp=bsp)


DB = click.option(
    "--db",
    "db_url",
    envvar="IMXBENCH_DB",
    help="The results history: postgresql://USER@HOST/DB for a lab's shared one, or an SQLite "
    "file (default: <reports>/imxbench.sqlite).",
)


REPORTS = click.option(
    "--reports",
    "reports_dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where runs are written (and the default SQLite history lives).",
)


def resolve_board(inventory_path: Path, name: str, emulate: bool) -> Board:
    """The inventory's board; with --emulate a bare SoC name works without an inventory."""
    if emulate and name in SOCS and not inventory_path.exists():
        return emulated_board(name, name)
    inventory = load_inventory(inventory_path)
    if emulate and name in SOCS and name not in inventory.boards:
        return emulated_board(name, name)
    return inventory.get(name)


def model_entries(model_paths: tuple[Path, ...], models_file: Path | None) -> list[Any]:
    """`--model` (repeatable, comma lists) and `--models FILE` as ModelEntry's, checked (exit
    2 naming the file, key and value); neither: the reference model."""
    from imxbench.config.delegates import load_catalogue
    from imxbench.config.models import entries_from_options

    known = load_catalogue() if models_file is not None else {}
    return entries_from_options(model_paths, models_file, reference_model(), known)


def reference_model() -> Path:
    from importlib import resources

    return Path(
        str(resources.files("imxbench") / "reference_models" / "pretrainedResnet_quant.tflite")
    )


def writable_dir(path: Path, option: str) -> Path:
    """`path` as a directory we can write into (created if missing); ConfigError naming the
    option and the path when it is a file, cannot be created, or is read-only."""
    import tempfile

    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".imxbench-probe-"):
            pass  # os.access would miss a read-only mount when running as root
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{option} {path}: not writable ({reason})") from None
    return path


def resolve_boards(inventory_path: Path, names: str, emulate: bool) -> list[Board]:
    named = [n.strip() for n in names.split(",") if n.strip()]
    if not named:
        raise ConfigError(
            f"--board {names!r}: no board named", "give a board, a list a,b, 'all' or 'tag:NAME'"
        )
    twice = next((n for i, n in enumerate(named) if n in named[:i]), None)
    if twice is not None:  # one board, two jobs at once on it: timings and results mixed
        raise ConfigError(f"--board {names!r}: {twice!r} is named twice")
    if emulate and all(n in SOCS for n in names.split(",")) and not inventory_path.exists():
        return [emulated_board(n, n) for n in names.split(",")]
    if "," not in names and names != "all" and not names.startswith("tag:"):
        return [resolve_board(inventory_path, names, emulate)]
    return load_inventory(inventory_path).select(names)


def _accuracy_request(dataset_path: Path | None, limit: int | None, channel_order: str) -> Any:
    if dataset_path is None:
        if limit is not None or channel_order != "rgb":
            raise ConfigError("--limit and --channel-order need --dataset")
        return None
    from imxbench.accuracy.phase import AccuracyRequest

    return AccuracyRequest(dataset_path, limit, channel_order)


accuracy_options = option_group(
    "accuracy",
    _accuracy_request,
    [
        (
            "dataset_path",
            click.option(
                "--dataset",
                "dataset_path",
                type=click.Path(path_type=Path),
                help="Also measure accuracy on the board, per delegate, on this test set "
                "(CIFAR-10 python batches, EEMBC ic01 .bin + y_labels.csv, x/y .npy pair, or "
                "class folders of images).",
            ),
        ),
        (
            "limit",
            click.option(
                "--limit",
                type=click.IntRange(1),
                help="With --dataset: a stratified sample of this many images (fixed seed).",
            ),
        ),
        (
            "channel_order",
            click.option(
                "--channel-order",
                type=click.Choice(["rgb", "bgr"]),
                default="rgb",
                show_default=True,
                help="With --dataset: the channel order fed to the model.",
            ),
        ),
    ],
)
"""`run --dataset`: the accuracy request (`accuracy`), None without a data set."""


WIDE = click.option(
    "--wide", is_flag=True, help="Every column of the table, however wide the terminal."
)


def terminal_table(summary: Any, wide: bool) -> str:
    """The run's table for stdout: as wide as the terminal ($COLUMNS), colour only on a
    terminal and without $NO_COLOR."""
    import os
    import shutil
    import sys

    from imxbench.analysis.terminal_table import render_table

    width = shutil.get_terminal_size((80, 24)).columns
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return render_table(summary, width=width, wide=wide, color=color)
