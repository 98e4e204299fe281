"""Fixtures shared by the transport and deploy tests: a real OpenSSH sshd and a real Dropbear on
127.0.0.1 (one of each per test module), and `server`, each test run once against both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ssh_servers import SshServer, start_dropbear, start_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dropbear(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_dropbear(tmp_path_factory.mktemp("dropbear"))
    yield server
    server.stop()


@pytest.fixture(params=["sshd", "dropbear"])
def server(request: pytest.FixtureRequest) -> SshServer:
    return request.getfixturevalue(request.param)
