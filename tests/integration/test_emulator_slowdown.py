"""The emulator's per-delegate slowdown fault (`slowdown_delegates` in faults.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imxbench.emulator.faults import load_faults, update_faults
from imxbench.errors import ConfigError
from tests.integration.test_benchmark_tool import FAST, QUANT, close, make_board, run_tool


def test_slowdown_hits_only_the_listed_delegates(tmp_path: Path) -> None:
    board = make_board(tmp_path / "imx8mp", "imx8mp")
    board.set_faults(slowdown=2.0, slowdown_delegates=["npu"])
    vx = [f"--graph={QUANT}", f"--external_delegate_path={board.delegate}", *FAST]
    npu = run_tool(board, *vx, env=board.env(USE_GPU_INFERENCE="0"))
    gpu = run_tool(board, *vx, env=board.env(USE_GPU_INFERENCE="1"))
    cpu = run_tool(board, f"--graph={QUANT}", *FAST)
    assert close(npu.summary()["Inference (avg)"], 2 * 220)
    assert close(cpu.summary()["Inference (avg)"], 3830)  # not slowed
    board.set_faults(slowdown=2.0)
    assert close(run_tool(board, *vx, env=board.env(USE_GPU_INFERENCE="1")).summary()[
        "Inference (avg)"
    ], 2 * gpu.summary()["Inference (avg)"])  # fmt: skip
    board.set_faults(slowdown=2.0, slowdown_delegates=["cpu", str(board.delegate)])
    assert close(run_tool(board, f"--graph={QUANT}", *FAST).summary()["Inference (avg)"], 2 * 3830)


def test_slowdown_delegates_is_validated(tmp_path: Path) -> None:
    update_faults(tmp_path, slowdown=1.1, slowdown_delegates=["npu"])
    assert load_faults(tmp_path)["slowdown_delegates"] == ["npu"]
    with pytest.raises(ConfigError, match="fault 'slowdown_delegates': bad value"):
        update_faults(tmp_path, slowdown_delegates="npu")
