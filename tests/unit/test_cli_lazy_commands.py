"""The command line imports a command's module only when that command runs (issue 17:
`imxbench boards` starts within 3x `python -c pass`), and otherwise behaves as if every
command were loaded: the same names, help and "Did you mean" suggestions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from imxbench.cli.main import COMMANDS, cli


def test_every_command_loads_under_its_name() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_an_unknown_command_gets_a_suggestion_and_exit_2() -> None:
    result = CliRunner().invoke(cli, ["boardz"])
    assert result.exit_code == 2
    assert "No such command 'boardz'. Did you mean 'boards'?" in result.output


def test_boards_loads_no_other_command(tmp_path: Path) -> None:
    """`imxbench boards` loads its own command only, and no paramiko: the ssh config is read by
    config/ssh_config.py (HostName and Port from it are in the listing)."""
    inventory = tmp_path / "boards.yaml"
    inventory.write_text("boards:\n  evk:\n    soc: imx8mp\n    host: evk\n")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host evk\n  HostName 10.1.2.3\n  Port 2022\n")
    code = (
        "import sys; from imxbench.cli import main\n"
        "sys.argv = ['imxbench', 'boards', '--inventory', sys.argv[1]]\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('imxbench.cli.')))\n"
        "print(sorted(m for m in ('imxbench.report.formats', 'hashlib', 'json', 'paramiko') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(inventory)],
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    *listing, loaded, others = done.stdout.splitlines()
    assert "evk" in listing[0] and "root@10.1.2.3:2022" in listing[0]
    modules = [
        "imxbench.cli.boards",
        "imxbench.cli.main",
        "imxbench.cli.options",
        "imxbench.cli.output",
    ]
    assert loaded == str(modules)
    assert others == "[]"
