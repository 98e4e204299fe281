"""The plain ssh config reader (config/ssh_config.py) answers as paramiko's does, and
`imxbench boards` lists the inventory without importing paramiko."""

from __future__ import annotations

import paramiko
import pytest

from imxbench.config.ssh_config import PlainSshConfig, needs_paramiko

CONFIGS = [
    "",
    "Host evk\n  HostName 10.0.0.8\n  User root\n  Port 2222\n",
    "ServerAliveInterval 30\nHost evk*\n  HostName %h.lab\n  IdentityFile ~/.ssh/evk\n"
    "Host *\n  User pi\n  IdentityFile ~/.ssh/id\n  ServerAliveInterval 5\n",
    'Host * !evk93\n  ProxyJump gw\nHost evk93 evk8?\n  Port=2200\n  HostName "b.lab"\n',
    "# comment\nHost a,b\n\tUser x\n",
]


@pytest.mark.parametrize("text", CONFIGS)
@pytest.mark.parametrize("host", ["evk", "evk93", "evk8m", "a", "other"])
def test_lookup_is_paramikos(text: str, host: str) -> None:
    assert not needs_paramiko(text)
    ours = PlainSshConfig.from_text(text).lookup(host)
    theirs = paramiko.SSHConfig.from_text(text).lookup(host)
    assert ours == dict(theirs)


def test_what_only_paramiko_reads_goes_to_paramiko() -> None:
    for text in ("Match host x exec true\n", "Include ~/.ssh/more\n", "Host a\n User %u\n",
                 "Host a\n IdentityFile ~/.ssh/%h\n", "Host a\nNotAKeyValueLine\n"):  # fmt: skip
        assert needs_paramiko(text), text
    assert not needs_paramiko("Host a\n HostName %h.lab\n")


