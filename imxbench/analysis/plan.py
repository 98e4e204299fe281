"""The run plan: which benchmark_model invocations a board gets. Pure: no I/O.

A *cell* is one (board, delegate, variant) — e.g. `cpu@1t`, `cpu@4t`, `vx`. Each cell has:
- optionally one *cold* step (NPUs with a graph cache: the cache is cleared first, so its
  first inference includes the graph compile; it also warms the cache for what follows),
- R timed *repetitions*, each a separate benchmark_model process,
- one *profile* step with `--enable_op_profiling=true`, never timed with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imxbench.config.delegates import DelegateSpec, external_delegate_options


@dataclass(frozen=True)
class RunSettings:
    repetitions: int = 3
    num_runs: int = 50
    warmup_runs: int = 1
    min_secs: float = 1.0
    threads: int | None = None  # overrides the CPU variants' thread counts
    op_profile: bool = True
    cold_run: bool = True
    step_timeout_s: float = 600.0

    def as_dict(self) -> dict[str, object]:
        return {
            "repetitions": self.repetitions,
            "num_runs": self.num_runs,
            "warmup_runs": self.warmup_runs,
            "min_secs": self.min_secs,
            "threads": self.threads,
        }


@dataclass(frozen=True)
class Step:
    kind: str  # "cold" | "timed" | "profile"
    repetition: int  # 1..R for timed steps, 0 otherwise
    argv: tuple[str, ...]
    env: dict[str, str]
    clear_dir: str | None = None  # a directory to empty on the board before this step


@dataclass(frozen=True)
class Cell:
    delegate: str
    variant: str  # "" or e.g. "1t"
    threads: int | None
    steps: tuple[Step, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.delegate}@{self.variant}" if self.variant else self.delegate


def plan_cells(
    specs: list[DelegateSpec],
    graphs: dict[str, str],
    benchmark_model: str,
    workdir: str,
    cpu_count: int,
    settings: RunSettings,
) -> list[Cell]:
    """Cells for one board. `graphs` maps delegate name to the graph's path on the board."""
    cells: list[Cell] = []
    for spec in specs:
        for variant, threads in _variants(spec, cpu_count, settings):
            base = Cell(spec.name, variant, threads)
            steps = _steps(spec, graphs[spec.name], benchmark_model, workdir, threads, settings)
            cells.append(Cell(base.delegate, base.variant, base.threads, tuple(steps)))
    return cells


def _variants(
    spec: DelegateSpec, cpu_count: int, settings: RunSettings
) -> list[tuple[str, int | None]]:
    if not spec.threads:
        return [("", settings.threads)]
    if settings.threads is not None:
        return [(f"{settings.threads}t", settings.threads)]
    counts: list[int] = []
    for item in spec.threads:
        n = cpu_count if item == "all" else int(item)
        if n not in counts:
            counts.append(n)
    return [(f"{n}t", n) for n in counts]


def _steps(
    spec: DelegateSpec,
    graph: str,
    benchmark_model: str,
    workdir: str,
    threads: int | None,
    settings: RunSettings,
) -> list[Step]:
    env = {k: v.replace("{workdir}", workdir) for k, v in spec.env.items()}
    argv = [
        benchmark_model,
        f"--graph={graph}",
        f"--num_runs={settings.num_runs}",
        f"--warmup_runs={settings.warmup_runs}",
        f"--min_secs={settings.min_secs:g}",
    ]
    if threads is not None:
        argv.append(f"--num_threads={threads}")
    if spec.external_delegate_path:
        argv.append(f"--external_delegate_path={spec.external_delegate_path}")
        options = external_delegate_options(spec)
        if options:
            argv.append(f"--external_delegate_options={options}")
    argv.extend(spec.benchmark_args)
    steps: list[Step] = []
    cache_dir = env.get(spec.graph_cache_env or "")
    if settings.cold_run and cache_dir:
        steps.append(Step("cold", 0, tuple(argv), env, clear_dir=cache_dir))
    steps.extend(Step("timed", rep, tuple(argv), env) for rep in range(1, settings.repetitions + 1))
    if settings.op_profile:
        steps.append(Step("profile", 0, (*argv, "--enable_op_profiling=true"), env))
    return steps
