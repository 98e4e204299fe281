"""The emulated board's `benchmark_model` (TFLite 2.19 as in NXP BSP L6.12, `INFO: ` prefixes;
other BSP releases change the version and the log format, board.json `log_format`: see
docs/DESIGN.md "BSP releases").

Run as `python -m imxbench.emulator.benchmark_tool --graph=... [flags]` by the board's
`/usr/bin/tensorflow-lite-2.19.0/examples/benchmark_model` launcher. It parses the real flags,
really loads the model and runs it with LiteRT on the host (random inputs in the quantized
range, like the real tool), and prints the real tool's lines. Every printed time and memory
figure comes from imxbench.emulator.cost_model; the process sleeps so that its wall time
matches the modelled time (analytically, once per phase). One extra line,
`INFO: imxbench emulator: timings are modelled (emulated board <soc>)`, right after
`INFO: STARTING!`, labels the output as emulated.

Streams, as on the real board: the tool's own INFO/WARN lines go to stdout, its ERROR lines
and everything the runtime logs through TFLite's minimal logger (`Initialized TensorFlow Lite
runtime.`, `Created TensorFlow Lite XNNPACK delegate for CPU.`, `Unable to load external
delegate ...`, `EthosuDelegate: N nodes delegated ...`, error-reporter messages) go to stderr.

Delegates (library path must be a key of board.json `delegates` and exist on disk):

* VX (`vx`, i.MX 8M Plus): claims every builtin op that touches an int8/uint8-quantized tensor
  and no floating-point tensor; contiguous claimed ops form one partition (`Vx Delegate`
  node). `USE_GPU_INFERENCE=1` selects the GPU, which also takes float ops (the GPU runs
  float models, delegates/gpu.yaml; assumption: at the quantized per-MAC cost), and its cost.
  The first inference pays the OpenVX graph compile unless the graph cache is warm:
  `VIV_VX_ENABLE_CACHE_GRAPH_BINARY=1` (+ `VIV_VX_CACHE_BINARY_GRAPH_DIR`, default the
  working directory) or the delegate options `allowed_cache_mode:true;cache_file_path:<file>`.
  The VIV cache file is
  `<dir>/<sha256("<model sha256>:<npu|gpu>")>.nb`, written after a cold compile.
  Ops the real delegate refuses (VX_UNMAPPED_OPS, vx_rejection) stay on the CPU, split the
  graph and are logged as the delegate logs them (`WARNING: Fallback unsupported op N ...`).
* Ethos-U (`ethosu`/`ethos-u`, i.MX 93): claims only `ethos-u` custom ops (node type
  `EthosuDelegate`, the SimpleDelegate kernel name NXP's delegate registers). A Vela model is
  executed by running its source model (docs/DESIGN.md provenance); without it the tool fails.
  On LF5.15 (board.json `ethosu_builtin`) TFLite runs `ethos-u` ops itself, without a delegate.
* NNAPI (`--use_nnapi=true`, board.json `nnapi`: the 8M Plus on L5.4-L5.10.52): placed and
  timed as the VX delegate (same NPU, same driver); the flag is unknown on other boards.
  The first NPU use after boot pays the M33 firmware start in Init (cost_model).

Thermal (emulator/thermal.py): each timed phase is walked run by run through the board's
thermal model and cpufreq policy; past the trip point runs slow down, and the tool publishes the
temperature and clock in the board's sysfs while it sleeps. A cool board changes nothing.

Faults from `<control_dir>/faults.json` are read at every invocation: `hang` sleeps forever
right after the label line; `crash` prints up to the warm-up header, then SIGSEGV (a shell
shows exit 139); `oom` prints up to the regular-phase header, then SIGKILL (137);
`delegate_load_fails` makes the delegate's dlopen fail (`Unable to load external delegate
...`, the run carries on on the CPU); `slowdown` multiplies every modelled time, of every
invocation or, with `slowdown_delegates`, only of those using a listed delegate (library path,
or `npu` / `gpu` / `cpu`: where the delegated work runs; `cpu` = no external delegate).

`--enable_op_profiling=true` prints the TF >= 2.13 tables (no `[start]` column): init rows
`ModifyGraphWithDelegate`/`AllocateTensors`, then one row per execution-plan node: a delegate
kernel as one row (`Vx Delegate` / `EthosuDelegate`, named `[its output tensors]:<index>`),
CPU ops by op name with the CPU time shared out by MACs (+ output elements).
Flags the emulator accepts but ignores (`run_frequency`, `dry_run`, `input_layer*`,
`signature_to_run_for`, output files, ...) are still echoed like the real tool's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imxbench.analysis.model_info import (
    ETHOS_U_CUSTOM_OP,
    INT_QUANT_DTYPES,
    ModelInfo,
    inspect_model,
)
from imxbench.emulator import cost_model, kernel_log, npu_profiling, thermal
from imxbench.emulator import faults as fault_file
from imxbench.emulator.cost_model import Placement, Unit
from imxbench.emulator.socs import ETHOSU_FIRMWARE, LogFormat, soc_spec
from imxbench.errors import ConfigError
from imxbench.native_stderr import quiet_native_stderr

BOARD_JSON = Path("/usr/share/imxbench-emulator/board.json")
BOARD_JSON_ENV = "IMXBENCH_EMULATOR_BOARD_JSON"
VX_NODE_TYPE = "Vx Delegate"
ETHOSU_NODE_TYPE = "EthosuDelegate"
DELEGATE_KINDS = {"vx": "vx", "ethosu": "ethos-u", "ethos-u": "ethos-u"}
DELEGATE_DEPENDENCY = {"vx": "libOpenVX.so.1", "ethos-u": "libethosu.so"}

# ---------------------------------------------------------------------------------------------
# Board description and faults


class EmulatorError(Exception):
    """The emulator cannot do what was asked (bad board.json, missing Vela source, ...)."""


@dataclass(frozen=True)
class BoardConfig:
    """The parts of board.json (format 1) the emulated tools use."""

    soc: str
    soc_id: str
    cpu_count: int
    tflite_version: str
    delegates: Mapping[str, str]
    noise_pct: float
    seed: int | None
    control_dir: Path | None
    bsp: str = "lf-6.12"
    log: LogFormat = field(default_factory=LogFormat)
    ethosu_builtin: bool = False  # TFLite runs `ethos-u` custom ops itself (LF5.15 i.MX 93)
    nnapi: bool = False  # TFLite built with NNAPI: `--use_nnapi=true` (8M Plus, L5.4-L5.10.52)
    thermal_paths: thermal.BoardPaths | None = None  # None: no thermal model (bare board.json)


@dataclass(frozen=True)
class Faults:
    """`<control_dir>/faults.json`; unknown keys (server faults) are ignored."""

    crash: bool = False
    hang: bool = False
    slowdown: float = 1.0
    slowdown_delegates: tuple[str, ...] | None = None
    delegate_load_fails: bool = False
    oom: bool = False
    thermal_time_scale: float = 1.0

    def slowdown_for(self, library: str, unit: str | None) -> float:
        """The slowdown of an invocation with external delegate `library` ('' for none) whose
        delegate loaded and runs on `unit` (None: no delegate took effect)."""
        if self.slowdown_delegates is None:
            return self.slowdown
        targets = set(self.slowdown_delegates)
        hit = (library and library in targets) or (unit or "cpu") in targets
        return self.slowdown if hit else 1.0


def load_board(path: Path | None = None) -> BoardConfig:
    """Read board.json (IMXBENCH_EMULATOR_BOARD_JSON overrides the board's path)."""
    path = path or Path(os.environ.get(BOARD_JSON_ENV) or BOARD_JSON)
    try:
        doc = json.loads(path.read_text())
        soc = str(doc["soc"])
        cost_model.calibration(soc)
        delegates = {str(k): str(v) for k, v in dict(doc.get("delegates", {})).items()}
        seed = doc.get("seed")
        control = doc.get("control_dir")
        log = LogFormat(**{k: bool(v) for k, v in dict(doc.get("log_format", {})).items()})
        paths = None
        if control and doc.get("sys_class_dir") and doc.get("sys_devices_dir"):
            paths = thermal.BoardPaths(
                Path(control), Path(doc["sys_class_dir"]), Path(doc["sys_devices_dir"])
            )
        return BoardConfig(
            soc=soc,
            soc_id=str(doc.get("soc_id", soc)),
            cpu_count=int(doc.get("cpu_count", cost_model.CORES[soc])),
            tflite_version=str(doc.get("tflite_version", "2.19.0")),
            delegates=delegates,
            noise_pct=float(doc.get("noise_pct", 1.0)),
            seed=None if seed is None else int(seed),
            control_dir=Path(control) if control else None,
            bsp=str(doc.get("bsp", "lf-6.12")),
            log=log,
            ethosu_builtin=bool(doc.get("ethosu_builtin", False)),
            nnapi=bool(doc.get("nnapi", False)),
            thermal_paths=paths,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmulatorError(f"cannot use board description {path}: {exc}") from exc


def load_faults(board: BoardConfig) -> Faults:
    """Read faults.json now (tests change it between commands); missing file = no faults.
    The file's contract (keys, types) is imxbench.emulator.faults'; server faults are ignored."""
    if board.control_dir is None:
        return Faults()
    try:
        doc = fault_file.load_faults(board.control_dir)
    except ConfigError as exc:
        raise EmulatorError(exc.message) from exc
    return Faults(
        crash=bool(doc["crash"]),
        hang=bool(doc["hang"]),
        slowdown=float(doc["slowdown"]),
        slowdown_delegates=(
            None if doc["slowdown_delegates"] is None else tuple(doc["slowdown_delegates"])
        ),
        delegate_load_fails=bool(doc["delegate_load_fails"]),
        oom=bool(doc["oom"]),
        thermal_time_scale=float(doc.get("thermal_time_scale", 1.0)),
    )


INVOCATIONS_FILE = "emulated_invocations"


def invocation_seed(board: BoardConfig) -> list[int] | None:
    """The noise seed of this process: board.json's `seed` plus how many emulated runs the
    board has made (a counter in the control dir), so that a seeded board gives a reproducible
    *sequence* of runs that still differ from one another (None: fresh entropy)."""
    if board.seed is None:
        return None
    count = 0
    if board.control_dir is not None:
        with contextlib.suppress(OSError):
            count = _bump_counter(board.control_dir / INVOCATIONS_FILE)
    return [board.seed, count]


def _bump_counter(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode(errors="replace").strip()
        count = int(text) if text.isdigit() else 0
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, f"{count + 1}\n".encode())
        return count
    finally:
        os.close(fd)


def delegate_load_error(board: BoardConfig, faults: Faults, library: str) -> str | None:
    """The dlerror-like text if `library` would fail to dlopen on this board, else None."""
    kind = DELEGATE_KINDS.get(board.delegates.get(library, ""))
    if kind is None or not Path(library).exists():
        return f"{library}: cannot open shared object file: No such file or directory"
    if faults.delegate_load_fails:
        missing = DELEGATE_DEPENDENCY[kind]
        return f"{missing}: cannot open shared object file: No such file or directory"
    return None


def delegate_kind(board: BoardConfig, library: str) -> str:
    """'vx' or 'ethos-u' for a library that loads (see delegate_load_error)."""
    return DELEGATE_KINDS[board.delegates[library]]


def parse_delegate_options(text: str) -> dict[str, str]:
    """`k:v;k:v` as the external delegate provider splits it (items without exactly one ':'
    are dropped)."""
    options: dict[str, str] = {}
    for item in text.split(";"):
        parts = item.split(":")
        if len(parts) == 2:
            options[parts[0]] = parts[1]
    return options


def _option_int(options: Mapping[str, str], key: str, default: int) -> int:
    value = options.get(key)
    if value is None:
        return default
    if value in ("true", "false"):
        return int(value == "true")
    try:
        return int(value)
    except ValueError:
        return default


def delegate_echo_lines(kind: str, options: Mapping[str, str]) -> list[str]:
    """The option echo an NXP delegate logs at creation (without the `INFO: ` prefix)."""
    if kind == "vx":
        keys = [
            ("allowed_cache_mode", "allowed_cache_mode"),
            ("device_id", "device num"),
            ("allowed_builtin_code", "allowed_builtin_code"),
            ("error_during_init", "error_during_init"),
            ("error_during_prepare", "error_during_prepare"),
            ("error_during_invoke", "error_during_invoke"),
        ]
        return [
            f"Vx delegate: {label} set to {_option_int(options, key, 0)}." for key, label in keys
        ]
    lines = [
        f"Ethosu delegate: device_name set to {options.get('device_name', '/dev/ethosu0')}.",
        f"Ethosu delegate: cache_file_path set to {options.get('cache_file_path', '')}.",
        f"Ethosu delegate: timeout set to {_option_int(options, 'timeout', 60000000000)}.",
    ]
    for key, default in (
        ("enable_cycle_counter", 0),
        ("enable_profiling", 0),
        ("profiling_buffer_size", 2048),
        ("pmu_event0", 0),
        ("pmu_event1", 0),
        ("pmu_event2", 0),
        ("pmu_event3", 0),
    ):
        lines.append(f"Ethosu delegate: {key} set to {_option_int(options, key, default)}.")
    return lines


# ---------------------------------------------------------------------------------------------
# What a delegate claims, and the resulting execution plan


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_vela_source(graph: Path) -> Path:
    """The source model of a Vela-compiled `graph`, via `<graph>.json` (docs/DESIGN.md)."""
    provenance = graph.with_name(graph.name + ".json")
    try:
        source_sha = str(json.loads(provenance.read_text())["source_sha256"]).lower()
    except FileNotFoundError:
        raise EmulatorError(f"no Vela provenance file {provenance}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmulatorError(f"unreadable Vela provenance file {provenance}: {exc}") from exc
    if len(source_sha) != 64:
        raise EmulatorError(f"{provenance}: source_sha256 is not a sha256")
    named = _provenance_source(provenance)  # a graph the board's Vela compiled names its source
    if named is not None and named.is_file() and sha256_file(named) == source_sha:
        return named
    for candidate in sorted(graph.parent.glob(f"*{source_sha[:16]}*.tflite")):
        if candidate.resolve() != graph.resolve() and sha256_file(candidate) == source_sha:
            return candidate
    raise EmulatorError(
        f"no source model *{source_sha[:16]}*.tflite with sha256 {source_sha} next to {graph}"
    )


def _provenance_source(provenance: Path) -> Path | None:
    """The provenance's `source` (the source model's path on the board), when it names one."""
    try:
        source = json.loads(provenance.read_text()).get("source")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(source) if isinstance(source, str) and source.startswith("/") else None


# Builtin ops the VX delegate has no mapper for, so it leaves them to TFLite with the warning
# `Fallback unsupported op <builtin code> to TfLite` (VeriSilicon/tflite-vx-delegate op_map.cc
# and delegate_main.cc Delegate::SupportedOp at 3f4759e, 2025-01-07; NXP's
# tflite-vx-delegate-imx derives from it -- that its op map matches is an assumption).
VX_UNMAPPED_OPS = frozenset(
    {
        "CUMSUM",
        "FILL",
        "NON_MAX_SUPPRESSION_V4",
        "NON_MAX_SUPPRESSION_V5",
        "RANGE",
        "ROUND",
        "SEGMENT_SUM",
        "TILE",
        "TOPK_V2",
        "UNIQUE",
        "WHERE",
        "ZEROS_LIKE",
    }
)


def vx_rejection(info: ModelInfo, index: int) -> tuple[str, str] | None:
    """Why the VX delegate refuses operator `index`: (severity, message) as it logs it, from
    OpMapperBase::IsSupported (same source as VX_UNMAPPED_OPS), or None if it takes it."""
    op = info.operators[index]
    if op.name in VX_UNMAPPED_OPS:
        code = _builtin_codes().get(op.name)
        return "WARNING", f"Fallback unsupported op {code} to TfLite"
    for t in op.inputs:
        if t < 0:
            continue
        tensor = info.tensors[t]
        if tensor.dtype == "int64":
            return "ERROR", "Int64 input is not supported"
        if len(tensor.shape) > 6:
            return "ERROR", (
                "vx-delegate doesn't support the tensor whose dimension is greater than 6."
            )
        if 0 in tensor.shape:
            return "ERROR", "vx-delegate doesn't support the tensor of which one of dims is 0"
    for t in op.outputs:
        dtype = info.tensors[t].dtype
        if dtype == "int16":
            return "ERROR", "Int16 output is not supported"
        if dtype == "int64":
            return "ERROR", "Int64 output is not supported"
    return None


def _builtin_codes() -> dict[str, int]:
    from imxbench.analysis.tflite_flatbuffer import builtin_operator_names

    return {name: code for code, name in builtin_operator_names().items()}


def claimed_ops(info: ModelInfo, kind: str | None, gpu: bool = False) -> set[int]:
    """Indices of the operators the delegate takes (see the module docstring); `gpu`: the VX
    delegate on the GPU (USE_GPU_INFERENCE=1), which takes float-only ops too."""
    if kind == "ethos-u":
        return {op.index for op in info.operators if op.name == ETHOS_U_CUSTOM_OP}
    if kind != "vx":
        return set()
    claimed = set()
    for op in info.operators:
        used = [info.tensors[t] for t in (*op.inputs, *op.outputs) if t >= 0]
        int_quant = any(t.dtype in INT_QUANT_DTYPES and t.is_quantized for t in used)
        supported = vx_rejection(info, op.index) is None
        # the GPU also computes in float; float<->int conversions stay where they were
        computes = (int_quant and not op.uses_float) or (gpu and op.uses_float and not int_quant)
        if not op.is_custom and computes and supported:
            claimed.add(op.index)
    return claimed


@dataclass(frozen=True)
class PlanNode:
    """One node of the execution plan after delegation (a CPU op or a delegate kernel)."""

    index: int
    node_type: str
    name: str
    macs: int
    weight: float
    delegated: bool


@dataclass(frozen=True)
class ExecutionPlan:
    nodes: tuple[PlanNode, ...]
    total_ops: int
    claimed: int
    partitions: int
    placement: Placement

    @property
    def fully_delegated(self) -> bool:
        return len(self.nodes) == 1 and self.nodes[0].delegated


def build_plan(
    info: ModelInfo,
    claimed: set[int],
    unit: Unit = "cpu",
    node_type: str = VX_NODE_TYPE,
    delegated_macs: int | None = None,
    in_place: bool = False,
) -> ExecutionPlan:
    """Partition the graph: contiguous claimed ops become one delegate kernel, numbered after
    the original nodes as TFLite does. `delegated_macs` overrides the claimed ops' MACs (a
    Vela graph's NPU work is the source model's). `in_place`: no delegate; each claimed op is
    a kernel of its own that runs on `unit` (TFLite's built-in Ethos-U custom op, LF5.15)."""
    ops = info.operators
    groups: list[list[int]] = []
    for op in ops:
        if in_place and op.index in claimed:
            groups.append([op.index])
        elif op.index in claimed:
            if groups and groups[-1][-1] == op.index - 1:
                groups[-1].append(op.index)
            else:
                groups.append([op.index])
    consumers: dict[int, set[int]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, set()).add(op.index)
    graph_outputs = {t.index for t in info.outputs}
    cpu_ops = [op for op in ops if op.index not in claimed]
    cpu_macs = sum(op.macs for op in cpu_ops)
    total_delegated = (
        sum(ops[i].macs for i in claimed) if delegated_macs is None else delegated_macs
    )
    nodes: list[PlanNode] = []
    first_of_group = {group[0]: k for k, group in enumerate(groups)}
    for op in ops:
        if op.index in first_of_group:
            k = first_of_group[op.index]
            members = set(groups[k])
            outs = [
                t
                for i in groups[k]
                for t in ops[i].outputs
                if t in graph_outputs or consumers.get(t, set()) - members
            ]
            index = op.index if in_place else len(ops) + k
            macs = total_delegated // len(groups)
            nodes.append(PlanNode(index, node_type, _node_name(info, outs, index), macs, 0.0, True))
        elif op.index not in claimed:
            name = _node_name(info, list(op.outputs), op.index)
            weight = float(op.macs + op.output_elements)
            nodes.append(PlanNode(op.index, op.name, name, op.macs, weight, False))
    placement = Placement(
        unit=unit if groups else "cpu",
        delegated_macs=total_delegated if groups else 0,
        partitions=len(groups),
        cpu_macs=cpu_macs,
        cpu_float_macs=sum(op.macs for op in cpu_ops if op.uses_float),
    )
    return ExecutionPlan(tuple(nodes), len(ops), len(claimed), len(groups), placement)


def _node_name(info: ModelInfo, outputs: Sequence[int], index: int) -> str:
    names = ", ".join(info.tensors[t].name for t in outputs if t >= 0)
    return f"[{names}]:{index}"


def delegate_plan(
    info: ModelInfo, kind: str | None, graph: Path | None, env: Mapping[str, str]
) -> tuple[ExecutionPlan, Path | None, Unit]:
    """What delegate `kind` takes of the model at `graph`: the execution plan, the model the
    host really runs (a Vela graph's source model) and the cost unit. Raises EmulatorError
    when a Vela graph's source model cannot be found."""
    if kind == "vx":
        unit: Unit = "gpu" if gpu_selected(env) else "npu"
        claimed = claimed_ops(info, kind, gpu=unit == "gpu")
        return build_plan(info, claimed, unit, VX_NODE_TYPE), graph, unit
    if kind != "ethos-u":
        return build_plan(info, set()), graph, "cpu"
    return ethosu_plan(info, graph, ETHOSU_NODE_TYPE)


def ethosu_plan(
    info: ModelInfo, graph: Path | None, node_type: str, in_place: bool = False
) -> tuple[ExecutionPlan, Path | None, Unit]:
    """The Ethos-U plan: `ethos-u` custom ops on the NPU, their work the Vela source model's."""
    claimed = claimed_ops(info, "ethos-u")
    if not claimed:
        return build_plan(info, claimed, "npu", node_type, in_place=in_place), graph, "npu"
    if graph is None:
        raise EmulatorError("a Vela model given as bytes has no provenance file")
    source = resolve_vela_source(graph)
    try:
        source_macs = inspect_model(source).macs
    except ConfigError as exc:
        raise EmulatorError(exc.message) from exc
    cpu_macs = sum(op.macs for op in info.operators if op.index not in claimed)
    npu_macs = max(0, source_macs - cpu_macs)
    plan = build_plan(info, claimed, "npu", node_type, npu_macs, in_place=in_place)
    return plan, source, "npu"


def gpu_selected(env: Mapping[str, str]) -> bool:
    return env.get("USE_GPU_INFERENCE", "0").strip() == "1"


def graph_cache_file(
    env: Mapping[str, str], options: Mapping[str, str], model_sha256: str, unit: Unit
) -> Path | None:
    """Where the VX graph (NBG) cache of this model/accelerator lives, or None if disabled."""
    if _option_int(options, "allowed_cache_mode", 0) and options.get("cache_file_path"):
        return Path(options["cache_file_path"])
    if env.get("VIV_VX_ENABLE_CACHE_GRAPH_BINARY", "0").strip() != "1":
        return None
    directory = env.get("VIV_VX_CACHE_BINARY_GRAPH_DIR") or os.getcwd()
    key = hashlib.sha256(f"{model_sha256}:{unit}".encode()).hexdigest()
    return Path(directory) / f"{key}.nb"


def write_graph_cache(path: Path, model_sha256: str, unit: Unit) -> None:
    """Store an (emulated) compiled graph; a missing or read-only directory is ignored."""
    payload = json.dumps({"emulated_nbg": 1, "graph_sha256": model_sha256, "unit": unit})
    with contextlib.suppress(OSError):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(payload)
        os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Running the model for real on the host


class HostRunError(Exception):
    """LiteRT refused the model; `lines` are the runtime's error messages, one per report."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        text = re.sub(r"(?<=\S) (?=Node number \d+ )", "\n", message)
        self.lines = [line.strip() for line in text.splitlines() if line.strip()]


def random_input(dtype: Any, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Random data in the ranges benchmark_model uses (utils::GetDataRangesForType)."""
    dt = np.dtype(dtype)
    ranges = {"int8": (-127, 127), "uint8": (0, 254), "int16": (-32767, 32767)}
    if dt.kind == "f":
        return rng.uniform(-0.5, 0.5, size=shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dt)
    low, high = ranges.get(dt.name, (0, 99))
    return rng.integers(low, high, size=shape, endpoint=True).astype(dt)


class HostRunner:
    """A LiteRT interpreter on the host with random inputs set, like the real tool's."""

    def __init__(self, model_path: Path, seed: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        try:
            with quiet_native_stderr():
                self.interpreter = Interpreter(model_path=str(model_path))
                self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise HostRunError(str(exc)) from None
        rng = np.random.default_rng(seed)
        self.inputs = [
            (d["index"], random_input(d["dtype"], d["shape"], rng))
            for d in self.interpreter.get_input_details()
        ]

    def invoke(self) -> None:
        for index, value in self.inputs:
            self.interpreter.set_tensor(index, value)
        try:
            with quiet_native_stderr():
                self.interpreter.invoke()
        except RuntimeError as exc:
            raise HostRunError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Flags


@dataclass(frozen=True)
class FlagSpec:
    name: str
    kind: type
    default: Any
    help: str = ""


def _flags() -> dict[str, FlagSpec]:
    i, f, b, s = int, float, bool, str
    specs = [
        ("num_runs", i, 50, "expected number of runs, see also min_secs, max_secs"),
        ("min_secs", f, 1.0, "minimum number of seconds to rerun for"),
        ("max_secs", f, 150.0, "maximum number of seconds to rerun for"),
        ("run_delay", f, -1.0, "delay between runs in seconds"),
        ("run_frequency", f, -1.0, "Execute at a fixed frequency, instead of a fixed delay."),
        ("num_threads", i, -1, "number of threads"),
        ("use_caching", b, False, "Enable caching of prepacked weights matrices"),
        ("benchmark_name", s, "", "benchmark name"),
        ("output_prefix", s, "", "benchmark output prefix"),
        ("warmup_runs", i, 1, "minimum number of runs performed on initialization"),
        ("warmup_min_secs", f, 0.5, "minimum number of seconds to rerun for (warm-up)"),
        ("verbose", b, False, "Whether to log parameters whose values are not set."),
        ("dry_run", b, False, "Load the model and allocate tensors without invoking kernels"),
        ("report_peak_memory_footprint", b, False, "Report the peak memory footprint"),
        ("memory_footprint_check_interval_ms", i, 50, "Memory footprint check interval"),
        ("gpu_invoke_loop_times", i, 1, "Number of GPU delegate invoke loop iterations"),
        ("graph", s, "", "graph file name"),
        ("input_layer", s, "", "input layer names"),
        ("input_layer_shape", s, "", "input layer shape"),
        ("input_layer_value_range", s, "", "value ranges for integer input layers"),
        ("input_layer_value_files", s, "", "input value files"),
        ("allow_fp16", b, False, "allow fp16"),
        ("require_full_delegation", b, False, "require delegate to run the entire graph"),
        ("enable_op_profiling", b, False, "enable op profiling"),
        ("op_profiling_output_mode", s, "stdout", "Output mode for op profiling results."),
        ("op_profiling_output_file", s, "", "Output file for op profiling results."),
        ("max_profiling_buffer_entries", i, 1024, "max initial profiling buffer entries"),
        ("allow_dynamic_profiling_buffer_increase", b, False, "allow dynamic buffer increase"),
        ("profiling_output_csv_file", s, "", "[DEPRECATED] File path to export profile data"),
        ("export_model_runtime_info", b, False, "Enable Model Runtime Info Export"),
        ("model_runtime_info_output_file", s, "", "Proto File to export model runtime info"),
        ("print_preinvoke_state", b, False, "print the interpreter internals before Invoke"),
        ("print_postinvoke_state", b, False, "print the interpreter internals after the runs"),
        ("release_dynamic_tensors", b, False, "release dynamic tensor memory"),
        ("optimize_memory_for_large_tensors", i, 0, "Optimize memory usage for large tensors"),
        ("disable_delegate_clustering", b, False, "Disable delegate clustering."),
        ("enable_builtin_cast_constant_cache", b, False, "Cache constant CAST outputs."),
        ("output_filepath", s, "", "File path to export outputs layer as binary data."),
        ("output_proto_filepath", s, "", "File path to export outputs as tf example proto."),
        ("tensor_name_display_length", i, 25, "tensor name display length"),
        ("tensor_type_display_length", i, 15, "tensor type display length"),
        ("alloc_type_display_length", i, 18, "allocation type display length"),
        ("signature_to_run_for", s, "", "the signature to benchmark"),
        ("list_signatures", b, False, "Displays all signatures present in the model"),
        ("result_file_path", s, "", "Path to save the benchmark result in binary proto"),
        ("help", b, False, "Print out all supported flags if true."),
        ("max_delegated_partitions", i, 0, "Max number of partitions to be delegated."),
        ("min_nodes_per_partition", i, 0, "The minimal number of nodes per partition."),
        ("delegate_serialize_dir", s, "", "Directory for delegate serialization."),
        ("delegate_serialize_token", s, "", "Model-specific token for serialization."),
        ("first_delegate_node_index", i, 0, "The index of the first node to delegate."),
        ("last_delegate_node_index", i, 2147483647, "The index of the last node to delegate."),
        ("external_delegate_path", s, "", "The library path for the underlying external."),
        ("external_delegate_options", s, "", "A list of ';'-separated 'key:value' options."),
        ("use_xnnpack", b, False, "use XNNPack"),
        ("xnnpack_force_fp16", b, False, "enforce float16 inference."),
        ("xnnpack_weight_cache_file_path", s, "", "enable file-backed weight caching."),
    ]
    return {name: FlagSpec(name, kind, default, text) for name, kind, default, text in specs}


FLAGS = _flags()
NNAPI_FLAGS = {"use_nnapi": FlagSpec("use_nnapi", bool, False, "use nnapi delegate api")}
"""The NNAPI provider's flag, present only in a TFLite built with NNAPI (board.json `nnapi`;
tensorflow/lite/tools/delegates/nnapi_delegate_provider.cc)."""

# (param, label, always) in the order LogParams prints them (BenchmarkModel, BenchmarkTfLite
# model, then the delegate providers: default, external, xnnpack).
ECHO: tuple[tuple[str, str, bool], ...] = (
    ("num_runs", "Min num runs", False),
    ("min_secs", "Min runs duration (seconds)", False),
    ("max_secs", "Max runs duration (seconds)", False),
    ("run_delay", "Inter-run delay (seconds)", False),
    ("run_frequency", "Number of prorated runs per second", False),
    ("num_threads", "Num threads", False),
    ("use_caching", "Use caching", False),
    ("benchmark_name", "Benchmark name", False),
    ("output_prefix", "Output prefix", False),
    ("warmup_runs", "Min warmup runs", False),
    ("warmup_min_secs", "Min warmup runs duration (seconds)", False),
    ("dry_run", "Run w/o invoking kernels", False),
    ("report_peak_memory_footprint", "Report the peak memory footprint", False),
    ("memory_footprint_check_interval_ms", "Memory footprint check interval (ms)", False),
    ("graph", "Graph", True),
    ("signature_to_run_for", "Signature to run", True),
    ("input_layer", "Input layers", False),
    ("input_layer_shape", "Input shapes", False),
    ("input_layer_value_range", "Input value ranges", False),
    ("input_layer_value_files", "Input value files", False),
    ("allow_fp16", "Allow fp16", False),
    ("require_full_delegation", "Require full delegation", False),
    ("enable_op_profiling", "Enable op profiling", False),
    ("op_profiling_output_mode", "Op profiling output mode.", False),
    ("op_profiling_output_file", "Op profiling output file.", False),
    ("max_profiling_buffer_entries", "Max initial profiling buffer entries", False),
    (
        "allow_dynamic_profiling_buffer_increase",
        "Allow dynamic increase on profiling buffer entries",
        False,
    ),
    ("profiling_output_csv_file", "CSV File to export profiling data to", False),
    ("export_model_runtime_info", "Enable Model Runtime Info Export", False),
    ("model_runtime_info_output_file", "Proto File to export model runtime info to", False),
    ("print_preinvoke_state", "Print pre-invoke interpreter state", False),
    ("print_postinvoke_state", "Print post-invoke interpreter state", False),
    ("release_dynamic_tensors", "Release dynamic tensor memory", False),
    ("optimize_memory_for_large_tensors", "Optimize memory usage for large tensors", False),
    ("disable_delegate_clustering", "Disable delegate clustering", False),
    ("enable_builtin_cast_constant_cache", "Constant CAST output cache", False),
    ("output_filepath", "File path to export outputs layer to", False),
    ("output_proto_filepath", "File path to export outputs layer as tf example to", False),
    ("result_file_path", "File path to save the benchmark result in binary proto format", False),
    ("tensor_name_display_length", "Tensor name display length", False),
    ("tensor_type_display_length", "Tensor type display length", False),
    ("alloc_type_display_length", "Tensor allocation type display length", False),
    ("num_threads", "#threads used for CPU inference", False),
    ("max_delegated_partitions", "Max number of delegated partitions", False),
    ("min_nodes_per_partition", "Min nodes per partition", False),
    ("delegate_serialize_dir", "Directory for delegate serialization", False),
    ("delegate_serialize_token", "Model-specific token/key for delegate serialization.", False),
    ("first_delegate_node_index", "Index of the first node that could be delegated", False),
    ("last_delegate_node_index", "Index of the last node that could be delegated", False),
    ("external_delegate_path", "External delegate path", False),
    ("external_delegate_options", "External delegate options", False),
    ("use_xnnpack", "Use xnnpack", False),
    ("xnnpack_force_fp16", "xnnpack_force_fp16", False),
    ("xnnpack_weight_cache_file_path", "xnnpack_weight_cache_file_path", False),
)


@dataclass
class Params:
    """Parsed flags: values for every known flag, which were set, what was not consumed."""

    values: dict[str, Any]
    set_names: set[str] = field(default_factory=set)
    unconsumed: list[str] = field(default_factory=list)
    error: str | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def _parse_value(kind: type, text: str) -> Any:
    if kind is bool:
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError(text)
    if kind is int:
        value = int(text.strip())
        if not -(2**31) <= value < 2**31:
            raise ValueError(text)
        return value
    if kind is float:
        return float(text)
    return text


def parse_flags(args: Sequence[str], nnapi: bool = False) -> Params:
    """`--name=value` flags as tflite::Flags::Parse takes them; a repeated or unknown flag is
    left unconsumed, a bad value is an error. `nnapi`: the TFLite has the NNAPI provider."""
    flags = {**FLAGS, **NNAPI_FLAGS} if nnapi else FLAGS
    params = Params({name: spec.default for name, spec in flags.items()})
    for arg in args:
        name, sep, text = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        spec = flags.get(name)
        if not sep or spec is None or name in params.set_names:
            params.unconsumed.append(arg)
            continue
        try:
            params.values[name] = _parse_value(spec.kind, text)
        except ValueError:
            params.error = f"Failed to parse flag '{name}' against argv '{arg}'"
            return params
        params.set_names.add(name)
    return params


def format_value(value: Any) -> str:
    """A value as C++ `operator<<` prints it (bools 0/1, floats with %g)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return _g(value)
    return str(value)


def _g(value: float) -> str:
    if math.isnan(value):
        return "-nan"
    return f"{value:g}"


def usage(argv0: str) -> str:
    kinds = {int: "int32", float: "float", bool: "bool", str: "string"}
    lines = [f"usage: {argv0}", "Flags:"]
    for spec in FLAGS.values():
        default = format_value(spec.default) if spec.kind is not bool else str(spec.default).lower()
        lines.append(f"\t--{spec.name}={default}\t{kinds[spec.kind]}\toptional\t{spec.help}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Output


class Console:
    """Writes lines with the real prefixes to the real streams, flushing each one.
    `prefix=False`: TFLite <= 2.9 tools print their own lines bare (runtime lines keep theirs)."""

    def __init__(self, out: Any = None, err: Any = None, prefix: bool = True) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.prefix = prefix

    def _write(self, stream: Any, text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    def info(self, text: str) -> None:
        self._write(self.out, f"INFO: {text}" if self.prefix else text)

    def warn(self, text: str) -> None:
        self._write(self.out, f"WARN: {text}" if self.prefix else text)

    def error(self, text: str) -> None:
        self._write(self.err, f"ERROR: {text}" if self.prefix else text)

    def runtime(self, text: str, severity: str = "INFO") -> None:
        """A line of TFLite's minimal logger (stderr)."""
        self._write(self.err, f"{severity}: {text}")

    def raw(self, text: str) -> None:
        self._write(self.out, text)


def stat_line(values: Sequence[int], percentiles: bool = True) -> str:
    """tsl::Stat / StatWithPercentiles::OutputToStream."""
    if not values:
        return "count=0" + (" p5=0 median=0 p95=0" if percentiles else "")
    arr = np.asarray(values, dtype=np.int64)
    count = len(arr)
    lo, hi = int(arr.min()), int(arr.max())
    if lo == hi:
        text = f"count={count} curr={int(arr[-1])}" + ("(all same)" if count > 1 else "")
    else:
        avg = float(arr.sum()) / count
        squared_sum = 0.0
        for value in arr.tolist():  # accumulated in order, in double, as tsl::Stat does
            squared_sum += float(value) * value
        variance = int(squared_sum / count - avg * avg)
        std = int(math.sqrt(variance)) if variance > 0 else 0
        text = (
            f"count={count} first={int(arr[0])} curr={int(arr[-1])} min={lo} max={hi}"
            f" avg={_g(avg)} std={std}"
        )
    if percentiles:
        ordered = np.sort(arr)
        text += " " + " ".join(
            f"{label}={int(ordered[count * p // 100])}"
            for label, p in (("p5", 5), ("median", 50), ("p95", 95))
        )
    return text


@dataclass(frozen=True)
class NodeStats:
    """One row of a profile: every elapsed time (µs) recorded for one node, in call order."""

    node_type: str
    name: str
    run_order: int
    samples: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.samples)


def profile_report(stats: Sequence[NodeStats], runs: int) -> str:
    """StatsCalculator::GetOutputString + GetShortSummary (TF >= 2.13 column layout)."""

    def field(text: str, width: int) -> str:
        return "\t" + text.rjust(width)

    header = (
        field("[node type]", 24)
        + field("[first]", 9)
        + field("[avg ms]", 9)
        + field("[%]", 8)
        + field("[cdf%]", 8)
        + field("[mem KB]", 10)
        + field("[times called]", 9)
        + "\t[Name]"
    )
    calls = {id(s): max(1, len(s.samples) // runs) for s in stats}
    run_totals = [
        sum(sum(s.samples[r * calls[id(s)] : (r + 1) * calls[id(s)]]) for s in stats)
        for r in range(runs)
    ]
    grand = float(sum(run_totals)) or 1.0

    def table(title: str, ordered: Sequence[NodeStats]) -> list[str]:
        lines = [f"============================== {title} ==============================", header]
        cumulative = 0
        for s in ordered:
            cumulative += s.total
            lines.append(
                field(s.node_type, 24)
                + field(f"{s.samples[0] / 1000.0:.3f}", 9)
                + field(f"{s.total / len(s.samples) / 1000.0:.3f}", 9)
                + field(f"{s.total * 100.0 / grand:.3f}", 7)
                + "%"
                + field(f"{cumulative * 100.0 / grand:.3f}", 7)
                + "%"
                + field(f"{0.0:.3f}", 10)
                + field(str(calls[id(s)]), 9)
                + "\t"
                + s.name
            )
        return [*lines, ""]

    n = len(stats)
    by_order = sorted(stats, key=lambda s: str(n - s.run_order).rjust(20), reverse=True)
    by_time = sorted(stats, key=lambda s: (-s.total / len(s.samples), s.run_order))[:10]
    lines = table("Run Order", by_order) + table("Top by Computation Time", by_time)
    lines += _summary_by_type(stats, runs, field)
    lines += [
        f"Timings (microseconds): {stat_line(run_totals, percentiles=False)}",
        "Memory (bytes): count=0",
        f"{n} nodes observed",
        "",
        "",
    ]
    return "\n".join(lines)


def _summary_by_type(stats: Sequence[NodeStats], runs: int, field: Any) -> list[str]:
    per_type: dict[str, list[int]] = {}
    for s in stats:
        entry = per_type.setdefault(s.node_type, [0, 0, 0])
        entry[0] += 1
        entry[1] += s.total // runs
        entry[2] += len(s.samples) // runs
    accumulated = np.float32(sum(v[1] for v in per_type.values()) or 1)
    lines = [
        f"Number of nodes executed: {len(stats)}",
        "============================== Summary by node type ==============================",
        field("[Node type]", 24)
        + field("[count]", 9)
        + field("[avg ms]", 10)
        + field("[avg %]", 11)
        + field("[cdf %]", 11)
        + field("[mem KB]", 10)
        + field("[times called]", 10),
    ]
    cdf = np.float32(0.0)
    for node_type, (count, total_us, called) in sorted(
        per_type.items(), key=lambda kv: (kv[1][1], kv[0]), reverse=True
    ):
        percentage = np.float32(np.float32(total_us) / accumulated * np.float32(100.0))
        cdf = np.float32(cdf + percentage)
        lines.append(
            field(node_type, 24)
            + field(str(count), 9)
            + field(f"{np.float32(total_us) / np.float32(1000.0):.3f}", 10)
            + field(f"{percentage:.3f}", 10)
            + "%"
            + field(f"{cdf:.3f}", 10)
            + "%"
            + field(f"{0.0:.3f}", 10)
            + field(str(called), 9)
        )
    return [*lines, ""]


# ---------------------------------------------------------------------------------------------
# The benchmark


class Failed(Exception):
    """Benchmarking failed: the ERROR lines have been printed; exit 1."""


@dataclass
class Setup:
    """Everything decided before the timed phases."""

    info: ModelInfo
    execute: Path
    plan: ExecutionPlan
    kind: str | None
    options: dict[str, str]
    unit: Unit
    builtin_npu: bool = False  # the NPU runs through TFLite's own ethos-u op (no delegate)

    @property
    def uses_ethosu(self) -> bool:
        return self.kind == "ethos-u" or self.builtin_npu


def sleep_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def _hang() -> None:
    while True:
        time.sleep(3600)


def _die(sig: signal.Signals) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if sig != signal.SIGKILL:
        signal.signal(sig, signal.SIG_DFL)  # no Python handler, no faulthandler dump
    os.kill(os.getpid(), sig)
    _hang()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        board = load_board()
        faults = load_faults(board)
    except EmulatorError as exc:
        console = Console()
        console.info("STARTING!")
        console.error(f"imxbench emulator: {exc}")
        console.error("Benchmarking failed.")
        return 1
    console = Console(prefix=board.log.info_prefix)
    console.info("STARTING!")
    console.info(f"imxbench emulator: timings are modelled (emulated board {board.soc})")
    if faults.hang:
        _hang()
    try:
        _run(args, board, faults, console)
    except Failed:
        console.error("Benchmarking failed.")
        return 1
    return 0


def _run(args: list[str], board: BoardConfig, faults: Faults, console: Console) -> None:
    params = parse_flags(args, board.nnapi)
    argv0 = f"/usr/bin/tensorflow-lite-{board.tflite_version}/examples/benchmark_model"
    if params.error:
        console.error(params.error)
        console.error(usage(argv0))
        raise Failed
    if params["help"]:
        console.error(usage(argv0))
        raise Failed
    if params.unconsumed:
        console.warn("Unconsumed cmdline flags: " + " ".join(params.unconsumed))
    if not params["graph"]:
        console.error("Please specify the name of your TF Lite input file with --graph")
        raise Failed
    _log_params(params, console, board.log)
    init_start = time.monotonic()
    setup = _init(params, board, faults, console)
    noise = cost_model.Noise(board.noise_pct, invocation_seed(board))
    runner = _host_runner(setup, board, console)
    _run_phases(params, board, faults, console, setup, runner, noise, init_start)


def _log_params(params: Params, console: Console, log: LogFormat) -> None:
    verbose = bool(params["verbose"])
    console.info(f"Log parameter values verbosely: [{int(verbose)}]")
    for name, label, always in ECHO:
        if name == "signature_to_run_for" and not log.signature_echo:
            continue
        if always or verbose or name in params.set_names:
            console.info(f"{label}: [{format_value(params[name])}]")
    if "use_nnapi" in params.set_names:  # the NNAPI provider's LogParams (`Use nnapi : [1]`)
        console.info(f"Use nnapi : [{format_value(params['use_nnapi'])}]")


def _init(params: Params, board: BoardConfig, faults: Faults, console: Console) -> Setup:
    graph = Path(params["graph"])
    if not graph.is_file() or not os.access(graph, os.R_OK):
        console.error(f"Could not open '{graph}'.")
        console.error(f"Failed to load model {graph}")
        raise Failed
    try:
        info = inspect_model(graph)
    except ConfigError:
        console.error("The model is not a valid Flatbuffer file")
        console.error(f"Failed to load model {graph}")
        raise Failed from None
    console.info(f"Loaded model {graph}")
    console.runtime("Initialized TensorFlow Lite runtime.")
    setup = Setup(info, graph, build_plan(info, set()), None, {}, "cpu")
    library = str(params["external_delegate_path"])
    xnnpack = bool(params["use_xnnpack"])
    loaded = _create_external_delegate(setup, params, board, faults, console, library)
    nnapi = bool(params.values.get("use_nnapi"))
    if nnapi:
        console.info("NNAPI delegate created.")
    if xnnpack:
        console.runtime("Created TensorFlow Lite XNNPACK delegate for CPU.")
        console.info("XNNPACK delegate created.")
    applied = int(bool(library)) + int(xnnpack) + int(nnapi)
    if applied >= 2 or board.log.always_going_to_apply:
        console.info(f"Going to apply {applied} delegates one after another.")
    if nnapi:
        _apply_nnapi(setup, params, console)
    if library:
        _apply_external_delegate(setup, params, console, loaded)
    if board.ethosu_builtin and setup.kind != "ethos-u":
        _builtin_ethosu(setup, console)
    if xnnpack:
        custom = {op.index for op in info.operators if op.is_custom}
        takes = [n for n in setup.plan.nodes if not n.delegated and n.index not in custom]
        full = len(takes) == len(setup.plan.nodes) > 0
        outcome = ExecutionPlan((), 0, 0, 1 if takes else 0, Placement())
        console.info(_applied_line("XNNPACK", outcome, full))
        if params["require_full_delegation"] and not full:
            console.error("Disallowed CPU fallback detected.")
            raise Failed
    elif params["require_full_delegation"] and not library and not nnapi:
        console.error("Disallowed CPU fallback detected.")
        raise Failed
    if "use_xnnpack" not in params.set_names and not setup.plan.fully_delegated:
        console.runtime("Created TensorFlow Lite XNNPACK delegate for CPU.")
    return setup


def _applied_line(name: str, plan: ExecutionPlan, full: bool = False) -> str:
    if full or plan.fully_delegated:
        return (
            f"Explicitly applied {name} delegate, and the model graph will be completely"
            " executed by the delegate."
        )
    if plan.partitions > 0:
        return (
            f"Explicitly applied {name} delegate, and the model graph will be partially executed"
            f" by the delegate w/ {plan.partitions} delegate kernels."
        )
    return (
        f"Though {name} delegate is explicitly applied, the model graph will not be executed by"
        " the delegate."
    )


def _create_external_delegate(
    setup: Setup,
    params: Params,
    board: BoardConfig,
    faults: Faults,
    console: Console,
    library: str,
) -> bool:
    """dlopen + create: the option echo and `EXTERNAL delegate created.`; False if the
    library did not load (the tool then carries on with an inert delegate)."""
    if not library:
        return False
    error = delegate_load_error(board, faults, library)
    if error is not None:
        console.runtime(f"Unable to load external delegate from : {library} ({error})")
        console.info("EXTERNAL delegate created.")
        return False
    setup.kind = delegate_kind(board, library)
    setup.options = parse_delegate_options(str(params["external_delegate_options"]))
    for line in delegate_echo_lines(setup.kind, setup.options):
        console.info(line)
    console.info("EXTERNAL delegate created.")
    return True


def _apply_external_delegate(setup: Setup, params: Params, console: Console, loaded: bool) -> None:
    """ModifyGraphWithDelegate: decide what the delegate claims and print the outcome."""
    options = setup.options
    if (
        loaded
        and setup.kind == "vx"
        and (
            _option_int(options, "error_during_init", 0)
            or _option_int(options, "error_during_prepare", 0)
        )
    ):
        console.error("Failed to apply EXTERNAL delegate.")
        raise Failed
    if loaded:
        try:
            setup.plan, execute, setup.unit = delegate_plan(
                setup.info, setup.kind, setup.execute, os.environ
            )
        except EmulatorError as exc:
            console.error(
                "imxbench emulator: cannot execute Ethos-U command streams without the source"
                f" model ({exc})"
            )
            console.error("Failed to apply EXTERNAL delegate.")
            raise Failed from None
        setup.execute = execute or setup.execute
    if loaded and setup.kind == "vx":
        for op in setup.info.operators:
            rejected = vx_rejection(setup.info, op.index)
            if rejected is not None and not op.is_custom:
                console.runtime(rejected[1], rejected[0])
    if loaded and setup.kind == "ethos-u":
        plan = setup.plan
        console.runtime(
            f"{ETHOSU_NODE_TYPE}: {plan.claimed} nodes delegated out of {plan.total_ops} nodes"
            f" with {plan.partitions} partitions."
        )
    console.info(_applied_line("EXTERNAL", setup.plan))
    _require_full(params, setup.plan, console)


NNAPI_NODE_TYPE = "TfLiteNnapiDelegate"  # the NNAPI delegate kernel's name in op profiles


def _apply_nnapi(setup: Setup, params: Params, console: Console) -> None:
    """`--use_nnapi=true` on an 8M Plus whose TFLite has NNAPI (L5.4-L5.10.52): NXP's NNAPI
    runtime (nnrt) drives the same VeriSilicon NPU through the same driver, so the graph is
    placed and timed as the VX delegate's (an assumption, docs/DESIGN.md "BSP releases")."""
    claimed = claimed_ops(setup.info, "vx")
    setup.plan = build_plan(setup.info, claimed, "npu", NNAPI_NODE_TYPE)
    setup.kind, setup.unit = "vx", "npu"
    console.info(_applied_line("NNAPI", setup.plan))
    _require_full(params, setup.plan, console)


def _builtin_ethosu(setup: Setup, console: Console) -> None:
    """TFLite built with TFLITE_ENABLE_ETHOSU (LF5.15, NXP_FACTS §4.3, §10): its `ethos-u`
    custom op kernel runs Vela command streams on the NPU itself, no delegate, no log line."""
    if not any(op.name == ETHOS_U_CUSTOM_OP for op in setup.info.operators):
        return
    try:
        plan, execute, unit = ethosu_plan(setup.info, setup.execute, ETHOS_U_CUSTOM_OP, True)
    except EmulatorError as exc:
        console.error(
            "imxbench emulator: cannot execute Ethos-U command streams without the source"
            f" model ({exc})"
        )
        console.error("Failed to allocate tensors!")
        raise Failed from None
    setup.plan, setup.unit, setup.builtin_npu = plan, unit, True
    setup.execute = execute or setup.execute


def _require_full(params: Params, plan: ExecutionPlan, console: Console) -> None:
    if params["require_full_delegation"] and not plan.fully_delegated:
        console.error("Disallowed CPU fallback detected.")
        raise Failed


def _host_runner(setup: Setup, board: BoardConfig, console: Console) -> HostRunner:
    try:
        return HostRunner(setup.execute, board.seed)
    except HostRunError as exc:
        for line in exc.lines:
            console.runtime(line, "ERROR")  # the runtime's error reporter keeps its prefix
        console.error("Failed to allocate tensors!")
        raise Failed from None


def _run_phases(
    params: Params,
    board: BoardConfig,
    faults: Faults,
    console: Console,
    setup: Setup,
    runner: HostRunner,
    noise: cost_model.Noise,
    init_start: float,
) -> None:
    soc, plan, info = board.soc, setup.plan, setup.info
    threads = int(params["num_threads"])
    slowdown = faults.slowdown_for(
        str(params["external_delegate_path"]), setup.unit if setup.kind else None
    )
    xnnpack = bool(params["use_xnnpack"]) or "use_xnnpack" not in params.set_names
    firmware_boot = setup.uses_ethosu and plan.partitions > 0 and _start_npu_firmware(board)
    init_us = int(
        cost_model.init_us(
            soc,
            plan.placement,
            info.size_bytes,
            xnnpack,
            setup.kind,
            slowdown,
            npu_firmware_boot=firmware_boot,
        )
    )
    console.info(f"The input model file size (MB): {_g(info.size_bytes / 1e6)}")
    sleep_until(init_start + init_us / 1e6)
    console.info(f"Initialized session in {_g(init_us / 1e3)}ms.")

    cache_file = None
    if setup.kind == "vx" and plan.partitions > 0:
        cache_file = graph_cache_file(os.environ, setup.options, info.sha256, setup.unit)
    warm = cache_file is not None and cache_file.exists()
    steady = cost_model.inference_us(soc, plan.placement, threads, slowdown)
    first = cost_model.first_inference_us(
        soc, plan.placement, threads, graph_cache_warm=warm, slowdown=slowdown
    )
    max_secs = float(params["max_secs"])
    delay = float(params["run_delay"])
    heat = _Heat.start(board, faults, setup, threads)
    warmup = cost_model.phase_durations_us(
        steady,
        noise,
        int(params["warmup_runs"]),
        float(params["warmup_min_secs"]),
        max_secs,
        first_us=first,
        run_delay_secs=delay,
    )
    warmup_plan = heat.plan(
        warmup, int(params["warmup_runs"]), float(params["warmup_min_secs"]), max_secs, delay
    )
    warmup = warmup_plan.durations_us
    _phase_header(console, int(params["warmup_runs"]), params["warmup_min_secs"], max_secs)
    if faults.crash:
        _die(signal.SIGSEGV)
    _timed_phase(runner, warmup, delay, setup, console, heat, warmup_plan)
    if cache_file is not None and not warm and len(warmup):
        write_graph_cache(cache_file, info.sha256, setup.unit)
    percentiles = board.log.percentiles
    console.info(stat_line(warmup.tolist(), percentiles) + "\n")

    regular = cost_model.phase_durations_us(
        steady,
        noise,
        int(params["num_runs"]),
        float(params["min_secs"]),
        max_secs,
        first_us=None if len(warmup) else first,  # no warm-up: the first regular run pays
        run_delay_secs=delay,
    )
    regular_plan = heat.plan(
        regular, int(params["num_runs"]), float(params["min_secs"]), max_secs, delay
    )
    regular = regular_plan.durations_us
    _phase_header(console, int(params["num_runs"]), params["min_secs"], max_secs)
    if faults.oom:
        time.sleep(min(0.2, float(regular.sum()) / 1e6))
        memory = cost_model.memory_footprint(board.soc, plan.placement, info.size_bytes)
        rss_kb = int(memory.peak_mb * 1024)
        killed = kernel_log.oom_lines(os.getpid(), "benchmark_model", rss_kb * 3, rss_kb)
        kernel_log.append(board.control_dir, killed)
        _die(signal.SIGKILL)
    _timed_phase(runner, regular, delay, setup, console, heat, regular_plan)
    if cache_file is not None and not warm and not len(warmup) and len(regular):
        write_graph_cache(cache_file, info.sha256, setup.unit)
    console.info(stat_line(regular.tolist(), percentiles) + "\n")
    _report(params, board, console, setup, init_us, warmup, regular)


def _phase_header(console: Console, runs: int, min_secs: float, max_secs: float) -> None:
    console.info(
        f"Running benchmark for at least {runs} iterations and at least {_g(float(min_secs))}"
        f" seconds but terminate if exceeding {_g(max_secs)} seconds."
    )


FIRMWARE_FLAG = "ethosu_firmware_running"


def _start_npu_firmware(board: BoardConfig) -> bool:
    """True if this is the first NPU use since boot (the flag in the control dir is removed at
    every boot); marks the firmware running and the M33 remoteproc `running`."""
    if board.control_dir is None:
        return False
    try:
        fd = os.open(board.control_dir / FIRMWARE_FLAG, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    except OSError:
        return False
    os.close(fd)
    try:
        size = Path(ETHOSU_FIRMWARE).stat().st_size
    except OSError:
        size = 0
    kernel_log.append(board.control_dir, kernel_log.firmware_start_lines(size))
    if board.thermal_paths is not None:
        state = board.thermal_paths.sys_class / "remoteproc/remoteproc0/state"
        with contextlib.suppress(OSError):
            if state.exists():
                state.write_text("running\n")
    return True


@dataclass
class _Heat:
    """The thermal side of one invocation: throttles its phases and publishes the temperature
    while it runs (emulator/thermal.py). Inert without a board state (bare board.json)."""

    board: BoardConfig
    time_scale: float
    power: float
    cpu_share: float
    governor: thermal.Governor = field(default_factory=thermal.Governor)

    @classmethod
    def start(cls, board: BoardConfig, faults: Faults, setup: Setup, threads: int) -> _Heat:
        soc = board.soc
        placement = setup.plan.placement
        share = cost_model.cpu_share(soc, placement, threads)
        cores = cost_model.CORES[soc]
        n = cost_model.effective_threads(soc, threads)
        accel = thermal.LOAD_POWER.get(placement.unit, 0.0) if placement.partitions else 0.0
        power = share * thermal.cpu_power(n, cores) + (1.0 - share) * accel
        governor = thermal.Governor()
        if board.thermal_paths is not None:
            governor = thermal.read_governor(board.thermal_paths.sys_devices)
        return cls(board, faults.thermal_time_scale, power, share, governor)

    def plan(
        self, base: np.ndarray, min_runs: int, min_secs: float, max_secs: float, delay: float
    ) -> thermal.PhasePlan:
        paths = self.board.thermal_paths
        if paths is None or len(base) == 0:
            return thermal.PhasePlan(base, ())
        spec = soc_spec(self.board.soc)
        now = time.time()
        with thermal.locked(paths.control_dir):
            state = thermal.load_state(spec, paths.control_dir, now)
        temp = thermal.temp_at(spec, state, now, self.time_scale)
        return thermal.plan_phase(
            spec,
            self.governor,
            temp,
            base,
            power=self.power,
            cpu_share=self.cpu_share,
            time_scale=self.time_scale,
            min_runs=min_runs,
            min_secs=min_secs,
            max_secs=max_secs,
            delay_secs=delay,
        )

    def publish(
        self, start_wall: float, elapsed: float, temp: float, power: float, end: float
    ) -> None:
        """Record the temperature at `elapsed` s into the phase and the load until `end`."""
        paths = self.board.thermal_paths
        if paths is None:
            return
        spec = soc_spec(self.board.soc)
        state = thermal.ThermalState(temp, start_wall + elapsed, end, power)
        with contextlib.suppress(OSError), thermal.locked(paths.control_dir):
            thermal.save_state(paths.control_dir, state)
        thermal.publish(spec, paths, temp, busy=power > 0)


def _timed_phase(
    runner: HostRunner,
    durations: np.ndarray,
    delay: float,
    setup: Setup,
    console: Console,
    heat: _Heat | None = None,
    plan: thermal.PhasePlan | None = None,
) -> None:
    """Run the model for real once, then sleep until the modelled phase time has passed,
    publishing the temperature along the way."""
    start = time.monotonic()
    if len(durations) == 0:
        return
    if setup.kind == "vx" and _option_int(setup.options, "error_during_invoke", 0):
        node = setup.plan.nodes[0].index
        console.runtime(f"Node number {node} ({VX_NODE_TYPE}) failed to invoke.", "ERROR")
        raise Failed
    try:
        runner.invoke()
    except HostRunError as exc:
        for line in exc.lines:
            console.runtime(line, "ERROR")  # the runtime's error reporter keeps its prefix
        raise Failed from None
    if setup.kind == "ethos-u" and setup.plan.partitions and npu_profiling.enabled(setup.options):
        _print_npu_profile(setup, durations, console, heat.cpu_share if heat else 0.0)
    total_us = float(durations.sum()) + len(durations) * max(delay, 0.0) * 1e6
    if heat is not None and plan is not None and plan.checkpoints:
        wall = time.time() - (time.monotonic() - start)
        end = wall + total_us / 1e6
        for elapsed, temp, power in plan.checkpoints:
            sleep_until(start + elapsed)
            heat.publish(wall, elapsed, temp, power, end if power > 0 else 0.0)
    sleep_until(start + total_us / 1e6)


def _print_npu_profile(
    setup: Setup, durations: np.ndarray, console: Console, cpu_share: float
) -> None:
    """The Ethos-U delegate's per-inference profiling lines (emulator/npu_profiling.py)."""
    try:
        op_macs = [op.macs for op in inspect_model(setup.execute).operators]
    except ConfigError:
        op_macs = []
    console.runtime(npu_profiling.NOTE)
    for inference_us in durations.tolist():
        for line in npu_profiling.inference_lines(
            setup.options, inference_us, 1.0 - cpu_share, op_macs, setup.plan.partitions
        ):
            console.raw(line)


def _report(
    params: Params,
    board: BoardConfig,
    console: Console,
    setup: Setup,
    init_us: int,
    warmup: np.ndarray,
    regular: np.ndarray,
) -> None:
    # An empty tsl::Stat<int64_t> averages to quiet_NaN<int64_t>(), which is 0.
    warm_avg = float(warmup.mean()) if len(warmup) else 0.0
    inf_avg = float(regular.mean()) if len(regular) else 0.0
    first = int(warmup[0]) if len(warmup) else 0
    console.info(
        f"Inference timings in us: Init: {init_us}, First inference: {first}, Warmup (avg):"
        f" {_g(warm_avg)}, Inference (avg): {_g(inf_avg)}"
    )
    memory = cost_model.memory_footprint(board.soc, setup.plan.placement, setup.info.size_bytes)
    console.info(
        "Note: as the benchmark tool itself affects memory footprint, the following is only"
        " APPROXIMATE to the actual memory footprint of the model at runtime. Take the"
        " information at your discretion."
    )
    label = (
        "Peak memory footprint (MB)"
        if board.log.peak_memory_label
        else "Memory footprint delta from the start of the tool (MB)"
    )
    console.info(f"{label}: init={_g(memory.init_mb)} overall={_g(memory.overall_mb)}")
    if params["report_peak_memory_footprint"]:
        console.info(
            f"Overall peak memory footprint (MB) via periodic monitoring: {_g(memory.peak_mb)}"
        )
        rss = int(memory.peak_mb)
        shared = min(rss, int(4 + setup.info.size_bytes / 1e6))
        console.info("Memory status at the end of exeution:")
        console.info(f"- VmRSS              : {rss} MB")
        console.info(f"+ RssAnnon           : {rss - shared} MB")
        console.info(f"+ RssFile + RssShmem : {shared} MB")
    if params["enable_op_profiling"] and len(regular):
        init_stats = _init_profile(setup, init_us)
        console.info(
            "Profiling Info for Benchmark Initialization:\n" + profile_report(init_stats, 1) + "\n"
        )
        run_stats = _run_profile(board, setup, int(params["num_threads"]), regular)
        console.info(
            "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
            + profile_report(run_stats, len(regular))
            + "\n"
        )


def _init_profile(setup: Setup, init_us: int) -> list[NodeStats]:
    """ModifyGraphWithDelegate/AllocateTensors rows, proportioned like fixtures 15 and 17."""
    if setup.kind is None:
        return [
            NodeStats("AllocateTensors", "AllocateTensors/0", 0, (max(1, int(0.39 * init_us)),))
        ]
    modify = max(1, int(0.0953 * init_us))
    first_alloc = max(1, int(0.0059 * init_us))
    second_alloc = max(1, int(0.0002 * init_us))
    return [
        NodeStats("ModifyGraphWithDelegate", "ModifyGraphWithDelegate/0", 0, (modify,)),
        NodeStats("AllocateTensors", "AllocateTensors/0", 1, (first_alloc, second_alloc)),
    ]


def _run_profile(
    board: BoardConfig, setup: Setup, threads: int, regular: np.ndarray
) -> list[NodeStats]:
    """Per-node times: delegate kernels by the delegate cost, CPU ops by MAC-weighted share of
    the CPU cost; every run's node times add up to that run's time minus ~1% invoke overhead."""
    soc, plan = board.soc, setup.plan
    cpu_total = cost_model.cpu_inference_us(
        soc, plan.placement.cpu_macs, threads, plan.placement.cpu_float_macs
    )
    weights = sum(node.weight for node in plan.nodes if not node.delegated) or 1.0
    shares = []
    for node in plan.nodes:
        if node.delegated:
            shares.append(cost_model.delegate_inference_us(soc, setup.unit, node.macs, 1))
        else:
            shares.append(cpu_total * (node.weight or 0.0) / weights)
    total_share = sum(shares) or 1.0
    stats = []
    for node, share in zip(plan.nodes, shares, strict=True):
        elapsed = tuple(max(1, round(r * 0.99 * share / total_share)) for r in regular)
        stats.append(NodeStats(node.node_type, node.name, node.index, elapsed))
    return stats


if __name__ == "__main__":
    sys.exit(main())
