"""The run plan: cells, steps and exact benchmark_model command lines (pure)."""

from __future__ import annotations

from imxbench.analysis.plan import RunSettings, plan_cells
from imxbench.config.delegates import load_catalogue, select_delegates

BM = "/usr/bin/tensorflow-lite-2.19.0/examples/benchmark_model"
WORKDIR = "/home/root/imxbench"


def cells_for(soc: str, cpu_count: int, settings: RunSettings | None = None):  # type: ignore[no-untyped-def]
    specs = select_delegates(load_catalogue(), soc, None)
    graphs = {s.name: f"{WORKDIR}/models/{s.name}.tflite" for s in specs}
    return {
        c.name: c
        for c in plan_cells(specs, graphs, BM, WORKDIR, cpu_count, settings or RunSettings())
    }


def test_imx8mp_gets_cpu_at_1_and_4_threads_vx_and_gpu() -> None:
    cells = cells_for("imx8mp", 4)
    assert list(cells) == ["cpu@1t", "cpu@4t", "gpu", "vx"]
    timed = [s for s in cells["cpu@4t"].steps if s.kind == "timed"]
    assert [s.repetition for s in timed] == [1, 2, 3]
    assert "--num_threads=4" in timed[0].argv
    assert not any(a.startswith("--external_delegate") for a in timed[0].argv)


def test_vx_has_a_cold_step_that_clears_the_viv_cache_then_warm_repetitions() -> None:
    vx = cells_for("imx8mp", 4)["vx"]
    kinds = [s.kind for s in vx.steps]
    assert kinds == ["cold", "timed", "timed", "timed", "profile"]
    cold = vx.steps[0]
    assert cold.clear_dir == f"{WORKDIR}/cache/vx-npu"
    assert cold.env["USE_GPU_INFERENCE"] == "0"
    assert cold.env["VIV_VX_ENABLE_CACHE_GRAPH_BINARY"] == "1"
    assert cold.env["VIV_VX_CACHE_BINARY_GRAPH_DIR"] == f"{WORKDIR}/cache/vx-npu"
    assert "--external_delegate_path=/usr/lib/libvx_delegate.so" in cold.argv
    assert all(s.clear_dir is None for s in vx.steps[1:])
    assert vx.steps[-1].argv[-1] == "--enable_op_profiling=true"
    assert "--enable_op_profiling=true" not in vx.steps[1].argv


def test_gpu_selects_the_gpu_with_its_own_cache() -> None:
    gpu = cells_for("imx8mp", 4)["gpu"]
    assert gpu.steps[1].env["USE_GPU_INFERENCE"] == "1"
    assert gpu.steps[0].clear_dir == f"{WORKDIR}/cache/vx-gpu"


def test_imx93_gets_cpu_at_1_and_2_threads_and_ethosu_without_cold_step() -> None:
    cells = cells_for("imx93", 2)
    assert list(cells) == ["cpu@1t", "cpu@2t", "ethosu"]
    ethosu = cells["ethosu"]
    assert [s.kind for s in ethosu.steps] == ["timed", "timed", "timed", "profile"]
    assert "--external_delegate_path=/usr/lib/libethosu_delegate.so" in ethosu.steps[0].argv
    assert f"--graph={WORKDIR}/models/ethosu.tflite" in ethosu.steps[0].argv


def test_settings_reach_the_command_line() -> None:
    settings = RunSettings(
        repetitions=5,
        num_runs=20,
        warmup_runs=3,
        min_secs=0.5,
        threads=2,
        op_profile=False,
        cold_run=False,
    )
    cells = cells_for("imx8mp", 4, settings)
    assert list(cells) == ["cpu@2t", "gpu", "vx"]  # --threads replaces the 1/all variants
    steps = cells["vx"].steps
    assert [s.kind for s in steps] == ["timed"] * 5
    argv = steps[0].argv
    assert argv[:5] == (
        BM,
        f"--graph={WORKDIR}/models/vx.tflite",
        "--num_runs=20",
        "--warmup_runs=3",
        "--min_secs=0.5",
    )
    assert "--num_threads=2" in argv


def test_single_core_board_has_one_cpu_variant() -> None:
    assert [c for c in cells_for("imx93", 1) if c.startswith("cpu")] == ["cpu@1t"]
