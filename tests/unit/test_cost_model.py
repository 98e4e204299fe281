"""The emulator's timing model reproduces the published figures it is calibrated on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imxbench.emulator import cost_model as cm
from imxbench.emulator.cost_model import Placement

REF = cm.REFERENCE_MACS
MNV1 = cm.MOBILENET_V1_MACS


def cpu(macs: int, float_macs: int = 0) -> Placement:
    return Placement(cpu_macs=macs, cpu_float_macs=float_macs)


def on(unit: cm.Unit, macs: int) -> Placement:
    return Placement(unit=unit, delegated_macs=macs, partitions=1)


def close(value: float, expected: float, tolerance: float = 0.01) -> bool:
    return abs(value - expected) <= tolerance * expected


@pytest.mark.parametrize(
    ("soc", "placement", "threads", "published_us"),
    [
        ("imx8mp", cpu(REF), 1, 3830.0),
        ("imx8mp", cpu(REF), 4, 1430.0),
        ("imx8mp", on("npu", REF), 1, 220.0),
        ("imx93", cpu(REF), 1, 1650.0),
        ("imx93", cpu(REF), 2, 1650.0),
        ("imx93", on("npu", REF), 1, 330.0),
        # second calibration points (MobileNet v1 1.0 224 quant)
        ("imx8mp", on("npu", MNV1), 1, 2525.59),  # fixture 15
        ("imx8mp", on("gpu", MNV1), 1, 163_347.0),  # fixture 16
        ("imx93", on("npu", MNV1), 1, 3880.0),  # Forlinx OK-MX9352
    ],
)
def test_published_figures_at_zero_noise(
    soc: str, placement: Placement, threads: int, published_us: float
) -> None:
    assert close(cm.inference_us(soc, placement, threads), published_us)


def test_gpu_to_npu_ratio_is_the_fixture_ratio() -> None:
    ratio = cm.inference_us("imx8mp", on("gpu", MNV1)) / cm.inference_us("imx8mp", on("npu", MNV1))
    assert close(ratio, 163_347 / 2525.59)
    assert math.isclose(cm.GPU_NPU_RATIO_8MP, 64.677, rel_tol=1e-4)


def test_first_inference_reproduces_the_openvx_compile_of_fixtures_15_and_16() -> None:
    assert close(cm.first_inference_us("imx8mp", on("npu", MNV1)), 4_625_131)
    assert close(cm.first_inference_us("imx8mp", on("gpu", MNV1)), 1_583_707)
    cold = cm.first_inference_us("imx8mp", on("npu", REF))
    warm = cm.first_inference_us("imx8mp", on("npu", REF), graph_cache_warm=True)
    assert cold > cm.VX_COMPILE_FLOOR_US  # the floor: small graphs still compile for ~0.2 s
    assert warm < cold / 10
    assert warm > cm.inference_us("imx8mp", on("npu", REF))


def test_ethos_u_and_cpu_first_inference_are_small() -> None:
    steady = cm.inference_us("imx93", on("npu", REF))
    assert cm.first_inference_us("imx93", on("npu", REF)) == steady + cm.ETHOSU_FIRST_EXTRA_US
    assert close(cm.first_inference_us("imx93", cpu(REF)), 1650 * cm.CPU_FIRST_FACTOR)


def test_scaling_by_macs() -> None:
    assert close(cm.inference_us("imx8mp", cpu(2 * REF)), 2 * 3830)
    small, large = (
        cm.inference_us("imx93", on("npu", REF)),
        cm.inference_us("imx93", on("npu", 2 * REF)),
    )
    assert small < large < 2 * small  # a fixed dispatch cost does not scale
    assert cm.inference_us("imx8mp", cpu(0)) == cm.CPU_FLOOR_US


def test_threads_follow_amdahl_capped_at_the_cores() -> None:
    one, four = cm.inference_us("imx8mp", cpu(REF), 1), cm.inference_us("imx8mp", cpu(REF), 4)
    two = cm.inference_us("imx8mp", cpu(REF), 2)
    assert one > two > four
    assert cm.inference_us("imx8mp", cpu(REF), 8) == four
    assert cm.inference_us("imx8mp", cpu(REF), -1) == one  # the default is one thread
    assert cm.calibration("imx93").amdahl_p == 0.0


def test_float32_cpu_is_slower() -> None:
    int8 = cm.inference_us("imx8mp", cpu(REF))
    assert close(cm.inference_us("imx8mp", cpu(REF, REF)), int8 * 1.8)
    assert close(cm.inference_us("imx93", cpu(REF, REF)), 1650 * 2.5)


def test_partial_delegation_adds_cpu_and_per_partition_overhead() -> None:
    split = Placement("npu", delegated_macs=REF // 2, partitions=2, cpu_macs=REF // 2)
    expected = cm.delegate_inference_us("imx8mp", "npu", REF // 2, 2) + cm.cpu_inference_us(
        "imx8mp", REF // 2
    )
    assert cm.inference_us("imx8mp", split) == pytest.approx(expected)


def test_slowdown_multiplies_everything() -> None:
    assert cm.inference_us("imx93", cpu(REF), slowdown=3.0) == pytest.approx(3 * 1650)
    assert cm.init_us("imx93", cpu(REF), 98_496, True, slowdown=2.0) == pytest.approx(
        2 * cm.init_us("imx93", cpu(REF), 98_496, True)
    )


def test_init_and_memory_match_the_imx8mp_fixtures() -> None:
    mobilenet_bytes = 4_276_350  # "The input model file size (MB): 4.27635"
    vx = on("npu", MNV1)
    assert close(cm.init_us("imx8mp", vx, mobilenet_bytes, True, "vx"), 12_434)  # fixture 15
    memory = cm.memory_footprint("imx8mp", vx, mobilenet_bytes)
    assert close(memory.init_mb, 7.26953) and close(memory.overall_mb, 34.3164)
    memory = cm.memory_footprint("imx8mp", cpu(MNV1), mobilenet_bytes)  # fixture 17
    assert close(memory.init_mb, 4.10156) and close(memory.overall_mb, 10.332, 0.02)
    assert memory.peak_mb == memory.overall_mb + cm.TOOL_RSS_MB


def test_noise_is_reproducible_and_unbiased() -> None:
    a, b = cm.Noise(2.0, seed=42), cm.Noise(2.0, seed=42)
    assert np.array_equal(a.factors(100), b.factors(100))
    assert a.process_factor == b.process_factor
    factors = cm.Noise(2.0, seed=1).factors(200_000)
    assert abs(factors.mean() / cm.Noise(2.0, seed=1).process_factor - 1) < 0.001
    assert 0.018 < factors.std() / factors.mean() < 0.022
    assert np.all(cm.Noise(0.0, seed=None).factors(10) == 1.0)


def test_phase_replays_the_benchmark_loop() -> None:
    quiet = cm.Noise(0.0)
    # num_runs dominates
    assert list(cm.phase_durations_us(220, quiet, 5, 0.0, 150)) == [220] * 5
    # min_secs dominates: runs start while elapsed < 1 s -> ceil(1e6 / 220) runs
    assert len(cm.phase_durations_us(220, quiet, 50, 1.0, 150)) == math.ceil(1e6 / 220)
    # max_secs caps: a run starts while elapsed <= max_secs (0, 1, 2, 3 s)
    assert len(cm.phase_durations_us(1e6, quiet, 500, 0.0, 3.0)) == 4
    # the first run of the warm-up phase carries the first-inference cost
    warmup = cm.phase_durations_us(220, quiet, 1, 0.5, 150, first_us=300_000)
    assert warmup[0] == 300_000 and len(warmup) == 1 + math.ceil(200_000 / 220)
    assert len(cm.phase_durations_us(220, quiet, 0, 0.0, 150)) == 0
    # run_delay counts toward min_secs
    assert len(cm.phase_durations_us(1000, quiet, 1, 0.01, 150, run_delay_secs=0.004)) == 2


def test_unknown_soc_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown SoC"):
        cm.inference_us("imx95", cpu(REF))
    with pytest.raises(ValueError, match="no GPU"):
        cm.inference_us("imx93", on("gpu", REF))
