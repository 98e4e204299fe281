"""Security: hostile names never reach a shell unquoted; secrets never reach logs or reports."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imxbench.analysis.plan import RunSettings
from imxbench.board.transport import BoardSession
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.errors import ConnectError
from imxbench.run.job import run_job
from tests.emulator_fixtures import run_ssh
from tests.locations import IMXBENCH
from tests.ssh_servers import SshServer, have, start_sshd

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
CANARY = Path("/tmp/imxbench-pwned")
SHELL_META = st.sampled_from([*"$`;|&<>(){}[]*?!~#'\"\\ \t\n=%^,", "$(", "${", "\\n"])
NO_NUL = st.text(st.characters(blacklist_characters="\x00"), max_size=4)  # NUL: see below
HOSTILE = st.lists(st.one_of(SHELL_META, NO_NUL), max_size=12).map("".join)

pytestmark = pytest.mark.skipif(not have("/usr/sbin/sshd"), reason="needs OpenSSH sshd")


@pytest.fixture(scope="module")
def recorded_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshServer, Path]]:
    """sshd whose every command line is recorded (ForceCommand) before it runs."""
    tmp = tmp_path_factory.mktemp("recorded")
    record = tmp / "commands.log"
    wrapper = tmp / "record.sh"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\0" "$SSH_ORIGINAL_COMMAND" >> {record}\n'
        'exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n'
    )
    wrapper.chmod(0o755)
    server = start_sshd(tmp / "sshd", force_command=str(wrapper))
    yield server, record
    server.stop()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(arg=HOSTILE, value=HOSTILE)
def test_hostile_arguments_and_env_arrive_verbatim(
    recorded_sshd: tuple[SshServer, Path], arg: str, value: str
) -> None:
    server, record = recorded_sshd
    with BoardSession.connect(server.board()) as session:
        out = session.run(["printf", "%s|%s", arg, "x"], env={"IMX_V": value})
        env = session.run(["sh", "-c", 'printf %s "$IMX_V"'], env={"IMX_V": value})
    assert out.stdout.decode("utf-8", "surrogateescape") == f"{arg}|x"
    assert env.stdout.decode("utf-8", "surrogateescape") == value
    assert not CANARY.exists()
    assert record.stat().st_size > 0  # the commands went through the real sshd


def test_a_hostile_workdir_runs_the_whole_pipeline_quoted(tmp_path: Path) -> None:
    emulator: RunningEmulator = start_emulator("imx93", seed=3)
    workdir = f"/home/root/imx bench;touch {CANARY};$(touch {CANARY})`touch {CANARY}`'\""
    try:
        board = Board(
            name="hostile",
            soc="imx93",
            host=emulator.host,
            port=emulator.port,
            user=emulator.user,
            auth=AuthSpec("none"),
            known_hosts=str(emulator.known_hosts_path),
            workdir=workdir,
        )
        settings_ = RunSettings(repetitions=1, num_runs=3, min_secs=0, op_profile=False)
        result = run_job(
            [board], MODEL, load_catalogue(), "cpu,ethosu", settings_, tmp_path, tmp_path / "vela"
        )
        listing = run_ssh(emulator, f"ls /home/root; ls -d {CANARY} 2>&1").stdout.decode()
    finally:
        emulator.stop()
    assert result.failures == []
    assert "imx bench;touch" in listing  # one directory with the whole hostile name
    assert "No such file" in listing  # the canary was never created on the board
    assert not CANARY.exists()


def test_secrets_never_reach_errors_logs_or_reports(
    recorded_sshd: tuple[SshServer, Path], tmp_path: Path
) -> None:
    server, _ = recorded_sshd
    secret = f"s3cret-{uuid.uuid4().hex}"
    os.environ["IMXBENCH_TEST_PASSWORD"] = secret
    try:
        board = server.board(auth=AuthSpec("password", password_env="IMXBENCH_TEST_PASSWORD"))
        with pytest.raises(ConnectError) as info:  # sshd here allows keys only
            BoardSession.connect(board, retries=0)
        assert secret not in str(info.value) and secret not in (info.value.hint or "")
        key_text = Path(server.client_key).read_text()
        done = subprocess.run(
            [
                *IMXBENCH,
                "boards",
                "probe",
                "imx93",
                "--emulate",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert secret not in done.stdout + done.stderr
        assert key_text.splitlines()[1] not in done.stdout + done.stderr
    finally:
        del os.environ["IMXBENCH_TEST_PASSWORD"]


def test_unknown_key_refused_by_default(tmp_path: Path) -> None:
    server = start_sshd(tmp_path / "sshd")
    try:
        board = server.board(known_hosts=str(tmp_path / "empty_known_hosts"))
        with pytest.raises(ConnectError, match="unknown host key"):
            BoardSession.connect(board)
    finally:
        server.stop()


def test_a_nul_byte_is_refused_before_anything_is_sent() -> None:
    from imxbench.board.transport import quote_command
    from imxbench.errors import ConfigError

    with pytest.raises(ConfigError, match="NUL"):
        quote_command(["echo", "a\x00b"])
    with pytest.raises(ConfigError, match="NUL"):
        quote_command(["echo"], env={"X": "a\x00b"})
