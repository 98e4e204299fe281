"""The emulated board's timing model: pure functions, no I/O, no clock.

Every figure the emulator prints (inference latency, first inference, init time, memory) is
computed here from a model's MAC count (analysis/model_info.py), where its work runs (CPU, NPU,
GPU) and the SoC. Published NXP numbers for one reference model are reproduced exactly; other
models are scaled by MACs.

Calibration table (µs per inference, int8, benchmark_model)
-------------------------------------------------------------
Reference model: MLPerf Tiny ResNet-8 `pretrainedResnet_quant.tflite`,
REFERENCE_MACS = 12,505,728 MACs (imxbench.analysis.model_info; Vela 5.2 reports 12,505,748).

| SoC      | target                    | published       | source                               |
|----------|---------------------------|-----------------|--------------------------------------|
| imx8mp   | CPU 1 thread              | 3,830           | NXP eIQ Model Zoo v1.4 (NXP_FACTS §7)|
| imx8mp   | CPU 4 threads             | 1,430           | same                                 |
| imx8mp   | NPU (VX delegate)         | 220             | same                                 |
| imx93    | CPU 1 thread              | 1,650           | same                                 |
| imx93    | CPU 2 threads             | 1,650           | same                                 |
| imx93    | NPU (Ethos-U, Vela model) | 330             | same                                 |
| imx8mp   | NPU, MobileNet v1 1.0 224 | 2,525.59        | fixture 15 (i.MX 8M Plus EVK)        |
| imx8mp   | GPU, MobileNet v1 1.0 224 | 163,347         | fixture 16 (USE_GPU_INFERENCE=1)     |
| imx93    | NPU, MobileNet v1 1.0 224 | 3,880           | Forlinx OK-MX9352 (NXP_FACTS §7)     |
| imx8mp   | NPU first inference, MNv1 | 4,625,131       | fixture 15 (OpenVX graph compile)    |
| imx8mp   | GPU first inference, MNv1 | 1,583,707       | fixture 16                           |

MobileNet v1 1.0 224 is taken as MOBILENET_V1_MACS = 569 M MACs (Howard et al., 2017).

Derived model (all times scale with `slowdown` from faults.json):

* CPU: `macs * cpu_us_per_mac * amdahl(threads) * float32_factor`, at least CPU_FLOOR_US.
  `cpu_us_per_mac` = reference 1-thread latency / REFERENCE_MACS (0.306 ns/MAC on the 8M
  Plus A53, 0.132 ns/MAC on the i.MX 93 A55). Threads: Amdahl `(1 - p) + p / n` with n capped
  at the core count (4 / 2) and `num_threads <= 0` meaning 1 (NXP tables call the default
  invocation "1 thread"). p is fitted on the reference pair: 0.8355 (8M Plus), 0.0 (i.MX 93:
  the zoo shows no 2-thread gain for this model; other zoo rows show p ~ 0.55-0.6, so models
  other than the reference are optimistic about single-thread on the i.MX 93).
  float32 models on the CPU: x1.8 on the A53 (no int8 dot-product, int8 gains less) and x2.5
  on the A55 (int8 SDOT); an assumption, no published pair exists for these SoCs.
  Check: MobileNet v1 on the 8M Plus CPU gives 174 ms vs 163 ms measured (fixture 17), +7%.
* NPU: `overhead + macs * us_per_mac`, a two-point fit through the reference model and
  MobileNet v1: 8M Plus 168.2 µs + 4.143 ns/MAC; i.MX 93 250.2 µs + 6.379 ns/MAC. The fixed
  part is the dispatch cost (VX driver submit; Ethos-U RPMsg round trip via the Cortex-M33).
  Each delegate partition pays the overhead once.
* GPU (8M Plus, VX delegate with USE_GPU_INFERENCE=1): fixtures 15 vs 16 (same model, same
  EVK) give GPU/NPU = 163,347 / 2,525.59 = 64.68. The GPU keeps the NPU's fixed overhead and
  takes a per-MAC cost that reproduces 64.68 x the NPU's MobileNet v1 latency (0.2868 ns/MAC).
* First inference: CPU x1.05 (fixtures 10, 17: +4..7%); VX NPU/GPU add an OpenVX graph compile
  `200 ms + macs * k` with k from fixture 15 (NPU, 7.77 ns/MAC) and 16 (GPU, 2.14 ns/MAC) --
  the 200 ms floor is fixture 06's first inference of a tiny MobileNet on a VeriSilicon NPU --
  unless the VIV graph cache is warm, which costs 5% of the compile (assumption: a cached NBG
  is loaded, not built). Ethos-U adds 1.5 ms (assumption: command-stream upload to the M33).
* Init ("Initialized session in"): 2 ms interpreter build, + 20 ns per model byte when XNNPACK
  packs the weights of CPU ops (fixture 31: 87.6 ms for 4.28 MB), + 10.4 ms for the VX
  delegate (fixture 15: 12.434 ms), + 6 ms for the Ethos-U delegate (assumption).
  The first Ethos-U use after boot also starts the NPU firmware on the Cortex-M33 (the kernel
  driver boots `ethosu_firmware` through remoteproc when /dev/ethosu0 is first opened,
  NXP_FACTS §4.4): + ETHOSU_FIRMWARE_BOOT_US = 45 ms in Init (assumption: no published figure;
  remoteproc load of the ~240 KB image + M33 start + RPMsg channel announcement). Later runs
  until the next reboot do not pay it.
* Memory delta (MB), fitted on fixtures 17 (CPU) and 15/16 (VX): CPU init 0.7 + 0.8 x model MB,
  overall init + 1.2 + 1.2 x model MB; VX init 3.85 + 0.8 x MB, overall init + 25 + 0.5 x MB
  (galcore buffers); Ethos-U init 1.5 + 0.8 x MB, overall init + 3 + MB (assumption). Peak RSS
  via periodic monitoring = overall + 4.5 MB of the tool itself (fixture 34).
* Noise: multiplicative lognormal factors with mean 1: one per process (run-to-run offset,
  coefficient of variation noise_pct/2) and one per inference (jitter, CV noise_pct), drawn
  from a numpy Generator seeded from board.json's `seed` and the board's invocation count
  (None = fresh entropy): a seeded board replays the same sequence of runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Unit = Literal["cpu", "npu", "gpu"]

REFERENCE_MACS = 12_505_728
MOBILENET_V1_MACS = 569_000_000

# Published latencies, µs (see the module docstring for sources).
REF_CPU_US: dict[str, dict[int, float]] = {
    "imx8mp": {1: 3830.0, 4: 1430.0},
    "imx93": {1: 1650.0, 2: 1650.0},
}
REF_NPU_US = {"imx8mp": 220.0, "imx93": 330.0}
MNV1_NPU_US = {"imx8mp": 2525.59, "imx93": 3880.0}
MNV1_GPU_US_8MP = 163_347.0
MNV1_NPU_FIRST_US_8MP = 4_625_131.0
MNV1_GPU_FIRST_US_8MP = 1_583_707.0
GPU_NPU_RATIO_8MP = MNV1_GPU_US_8MP / MNV1_NPU_US["imx8mp"]

CPU_FLOOR_US = 10.0
CPU_FIRST_FACTOR = 1.05
FLOAT32_CPU_FACTOR = {"imx8mp": 1.8, "imx93": 2.5}
CORES = {"imx8mp": 4, "imx93": 2}
VX_COMPILE_FLOOR_US = 200_000.0
VX_WARM_CACHE_FRACTION = 0.05
ETHOSU_FIRST_EXTRA_US = 1500.0
INIT_BASE_US = 2000.0
XNNPACK_PACK_US_PER_BYTE = 0.02
DELEGATE_INIT_US = {"vx": 10_400.0, "ethos-u": 6000.0}
ETHOSU_FIRMWARE_BOOT_US = 45_000.0
TOOL_RSS_MB = 4.5


@dataclass(frozen=True)
class SocCalibration:
    """Per-SoC constants derived from the published figures."""

    cores: int
    cpu_us_per_mac: float
    amdahl_p: float
    float32_factor: float
    npu_overhead_us: float
    npu_us_per_mac: float
    gpu_overhead_us: float | None
    gpu_us_per_mac: float | None
    npu_compile_us_per_mac: float | None
    gpu_compile_us_per_mac: float | None


def _calibrate(soc: str) -> SocCalibration:
    cpu = REF_CPU_US[soc]
    (n_threads, t_n) = max(cpu.items())
    p = (1.0 - t_n / cpu[1]) / (1.0 - 1.0 / n_threads)
    npu_per_mac = (MNV1_NPU_US[soc] - REF_NPU_US[soc]) / (MOBILENET_V1_MACS - REFERENCE_MACS)
    npu_overhead = REF_NPU_US[soc] - REFERENCE_MACS * npu_per_mac
    gpu_overhead = gpu_per_mac = npu_compile = gpu_compile = None
    if soc == "imx8mp":
        gpu_overhead = npu_overhead
        gpu_per_mac = (MNV1_NPU_US[soc] * GPU_NPU_RATIO_8MP - gpu_overhead) / MOBILENET_V1_MACS
        npu_compile = (
            MNV1_NPU_FIRST_US_8MP - MNV1_NPU_US[soc] - VX_COMPILE_FLOOR_US
        ) / MOBILENET_V1_MACS
        gpu_compile = (
            MNV1_GPU_FIRST_US_8MP - MNV1_GPU_US_8MP - VX_COMPILE_FLOOR_US
        ) / MOBILENET_V1_MACS
    return SocCalibration(
        cores=CORES[soc],
        cpu_us_per_mac=cpu[1] / REFERENCE_MACS,
        amdahl_p=p,
        float32_factor=FLOAT32_CPU_FACTOR[soc],
        npu_overhead_us=npu_overhead,
        npu_us_per_mac=npu_per_mac,
        gpu_overhead_us=gpu_overhead,
        gpu_us_per_mac=gpu_per_mac,
        npu_compile_us_per_mac=npu_compile,
        gpu_compile_us_per_mac=gpu_compile,
    )


CALIBRATION: dict[str, SocCalibration] = {soc: _calibrate(soc) for soc in CORES}


def calibration(soc: str) -> SocCalibration:
    try:
        return CALIBRATION[soc]
    except KeyError:
        raise ValueError(f"unknown SoC {soc!r}; known: {', '.join(CALIBRATION)}") from None


@dataclass(frozen=True)
class Placement:
    """Where a model's work runs: `delegated_macs` on `unit` in `partitions` delegate
    kernels; `cpu_macs` on the CPU, of which `cpu_float_macs` are computed in float32."""

    unit: Unit = "cpu"
    delegated_macs: int = 0
    partitions: int = 0
    cpu_macs: int = 0
    cpu_float_macs: int = 0

    @property
    def has_cpu_part(self) -> bool:
        return self.partitions == 0 or self.cpu_macs > 0


@dataclass(frozen=True)
class MemoryFootprint:
    """benchmark_model's memory figures, MB."""

    init_mb: float
    overall_mb: float
    peak_mb: float


def effective_threads(soc: str, num_threads: int) -> int:
    """num_threads as the CPU sees it: <= 0 means the default (1), capped at the core count."""
    return max(1, min(num_threads, calibration(soc).cores)) if num_threads > 0 else 1


def cpu_inference_us(soc: str, macs: int, num_threads: int = 1, float_macs: int = 0) -> float:
    """Steady-state CPU latency, µs, for `macs` (of which `float_macs` in float32)."""
    cal = calibration(soc)
    n = effective_threads(soc, num_threads)
    amdahl = (1.0 - cal.amdahl_p) + cal.amdahl_p / n
    weighted = (macs - float_macs) + float_macs * cal.float32_factor
    return max(CPU_FLOOR_US, weighted * cal.cpu_us_per_mac * amdahl)


def delegate_inference_us(soc: str, unit: Unit, macs: int, partitions: int = 1) -> float:
    """Steady-state latency, µs, of `partitions` delegate kernels running `macs` on `unit`."""
    cal = calibration(soc)
    if unit == "npu":
        return partitions * cal.npu_overhead_us + macs * cal.npu_us_per_mac
    if unit == "gpu":
        if cal.gpu_overhead_us is None or cal.gpu_us_per_mac is None:
            raise ValueError(f"{soc} has no GPU delegate")
        return partitions * cal.gpu_overhead_us + macs * cal.gpu_us_per_mac
    raise ValueError(f"not an accelerator: {unit!r}")


def inference_us(
    soc: str, placement: Placement, num_threads: int = 1, slowdown: float = 1.0
) -> float:
    """Modelled steady-state latency of one inference, µs."""
    total = 0.0
    if placement.partitions > 0 and placement.unit != "cpu":
        total += delegate_inference_us(
            soc, placement.unit, placement.delegated_macs, placement.partitions
        )
    if placement.has_cpu_part:
        total += cpu_inference_us(soc, placement.cpu_macs, num_threads, placement.cpu_float_macs)
    return total * slowdown


def compile_us(soc: str, unit: Unit, macs: int) -> float:
    """OpenVX graph compile time on the 8M Plus NPU/GPU (cold VIV cache), µs."""
    cal = calibration(soc)
    per_mac = cal.npu_compile_us_per_mac if unit == "npu" else cal.gpu_compile_us_per_mac
    if per_mac is None:
        return 0.0
    return VX_COMPILE_FLOOR_US + macs * per_mac


def first_inference_us(
    soc: str,
    placement: Placement,
    num_threads: int = 1,
    *,
    graph_cache_warm: bool = False,
    slowdown: float = 1.0,
) -> float:
    """Modelled first inference, µs: steady latency plus warm-up/compile costs."""
    steady = inference_us(soc, placement, num_threads)
    extra = 0.0
    if placement.partitions > 0 and placement.unit != "cpu":
        if soc == "imx8mp":
            full = compile_us(soc, placement.unit, placement.delegated_macs)
            extra = full * VX_WARM_CACHE_FRACTION if graph_cache_warm else full
        else:
            extra = ETHOSU_FIRST_EXTRA_US
    else:
        steady *= CPU_FIRST_FACTOR
    return (steady + extra) * slowdown


def init_us(
    soc: str,
    placement: Placement,
    model_size_bytes: int,
    xnnpack: bool,
    delegate: str | None = None,
    slowdown: float = 1.0,
    *,
    npu_firmware_boot: bool = False,
) -> float:
    """Modelled "Initialized session in" time, µs; `delegate` is the external delegate
    created ('vx' or 'ethos-u'), None for none; `npu_firmware_boot`: this run is the first NPU
    use since boot (i.MX 93) and starts the Ethos-U firmware."""
    calibration(soc)
    total = INIT_BASE_US
    if xnnpack and placement.has_cpu_part:
        total += XNNPACK_PACK_US_PER_BYTE * model_size_bytes
    if delegate is not None:
        total += DELEGATE_INIT_US[delegate]
    if npu_firmware_boot:
        total += ETHOSU_FIRMWARE_BOOT_US
    return total * slowdown


def cpu_share(soc: str, placement: Placement, num_threads: int = 1) -> float:
    """The CPU's share of one steady inference (the rest runs on the accelerator)."""
    total = inference_us(soc, placement, num_threads)
    if not placement.has_cpu_part or total <= 0:
        return 0.0
    cpu = cpu_inference_us(soc, placement.cpu_macs, num_threads, placement.cpu_float_macs)
    return min(1.0, cpu / total)


def memory_footprint(soc: str, placement: Placement, model_size_bytes: int) -> MemoryFootprint:
    """Modelled memory deltas (MB) as benchmark_model reports them."""
    calibration(soc)
    mb = model_size_bytes / 1e6
    delegated = placement.partitions > 0 and placement.unit != "cpu"
    if delegated and soc == "imx8mp":
        init = 3.85 + 0.8 * mb
        overall = init + 25.0 + 0.5 * mb
    elif delegated:
        init = 1.5 + 0.8 * mb
        overall = init + 3.0 + 1.0 * mb
    else:
        init = 0.7 + 0.8 * mb
        overall = init + 1.2 + 1.2 * mb
    return MemoryFootprint(init_mb=init, overall_mb=overall, peak_mb=overall + TOOL_RSS_MB)


class Noise:
    """Lognormal noise with mean 1: a per-process offset and per-inference jitter."""

    def __init__(self, noise_pct: float, seed: int | Sequence[int] | None = None) -> None:
        if noise_pct < 0:
            raise ValueError("noise_pct must be >= 0")
        self.rng = np.random.default_rng(seed)
        self.jitter_sigma = _lognormal_sigma(noise_pct / 100.0)
        offset_sigma = _lognormal_sigma(noise_pct / 200.0)
        self.process_factor = float(self._draw(offset_sigma, 1)[0])

    def _draw(self, sigma: float, n: int) -> np.ndarray:
        if sigma == 0.0:
            return np.ones(n)
        return self.rng.lognormal(mean=-sigma * sigma / 2.0, sigma=sigma, size=n)

    def factors(self, n: int) -> np.ndarray:
        """n per-inference multipliers, including the process offset."""
        return self._draw(self.jitter_sigma, n) * self.process_factor


def _lognormal_sigma(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv)) if cv > 0 else 0.0


def phase_durations_us(
    steady_us: float,
    noise: Noise,
    min_runs: int,
    min_secs: float,
    max_secs: float,
    *,
    first_us: float | None = None,
    run_delay_secs: float = 0.0,
) -> np.ndarray:
    """Durations (µs, int64) of the runs benchmark_model would make in one phase.

    Replays BenchmarkModel::Run: run k starts while `(k < min_runs or elapsed < min_secs)` and
    `elapsed <= max_secs`, elapsed counting the runs (and `run_delay`) already made.
    """
    min_us = max(min_secs, 0.0) * 1e6 if min_secs > 0 else -1.0
    max_us = max_secs * 1e6
    delay_us = max(run_delay_secs, 0.0) * 1e6
    durations: list[np.ndarray] = []
    elapsed = 0.0
    count = 0
    chunk = max(64, min_runs)
    while True:
        values = np.maximum(1.0, steady_us * noise.factors(chunk))
        if count == 0 and first_us is not None:
            values[0] = max(1.0, first_us * noise.factors(1)[0])
        values = np.rint(values).astype(np.int64)
        starts = elapsed + np.concatenate(([0.0], np.cumsum(values + delay_us)[:-1]))
        index = np.arange(count, count + chunk)
        runs = ((index < min_runs) | (starts < min_us)) & (starts <= max_us)
        stop = int(np.argmin(runs)) if not runs.all() else chunk
        durations.append(values[:stop])
        if stop < chunk:
            break
        elapsed = float(starts[-1] + values[-1] + delay_us)
        count += chunk
        chunk = min(chunk * 4, 1_000_000)
    return np.concatenate(durations) if durations else np.zeros(0, dtype=np.int64)
