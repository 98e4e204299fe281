"""The emulated benchmark_model (and the board's tflite_runtime), run as real subprocesses.

Each test writes its own board.json (IMXBENCH_EMULATOR_BOARD_JSON) with a stand-in delegate
library and a control dir in tmp_path, and runs `python -m imxbench.emulator.benchmark_tool`
with fast flags. Timings are checked against imxbench.emulator.cost_model at noise 0.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imxbench.analysis.model_info import inspect_model
from imxbench.emulator import benchmark_tool as bt
from imxbench.emulator import cost_model as cm
from tests.unit.test_model_info import FLOAT, QUANT, vela_compile

REPO = Path(__file__).resolve().parents[2]
BOARD_PYTHON = REPO / "imxbench" / "emulator" / "board_python"
FAST = ["--num_runs=5", "--min_secs=0", "--warmup_runs=1", "--warmup_min_secs=0"]
REF = cm.REFERENCE_MACS
LABEL = "INFO: imxbench emulator: timings are modelled (emulated board {soc})"
FULL = (
    "INFO: Explicitly applied EXTERNAL delegate, and the model graph will be completely"
    " executed by the delegate."
)
NOT_EXECUTED = (
    "INFO: Though EXTERNAL delegate is explicitly applied, the model graph will not be executed"
    " by the delegate."
)
VX_ECHO = [
    f"INFO: Vx delegate: {key} set to 0."
    for key in (
        "allowed_cache_mode",
        "device num",
        "allowed_builtin_code",
        "error_during_init",
        "error_during_prepare",
        "error_during_invoke",
    )
]


@dataclass
class Board:
    soc: str
    board_json: Path
    control_dir: Path
    delegate: Path

    def set_faults(self, **faults: object) -> None:
        (self.control_dir / "faults.json").write_text(json.dumps(faults))

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIV_", "USE_GPU"))}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        env[bt.BOARD_JSON_ENV] = str(self.board_json)
        env.update(extra)
        return env


def make_board(root: Path, soc: str, noise_pct: float = 0.0) -> Board:
    name = "libvx_delegate.so" if soc == "imx8mp" else "libethosu_delegate.so"
    root.mkdir(parents=True, exist_ok=True)
    delegate = root / name
    delegate.write_text("imxbench emulator stand-in\n")
    control = root / "control"
    control.mkdir(exist_ok=True)
    doc = {
        "format": 1,
        "emulated": True,
        "soc": soc,
        "soc_id": "i.MX8MP" if soc == "imx8mp" else "i.MX93",
        "cpu_count": cm.CORES[soc],
        "tflite_version": "2.19.0",
        "delegates": {str(delegate): "vx" if soc == "imx8mp" else "ethosu"},
        "noise_pct": noise_pct,
        "seed": 1234,
        "control_dir": str(control),
        "python": sys.executable,
    }
    board_json = root / "board.json"
    board_json.write_text(json.dumps(doc))
    return Board(soc, board_json, control, delegate)


@pytest.fixture
def imx8mp(tmp_path: Path) -> Board:
    return make_board(tmp_path / "imx8mp", "imx8mp")


@pytest.fixture
def imx93(tmp_path: Path) -> Board:
    return make_board(tmp_path / "imx93", "imx93")


@pytest.fixture(scope="module")
def vela_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deployed Vela model: X_vela.tflite, its provenance X_vela.tflite.json and the
    content-addressed source model, as docs/DESIGN.md describes."""
    directory = tmp_path_factory.mktemp("deployed")
    vela_compile(QUANT, directory)
    sha = hashlib.sha256(QUANT.read_bytes()).hexdigest()
    shutil.copy(QUANT, directory / f"pretrainedResnet_quant-{sha[:16]}.tflite")
    provenance = {"source_sha256": sha, "vela_version": "5.2.0", "vela_args": []}
    (directory / "pretrainedResnet_quant_vela.tflite.json").write_text(json.dumps(provenance))
    return directory


@dataclass
class Result:
    returncode: int
    lines: list[str]  # stdout and stderr merged in order, unless run with merge=False
    stderr: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def summary(self) -> dict[str, float]:
        for line in self.lines:
            if line.startswith("INFO: Inference timings in us: "):
                pairs = line.split(": ", 2)[2].split(", ")
                return {k: float(v) for k, v in (p.split(": ") for p in pairs)}
        raise AssertionError(f"no summary line in:\n{self.text}")


def run_tool(
    board: Board,
    *args: str,
    env: dict[str, str] | None = None,
    merge: bool = True,
    timeout: float = 60,
    cwd: Path | None = None,
) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "imxbench.emulator.benchmark_tool", *args],
        env=env or board.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        text=True,
        timeout=timeout,
        cwd=cwd or board.control_dir,
    )
    return Result(proc.returncode, proc.stdout.splitlines(), (proc.stderr or "").splitlines())


def in_order(lines: Sequence[str], expected: Sequence[str]) -> bool:
    """`expected` appear in `lines` in this order (other lines may come between)."""
    it = iter(lines)
    return all(any(line == want for line in it) for want in expected)


def close(value: float, expected: float, tolerance: float = 0.02) -> bool:
    return abs(value - expected) <= tolerance * expected


# ---------------------------------------------------------------------------------------------
# Delegation and timings


def test_vx_fully_delegates_the_quantized_reference_model(imx8mp: Board) -> None:
    result = run_tool(
        imx8mp, f"--graph={QUANT}", f"--external_delegate_path={imx8mp.delegate}", *FAST
    )
    assert result.returncode == 0, result.text
    assert result.lines[:24] == [
        "INFO: STARTING!",
        LABEL.format(soc="imx8mp"),
        "INFO: Log parameter values verbosely: [0]",
        "INFO: Min num runs: [5]",
        "INFO: Min runs duration (seconds): [0]",
        "INFO: Min warmup runs: [1]",
        "INFO: Min warmup runs duration (seconds): [0]",
        f"INFO: Graph: [{QUANT}]",
        "INFO: Signature to run: []",
        f"INFO: External delegate path: [{imx8mp.delegate}]",
        f"INFO: Loaded model {QUANT}",
        "INFO: Initialized TensorFlow Lite runtime.",
        *VX_ECHO,
        "INFO: EXTERNAL delegate created.",
        FULL,
        "INFO: The input model file size (MB): 0.098496",
        "INFO: Initialized session in 12.4ms.",
        "INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate"
        " if exceeding 150 seconds.",
        "INFO: count=1 curr=297422 p5=297422 median=297422 p95=297422",
    ]
    assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." not in result.lines
    assert in_order(
        result.lines,
        [
            "INFO: Running benchmark for at least 5 iterations and at least 0 seconds but"
            " terminate if exceeding 150 seconds.",
            "INFO: count=5 curr=220(all same) p5=220 median=220 p95=220",
            "",
            "INFO: Inference timings in us: Init: 12400, First inference: 297422, Warmup (avg):"
            " 297422, Inference (avg): 220",
            "INFO: Note: as the benchmark tool itself affects memory footprint, the following is"
            " only APPROXIMATE to the actual memory footprint of the model at runtime. Take the"
            " information at your discretion.",
            "INFO: Memory footprint delta from the start of the tool (MB): init=3.9288"
            " overall=28.978",
        ],
    )


@pytest.mark.parametrize(
    ("soc", "model", "flags", "expected_us"),
    [
        ("imx8mp", QUANT, ["--num_threads=4"], 1430.0),
        ("imx93", QUANT, [], 1650.0),
        ("imx8mp", FLOAT, [], 3830.0 * 1.8),
    ],
)
def test_cpu_average_matches_the_cost_model(
    tmp_path: Path, soc: str, model: Path, flags: list[str], expected_us: float
) -> None:
    board = make_board(tmp_path, soc)
    result = run_tool(board, f"--graph={model}", *FAST, *flags)
    assert result.returncode == 0, result.text
    assert close(result.summary()["Inference (avg)"], expected_us)
    assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." in result.lines


def test_a_seeded_board_replays_the_same_sequence_of_varied_runs(tmp_path: Path) -> None:
    args = [f"--graph={QUANT}", "--num_runs=20", "--min_secs=0", "--warmup_min_secs=0"]

    def two_runs(board: Board) -> list[list[str]]:
        runs = [run_tool(board, *args) for _ in (1, 2)]
        return [[line for line in r.lines if line.startswith("INFO: count=20 ")] for r in runs]

    first = two_runs(make_board(tmp_path / "a", "imx93", noise_pct=2.0))
    again = two_runs(make_board(tmp_path / "b", "imx93", noise_pct=2.0))
    assert first == again  # same seed, same sequence
    assert first[0] != first[1]  # but each process has its own offset and jitter
    assert "(all same)" not in first[0][0]
    avg = float(re.search(r" avg=(\S+) ", first[0][0]).group(1))  # type: ignore[union-attr]
    assert close(avg, 1650, 0.05)


def test_ethos_u_leaves_an_uncompiled_model_on_the_cpu(imx93: Board) -> None:
    result = run_tool(
        imx93, f"--graph={QUANT}", f"--external_delegate_path={imx93.delegate}", *FAST
    )
    assert result.returncode == 0, result.text
    assert in_order(
        result.lines,
        [
            "INFO: Ethosu delegate: device_name set to /dev/ethosu0.",
            "INFO: Ethosu delegate: cache_file_path set to .",
            "INFO: Ethosu delegate: timeout set to 60000000000.",
            "INFO: Ethosu delegate: pmu_event3 set to 0.",
            "INFO: EXTERNAL delegate created.",
            "INFO: EthosuDelegate: 0 nodes delegated out of 16 nodes with 0 partitions.",
            NOT_EXECUTED,
            "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        ],
    )
    assert close(result.summary()["Inference (avg)"], 1650)


def test_ethos_u_runs_a_vela_model_through_its_source(imx93: Board, vela_dir: Path) -> None:
    graph = vela_dir / "pretrainedResnet_quant_vela.tflite"
    result = run_tool(
        imx93,
        f"--graph={graph}",
        f"--external_delegate_path={imx93.delegate}",
        "--external_delegate_options=enable_cycle_counter:true;pmu_event0:3",
        "--enable_op_profiling=true",
        *FAST,
    )
    assert result.returncode == 0, result.text
    assert in_order(
        result.lines,
        [
            "INFO: Ethosu delegate: enable_cycle_counter set to 1.",
            "INFO: Ethosu delegate: pmu_event0 set to 3.",
            "INFO: EXTERNAL delegate created.",
            "INFO: EthosuDelegate: 1 nodes delegated out of 1 nodes with 1 partitions.",
            FULL,
            "INFO: The input model file size (MB): 0.08456",
        ],
    )
    summary = result.summary()
    assert close(summary["Inference (avg)"], 330)
    assert close(summary["First inference"], 330 + cm.ETHOSU_FIRST_EXTRA_US)
    row = (
        "\t          EthosuDelegate\t    0.327\t    0.327\t100.000%\t100.000%\t     0.000"
        "\t        1\t[Identity_int8]:1"
    )
    assert row in result.lines


def test_ethos_u_without_the_source_model_fails_honestly(imx93: Board, vela_dir: Path) -> None:
    lonely = imx93.control_dir / "model_vela.tflite"
    shutil.copy(vela_dir / "pretrainedResnet_quant_vela.tflite", lonely)
    result = run_tool(
        imx93, f"--graph={lonely}", f"--external_delegate_path={imx93.delegate}", *FAST
    )
    assert result.returncode == 1
    errors = [line for line in result.lines if line.startswith("ERROR: ")]
    assert errors[0].startswith(
        "ERROR: imxbench emulator: cannot execute Ethos-U command streams without the source"
        " model (no Vela provenance file"
    )
    assert errors[1:] == [
        "ERROR: Failed to apply EXTERNAL delegate.",
        "ERROR: Benchmarking failed.",
    ]


def test_vela_model_without_the_ethos_u_delegate_fails_like_the_runtime(
    imx93: Board, vela_dir: Path
) -> None:
    result = run_tool(imx93, f"--graph={vela_dir / 'pretrainedResnet_quant_vela.tflite'}", *FAST)
    assert result.returncode == 1
    assert in_order(
        result.lines,
        [
            "ERROR: Encountered unresolved custom op: ethos-u.",
            "ERROR: Node number 0 (ethos-u) failed to prepare.",
            "ERROR: Failed to allocate tensors!",
            "ERROR: Benchmarking failed.",
        ],
    )


def test_viv_graph_cache_cold_then_warm(imx8mp: Board, tmp_path: Path) -> None:
    cache = tmp_path / "viv-cache"
    cache.mkdir()
    env = imx8mp.env(VIV_VX_ENABLE_CACHE_GRAPH_BINARY="1", VIV_VX_CACHE_BINARY_GRAPH_DIR=str(cache))
    args = [f"--graph={QUANT}", f"--external_delegate_path={imx8mp.delegate}", *FAST]
    cold = run_tool(imx8mp, *args, env=env).summary()["First inference"]
    key = hashlib.sha256(f"{inspect_model(QUANT).sha256}:npu".encode()).hexdigest()
    assert [p.name for p in cache.iterdir()] == [f"{key}.nb"]
    warm = run_tool(imx8mp, *args, env=env).summary()["First inference"]
    npu = cm.Placement("npu", REF, 1)
    assert close(cold, cm.first_inference_us("imx8mp", npu))
    assert close(warm, cm.first_inference_us("imx8mp", npu, graph_cache_warm=True))
    assert warm < cold / 10
    # The GPU compiles its own graph: a different cache file, cold again, GPU latency.
    gpu = run_tool(imx8mp, *args, env={**env, "USE_GPU_INFERENCE": "1"}).summary()
    assert len(list(cache.iterdir())) == 2
    assert close(gpu["Inference (avg)"], cm.inference_us("imx8mp", cm.Placement("gpu", REF, 1)))
    assert gpu["First inference"] > 200_000


def test_without_cache_variables_the_first_inference_is_always_cold(imx8mp: Board) -> None:
    args = [f"--graph={QUANT}", f"--external_delegate_path={imx8mp.delegate}", *FAST]
    firsts = [run_tool(imx8mp, *args).summary()["First inference"] for _ in (1, 2)]
    assert all(first > 200_000 for first in firsts)
    assert not list(imx8mp.control_dir.glob("*.nb"))


def test_vx_does_not_take_a_float_model(imx8mp: Board) -> None:
    args = [f"--graph={FLOAT}", f"--external_delegate_path={imx8mp.delegate}", *FAST]
    result = run_tool(imx8mp, *args)
    assert NOT_EXECUTED in result.lines and result.returncode == 0
    strict = run_tool(imx8mp, *args, "--require_full_delegation=true")
    assert strict.returncode == 1
    assert strict.lines[-2:] == [
        "ERROR: Disallowed CPU fallback detected.",
        "ERROR: Benchmarking failed.",
    ]


def test_unknown_delegate_library_carries_on_on_the_cpu(imx8mp: Board) -> None:
    missing = "/usr/lib/libneutron_delegate.so"
    result = run_tool(imx8mp, f"--graph={QUANT}", f"--external_delegate_path={missing}", *FAST)
    assert result.returncode == 0
    assert in_order(
        result.lines,
        [
            "INFO: Initialized TensorFlow Lite runtime.",
            f"INFO: Unable to load external delegate from : {missing} ({missing}: cannot open"
            " shared object file: No such file or directory)",
            "INFO: EXTERNAL delegate created.",
            NOT_EXECUTED,
        ],
    )
    assert close(result.summary()["Inference (avg)"], 3830)


# ---------------------------------------------------------------------------------------------
# Faults


def test_fault_delegate_load_fails(imx8mp: Board) -> None:
    imx8mp.set_faults(delegate_load_fails=True)
    result = run_tool(
        imx8mp, f"--graph={QUANT}", f"--external_delegate_path={imx8mp.delegate}", *FAST
    )
    assert result.returncode == 0
    assert (
        f"INFO: Unable to load external delegate from : {imx8mp.delegate} (libOpenVX.so.1:"
        " cannot open shared object file: No such file or directory)"
    ) in result.lines
    assert not any(line.startswith("INFO: Vx delegate:") for line in result.lines)
    assert close(result.summary()["Inference (avg)"], 3830)


def test_fault_slowdown(imx93: Board) -> None:
    imx93.set_faults(slowdown=2.0)
    result = run_tool(imx93, f"--graph={QUANT}", *FAST)
    assert close(result.summary()["Inference (avg)"], 2 * 1650)


@pytest.mark.parametrize(("fault", "sig"), [("crash", signal.SIGSEGV), ("oom", signal.SIGKILL)])
def test_fault_kills_the_process_after_partial_output(
    imx8mp: Board, fault: str, sig: signal.Signals
) -> None:
    imx8mp.set_faults(**{fault: True})
    result = run_tool(imx8mp, f"--graph={QUANT}", *FAST)
    assert result.returncode == -sig
    assert result.lines[:2] == ["INFO: STARTING!", LABEL.format(soc="imx8mp")]
    assert result.lines[-1].startswith("INFO: Running benchmark for at least")
    assert not any("Inference timings" in line for line in result.lines)


def test_fault_crash_shows_as_exit_139_in_a_shell(imx8mp: Board) -> None:
    imx8mp.set_faults(crash=True)
    command = f"{sys.executable} -m imxbench.emulator.benchmark_tool --graph={QUANT}; echo rc=$?"
    proc = subprocess.run(
        ["sh", "-c", command], env=imx8mp.env(), capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.splitlines()[-1] == "rc=139"


def test_fault_hang_sleeps_after_start(imx8mp: Board) -> None:
    imx8mp.set_faults(hang=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "imxbench.emulator.benchmark_tool", f"--graph={QUANT}"],
        env=imx8mp.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline().rstrip("\n") for _ in range(2)]
        assert first == ["INFO: STARTING!", LABEL.format(soc="imx8mp")]
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# Flags, failures, streams


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_bad_model_fails_like_the_real_tool(imx8mp: Board, kind: str) -> None:
    path = imx8mp.control_dir / "model.tflite"
    if kind == "corrupt":
        path.write_bytes(b"\x00" * 64)
    result = run_tool(imx8mp, f"--graph={path}", *FAST, merge=False)
    assert result.returncode == 1
    first = f"ERROR: Could not open '{path}'." if kind == "missing" else None
    first = first or "ERROR: The model is not a valid Flatbuffer file"
    assert result.stderr == [
        first,
        f"ERROR: Failed to load model {path}",
        "ERROR: Benchmarking failed.",
    ]
    assert result.lines[-1] == "INFO: Signature to run: []"


def test_unconsumed_and_duplicate_flags_warn_and_carry_on(imx93: Board) -> None:
    result = run_tool(imx93, f"--graph={QUANT}", *FAST, "--use_gpu=true", "--num_runs=7", "stray")
    assert result.returncode == 0
    assert result.lines[2] == "WARN: Unconsumed cmdline flags: --use_gpu=true --num_runs=7 stray"
    assert "INFO: Min num runs: [5]" in result.lines
    assert any(line.startswith("INFO: count=5 ") for line in result.lines)


def test_help_and_bad_values_print_usage_and_fail(imx93: Board) -> None:
    for flag in ("--help=true", "--num_runs=many"):
        result = run_tool(imx93, flag, merge=False)
        assert result.returncode == 1
        assert any(line.startswith("ERROR: usage: ") for line in result.stderr)
        assert "\t--num_runs=50\tint32\toptional\texpected number of runs, see also min_secs," in (
            "\n".join(result.stderr)
        )
        assert result.stderr[-1] == "ERROR: Benchmarking failed."


def test_streams_are_split_like_the_real_tool(imx8mp: Board) -> None:
    result = run_tool(
        imx8mp,
        f"--graph={QUANT}",
        f"--external_delegate_path={imx8mp.delegate}",
        *FAST,
        merge=False,
    )
    assert result.stderr == ["INFO: Initialized TensorFlow Lite runtime."]
    assert FULL in result.lines and LABEL.format(soc="imx8mp") in result.lines


def test_verbose_and_peak_memory(imx93: Board) -> None:
    result = run_tool(
        imx93, f"--graph={QUANT}", *FAST, "--verbose=true", "--report_peak_memory_footprint=true"
    )
    assert "INFO: Log parameter values verbosely: [1]" in result.lines
    assert "INFO: Max runs duration (seconds): [150]" in result.lines
    assert "INFO: Use xnnpack: [0]" in result.lines
    memory = cm.memory_footprint("imx93", cm.Placement(cpu_macs=REF), 98_496)
    assert in_order(
        result.lines,
        [
            f"INFO: Overall peak memory footprint (MB) via periodic monitoring: {memory.peak_mb:g}",
            "INFO: Memory status at the end of exeution:",
        ],
    )


def test_output_parses_with_the_benchmark_log_parser(tmp_path: Path) -> None:
    """The emulator's label line is an ordinary INFO line to the product's parser."""
    from imxbench.analysis import benchmark_log
    board = make_board(tmp_path, "imx8mp", noise_pct=1.0)
    result = run_tool(
        board,
        f"--graph={QUANT}",
        f"--external_delegate_path={board.delegate}",
        "--enable_op_profiling=true",
        *FAST,
    )
    (run,) = benchmark_log.parse_log(result.text)
    assert run.status == "ok"
    assert run.graph == str(QUANT)
    assert run.inference_avg_us == result.summary()["Inference (avg)"]
    assert run.inference_count == 5
    assert run.first_inference_us == result.summary()["First inference"]
    assert [(d.name, d.execution) for d in run.delegates] == [("EXTERNAL", "full")]
    assert run.op_profile is not None and run.op_profile[0].node_type == "Vx Delegate"


# ---------------------------------------------------------------------------------------------
# Op profiling


def test_op_profiling_tables_on_the_cpu(imx93: Board) -> None:
    result = run_tool(
        imx93, f"--graph={QUANT}", "--use_xnnpack=false", "--enable_op_profiling=true", *FAST
    )
    assert result.returncode == 0
    header = (
        "\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]"
        "\t[times called]\t[Name]"
    )
    text = result.text
    init = text.index("INFO: Profiling Info for Benchmark Initialization:")
    regular = text.index("INFO: Operator-wise Profiling Info for Regular Benchmark Runs:")
    assert init < regular
    assert "\t         AllocateTensors\t" in text[init:regular]
    table = text[regular:].splitlines()
    assert table[1:3] == [
        "============================== Run Order ==============================",
        header,
    ]
    assert table[3].startswith("\t                 CONV_2D\t") and table[3].endswith(":0")
    assert table[18].startswith("\t                 SOFTMAX\t")
    assert table[18].endswith("\t[Identity_int8]:15")
    assert "Number of nodes executed: 16" in table
    summary = table.index(
        "============================== Summary by node type =============================="
    )
    assert table[summary + 2].startswith("\t                 CONV_2D\t        9\t")
    assert table[-5].startswith("Timings (microseconds): count=5 ")
    assert table[-4:] == ["Memory (bytes): count=0", "16 nodes observed", "", ""]
    assert "INFO: Use xnnpack: [0]" in result.lines
    assert "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." not in result.lines


# ---------------------------------------------------------------------------------------------
# Pure parts


def test_stat_line_matches_tsl_stat() -> None:
    assert bt.stat_line([4625131]) == "count=1 curr=4625131 p5=4625131 median=4625131 p95=4625131"
    assert bt.stat_line([5, 5, 5], percentiles=False) == "count=3 curr=5(all same)"
    assert bt.stat_line([977738, 1041765, 911877, 964908]) == (
        "count=4 first=977738 curr=964908 min=911877 max=1041765 avg=974072 std=46227"
        " p5=911877 median=977738 p95=1041765"
    )
    assert bt.stat_line([2950000, 2950400, 2950100], percentiles=False).endswith(
        " avg=2.95017e+06 std=169"
    )


def test_run_order_sorts_like_tensorflow() -> None:
    """Fixture 19: with node indices past the node count the string sort puts :64 before :63."""
    stats = [
        bt.NodeStats("TFLite_Detection_PostProcess", "[post]:63", 63, (1908,)),
        bt.NodeStats("Vx Delegate", "[Squeeze, convert_scores]:64", 64, (10871,)),
    ]
    run_order = bt.profile_report(stats, 1).splitlines()[2:4]
    assert [row.rsplit("\t", 1)[1] for row in run_order] == [
        "[Squeeze, convert_scores]:64",
        "[post]:63",
    ]


def test_partial_delegation_plan() -> None:
    info = inspect_model(QUANT)
    plan = bt.build_plan(info, set(range(12)), "npu", bt.VX_NODE_TYPE)
    assert [(n.node_type, n.index) for n in plan.nodes] == [
        ("Vx Delegate", 16),
        ("AVERAGE_POOL_2D", 12),
        ("RESHAPE", 13),
        ("FULLY_CONNECTED", 14),
        ("SOFTMAX", 15),
    ]
    assert plan.nodes[0].name == "[model/activation_6/Relu;model/add_2/add]:16"
    assert (plan.claimed, plan.total_ops, plan.partitions) == (12, 16, 1)
    assert plan.placement.cpu_macs == 4096 + 640
    assert bt._applied_line("EXTERNAL", plan) == (
        "Explicitly applied EXTERNAL delegate, and the model graph will be partially executed"
        " by the delegate w/ 1 delegate kernels."
    )


def test_flag_parsing() -> None:
    params = bt.parse_flags(["--num_runs=3", "--min_secs=0.25", "--use_xnnpack=false", "-x"])
    assert (params["num_runs"], params["min_secs"], params["use_xnnpack"]) == (3, 0.25, False)
    assert params.set_names == {"num_runs", "min_secs", "use_xnnpack"}
    assert params.unconsumed == ["-x"]
    assert bt.parse_flags(["--verbose=yes"]).error == (
        "Failed to parse flag 'verbose' against argv '--verbose=yes'"
    )
    assert bt.parse_delegate_options("a:1;b:2:3;;c:x") == {"a": "1", "c": "x"}


def test_board_python_is_python38_syntax() -> None:
    for path in BOARD_PYTHON.rglob("*.py"):
        ast.parse(path.read_text(), str(path), feature_version=(3, 8))


# ---------------------------------------------------------------------------------------------
# The board's tflite_runtime

SHIM_SCRIPT = r"""
import json, sys, time
import numpy as np
import tflite_runtime
import tflite_runtime.interpreter as tflite
from ai_edge_litert.interpreter import Interpreter as LiteRT

graph, source, library = sys.argv[1:4]
report = {"version": tflite_runtime.__version__}
try:
    tflite.load_delegate("/usr/lib/libnot_there.so")
except ValueError as exc:
    report["bad_delegate"] = str(exc)
delegate = tflite.load_delegate(library)
it = tflite.Interpreter(model_path=graph, experimental_delegates=[delegate])
it.allocate_tensors()
inp, out = it.get_input_details()[0], it.get_output_details()[0]
x = np.random.default_rng(0).integers(-128, 127, size=inp["shape"], dtype=np.int8)
times = []
for _ in range(8):
    it.set_tensor(inp["index"], x)
    start = time.perf_counter()
    it.invoke()
    times.append((time.perf_counter() - start) * 1e6)
ref = LiteRT(model_path=source)
ref.allocate_tensors()
ref.set_tensor(ref.get_input_details()[0]["index"], x)
ref.invoke()
expected = ref.get_tensor(ref.get_output_details()[0]["index"])
report.update(
    input_index=int(inp["index"]), times=times,
    same_output=bool(np.array_equal(it.get_tensor(out["index"]), expected)),
)
print("REPORT " + json.dumps(report))
"""


def run_shim(board: Board, *args: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    env = {**env, "PYTHONPATH": os.pathsep.join([str(BOARD_PYTHON), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-c", SHIM_SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=board.control_dir,
    )
    assert proc.returncode == 0, proc.stderr
    report = next(line for line in proc.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(report[len("REPORT ") :]), proc.stdout + proc.stderr


def test_tflite_runtime_ethos_u_runs_the_vela_model_with_board_timing(
    imx93: Board, vela_dir: Path
) -> None:
    graph = vela_dir / "pretrainedResnet_quant_vela.tflite"
    report, output = run_shim(imx93, str(graph), str(QUANT), str(imx93.delegate), env=imx93.env())
    assert report["version"] == "2.19.0"
    assert report["bad_delegate"] == (
        "Failed to load delegate from /usr/lib/libnot_there.so\n/usr/lib/libnot_there.so:"
        " cannot open shared object file: No such file or directory"
    )
    assert report["same_output"] is True
    assert report["input_index"] == inspect_model(graph).inputs[0].index  # the Vela graph's
    times = sorted(report["times"])
    assert 330 * 0.98 < times[len(times) // 2] < 330 * 1.5
    assert "INFO: Ethosu delegate: device_name set to /dev/ethosu0." in output
    assert "INFO: EthosuDelegate: 1 nodes delegated out of 1 nodes with 1 partitions." in output
    assert "XNNPACK" not in output


def test_tflite_runtime_vx_first_invoke_compiles_the_graph(imx8mp: Board, tmp_path: Path) -> None:
    env = imx8mp.env(
        VIV_VX_ENABLE_CACHE_GRAPH_BINARY="1", VIV_VX_CACHE_BINARY_GRAPH_DIR=str(tmp_path)
    )
    report, _ = run_shim(imx8mp, str(QUANT), str(QUANT), str(imx8mp.delegate), env=env)
    times: list[float] = report["times"]
    assert times[0] > 0.9 * cm.first_inference_us("imx8mp", cm.Placement("npu", REF, 1))
    assert 220 * 0.98 < sorted(times)[4] < 220 * 1.6
    assert report["same_output"] is True
    assert len(list(tmp_path.glob("*.nb"))) == 1
    report, _ = run_shim(imx8mp, str(QUANT), str(QUANT), str(imx8mp.delegate), env=env)
    warm_first = report["times"][0]
    assert warm_first < 0.1 * times[0]
