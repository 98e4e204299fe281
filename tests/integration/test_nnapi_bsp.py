"""Issue 16 item 3 against the emulator: an 8M Plus on L5.10.52 (no libvx_delegate.so, TFLite
2.5 with NNAPI) runs its VX cell with `--use_nnapi=true`, decided from the probe, and the plan
(`--dry-run=probe`) shows it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from imxbench.analysis.plan import NNAPI_FLAG, ROUTE_NNAPI
from tests.integration.test_board_state_runs import FAST, imxbench_json
from tests.locations import IMXBENCH, REPO


def test_lf_5_10_52_i_mx8mp_vx_cell_runs_through_nnapi(tmp_path: Path) -> None:
    out = imxbench_json(
        tmp_path, "--board", "imx8mp", "--emulate-bsp", "lf-5.10.52", "--delegate", "cpu,vx"
    )
    cells = {row["cell"]: row for row in out["summary"]}
    vx = cells["vx"]
    assert all(row["failed"] == 0 for row in out["summary"]), out["summary"]
    assert vx["latency_ms"] < cells["cpu@4t"]["latency_ms"] / 3  # the NPU, not the CPU
    rows = [r for r in out["rows"] if r["cell"] == "vx"]
    assert rows and all(r["npu_route"] == ROUTE_NNAPI for r in rows)
    assert all(r["tflite_version"] == "2.5.0" for r in rows)
    profile = next(r for r in rows if r["kind"] == "profile")
    assert profile["delegate_time_share"] == 1.0
    logs = list(Path(out["out_dir"], "logs/imx8mp").glob("vx-*.log"))
    assert logs
    for log in logs:
        text = log.read_text()
        command = text.splitlines()[0]
        assert NNAPI_FLAG in command and "--external_delegate_path" not in command
        assert "NNAPI delegate created." in text and "Unconsumed" not in text
    assert "runs on the NPU via the nnapi" in out["stderr"]


def test_lf_5_10_52_dry_run_shows_use_nnapi() -> None:
    done = subprocess.run(
        [
            *IMXBENCH,
            "run",
            "--board",
            "imx8mp",
            "--emulate",
            "--emulate-bsp",
            "lf-5.10.52",
            "--delegate",
            "vx,gpu",
            *FAST,
            "--dry-run=probe",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert f"(route: {ROUTE_NNAPI})" in text
    assert f"vx: runs on the NPU via the {ROUTE_NNAPI}" in text  # the probed facts
    # the GPU cell keeps USE_GPU_INFERENCE=1; which unit NNAPI then picks is not claimed
    assert (
        f"gpu: runs via the {ROUTE_NNAPI} with USE_GPU_INFERENCE=1 (GPU or NPU: not established)"
    ) in text
    assert "is not on the board" not in text
    commands = [line for line in text.splitlines() if "benchmark_model" in line]
    assert commands and all(NNAPI_FLAG in c for c in commands)
    assert "libvx_delegate" not in text.split("step:")[-1]


def test_lf_5_10_52_accuracy_is_not_evaluated_through_nnapi_never_failed(tmp_path: Path) -> None:
    """evaluate.py runs tflite_runtime's Python API, which has no NNAPI: the vx cell's accuracy
    is `not evaluated` with the reason, the CPU's is measured, and the run exits 0."""
    from tests.dataset_builders import generate, write_npy

    folder, _ = write_npy(tmp_path / "data", generate(12))
    out = imxbench_json(
        tmp_path, "--board", "imx8mp", "--emulate-bsp", "lf-5.10.52", "--delegate", "cpu,vx",
        "--dataset", str(folder),
    )  # fmt: skip
    assert all(row["failed"] == 0 for row in out["summary"]), out["summary"]
    measured = json.loads(Path(out["out_dir"], "accuracy.json").read_text())
    assert [(c["delegate"], c["status"]) for c in measured["cells"]] == [("cpu", "ok")]
    assert "not evaluated: this board reaches its NPU only through NNAPI" in out["stderr"]
