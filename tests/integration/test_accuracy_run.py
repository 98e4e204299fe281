"""Accuracy on the (emulated) device, end to end: every data-set format, checked image by image
against an independent recomputation (LiteRT run directly on q = p - 128, tests/dataset_builders).

The emulated boards run the model with LiteRT for real (their VX/GPU/Ethos-U delegates too), so
on them every delegate agrees with the host reference exactly: that is the emulator's honest
limitation; test_accuracy_stats proves the agreement measure on outputs that do differ.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from imxbench.accuracy.host_reference import top_k
from imxbench.accuracy.phase import AccuracyCell, AccuracyRequest, Evaluation
from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import Board
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.run.job import JobResult, run_job
from tests.dataset_builders import MODEL, REPO, WRITERS, Generated, generate, write_npy
from tests.emulator_fixtures import inventory_board
from tests.locations import IMXBENCH

SETTINGS = RunSettings(repetitions=1, num_runs=2, warmup_runs=0, min_secs=0, op_profile=False)
FAST = ["--repetitions", "1", "--num-runs", "5", "--min-secs", "0", "--no-op-profile"]


@pytest.fixture(scope="module")
def data() -> Generated:
    return generate(60)


def imxbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def check_cell_against_recomputation(
    cell: dict, data: Generated, ids: list[str]
) -> list[dict[str, str]]:
    """The cell's per-image predictions and accuracy equal the independent ones, image by image."""
    assert cell["status"] == "ok", cell["error"]
    with open(cell["predictions_file"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    index = [ids.index(row["id"]) for row in rows]
    assert len(set(index)) == len(rows) == cell["images"]
    for row, i in zip(rows, index, strict=True):
        assert int(row["label"]) == data.labels[i], row["id"]
        assert int(row["top1"]) == data.model_top1[i], row["id"]
        assert int(row["reference_top1"]) == data.model_top1[i], row["id"]
    expected = data.model_top1[index] == data.labels[index]
    assert cell["top1_correct"] == int(expected.sum())
    assert cell["top1"] == pytest.approx(expected.mean(), abs=0)
    assert cell["top1_ci_low"] < cell["top1"] < cell["top1_ci_high"]
    return rows


def test_imxbench_run_with_dataset_reports_accuracy_per_delegate(
    data: Generated, tmp_path: Path
) -> None:
    path, ids = WRITERS["ic01"](tmp_path / "ic01", data)
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--dataset", str(path), "--delegate", "cpu,vx",
        *FAST, "--format", "json", "--reports", str(tmp_path / "reports"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr
    assert "[imx8mp] accuracy vx: 60/60 top1=" in done.stderr  # progress streamed from the board
    out = json.loads(done.stdout)
    assert out["warnings"] == []
    expected_top1 = float(np.mean(data.model_top1 == data.labels))
    summary = {row["cell"]: row for row in out["summary"]}
    assert set(summary) == {"cpu@1t", "cpu@4t", "vx"}
    for row in summary.values():
        assert row["top1"] == pytest.approx(expected_top1, abs=0)
        assert row["accuracy_n"] == 60 and row["agreement_top1"] == 1.0
        assert row["top1_ci_low"] < row["top1"] < row["top1_ci_high"] and row["top5"] >= row["top1"]
    doc = json.loads(Path(out["accuracy"]).read_text())
    assert doc["samples"] == 60 and doc["dataset_details"]["format"] == "ic01"
    assert doc["preprocessing"]["formula"].endswith("= p - 128")
    assert doc["preprocessing"]["channel_order"] == "rgb"
    assert doc["sanity_check"]["warning"] is None
    cells = {c["delegate"]: c for c in doc["cells"]}
    assert cells["cpu"]["cell"] == "cpu@4t" and cells["cpu"]["threads"] == 4
    assert cells["vx"]["cell"] == "vx" and cells["vx"]["threads"] is None
    assert cells["vx"]["agreement_cpu_top1"] == 1.0 and cells["cpu"]["agreement_cpu"] is None
    assert cells["vx"]["agreement_cpu"]["images"] == 60  # the same images as the CPU's
    for cell in cells.values():
        check_cell_against_recomputation(cell, data, ids)
        assert (cell["runtime"], cell["runtime_version"]) == ("tflite_runtime", "2.19.0")
        assert cell["agreement"]["max_abs_diff"] == 0.0 and cell["agreement"]["disagreeing"] == []
        assert sum(map(sum, cell["confusion"])) == 60 and len(cell["per_class"]) == 10
    # per-invoke times from the board: the emulator pads invoke() to its cost model
    assert cells["cpu"]["latency"]["p50_us"] == pytest.approx(1430, rel=0.1)
    assert cells["vx"]["latency"]["p50_us"] == pytest.approx(220, rel=0.15)
    assert cells["vx"]["latency"]["p99_us"] >= cells["vx"]["latency"]["p50_us"]


def test_each_delegate_is_compared_with_the_boards_own_cpu_on_the_same_images(
    data: Generated, tmp_path: Path
) -> None:
    """Agreement with the host holds the host runtime's rounding too (models/README.md: three
    images flip between runtimes); against the board's CPU only the delegate's own differences
    remain."""
    path, _ = write_npy(tmp_path / "set", data)
    evaluation = Evaluation.prepare(AccuracyRequest(path), MODEL)
    n, reference = len(evaluation.dataset), evaluation.reference

    def flipped(outputs: np.ndarray, image: int) -> np.ndarray:
        changed = outputs.copy()
        changed[image] = 0.0
        changed[image, (reference.top1[image] + 1) % 10] = 1.0
        return changed

    def cell(name: str, outputs: np.ndarray) -> AccuracyCell:
        file = tmp_path / f"{name}.npz"
        header = np.array(json.dumps({"format": 1}))
        ns = np.ones(n, np.int64)
        np.savez(file, header=header, top5=top_k(outputs), outputs=outputs, invoke_ns=ns)
        return AccuracyCell("evk", name, name, "ok", None, result_file=str(file))

    board_cpu = flipped(reference.outputs, 0)  # the board's runtime rounds image 0 otherwise
    try:
        cpu, vx = evaluation._versus_board_cpu(
            [cell("cpu", board_cpu), cell("vx", flipped(board_cpu, 5))]
        )
    finally:
        evaluation.close()
    assert cpu.agreement_cpu is None
    assert vx.agreement_cpu is not None and vx.agreement_cpu.disagreeing == (5,)
    assert vx.agreement_cpu.images == n and vx.agreement_cpu.top1_agree == n - 1


def test_bgr_dataset_triggers_the_loud_warning(data: Generated, tmp_path: Path) -> None:
    path, _ = write_npy(tmp_path / "bgr", data, bgr=True)
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--dataset", str(path), "--delegate", "cpu",
        "--threads", "4", *FAST, "--reports", str(tmp_path / "reports"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    warning = next(line for line in done.stderr.splitlines() if line.startswith("WARNING:"))
    assert warning.startswith(
        "WARNING: the configured preprocessing (RGB + model quantization) scores "
    )
    assert warning.endswith("rerun with --channel-order bgr")
    assert "top1" in done.stdout.splitlines()[1]  # the accuracy column of the table (line 0: title)
    assert "preprocessing: RGB uint8 pixels p -> int8 input 'input_1_int8'" in done.stdout
    again = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--dataset", str(path), "--delegate", "cpu",
        "--threads", "4", "--channel-order", "bgr", *FAST, "--format", "json",
        "--reports", str(tmp_path / "reports"),
    )  # fmt: skip
    assert again.returncode == 0 and "WARNING" not in again.stderr
    row = json.loads(again.stdout)["summary"][0]
    assert row["top1"] == pytest.approx(float(np.mean(data.model_top1 == data.labels)), abs=0)


def test_bad_dataset_options_are_one_line_exit_2(tmp_path: Path) -> None:
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--dataset", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"imxbench: {tmp_path / 'nope'}: data set not found (--dataset)"
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--limit", "10")
    assert done.returncode == 2
    assert done.stderr.strip() == "imxbench: --limit and --channel-order need --dataset"


# -- every format through run_job, on one emulated board ---------------------------------------
@pytest.fixture(scope="module")
def emulator8() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx8mp", seed=3)
    yield emulator
    emulator.stop()


@pytest.fixture
def board8(emulator8: RunningEmulator) -> Board:
    return inventory_board(emulator8, "acc8")


def run_with(board: Board, tmp_path: Path, request: AccuracyRequest, delegates: str) -> JobResult:
    return run_job(
        [board], MODEL, load_catalogue(), delegates, SETTINGS, tmp_path, tmp_path / "vela",
        accuracy=request,
    )  # fmt: skip


def accuracy_doc(result: JobResult) -> dict:  # type: ignore[type-arg]
    return json.loads((result.out_dir / "accuracy.json").read_text())


@pytest.mark.parametrize(
    ("fmt", "limit"), [("cifar10-python", 25), ("npy-pair", None), ("image-folder", None)]
)
def test_every_format_matches_the_recomputation_image_by_image(
    fmt: str, limit: int | None, data: Generated, board8: Board, tmp_path: Path
) -> None:
    path, ids = WRITERS[fmt](tmp_path / "set", data)
    result = run_with(board8, tmp_path, AccuracyRequest(path, limit), "cpu")
    assert result.failures == [] and result.warnings == []
    doc = accuracy_doc(result)
    assert doc["dataset_details"]["format"] == fmt
    assert doc["samples"] == (limit or 60) and doc["dataset_details"]["images_in_dataset"] == 60
    (cell,) = doc["cells"]
    rows = check_cell_against_recomputation(cell, data, ids)
    assert len(rows) == (limit or 60)
    npz = Path(cell["result_file"])
    assert npz.is_file() and npz.parent == result.out_dir / "accuracy" / "acc8"
    if limit:  # the stratified sample: every class present keeps its share, nearly
        shares = np.bincount(data.labels, minlength=10) * limit / 60
        got = np.bincount([int(r["label"]) for r in rows], minlength=10)
        assert np.all(np.abs(got - shares) < 1)


def test_data_and_script_are_uploaded_once(data: Generated, board8: Board, tmp_path: Path) -> None:
    path, _ = WRITERS["npy-pair"](tmp_path / "set", data)
    first = run_with(board8, tmp_path / "a", AccuracyRequest(path, 10), "cpu")
    assert first.accuracy is not None
    packed = f"accuracy-inputs-{first.accuracy.packed_sha256[:16]}.npz"
    listed = on_board(board8, f"cd {board8.workdir}/accuracy && stat -c '%n %Y.%y' *")
    second = run_with(board8, tmp_path / "b", AccuracyRequest(path, 10), "cpu")
    assert second.accuracy and second.accuracy.packed_sha256 == first.accuracy.packed_sha256
    again = on_board(board8, f"cd {board8.workdir}/accuracy && stat -c '%n %Y.%y' *")
    assert again == listed  # same names, same modification times: nothing was sent again
    names = [line.split()[0] for line in listed.splitlines()]
    assert packed in names and len([n for n in names if n.startswith("evaluate-")]) == 1
    assert not [n for n in names if n.startswith("result-")]  # downloaded, then removed


def on_board(board: Board, command: str) -> str:
    done = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={board.known_hosts}", "-p", str(board.port),
         f"{board.user}@{board.host}", command],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_delegate_that_fails_to_load_fails_only_its_accuracy_cell(
    data: Generated, emulator8: RunningEmulator, board8: Board, tmp_path: Path
) -> None:
    path, _ = WRITERS["npy-pair"](tmp_path / "set", data)
    emulator8.set_faults(delegate_load_fails=True)
    try:
        result = run_with(board8, tmp_path, AccuracyRequest(path, 12), "cpu,vx")
    finally:
        emulator8.set_faults(delegate_load_fails=False)
    cells = {c["delegate"]: c for c in accuracy_doc(result)["cells"]}
    assert cells["cpu"]["status"] == "ok"
    assert cells["vx"]["status"] == "failed" and cells["vx"]["top1"] is None
    assert cells["vx"]["error"].startswith(
        "evaluate.py: cannot load delegate /usr/lib/libvx_delegate.so: "
    )
    assert any(f.startswith("acc8 accuracy vx: evaluate.py: cannot") for f in result.failures)
    row = next(r for r in result.summary.to_dict("records") if r["cell"] == "vx")
    assert row["accuracy_error"] == cells["vx"]["error"] and np.isnan(row["top1"])


@pytest.mark.emulator
def test_imx93_ethosu_evaluates_the_vela_graph(data: Generated, tmp_path: Path) -> None:
    path, ids = WRITERS["ic01"](tmp_path / "set", data)
    with start_emulator("imx93", seed=4) as emulator:
        result = run_with(
            inventory_board(emulator, "acc93"), tmp_path, AccuracyRequest(path, 20), "cpu,ethosu"
        )
    assert result.failures == [], result.failures
    cells = {c["delegate"]: c for c in accuracy_doc(result)["cells"]}
    assert cells["ethosu"]["graph"].endswith(".tflite") and "_vela-" in cells["ethosu"]["graph"]
    assert cells["cpu"]["cell"] == "cpu@2t"
    for cell in cells.values():
        check_cell_against_recomputation(cell, data, ids)


@pytest.mark.emulator
def test_lf_5_15_imx93_ethosu_accuracy_uses_the_built_in_op_like_the_benchmark(
    data: Generated, tmp_path: Path
) -> None:
    """LF5.15 has no libethosu_delegate.so: the benchmark runs the Vela graph through TFLite's
    built-in `ethos-u` op (NXP_FACTS §4.3, §10), and so must the accuracy evaluation, rather
    than fail asking for the missing library."""
    path, ids = WRITERS["ic01"](tmp_path / "set", data)
    with start_emulator("imx93", bsp="lf-5.15", seed=4) as emulator:
        result = run_with(
            inventory_board(emulator, "acc93old"), tmp_path, AccuracyRequest(path, 20), "cpu,ethosu"
        )
    assert result.failures == [], result.failures
    cells = {c["delegate"]: c for c in accuracy_doc(result)["cells"]}
    assert "_vela-" in cells["ethosu"]["graph"]
    for cell in cells.values():
        check_cell_against_recomputation(cell, data, ids)
