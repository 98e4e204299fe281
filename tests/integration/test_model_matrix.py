"""Several models in one run (issue 19), end to end on emulated boards: the issue's 3-model
command (two int8 models, one float32 model, on both SoCs), a models.yaml with a data set per
model, a nightly that judges each model against that model's own history, and one SSH
connection per board for the whole matrix (also when it drops between models), each model's
job probing the board afresh."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import Board
from imxbench.config.models import ModelEntry
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.history.store import Store, open_store
from imxbench.model.progress import ProgressEvent
from imxbench.model.records import RunRecord
from imxbench.run.matrix import MatrixResult, prepare_matrix, run_matrix
from imxbench.rundir.layout import RunDir
from tests.dataset_builders import generate, smooth_images, write_npy
from tests.emulator_fixtures import inventory_board
from tests.locations import IMXBENCH

REPO = Path(__file__).resolve().parents[2]
RESNET = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
TINY_INT8 = REPO / "models/tiny_int8.tflite"
TINY_FLOAT = REPO / "models/tiny_float32.tflite"
QUICK = ["--repetitions", "1", "--num-runs", "2", "--warmup-runs", "0", "--min-secs", "0",
         "--no-op-profile"]  # fmt: skip


def imxbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IMXBENCH, *args], capture_output=True, text=True, cwd=REPO, timeout=300)


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def matrix_of(reports: Path) -> dict[str, Any]:
    (record,) = reports.glob("matrix-*/matrix.json")
    doc: dict[str, Any] = read(record)
    return doc


@pytest.fixture(scope="module", name="three")
def fixture_three(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The issue's command: `run --board imx8mp,imx93 --emulate --model A --model B --model F`."""
    reports = tmp_path_factory.mktemp("reports")
    done = imxbench(
        "run", "--board", "imx8mp,imx93", "--emulate",
        "--model", str(RESNET), "--model", str(TINY_INT8), "--model", str(TINY_FLOAT),
        *QUICK, "--reports", str(reports),
    )  # fmt: skip
    return done, reports


def test_three_models_on_two_boards_exit_0_grouped_by_model(
    three: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = three
    assert done.returncode == 0, done.stderr
    headings = [line for line in done.stdout.splitlines() if line.startswith("=== model ")]
    assert headings == [
        "=== model pretrainedResnet_quant (pretrainedResnet_quant.tflite) ===",
        "=== model tiny_int8 (tiny_int8.tflite) ===",
        "=== model tiny_float32 (tiny_float32.tflite) ===",
    ]
    float_table = done.stdout.split(headings[2])[1]
    for board, delegate in (("imx8mp", "vx"), ("imx93", "ethosu")):
        row = next(x for x in float_table.splitlines() if x.split()[:2] == [board, delegate])
        assert row.endswith("skipped: float32 model")
        assert f"{board} {delegate} skipped: a float32 model; the {delegate} delegate" in (
            " ".join(float_table.split())
        )
    # the whole matrix was planned from the start: every model's steps, then each one's own
    first_lines = done.stderr.splitlines()[:6]
    assert [x.split("]")[0] + "]" for x in first_lines] == [
        f"[{board} {model}]"
        for model in ("pretrainedResnet_quant", "tiny_int8", "tiny_float32")
        for board in ("imx8mp", "imx93")
    ]


def test_every_int8_cell_ok_and_the_float_models_npu_cells_skipped_with_the_reason(
    three: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, reports = three
    matrix = matrix_of(reports)
    assert matrix["status"] == "complete" and matrix["boards"] == ["imx8mp", "imx93"]
    models = {m["name"]: m for m in matrix["models"]}
    assert list(models) == ["pretrainedResnet_quant", "tiny_int8", "tiny_float32"]
    assert all(m["status"] == "complete" for m in models.values())
    expected_cells = {
        "imx8mp": {"cpu@1t", "cpu@4t", "gpu", "vx"},
        "imx93": {"cpu@1t", "cpu@2t", "ethosu"},
    }
    for name, model in models.items():
        run_dir = reports / model["run_id"]
        summary = read(run_dir / "summary.json")
        cells = {(r["board"], r["cell"]): r for r in summary}
        assert {b: {c for bb, c in cells if bb == b} for b in expected_cells} == expected_cells
        assert {r["model"] for r in read(run_dir / "results.json")} == {Path(model["path"]).name}
        if name != "tiny_float32":
            assert all(r["status"] == "ok" for r in summary), name
            continue
        skipped = {k for k, r in cells.items() if r["status"] == "skipped"}
        assert skipped == {("imx8mp", "vx"), ("imx93", "ethosu")}
        assert all(r["status"] == "ok" for k, r in cells.items() if k not in skipped)
        rows = [r for r in read(run_dir / "results.json") if r["status"] == "skipped"]
        assert {(r["board"], r["cell"]) for r in rows} == skipped
        assert all("runs only integer-quantized" in r["error"] for r in rows)
        report = (run_dir / "report.html").read_text()
        assert "runs only integer-quantized" in report and "float32 model" in report


def test_each_model_is_its_own_run_in_the_history(
    three: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, reports = three
    done = imxbench("history", "--reports", str(reports), "--format", "json")
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)
    runs = runs["runs"] if isinstance(runs, dict) else runs
    by_id = {r["run_id"]: r for r in runs}
    for model in matrix_of(reports)["models"]:
        assert by_id[model["run_id"]]["model_sha256"] == model["sha256"]
        assert by_id[model["run_id"]]["status"] == "complete"
    assert len({r["model_sha256"] for r in runs}) == 3


def test_a_models_yaml_gives_each_model_its_own_accuracy(tmp_path: Path) -> None:
    resnet_data = generate(30, wrong_share=0.3, seed=5)
    write_npy(tmp_path / "resnet-data", resnet_data)
    # the tiny float model answers class 6 on these images: half the labels say so
    images = smooth_images(20, seed=9)
    labels = np.where(np.arange(20) % 2 == 0, 6, 2).astype(np.int64)
    float_dir = tmp_path / "float-data"
    float_dir.mkdir()
    np.save(float_dir / "x_test.npy", images)
    np.save(float_dir / "y_test.npy", labels)
    names = [f"class{i}" for i in range(10)]
    models_yaml = tmp_path / "models.yaml"
    models_yaml.write_text(
        "format: 1\nmodels:\n"
        f"  - {{name: resnet8, path: {RESNET}, dataset: resnet-data}}\n"
        f"  - {{name: tiny-int8, path: {TINY_INT8}}}\n"
        f"  - name: tiny-float32\n    path: {TINY_FLOAT}\n    dataset: float-data\n"
        f"    mean: 127.5\n    scale: 0.0078125\n    labels: {json.dumps(names)}\n"
        "    skip_delegates: [vx]\n"
    )
    reports = tmp_path / "reports"
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--models", str(models_yaml),
        "--delegate", "cpu,vx", "--threads", "1", *QUICK, "--reports", str(reports),
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    models = {m["name"]: m for m in doc["models"]}
    assert list(models) == ["resnet8", "tiny-int8", "tiny-float32"]
    assert models["tiny-int8"]["accuracy"] is None  # no data set: latency only
    assert not (Path(models["tiny-int8"]["out_dir"]) / "accuracy.json").exists()
    expected = {
        "resnet8": float(np.mean(resnet_data.labels == resnet_data.model_top1)),
        "tiny-float32": 0.5,
    }
    for name, top1 in expected.items():
        summary = {r["cell"]: r for r in models[name]["summary"]}
        evaluated = {c: r["top1"] for c, r in summary.items() if r.get("top1") is not None}
        cells = {"cpu@1t", "vx"} if name == "resnet8" else {"cpu@1t"}
        assert evaluated == dict.fromkeys(cells, pytest.approx(top1)), name
    float_summary = {r["cell"]: r for r in models["tiny-float32"]["summary"]}
    assert float_summary["vx"]["status"] == "skipped"
    assert float_summary["vx"]["skip_reason"] == "models.yaml"
    accuracy = read(Path(models["tiny-float32"]["out_dir"]) / "accuracy.json")
    text = json.dumps(accuracy)
    assert '"mean": [127.5]' in text and "class6" in text
    assert "x = (p - 127.5) * 0.0078125" in text


def test_nightly_judges_each_model_against_its_own_history(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    nights = []
    for _ in range(2):
        done = imxbench(
            "nightly", "--board", "imx8mp", "--emulate", "--model", f"{RESNET},{TINY_FLOAT}",
            "--delegate", "cpu", "--threads", "1", "--repetitions", "2", "--num-runs", "2",
            "--min-secs", "0", "--no-op-profile", "--reports", str(reports), "--format", "json",
            "--junit", str(tmp_path / "junit.xml"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        # the board's one SSH connection goes on from model to model; each model probes
        assert "[imx8mp tiny_float32] connected (reused); probing" in done.stderr
        nights.append(json.loads(done.stdout))
    first = {m["name"]: m for m in nights[0]["models"]}
    second = {m["name"]: m for m in nights[1]["models"]}
    assert list(second) == ["pretrainedResnet_quant", "tiny_float32"]
    for name, night in second.items():
        (cell,) = night["cells"]
        assert first[name]["cells"][0]["verdict"] == "no baseline"
        assert cell["baseline_run_ids"] == [first[name]["run_id"]]
        assert cell["baseline_latency_us"] == pytest.approx(cell["current_latency_us"], rel=0.2)
    resnet, tiny = (second[n]["cells"][0]["baseline_latency_us"] for n in second)
    assert resnet > 20 * tiny  # each model's own baseline, not the other's
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="imx8mp · pretrainedResnet_quant"' in junit
    assert 'name="imx8mp · tiny_float32"' in junit


def test_ctrl_c_in_the_second_model_keeps_the_first_and_resumes_per_model(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    argv = [
        *IMXBENCH, "run", "--board", "imx8mp", "--emulate", "--delegate", "cpu", "--threads", "1",
        "--model", f"{RESNET},{TINY_INT8},{TINY_FLOAT}", "--repetitions", "3", "--num-runs", "2",
        "--min-secs", "0", "--no-op-profile", "--reports", str(reports),
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + 120
    while "[imx8mp tiny_int8] cpu@1t: rep 2 ..." not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    matrix = matrix_of(reports)
    assert f"(resume with --resume {reports / matrix['matrix_id']})" in err  # the whole matrix
    assert matrix["status"] == "partial"
    first, second, third = matrix["models"]
    assert (first["status"], second["status"]) == ("complete", "partial")
    assert third["run_id"] is None and third["status"] is None  # never reached
    kept = read(reports / second["run_id"] / "results.json")
    assert [(r["repetition"], r["status"]) for r in kept] == [(1, "ok")]
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--delegate", "cpu", "--threads", "1",
        "--model", str(TINY_INT8), "--repetitions", "3", "--num-runs", "2", "--min-secs", "0",
        "--no-op-profile", "--reports", str(reports), "--resume", str(reports / second["run_id"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read(reports / second["run_id"] / "results.json")
    assert sorted(r["repetition"] for r in rows if r["status"] == "ok") == [1, 2, 3]


# -- one SSH connection per board for the whole matrix; each model probes afresh --------------
MATRIX_SETTINGS = RunSettings(
    repetitions=1, num_runs=2, warmup_runs=0, min_secs=0, threads=1, op_profile=False
)


@pytest.fixture(name="lab8")
def fixture_lab8() -> Iterator[RunningEmulator]:
    """A fresh emulated 8M Plus per test: its log counts that test's SSH connections."""
    emulator = start_emulator("imx8mp", seed=19)
    yield emulator
    emulator.stop()


def ssh_connections(emulator: RunningEmulator) -> int:
    """The connections the board's SSH server accepted (its log says each one)."""
    return emulator.log_path.read_text(errors="replace").count(" INFO connection from ")


class AfterTheFirstModel(Store):
    """The results history; `then()` once the first model is recorded (between two models)."""

    def __init__(self, store: Store, then: Callable[[], object]) -> None:
        super().__init__(store.engine, store.where)
        self.then, self.recorded = then, 0

    def record_run(self, record: RunRecord, *args: Any, **kwargs: Any) -> None:
        super().record_run(record, *args, **kwargs)
        self.recorded += 1
        if self.recorded == 1:
            self.then()


def run_three_models(
    board: Board, tmp_path: Path, store: Store, events: list[ProgressEvent]
) -> MatrixResult:
    catalogue = load_catalogue()
    entries = [
        ModelEntry(RESNET, "resnet8"),
        ModelEntry(TINY_INT8, "tiny-int8"),
        ModelEntry(TINY_FLOAT, "tiny-float32"),
    ]
    vela = tmp_path / "vela"
    plans = prepare_matrix([board], entries, catalogue, "cpu", vela)
    reports = tmp_path / "reports"
    return run_matrix(
        [board], plans, catalogue, "cpu", MATRIX_SETTINGS, reports, vela, store,
        progress=events.append,
    )  # fmt: skip


def connected_lines(events: list[ProgressEvent]) -> list[tuple[str, str]]:
    return [(e.board, e.message) for e in events if e.message.startswith("connected")]


def assert_every_model_complete(matrix: MatrixResult, store: Store) -> list[dict[str, Any]]:
    """Each model's run is complete and its own, and records its own probe's facts alike in
    its facts/, its results rows and its history fingerprint. Returns each run's facts."""
    assert [r.entry.name for r in matrix.runs] == ["resnet8", "tiny-int8", "tiny-float32"]
    assert matrix.failures == [] and matrix.warnings == []
    documents = []
    for run in matrix.runs:
        assert run.result is not None
        out_dir = run.result.out_dir
        assert read(out_dir / "run.json")["status"] == "complete"
        summary = read(out_dir / "summary.json")
        assert [(r["cell"], r["status"], r["reps"], r["failed"]) for r in summary] == [
            ("cpu@1t", "ok", 1, 0)
        ]
        assert summary[0]["latency_ms"] > 0
        (facts,) = RunDir(out_dir).read_facts().values()
        rows = read(out_dir / "results.json")
        assert {r["model"] for r in rows} == {run.entry.path.name}
        assert {(r["kernel"], r["temperature_mc"], r["emulated"]) for r in rows} == {
            (facts["kernel"], facts["temperature_mc"], True)
        }
        (fingerprint,) = store.load_run(run.result.run_id).fingerprints
        assert dict(fingerprint.facts) == facts and fingerprint.soc == "imx8mp"
        documents.append(facts)
    assert {d["soc_id"] for d in documents} == {"i.MX8MP"}
    return documents


def test_a_matrix_connects_once_per_board_and_probes_each_model(
    lab8: RunningEmulator, tmp_path: Path
) -> None:
    board, events = inventory_board(lab8, "lab8"), []
    governor = lab8.layout.sys_devices / "system/cpu/cpufreq/policy0/scaling_governor"

    def change_the_board() -> None:  # between two models: the next models' probes see it
        governor.write_text("powersave\n")

    before = ssh_connections(lab8)
    with open_store(None, tmp_path) as history:
        store = AfterTheFirstModel(history, change_the_board)
        matrix = run_three_models(board, tmp_path, store, events)
        facts = assert_every_model_complete(matrix, store)
    assert ssh_connections(lab8) - before == 1
    assert connected_lines(events) == [
        ("lab8 resnet8", "connected; probing"),
        ("lab8 tiny-int8", "connected (reused); probing"),
        ("lab8 tiny-float32", "connected (reused); probing"),
    ]
    # each model's facts are its own probe's: the change shows from the second model on
    assert [f["cpufreq_governor"] for f in facts] == ["ondemand", "powersave", "powersave"]


@pytest.mark.parametrize("how", ["restart", "drop"])
def test_a_matrix_whose_connection_drops_between_models_reconnects_and_completes(
    lab8: RunningEmulator, tmp_path: Path, how: str
) -> None:
    board, events = inventory_board(lab8, "lab8"), []
    before = ssh_connections(lab8)
    drop = {
        "restart": lab8.restart,  # a reboot
        "drop": lambda: lab8.set_faults(drop_connection_on_exec=True),  # at the next command
    }[how]
    with open_store(None, tmp_path) as history:
        store = AfterTheFirstModel(history, drop)
        matrix = run_three_models(board, tmp_path, store, events)
        assert_every_model_complete(matrix, store)
    assert ssh_connections(lab8) - before == 2
    lines = connected_lines(events)
    assert lines[0] == ("lab8 resnet8", "connected; probing")
    # rebooted: the dead connection is not taken; dropped at the next command: it is, and
    # that command reconnects (Connection.retrying)
    second = "connected" if how == "restart" else "connected (reused)"
    assert lines[1] == ("lab8 tiny-int8", f"{second}; probing")
    assert lines[2] == ("lab8 tiny-float32", "connected (reused); probing")
    assert [r.result.board_runs[0].reconnects for r in matrix.runs if r.result] == [
        0, 0 if how == "restart" else 1, 0
    ]  # fmt: skip
