"""Emulated boards for the tests, and stock OpenSSH clients pointed at them.

Import the fixtures a test module uses (`from tests.emulator_fixtures import
fixture_imx8mp_board  # noqa: F401`): pytest finds them under their `name`, `imx8mp_board`.
Every board started here is stopped by a finalizer, all its processes included.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.launcher import RunningEmulator, start_emulator


def inventory_board(emulator: RunningEmulator, name: str = "lab", **changes: Any) -> Board:
    """The emulated board as an inventory entry names it (root, no password, its host key),
    with `changes` to the entry's fields."""
    board = Board(
        name=name,
        soc=emulator.soc,
        host=emulator.host,
        port=emulator.port,
        user=emulator.user,
        auth=AuthSpec("none"),
        known_hosts=str(emulator.known_hosts_path),
    )
    return dataclasses.replace(board, **changes)


class SshTarget(Protocol):
    host: str
    port: int

    @property
    def known_hosts_path(self) -> Path: ...


def ssh_options(target: SshTarget) -> list[str]:
    """Non-interactive, strict host key checking against the board's own known_hosts."""
    return [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={target.known_hosts_path}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
    ]


def run_ssh(
    target: SshTarget,
    command: str | None,
    *,
    user: str = "root",
    stdin: bytes | None = None,
    extra: Sequence[str] = (),
    timeout_s: float = 30.0,
) -> subprocess.CompletedProcess[bytes]:
    """`ssh root@board COMMAND` with the stock client (no command: a login shell)."""
    argv = ["ssh", *ssh_options(target), *extra, "-p", str(target.port), f"{user}@{target.host}"]
    if command is not None:
        argv.append(command)
    return subprocess.run(
        argv,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout_s,
    )


def run_sftp(
    target: SshTarget, batch: Sequence[str], *, timeout_s: float = 30.0
) -> subprocess.CompletedProcess[bytes]:
    """The stock `sftp -b -` with `batch` commands (it stops at the first failing one)."""
    argv = ["sftp", *ssh_options(target), "-b", "-", "-P", str(target.port)]
    return subprocess.run(
        [*argv, f"root@{target.host}"],
        input="\n".join(batch).encode() + b"\n",
        capture_output=True,
        timeout=timeout_s,
    )


def _board(soc: str) -> Iterator[RunningEmulator]:
    board = start_emulator(soc, seed=1234)
    try:
        yield board
    finally:
        board.stop()


@pytest.fixture(scope="module", name="imx8mp_board")
def fixture_imx8mp_board() -> Iterator[RunningEmulator]:
    """An emulated i.MX 8M Plus board for the whole test module."""
    yield from _board("imx8mp")


@pytest.fixture(scope="module", name="imx93_board")
def fixture_imx93_board() -> Iterator[RunningEmulator]:
    """An emulated i.MX 93 board for the whole test module."""
    yield from _board("imx93")


@pytest.fixture(params=["imx8mp", "imx93"], name="any_board")
def fixture_any_board(
    request: pytest.FixtureRequest, imx8mp_board: RunningEmulator, imx93_board: RunningEmulator
) -> RunningEmulator:
    """Each emulated SoC in turn."""
    return imx8mp_board if request.param == "imx8mp" else imx93_board
