"""The emulated board seen through stock OpenSSH clients (and real sshd / dropbear on it)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from imxbench.emulator import sandbox
from imxbench.emulator.board_image import build_board_state
from imxbench.emulator.launcher import (
    RunningEmulator,
    run_in_board,
    start_emulator,
    terminate,
)
from imxbench.errors import InfrastructureError
from tests.emulator_fixtures import (  # noqa: F401 (fixtures, used by name)
    SshTarget,
    fixture_any_board,
    fixture_imx8mp_board,
    fixture_imx93_board,
    run_sftp,
    run_ssh,
)
from tests.ssh_servers import SshServer, free_port, keygen, start_board_sshd, wait_for_port


def _why_no_emulator() -> str:
    if shutil.which("ssh") is None or shutil.which("sftp") is None:
        return "needs the OpenSSH clients"
    try:
        sandbox.ensure_namespaces()
    except InfrastructureError as exc:
        return exc.message
    return ""


_NO_EMULATOR = _why_no_emulator()
pytestmark = [pytest.mark.emulator, pytest.mark.skipif(bool(_NO_EMULATOR), reason=_NO_EMULATOR)]

EXPECTED = {
    "imx8mp": {
        "soc_id": "i.MX8MP",
        "model": "NXP i.MX8MPlus EVK board",
        "compatible": "fsl,imx8mp-evk\0fsl,imx8mp\0",
        "online": "0-3",
        "max_freq": "1800000",
        "delegate": "/usr/lib/libvx_delegate.so",
        "other_delegate": "/usr/lib/libethosu_delegate.so",
        "npu": "/dev/galcore",
        "other_npu": "/dev/ethosu0",
        "hostname": "imx8mpevk",
    },
    "imx93": {
        "soc_id": "i.MX93",
        "model": "NXP i.MX93 11X11 EVK board",
        "compatible": "fsl,imx93-11x11-evk\0fsl,imx93\0",
        "online": "0-1",
        "max_freq": "1700000",
        "delegate": "/usr/lib/libethosu_delegate.so",
        "other_delegate": "/usr/lib/libvx_delegate.so",
        "npu": "/dev/ethosu0",
        "other_npu": "/dev/galcore",
        "hostname": "imx93evk",
    },
}


def ok(board: SshTarget, command: str, stdin: bytes | None = None) -> str:
    done = run_ssh(board, command, stdin=stdin)
    assert done.returncode == 0, (command, done.returncode, done.stderr.decode())
    return done.stdout.decode()


def test_board_facts_over_stock_ssh(any_board: RunningEmulator) -> None:
    want = EXPECTED[any_board.soc]
    assert ok(any_board, "cat /sys/devices/soc0/soc_id") == want["soc_id"] + "\n"
    assert ok(any_board, "cat /sys/devices/soc0/machine") == want["model"] + "\n"
    assert ok(any_board, "cat /sys/firmware/devicetree/base/model") == want["model"] + "\0"
    assert ok(any_board, "cat /sys/firmware/devicetree/base/compatible") == want["compatible"]
    assert ok(any_board, "cat /sys/devices/system/cpu/online") == want["online"] + "\n"
    policy = "/sys/devices/system/cpu/cpu0/cpufreq"
    assert ok(any_board, f"cat {policy}/scaling_governor {policy}/cpuinfo_max_freq").split() == [
        "ondemand",
        want["max_freq"],
    ]
    assert int(ok(any_board, "cat /sys/class/thermal/thermal_zone0/temp")) > 20000
    assert ok(any_board, "uname -r").startswith("6.12.34-lts")
    assert ok(any_board, "uname -m; uname -n").split() == ["aarch64", want["hostname"]]
    os_release = ok(any_board, "cat /etc/os-release")
    assert 'NAME="NXP i.MX Release Distro"' in os_release
    assert "VERSION_ID=6.12-walnascar" in os_release
    assert "IMXBENCH_EMULATED=1" in os_release
    tools = ok(any_board, "ls /usr/bin/tensorflow-lite-*/examples/benchmark_model")
    assert tools == "/usr/bin/tensorflow-lite-2.19.0/examples/benchmark_model\n"
    ok(any_board, f"test -x {tools.strip()} && test -f {want['delegate']} && test -e {want['npu']}")
    absent = run_ssh(any_board, f"test -e {want['other_delegate']} || test -e {want['other_npu']}")
    assert absent.returncode == 1
    firmware = run_ssh(any_board, "test -f /lib/firmware/ethosu_firmware")
    assert firmware.returncode == (0 if any_board.soc == "imx93" else 1)
    board = json.loads(ok(any_board, "cat /usr/share/imxbench-emulator/board.json"))
    assert board["emulated"] is True and board["soc_id"] == want["soc_id"]
    assert board["delegates"] == {want["delegate"]: "vx" if any_board.soc == "imx8mp" else "ethosu"}
    assert ok(any_board, "pwd; echo $HOME") == "/home/root\n/home/root\n"
    assert ok(any_board, "python3 -c 'print(6 * 7)'") == "42\n"


def test_exit_status_signal_and_stderr(imx8mp_board: RunningEmulator) -> None:
    assert run_ssh(imx8mp_board, "sh -c 'exit 7'").returncode == 7
    assert run_ssh(imx8mp_board, "kill -9 $$").returncode == 128 + 9
    done = run_ssh(imx8mp_board, "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    missing = run_ssh(imx8mp_board, "no-such-tool-on-the-board")
    assert missing.returncode == 127


def test_stdin_streams_5mb_of_binary_data(imx93_board: RunningEmulator) -> None:
    payload = os.urandom(5 * 1024 * 1024)
    digest = hashlib.sha256(payload).hexdigest()
    remote = "/home/root/imxbench/blob.bin"
    out = ok(imx93_board, f"cat > {remote} && sha256sum {remote}", stdin=payload)
    assert out.split()[0] == digest
    back = run_ssh(imx93_board, f"cat {remote}")
    assert back.returncode == 0 and hashlib.sha256(back.stdout).hexdigest() == digest
    echoed = run_ssh(imx93_board, "cat", stdin=b"line one\nline two\n")
    assert echoed.stdout == b"line one\nline two\n"


def test_stock_sftp_put_get_round_trip(imx8mp_board: RunningEmulator, tmp_path: Path) -> None:
    local = tmp_path / "model.tflite"
    local.write_bytes(os.urandom(300_000))
    fetched = tmp_path / "fetched.tflite"
    done = run_sftp(
        imx8mp_board,
        [
            "mkdir imxbench/sftp-test",
            f"put {local} imxbench/sftp-test/model.tflite",
            "ls -l imxbench/sftp-test",
            f"get /home/root/imxbench/sftp-test/model.tflite {fetched}",
            "get /sys/devices/soc0/soc_id " + str(tmp_path / "soc_id"),
        ],
    )
    assert done.returncode == 0, done.stderr.decode()
    assert fetched.read_bytes() == local.read_bytes()
    assert (tmp_path / "soc_id").read_text() == "i.MX8MP\n"
    assert ok(imx8mp_board, "stat -c %s imxbench/sftp-test/model.tflite") == "300000\n"


@pytest.fixture
def sftp(imx8mp_board: RunningEmulator) -> Iterator[paramiko.SFTPClient]:
    transport = paramiko.Transport((imx8mp_board.host, imx8mp_board.port))
    transport.connect()
    transport.auth_none("root")
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    yield client
    client.close()
    transport.close()


def test_sftp_file_operations(sftp: paramiko.SFTPClient) -> None:
    assert sftp.normalize(".") == "/home/root"
    assert sftp.normalize("imxbench/../imxbench") == "/home/root/imxbench"
    sftp.mkdir("imxbench/ops", mode=0o750)
    assert sftp.stat("imxbench/ops").st_mode is not None
    with sftp.open("imxbench/ops/a.txt", "w") as f:
        f.write(b"hello")
    with sftp.open("imxbench/ops/a.txt", "a") as f:
        f.write(b" board")
        assert f.stat().st_size == 11
    with sftp.open("imxbench/ops/a.txt", "r") as f:
        assert f.read() == b"hello board"
    sftp.chmod("imxbench/ops/a.txt", 0o600)
    assert (sftp.stat("imxbench/ops/a.txt").st_mode or 0) & 0o777 == 0o600
    sftp.symlink("a.txt", "imxbench/ops/link")
    assert sftp.readlink("imxbench/ops/link") == "a.txt"
    assert sftp.lstat("imxbench/ops/link").st_size != sftp.stat("imxbench/ops/link").st_size
    with sftp.open("imxbench/ops/b.txt", "w") as f:
        f.write(b"other")
    with pytest.raises(OSError):
        sftp.rename("imxbench/ops/a.txt", "imxbench/ops/b.txt")  # v3 rename never replaces
    sftp.posix_rename("imxbench/ops/a.txt", "imxbench/ops/b.txt")
    assert sorted(sftp.listdir("imxbench/ops")) == ["b.txt", "link"]
    with pytest.raises(FileNotFoundError):
        sftp.stat("imxbench/ops/a.txt")
    for name in ("b.txt", "link"):
        sftp.remove(f"imxbench/ops/{name}")
    sftp.rmdir("imxbench/ops")
    assert "ops" not in sftp.listdir("imxbench")


def test_many_channels_on_one_connection_and_a_group_kill(
    imx8mp_board: RunningEmulator,
) -> None:
    transport = paramiko.Transport((imx8mp_board.host, imx8mp_board.port))
    transport.connect()
    transport.auth_none("root")
    try:
        channels = []
        for n in range(6):
            channel = transport.open_session()
            channel.exec_command(f"sleep 0.2; echo {n}")
            channels.append(channel)
        assert [c.makefile("rb").read() for c in channels] == [f"{n}\n".encode() for n in range(6)]
        assert [c.recv_exit_status() for c in channels] == [0] * 6
        # What the transport does on a timeout: kill the command's group from a second channel.
        long = transport.open_session()
        long.exec_command("setsid sh -c 'echo $$ >&2; exec sleep 60'")
        pgid = long.makefile_stderr("rb").readline().strip().decode()
        killer = transport.open_session()
        killer.exec_command(f"kill -TERM -{pgid}")
        assert killer.recv_exit_status() == 0
        assert long.recv_exit_status() == 128 + 15
    finally:
        transport.close()


def test_root_logs_in_like_a_debug_tweaks_image_and_others_are_refused(
    imx8mp_board: RunningEmulator, tmp_path: Path
) -> None:
    refused = run_ssh(imx8mp_board, "true", user="nobody")
    assert refused.returncode == 255 and b"Permission denied" in refused.stderr
    key_file = tmp_path / "id_ed25519"
    authorized = imx8mp_board.state_dir / "home/root/.ssh/authorized_keys"
    authorized.write_text(keygen(key_file))
    key = paramiko.Ed25519Key.from_private_key_file(str(key_file))
    stranger = paramiko.Ed25519Key.from_private_key_file(str(_stranger_key(tmp_path)))
    try:
        assert _logs_in(imx8mp_board, lambda t: t.auth_password("root", ""))  # empty password
        assert _logs_in(imx8mp_board, lambda t: t.auth_publickey("root", key))
        assert not _logs_in(imx8mp_board, lambda t: t.auth_publickey("root", stranger))
        assert not _logs_in(imx8mp_board, lambda t: t.auth_password("root", "root"))
    finally:
        authorized.unlink()


def _stranger_key(tmp_path: Path) -> Path:
    keygen(tmp_path / "stranger")
    return tmp_path / "stranger"


def _logs_in(board: RunningEmulator, authenticate: Callable[[paramiko.Transport], object]) -> bool:
    transport = paramiko.Transport((board.host, board.port))
    try:
        transport.connect()
        authenticate(transport)
        return transport.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def test_env_requests_and_interactive_pty_shell(imx8mp_board: RunningEmulator) -> None:
    env = run_ssh(imx8mp_board, "echo $IMX_TEST", extra=["-o", "SetEnv=IMX_TEST=42"])
    assert env.stdout == b"42\n"
    done = run_ssh(imx8mp_board, None, extra=["-tt"], stdin=b"echo marker-$((6*7))\nexit 3\n")
    assert done.returncode == 3, done.stderr
    assert b"marker-42" in done.stdout
    tty = run_ssh(imx8mp_board, "tty; echo $TERM", extra=["-tt", "-o", "SetEnv=TERM=vt100"])
    assert tty.stdout.decode().split()[0].startswith("/dev/pts/")


def test_many_concurrent_clients(imx93_board: RunningEmulator) -> None:
    results: dict[int, bytes] = {}

    def one(n: int) -> None:
        results[n] = run_ssh(imx93_board, f"sleep 0.2; echo {n}").stdout

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: f"{n}\n".encode() for n in range(12)}


def test_host_usr_is_not_modified(imx8mp_board: RunningEmulator) -> None:
    name = f"imxbench-emulator-probe-{os.getpid()}"
    ok(imx8mp_board, f"echo board > /usr/{name} && cat /usr/{name}")
    assert not Path("/usr", name).exists()
    assert (imx8mp_board.state_dir / "usr-upper" / name).read_text() == "board\n"
    assert not Path("/usr/lib/libvx_delegate.so").exists()
    assert Path("/etc/os-release").read_text() != ok(imx8mp_board, "cat /etc/os-release")


def test_restart_keeps_the_workdir(tmp_path: Path) -> None:
    with start_emulator("imx93", state_dir=tmp_path / "state") as board:
        ok(board, "echo persisted > /home/root/imxbench/kept.txt")
        port, fingerprint = board.port, board.host_key_fingerprint
        board.restart()
        assert (board.port, board.host_key_fingerprint) == (port, fingerprint)
        assert ok(board, "cat /home/root/imxbench/kept.txt") == "persisted\n"
    assert (tmp_path / "state" / "home/root/imxbench/kept.txt").exists()  # not a temp state


def test_boot_faults(tmp_path: Path) -> None:
    faults = ("disk_full", "no_benchmark_model", "no_delegate")
    with start_emulator("imx93", state_dir=tmp_path / "s", boot_faults=faults) as board:
        full = run_ssh(board, "head -c 1048576 /dev/zero > /home/root/imxbench/big")
        assert full.returncode != 0 and b"No space left" in full.stderr
        assert run_ssh(board, "ls /usr/bin/tensorflow-lite-*/examples/benchmark_model").returncode
        assert run_ssh(board, "test -e /usr/lib/libethosu_delegate.so").returncode == 1
        board.restart(boot_faults=["readonly_workdir"])
        read_only = run_ssh(board, "touch /home/root/imxbench/x")
        assert read_only.returncode != 0 and b"Read-only" in read_only.stderr
        ok(board, "test -x /usr/bin/tensorflow-lite-2.19.0/examples/benchmark_model")
        board.restart(boot_faults=[])
        ok(board, "head -c 1048576 /dev/zero > /home/root/imxbench/big")


def test_fault_drop_connection_on_exec(imx8mp_board: RunningEmulator) -> None:
    imx8mp_board.set_faults(drop_connection_on_exec=True)
    dropped = run_ssh(imx8mp_board, "echo never")
    assert dropped.returncode == 255 and dropped.stdout == b""
    assert imx8mp_board.faults()["drop_connection_on_exec"] is False  # one-shot
    assert ok(imx8mp_board, "echo again") == "again\n"


def test_fault_drop_connection_after_bytes(imx8mp_board: RunningEmulator) -> None:
    imx8mp_board.set_faults(drop_connection_after_bytes=100_000)
    dropped = run_ssh(imx8mp_board, "cat > imxbench/partial.bin", stdin=os.urandom(1_000_000))
    assert dropped.returncode == 255
    assert imx8mp_board.faults()["drop_connection_after_bytes"] is None
    size = int(ok(imx8mp_board, "stat -c %s imxbench/partial.bin"))
    assert size <= 100_000


def test_namespace_failure_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = ["sh", "-c", "echo 'unshare: unshare failed: Operation not permitted' >&2; exit 1"]
    monkeypatch.setattr(sandbox, "unshare_prefix", lambda: [*failing, "unshare"])
    with pytest.raises(InfrastructureError) as caught:
        sandbox.ensure_namespaces.__wrapped__()
    assert caught.value.message == (
        "cannot create the emulator's namespaces: unshare: unshare failed: Operation not permitted"
    )
    assert caught.value.hint and "user namespaces" in caught.value.hint


# --- real SSH servers started on an emulated board -------------------------------------------


@dataclass
class BoardServer:
    host: str
    port: int
    known_hosts_path: Path


@pytest.fixture
def board_sshd(tmp_path: Path) -> Iterator[SshServer]:
    """OpenSSH sshd inside an emulated imx8mp: root logs in with its empty password."""
    server = start_board_sshd(build_board_state("imx8mp", tmp_path / "state"), tmp_path / "sshd")
    yield server
    server.stop()


@pytest.mark.sshd
@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="needs OpenSSH sshd")
def test_openssh_sshd_on_the_board_sees_the_board(board_sshd: SshServer) -> None:
    done = run_ssh(board_sshd, "cat /sys/devices/soc0/soc_id; pwd; uname -r; ls /dev/galcore")
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().split()
    assert lines[:2] == ["i.MX8MP", "/home/root"] and lines[2].startswith("6.12.34-lts")
    listing = run_sftp(board_sshd, ["ls /usr/bin/tensorflow-lite-2.19.0/examples"])
    assert listing.returncode == 0 and b"benchmark_model" in listing.stdout


@pytest.mark.dropbear
@pytest.mark.skipif(not Path("/usr/sbin/dropbear").exists(), reason="needs Dropbear")
def test_dropbear_on_the_board_accepts_empty_root_password(tmp_path: Path) -> None:
    layout = build_board_state("imx93", tmp_path / "state")
    key = tmp_path / "dropbear_ed25519"
    subprocess.run(
        ["dropbearkey", "-t", "ed25519", "-f", str(key)], check=True, capture_output=True
    )
    public = subprocess.run(
        ["dropbearkey", "-y", "-f", str(key)], check=True, capture_output=True, text=True
    ).stdout
    host_pub = next(line for line in public.splitlines() if line.startswith("ssh-"))
    port = free_port()
    argv = ["/usr/sbin/dropbear", "-F", "-E", "-B", "-p", f"127.0.0.1:{port}", "-r", str(key)]
    proc = run_in_board(layout, argv, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc)
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {' '.join(host_pub.split()[:2])}\n")
        done = run_ssh(BoardServer("127.0.0.1", port, known), "cat /sys/devices/soc0/soc_id")
        assert (done.returncode, done.stdout) == (0, b"i.MX93\n"), done.stderr
    finally:
        terminate(proc)
    assert proc.returncode is not None


def test_a_failed_boot_reports_the_server_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InfrastructureError) as caught:
            start_emulator("imx8mp", port=port, state_dir=tmp_path / "s")
    assert caught.value.message.startswith("emulated imx8mp board failed to start")
    assert caught.value.hint and "cannot listen on 127.0.0.1 port" in caught.value.hint
    assert "Address already in use" in caught.value.hint


def _processes_running(needle: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in args:
            found.append(args)
    return found


def test_stop_ends_every_process_on_the_board(tmp_path: Path) -> None:
    seconds = f"{3000 + os.getpid() % 1000}"
    board = start_emulator("imx8mp", state_dir=tmp_path / "s")
    try:
        started = run_ssh(board, f"setsid sleep {seconds} </dev/null >/dev/null 2>&1 &")
        assert started.returncode == 0
        assert _processes_running(f"sleep {seconds}")
    finally:
        board.stop()
    deadline = time.monotonic() + 5
    while _processes_running(f"sleep {seconds}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_running(f"sleep {seconds}")


def test_serve_prints_how_to_connect_and_stops_on_sigterm() -> None:
    script = (
        "import sys; from imxbench.emulator.launcher import serve; "
        "serve('imx93', 0, None, write=lambda line: print(line, flush=True))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        assert lines[0].startswith("EMULATED i.MX93 board (imx93)")
        ssh_line = next(line for line in lines if line.strip().startswith("ssh "))
        argv = ssh_line.split()
        known = Path(argv[2].split("=", 1)[1])
        board = BoardServer("127.0.0.1", int(argv[4]), known)
        assert any(line.strip().startswith("sftp -o UserKnownHostsFile=") for line in lines)
        assert run_ssh(board, "cat /sys/devices/soc0/soc_id").stdout == b"i.MX93\n"
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "stopping the emulated imx93 board" in rest
        assert not known.exists()  # the temporary state dir is gone
    finally:
        terminate(proc)
