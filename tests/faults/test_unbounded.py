"""A board that floods its output, or reports a huge fact, must not fill the harness's memory,
the reports folder or the facts file, and a step's timeout holds while it writes (issue 15)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from imxbench.board.probe import probe_board
from imxbench.board.transport import BoardSession
from imxbench.emulator.board_image import build_board_state
from tests.emulator_fixtures import run_ssh
from tests.locations import IMXBENCH
from tests.ssh_servers import SshServer, start_board_sshd

REPO = Path(__file__).resolve().parents[2]
FLOOD = b"""#!/bin/sh
# a benchmark_model that floods both of its outputs: with 2 threads 200 MB each, then it exits;
# otherwise it never stops
case "$*" in
  *--num_threads=2*)
    head -c 200000000 /dev/zero | tr '\\0' e >&2 &
    head -c 200000000 /dev/zero | tr '\\0' o
    wait
    exit 0 ;;
esac
yes 'stderr flood: the quick brown fox jumps over the lazy dog, again and again' >&2 &
exec yes 'stdout flood: the quick brown fox jumps over the lazy dog, again and again'
"""
TIMEOUT_S = 12
PEAK_RSS_LIMIT_KB = 300 * 1024
LOG_LIMIT_BYTES = 5 * 1024 * 1024


def on_board(server: SshServer, command: str, stdin: bytes | None = None) -> str:
    board = SimpleNamespace(host="127.0.0.1", port=server.port, known_hosts_path=server.known_hosts)
    done = run_ssh(board, command, stdin=stdin, extra=["-i", str(server.client_key)])
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def peak_rss_kb(pid: int) -> int | None:
    """VmHWM of a live process: its resident set's high-water mark."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def test_a_board_flooding_stdout_and_stderr_is_capped_and_killed_at_the_timeout(
    tmp_path: Path,
) -> None:
    layout = build_board_state("imx93", tmp_path / "state")
    server = start_board_sshd(layout, tmp_path / "sshd")
    try:
        on_board(server, "cat > /home/root/flood && chmod +x /home/root/flood", stdin=FLOOD)
        inventory = tmp_path / "boards.yaml"
        inventory.write_text(
            f"boards:\n  evk93:\n    soc: imx93\n    host: 127.0.0.1\n    port: {server.port}\n"
            f"    auth: {{type: key, key_file: {server.client_key}}}\n"
            f"    known_hosts: {server.known_hosts}\n"
            "    benchmark_model: /home/root/flood\n"
        )
        reports = tmp_path / "reports"
        started = time.monotonic()
        proc = subprocess.Popen(
            [*IMXBENCH, "run", "--board", "evk93", "--inventory", str(inventory),
             "--reports", str(reports), "--repetitions", "1",
             "--num-runs", "1", "--min-secs", "0", "--no-op-profile", "--delegate", "cpu",
             "--timeout", str(TIMEOUT_S), "--format", "json"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        peak = 0
        try:
            while proc.poll() is None:
                peak = max(peak, peak_rss_kb(proc.pid) or 0)
                assert peak < PEAK_RSS_LIMIT_KB, f"imxbench's peak RSS reached {peak} kB"
                assert time.monotonic() - started < TIMEOUT_S + 60, "the timeout did not hold"
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
        elapsed = time.monotonic() - started
        assert proc.returncode == 1, err.decode()[-3000:]
        run_dir = next(p for p in reports.iterdir() if (p / "run.json").is_file())
        rows = json.loads((run_dir / "results.json").read_text())
        steps = {r["cell"]: r for r in rows}
        assert sorted(steps) == ["cpu@1t", "cpu@2t"]
        assert f"timed out after {TIMEOUT_S} s" in steps["cpu@1t"]["error"]
        assert steps["cpu@2t"]["status"] == "failed"  # no timings in all that
        log = Path(steps["cpu@2t"]["log_file"])  # 400 MB of output, capped
        assert log.stat().st_size < LOG_LIMIT_BYTES, log.stat().st_size
        text = log.read_bytes()
        assert text.count(b"bytes of output dropped here") == 2, text[-300:]
        assert b"[imxbench: 197902848 bytes of output dropped here" in text
        sizes = sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file())
        assert sizes < 2 * LOG_LIMIT_BYTES, sizes
        print(f"peak RSS {peak} kB, log {log.stat().st_size} bytes, {elapsed:.1f} s")
        deadline = time.monotonic() + 10
        while "yes " in on_board(server, "ps -eo args") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "yes " not in on_board(server, "ps -eo args")  # killed on the board
    finally:
        server.stop()


def test_the_captured_output_keeps_head_and_tail_and_states_the_cut(tmp_path: Path) -> None:
    layout = build_board_state("imx93", tmp_path / "state")
    server = start_board_sshd(layout, tmp_path / "sshd")
    try:
        with BoardSession.connect(server.board(soc="imx93")) as session:
            result = session.run(
                "echo first; head -c 10000000 /dev/zero | tr '\\0' x; echo; echo last >&2; "
                "head -c 5000000 /dev/zero | tr '\\0' y >&2; echo >&2; echo end >&2",
                timeout_s=60,
            )
        assert result.stdout.startswith(b"first\n")
        assert result.stdout.endswith(b"x\n")
        assert b"bytes of output dropped here" in result.stdout
        assert len(result.stdout) < 2 * 1024 * 1024 + 200
        assert result.stderr.startswith(b"last\n") and result.stderr.endswith(b"end\n")
        assert len(result.stderr) < 2 * 1024 * 1024 + 200
    finally:
        server.stop()


def test_a_30_mb_soc_name_is_capped_in_the_facts(tmp_path: Path) -> None:
    layout = build_board_state("imx93", tmp_path / "state")
    soc_id = layout.sys_devices / "soc0" / "soc_id"
    soc_id.write_text("i.MX93-" + "9" * 30_000_000)
    server = start_board_sshd(layout, tmp_path / "sshd")
    try:
        with BoardSession.connect(server.board(soc="imx93")) as session:
            facts = probe_board(session)
        document = json.dumps(facts.to_dict())
        assert len(document) < 300_000, len(document)
        assert facts.raw["soc_id"].startswith("i.MX93-999")
        assert facts.raw["soc_id"].endswith("[truncated by imxbench: 29995911 more characters]")
        assert facts.raw["kernel"] and facts.raw["cpu_count"] == 2  # the rest is intact
    finally:
        server.stop()
