"""The run plan: which benchmark_model invocations a board gets. Pure: no I/O.

A *cell* is one (board, delegate, variant) — e.g. `cpu@1t`, `cpu@4t`, `vx`. Each cell has:
- optionally one *cold* step (NPUs with a graph cache: the cache is cleared first, so its
  first inference includes the graph compile; it also warms the cache for what follows),
- R timed *repetitions*, each a separate benchmark_model process,
- one *profile* step with `--enable_op_profiling=true`, never timed with the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from imxbench.analysis.sampling import MIN_PROCESSES, SamplingPolicy
from imxbench.config.delegates import DelegateSpec, external_delegate_options
from imxbench.model.facts import VX_DELEGATE_LIBRARY, BoardFacts


@dataclass(frozen=True)
class RunSettings:
    repetitions: int = 3
    num_runs: int = 50
    warmup_runs: int = 1
    min_secs: float = 1.0
    threads: int | None = None  # overrides the CPU variants' thread counts
    op_profile: bool = True
    op_profile_reuse: bool = False
    """--op-profile auto: a profile kept from an earlier run of the same model, board
    fingerprint and delegate is reused (run/op_profile_reuse.py); False: always measured."""
    cold_run: bool = True
    step_timeout_s: float = 600.0
    cpu_governor: str | None = None  # set for the run, the previous one restored after it
    cooldown_c: float | None = None  # wait until the SoC is below this before each step
    cooldown_timeout_s: float = 300.0  # ... at most this long
    npu_profile: bool = False
    """--npu-profile: the profile step also gets the delegate's own NPU profiling
    (DelegateSpec.npu_profile); the timed steps never do."""
    vela_on: str | None = None
    """--vela-on host|board|auto: where Vela compiles (None: each delegate file's vela.compile)."""
    precision: float | None = None
    """Adaptive sampling (analysis/sampling.py): timed processes per cell until the 95%
    interval of the median is within this fraction of it (0.01 = 1%). None: exactly
    `repetitions` processes of `num_runs`/`min_secs` each (fixed; the nightly's)."""
    max_repetitions: int = 30
    max_seconds: float = 60.0
    """Adaptive sampling's caps per cell: timed processes, and their seconds."""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "repetitions": self.repetitions if self.precision is None else "adaptive",
            "num_runs": self.num_runs,
            "warmup_runs": self.warmup_runs,
            "min_secs": self.min_secs,
            "threads": self.threads,
        }
        # only when set: the settings of a run without them (and its series) stay as they were
        if self.cpu_governor is not None:
            out["cpu_governor"] = self.cpu_governor
        if self.cooldown_c is not None:
            out["cooldown_c"] = self.cooldown_c
        if self.vela_on is not None:  # another compiler makes other timings: another series
            out["vela_on"] = self.vela_on
        if self.precision is not None:  # processes sized by the sampler: another series
            out["precision"] = self.precision
            out["max_repetitions"] = self.max_repetitions
            out["max_seconds"] = self.max_seconds
        return out


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
    route: str = ""
    """How the cell reaches its accelerator on this board (`route_of`), for the plan and the
    results: "cpu", "external delegate <library>", or ROUTE_BUILTIN_ETHOSU."""

    @property
    def name(self) -> str:
        return f"{self.delegate}@{self.variant}" if self.variant else self.delegate


ROUTE_BUILTIN_ETHOSU = "built-in ethos-u op (TFLite 2.9, no external delegate)"
"""The i.MX 93 on LF5.15: TFLite runs Vela's `ethos-u` custom op on the NPU itself."""


ROUTE_NNAPI = "nnapi (--use_nnapi=true, no VX delegate on this BSP)"
"""The 8M Plus on L5.4-L5.10.52: TFLite's NNAPI delegate reaches the NPU through NXP's NNAPI
runtime; there is no libvx_delegate.so yet (NXP_FACTS §1.3, §2, §10)."""
NNAPI_FLAG = "--use_nnapi=true"


def resolve_specs(specs: list[DelegateSpec], facts: BoardFacts | None) -> list[DelegateSpec]:
    """The delegates as this board runs them. On a board whose TFLite has the built-in Ethos-U
    op and no Ethos-U delegate library (i.MX 93, LF5.15: NXP_FACTS §4.3, §10) a Vela-compiled
    cell runs without `--external_delegate_path` (and its options, which only the delegate
    reads): the flag would fail to load the missing library. On an 8M Plus whose NPU is
    reached through NNAPI (no libvx_delegate.so, L5.4-L5.10.52) the VX cell runs
    `--use_nnapi=true` instead of the missing library (`uses_nnapi`)."""
    if facts is None or not (facts.ethosu_builtin_op or facts.nnapi_npu):
        return list(specs)
    out: list[DelegateSpec] = []
    for spec in specs:
        if uses_builtin_ethosu(spec, facts):
            spec = dataclasses.replace(spec, external_delegate_path=None, delegate_options={})
        elif uses_nnapi(spec, facts):
            spec = dataclasses.replace(
                spec,
                external_delegate_path=None,
                delegate_options={},
                benchmark_args=(*spec.benchmark_args, NNAPI_FLAG),
            )
        out.append(spec)
    return out


def uses_nnapi(spec: DelegateSpec, facts: BoardFacts | None) -> bool:
    """A VX-delegate cell on a board whose NPU is reached only through NNAPI."""
    return (
        facts is not None
        and facts.nnapi_npu
        and spec.external_delegate_path == VX_DELEGATE_LIBRARY
        and VX_DELEGATE_LIBRARY not in facts.delegate_libraries
    )


def uses_builtin_ethosu(spec: DelegateSpec, facts: BoardFacts | None) -> bool:
    """A Vela-compiled delegate whose library is not on a board with the built-in op."""
    return (
        facts is not None
        and facts.ethosu_builtin_op
        and spec.prepare == "vela"
        and (spec.external_delegate_path or "") not in facts.delegate_libraries
    )


def vela_place(spec: DelegateSpec, settings: RunSettings) -> str | None:
    """Where Vela compiles this delegate's model: "host", "board" or "auto" (--vela-on, else
    the delegate file's vela.compile); None for a delegate without Vela."""
    if spec.prepare != "vela" or spec.vela is None:
        return None
    return settings.vela_on or spec.vela.compile_on


def route_note(route: str, env: dict[str, str]) -> str | None:
    """What the plan says of a cell that reaches the NPU without its delegate library (None:
    nothing to say). Under NNAPI a GPU cell keeps `USE_GPU_INFERENCE=1`; which unit NXP's
    NNAPI runtime then runs it on is not established (NXP_FACTS has no source): not claimed."""
    if route not in (ROUTE_BUILTIN_ETHOSU, ROUTE_NNAPI):
        return None
    if route == ROUTE_NNAPI and env.get("USE_GPU_INFERENCE") == "1":
        return f"runs via the {route} with USE_GPU_INFERENCE=1 (GPU or NPU: not established)"
    return f"runs on the NPU via the {route}"


def route_of(spec: DelegateSpec) -> str:
    """How a (resolved) delegate's cell runs: see Cell.route."""
    if spec.external_delegate_path:
        return f"external delegate {spec.external_delegate_path}"
    if NNAPI_FLAG in spec.benchmark_args:
        return ROUTE_NNAPI
    if spec.prepare == "vela":
        return ROUTE_BUILTIN_ETHOSU
    return "cpu"


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
            cells.append(
                Cell(base.delegate, base.variant, base.threads, tuple(steps), route_of(spec))
            )
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
    if settings.precision is not None:
        argv = adaptive_argv(argv, SamplingPolicy().first_runs, SamplingPolicy().warmup_secs)
        if settings.cold_run and cache_dir:
            steps[-1] = dataclasses.replace(steps[-1], argv=tuple(argv))
        # one timed template: the pipeline asks the sampler for each next process
        steps.append(Step("timed", 1, tuple(argv), env))
    else:
        steps.extend(
            Step("timed", rep, tuple(argv), env) for rep in range(1, settings.repetitions + 1)
        )
    npu_profile = settings.npu_profile and spec.npu_profile is not None
    if settings.op_profile or npu_profile:
        profile_argv, profile_env = list(argv), dict(env)
        if npu_profile and spec.npu_profile is not None:
            profile_argv, profile_env = _with_npu_profile(spec, profile_argv, profile_env)
        if settings.op_profile:
            profile_argv.append("--enable_op_profiling=true")
        steps.append(Step("profile", 0, tuple(profile_argv), profile_env))
    return steps


def _with_npu_profile(
    spec: DelegateSpec, argv: list[str], env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The profile step's argv and env with the delegate's NPU profiling: its options merged
    into --external_delegate_options (only where an external delegate is loaded: LF5.15's
    built-in Ethos-U op takes none), its environment added."""
    assert spec.npu_profile is not None
    profile = spec.npu_profile
    if spec.external_delegate_path and profile.delegate_options:
        merged = {**spec.delegate_options, **profile.delegate_options}
        options = ";".join(f"{key}:{value}" for key, value in merged.items())
        argv = [a for a in argv if not a.startswith("--external_delegate_options=")]
        at = argv.index(f"--external_delegate_path={spec.external_delegate_path}") + 1
        argv.insert(at, f"--external_delegate_options={options}")
    return argv, {**env, **profile.env}


def expected_processes(step: Step, settings: RunSettings) -> int:
    """How many benchmark_model processes a planned step is expected to become (the progress
    bar's count): an adaptive cell's timed template at least the fewest with an interval
    (sampling.MIN_PROCESSES; the pipeline corrects the count as the cell goes on: fewer when
    its cold process counts as one, more when its data ask for them), every other step one."""
    return MIN_PROCESSES if step.kind == "timed" and settings.precision is not None else 1


def adaptive_argv(argv: Sequence[str], num_runs: int, warmup_secs: float) -> list[str]:
    """A step's argv for one process of adaptive sampling: `num_runs` timed inferences and no
    time floor, a warm-up floor of `warmup_secs` (analysis/sampling.py chooses both)."""
    kept = [
        a for a in argv if not a.startswith(("--num_runs=", "--min_secs=", "--warmup_min_secs="))
    ]
    at = 2 if len(kept) >= 2 else len(kept)  # after the tool and --graph
    timing = [f"--num_runs={num_runs}", "--min_secs=0", f"--warmup_min_secs={warmup_secs:g}"]
    return [*kept[:at], *timing, *kept[at:]]
