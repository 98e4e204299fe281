"""The whole pipeline, `imxbench run`, against emulated boards and OpenSSH sshd."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.board_image import build_board_state
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.model.progress import ProgressEvent
from imxbench.run.job import JobResult, run_job
from tests.emulator_fixtures import inventory_board, run_ssh
from tests.locations import BENCHMARK_LOGS, FLOAT_MODEL, IMXBENCH
from tests.ssh_servers import SshServer, have, start_board_sshd

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
FAST = ["--repetitions", "2", "--num-runs", "5", "--warmup-runs", "1", "--min-secs", "0"]
FAST_SETTINGS = RunSettings(repetitions=2, num_runs=5, warmup_runs=1, min_secs=0)


def imxbench(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def by_cell(summary: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    return {row["cell"]: row for row in summary}


def test_run_imx8mp_emulated_cpu_vx_gpu(tmp_path: Path) -> None:
    done = imxbench(
        "run",
        "--board",
        "imx8mp",
        "--emulate",
        *FAST,
        "--format",
        "json",
        "--reports",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    cells = by_cell(out["summary"])
    assert set(cells) == {"cpu@1t", "cpu@4t", "vx", "gpu"}
    assert all(c["failed"] == 0 and c["emulated"] for c in cells.values())
    # calibrated on NXP's figures (3.83 / 1.43 / 0.22 ms) with 1% noise
    assert cells["cpu@1t"]["latency_ms"] == pytest.approx(3.83, rel=0.1)
    assert cells["cpu@4t"]["latency_ms"] == pytest.approx(1.43, rel=0.1)
    assert cells["vx"]["latency_ms"] == pytest.approx(0.22, rel=0.1)
    assert cells["vx"]["speedup"] > 5 and cells["cpu@4t"]["speedup"] == pytest.approx(1.0, rel=1e-3)
    assert cells["vx"]["execution"] == "full" and cells["vx"]["npu_share"] == 1.0
    # the cold run (graph cache cleared) pays the OpenVX compile; the warm runs do not
    assert cells["vx"]["cold_first_ms"] > 5 * cells["vx"]["first_ms"]
    run_dir = Path(out["out_dir"])
    assert (run_dir / "facts/imx8mp.json").is_file()
    table = json.loads((run_dir / "results.json").read_text())
    assert {r["kind"] for r in table} == {"timed", "cold", "profile"}
    vx_logs = sorted((run_dir / "logs/imx8mp").glob("vx-*.log"))
    assert [p.name for p in vx_logs] == [
        "vx-cold.log",
        "vx-profile.log",
        "vx-timed1.log",
        "vx-timed2.log",
    ]
    assert "USE_GPU_INFERENCE=0" in vx_logs[0].read_text().splitlines()[0]


def test_run_imx93_ethosu_on_the_vela_model_fully_delegated(tmp_path: Path) -> None:
    done = imxbench(
        "run",
        "--board",
        "imx93",
        "--emulate",
        *FAST,
        "--format",
        "json",
        "--reports",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    cells = by_cell(json.loads(done.stdout)["summary"])
    assert set(cells) == {"cpu@1t", "cpu@2t", "ethosu"}
    ethosu = cells["ethosu"]
    assert ethosu["latency_ms"] == pytest.approx(0.33, rel=0.1)
    assert ethosu["execution"] == "full"
    assert ethosu["npu_share"] == 1.0  # from the op profile: all time in the delegate node
    assert ethosu["vela_estimate_ms"] == pytest.approx(0.113, rel=0.05)


def test_text_output_is_a_comparison_table(tmp_path: Path) -> None:
    done = imxbench(
        "run",
        "--board",
        "imx93",
        "--emulate",
        "--delegate",
        "cpu",
        *FAST,
        "--no-op-profile",
        "--reports",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "imx93 · EMULATED"  # one board: its name is the title
    assert lines[1].split()[:4] == ["delegate", "latency", "ms", "p95"]
    assert any(line.startswith("cpu@2t") for line in lines)
    assert "EMULATED" in done.stdout
    assert "\033" not in done.stdout  # not a terminal: no colour
    assert "[imx93] cpu@1t: rep 1 ok" in done.stderr  # progress goes to stderr


def test_bad_delegate_for_the_soc_is_one_line_exit_2(tmp_path: Path) -> None:
    done = imxbench(
        "run", "--board", "imx93", "--emulate", "--delegate", "vx", "--reports", str(tmp_path)
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "imxbench: delegate 'vx' does not run on imx93 (it runs on: imx8mp); "
        "delegates for imx93: cpu, ethosu"
    )
    # the float model on an integer-only delegate: a clear refusal, no traceback
    done = imxbench(
        "run",
        "--board",
        "imx8mp",
        "--emulate",
        "--delegate",
        "vx",
        "--model",
        str(FLOAT_MODEL),
        "--reports",
        str(tmp_path),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "float32 model; the vx delegate runs only integer-quantized" in done.stderr


def test_an_unreachable_board_is_exit_3_and_a_failed_board(tmp_path: Path) -> None:
    """No cell failed: the board could not be used (README: 3 infrastructure failure), and
    the report says a board failed, not a cell."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(
        "boards:\n  dead:\n    soc: imx8mp\n    host: 127.0.0.1\n"
        f"    port: {port}\n    user: root\n    auth: {{type: none}}\n"
        f"    host_key_policy: accept-new\n    known_hosts: {tmp_path / 'known_hosts'}\n"
    )
    reports = tmp_path / "reports"
    done = imxbench(
        "run", "--board", "dead", "--inventory", str(inventory), "--delegate", "cpu",
        *FAST, "--no-op-profile", "--reports", str(reports),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "cannot connect" in done.stderr
    [run_dir] = [p for p in reports.iterdir() if (p / "run.json").is_file()]
    doc = json.loads(imxbench("report", str(run_dir), "--format", "json").stdout)
    assert doc["headline"]["status"] == "failed"
    assert doc["headline"]["summary"] == "1 failed board"


# -- a delegate that cannot run the model: its cells are skipped, the run goes on -------------
FLOAT_FAST = ["--repetitions", "2", "--num-runs", "5", "--min-secs", "0", "--no-op-profile"]
FLOAT_REASON = (
    "a float32 model; the {} delegate runs only integer-quantized (int8/uint8) models — "
    "quantize it first"
)


def assert_skipped_run(
    done: subprocess.CompletedProcess[str], board: str, ran: set[str], skipped: str
) -> None:
    """Exit 0; `ran` ok and `skipped` skipped with its reason in the table, results.json,
    summary.json and the report (not as a failure)."""
    assert done.returncode == 0, done.stderr
    reason = FLOAT_REASON.format(skipped)
    table = done.stdout.split("\nresults: ")[0]
    body = table.split("\n* fastest")[0].splitlines()[3:]
    rows = {line.split()[0].rstrip("*"): line for line in body}
    assert rows[skipped].endswith("skipped: float32 model")
    assert all(rows[cell].endswith(" ok") for cell in ran)
    assert f"{skipped} skipped: {reason}" in " ".join(table.split())  # the note, wrapped
    assert "FAILED" not in done.stdout + done.stderr
    assert f"[{board}] {skipped}: skipped: {reason}" in done.stderr  # the progress says so
    run_dir = Path(next(x for x in done.stdout.splitlines() if x.startswith("results: "))[9:])
    results = json.loads((run_dir / "results.json").read_text())
    mine = [r for r in results if r["cell"] == skipped]
    assert len(mine) == 1
    assert mine[0]["status"] == mine[0]["kind"] == "skipped"
    assert mine[0]["error"] == reason and mine[0]["skip_reason"] == "float32 model"
    assert {r["status"] for r in results if r["cell"] != skipped} == {"ok"}
    assert "skipped" in (run_dir / "results.csv").read_text()
    summary = by_cell(json.loads((run_dir / "summary.json").read_text()))
    assert set(summary) == ran | {skipped}
    assert summary[skipped]["status"] == "skipped" and summary[skipped]["failed"] == 0
    assert all(summary[c]["status"] == "ok" and summary[c]["latency_ms"] > 0 for c in ran)
    html = (run_dir / "report.html").read_text()
    assert f"1 skipped ({board} · {skipped}: float32 model)" in html  # the headline
    assert '<div class="status">ok</div>' in html  # neither ok nor failed: no failure
    assert f"<td>{skipped}</td><td class=\"muted\">skipped: float32 model</td>" in html
    assert f"{board} · {skipped}: {reason}" in html
    assert 'id="failures"' not in html or f"{skipped}</td>" not in html.split('id="failures"')[1]


def test_a_float_model_skips_the_integer_only_npu_imx8mp(tmp_path: Path) -> None:
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--model", str(FLOAT_MODEL), *FLOAT_FAST,
        "--reports", str(tmp_path),
    )  # fmt: skip
    assert_skipped_run(done, "imx8mp", {"cpu@1t", "cpu@4t", "gpu"}, "vx")


def test_a_float_model_skips_the_ethos_u_imx93(tmp_path: Path) -> None:
    done = imxbench(
        "run", "--board", "imx93", "--emulate", "--model", str(FLOAT_MODEL), *FLOAT_FAST,
        "--reports", str(tmp_path),
    )  # fmt: skip
    assert_skipped_run(done, "imx93", {"cpu@1t", "cpu@2t"}, "ethosu")
    # asked for by name beside a delegate that can run it: skipped too; --format json says so
    done = imxbench(
        "run", "--board", "imx93", "--emulate", "--model", str(FLOAT_MODEL), *FLOAT_FAST,
        "--delegate", "cpu,ethosu", "--threads", "1", "--reports", str(tmp_path),
        "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["failures"] == [] and out["skipped"] == [
        f"imx93 ethosu: {FLOAT_REASON.format('ethosu')}"
    ]
    assert {c: r["status"] for c, r in by_cell(out["summary"]).items()} == {
        "cpu@1t": "ok",
        "ethosu": "skipped",
    }


# -- failures: one cell fails, the others go on ----------------------------------------------
@pytest.fixture(scope="module")
def board8(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx8mp", seed=7)
    yield emulator
    emulator.stop()


def run(board: Board, tmp_path: Path, delegates: str | None = None) -> JobResult:
    return run_job(
        [board], MODEL, load_catalogue(), delegates, FAST_SETTINGS, tmp_path, tmp_path / "vela"
    )


def test_a_delegate_that_fails_to_load_fails_only_its_cells(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    board8.set_faults(delegate_load_fails=True)
    events: list[ProgressEvent] = []
    try:
        result = run_job(
            [inventory_board(board8, "lab8")],
            MODEL,
            load_catalogue(),
            "cpu,vx",
            FAST_SETTINGS,
            tmp_path,
            tmp_path / "vela",
            progress=events.append,
        )
    finally:
        board8.set_faults(delegate_load_fails=False)
    cells = {row["cell"]: row for row in result.summary.to_dict("records")}
    assert cells["cpu@1t"]["failed"] == 0 and cells["cpu@4t"]["failed"] == 0
    assert cells["vx"]["failed"] == 4  # cold, 2 repetitions, profile
    assert "Unable to load external delegate" in cells["vx"]["error"]
    assert result.failures == ["lab8 vx: failed"]
    # the CPU ran the failed steps' inferences: their progress lines name the error, no timing
    ended = [e for e in events if e.kind == "step_ended" and e.cell == "vx"]
    assert len(ended) == 4 and all(e.status == "failed" for e in ended)
    assert all(" ms" not in e.message and "Unable to load" in e.message for e in ended)


def test_a_crashing_benchmark_model_is_a_failed_cell_with_stderr(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    board8.set_faults(crash=True)
    try:
        result = run(inventory_board(board8, "lab8"), tmp_path, "cpu")
    finally:
        board8.set_faults(crash=False)
    rows = result.table.to_dict("records")
    assert rows and all(r["status"] == "failed" for r in rows)
    assert all(r["exit_status"] == 139 for r in rows)
    assert "Segmentation fault" in rows[0]["error"]


def test_a_hanging_benchmark_model_times_out_and_is_killed(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    board8.set_faults(hang=True)
    settings = replace(FAST_SETTINGS, repetitions=1, op_profile=False, step_timeout_s=3)
    try:
        result = run_job(
            [inventory_board(board8, "lab8")],
            MODEL,
            load_catalogue(),
            "cpu",
            settings,
            tmp_path,
            tmp_path / "vela",
        )
    finally:
        board8.set_faults(hang=False)
    rows = result.table.to_dict("records")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert "timed out after 3 s" in rows[0]["error"]
    with_ps = run_ssh(board8, "ps -eo args").stdout.decode()
    assert "benchmark_tool" not in with_ps  # nothing left running on the board


# -- the same pipeline through OpenSSH sshd serving an emulated board ------------------------
@pytest.mark.sshd
@pytest.mark.skipif(not have("/usr/sbin/sshd"), reason="needs OpenSSH sshd")
def test_whole_pipeline_through_openssh_sshd(tmp_path: Path) -> None:
    server: SshServer = start_board_sshd(
        build_board_state("imx93", tmp_path / "state"), tmp_path / "sshd"
    )
    try:
        board = server.board(
            name="sshd93", soc="imx93", workdir="/home/root/imxbench", auth=AuthSpec("none")
        )
        result = run(board, tmp_path / "reports")
    finally:
        server.stop()
    cells = {row["cell"]: row for row in result.summary.to_dict("records")}
    assert set(cells) == {"cpu@1t", "cpu@2t", "ethosu"}
    assert all(c["failed"] == 0 for c in cells.values()), result.failures
    assert cells["ethosu"]["execution"] == "full"


def test_board_all_runs_every_board_in_parallel(tmp_path: Path) -> None:
    done = imxbench(
        "run",
        "--board",
        "all",
        "--emulate",
        "--delegate",
        "cpu",
        *FAST,
        "--no-op-profile",
        "--format",
        "json",
        "--reports",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    boards = {row["board"] for row in json.loads(done.stdout)["summary"]}
    assert boards == {"imx8mp", "imx93"}  # both inventory boards, each on its own emulator


def test_parse_log_reads_every_shared_log() -> None:
    logs = sorted(BENCHMARK_LOGS.glob("*.log"))
    assert len(logs) >= 28
    for log in logs:
        done = imxbench("parse-log", str(log), "--format", "json")
        assert done.returncode == 0, (log.name, done.stderr)
        runs = json.loads(done.stdout)
        assert all(r["status"] in ("ok", "failed", "incomplete") for r in runs), log.name
    vx = imxbench(
        "parse-log",
        str(logs[0].parent / "15_vx-npu-imx8mp-evk-mobilenet-full-delegation-op-profiling.log"),
    )
    assert vx.stdout.startswith("run 1: ok")
    assert "avg=2.526 ms" in vx.stdout and "EXTERNAL:full" in vx.stdout  # ms, as everywhere


def test_parse_log_of_a_file_with_no_run_is_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "hostname"
    text.write_text("imx8mpevk\n")
    done = imxbench("parse-log", str(text))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        f"imxbench: {text}: no benchmark_model run in it (not a benchmark_model log?)"
    )


def test_parse_log_of_a_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    done = imxbench("parse-log", str(tmp_path / "nope.log"))
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"imxbench: {tmp_path / 'nope.log'}: cannot read: "
        "No such file or directory"
    )


def test_an_out_of_memory_kill_is_a_failed_cell(board8: RunningEmulator, tmp_path: Path) -> None:
    board8.set_faults(oom=True)
    try:
        result = run(inventory_board(board8, "lab8"), tmp_path, "cpu")
    finally:
        board8.set_faults(oom=False)
    rows = result.table.to_dict("records")
    assert rows and all(r["status"] == "failed" and r["exit_status"] == 137 for r in rows)
    assert rows[0]["error"].endswith("killed, out of memory? (exit 137)]")


def test_the_table_fits_80_columns(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *IMXBENCH,
            "run",
            "--board",
            "imx8mp,imx93",
            "--emulate",
            "--delegate",
            "cpu",
            *FAST,
            "--no-op-profile",
            "--reports",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\nresults:")[0]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "imx8mp, imx93 · EMULATED" in table and "*" in table  # title; the fastest marked


def test_slowdown_makes_one_delegate_slower_and_says_so(tmp_path: Path) -> None:
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--delegate", "cpu,vx", *FAST,
        "--no-op-profile", "--threads", "4", "--slowdown", "vx=25%", "--format", "json",
        "--reports", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cells = by_cell(json.loads(done.stdout)["summary"])
    assert 1.15 < cells["vx"]["latency_ms"] / 0.220 < 1.40  # the emulator's vx: 0.220 ms
    assert 0.9 < cells["cpu@4t"]["latency_ms"] / 1.43 < 1.1  # untouched
    (run_dir,) = [p for p in tmp_path.iterdir() if (p / "run.json").is_file()]
    assert json.loads((run_dir / "run.json").read_text())["emulation"] == (
        "vx made 25% slower (--slowdown)"
    )
    assert "Emulated as asked: vx made 25% slower (--slowdown)." in (
        run_dir / "report.html"
    ).read_text()
    bad = imxbench("run", "--board", "imx8mp", "--emulate", "--slowdown", "npu=8%")
    assert bad.returncode == 2 and "--slowdown 'npu=8%'" in bad.stderr
