"""Every option says what it is for, and every command's help ends with examples."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from imxbench.cli.main import cli


def commands(group: click.Group, prefix: str = "imxbench") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # not group.commands: the top level loads lazily
        command = group.get_command(ctx, name)
        assert command is not None and command.name == name, name
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found.extend(commands(command, f"{prefix} {name}"))
    return found


EXAMPLES = re.compile(r"\n  Examples:\n((?:    .*\n)+)\n(Options|Commands):\n")
"""The Examples section as click prints it: the description's last block, one example per
line (kept as written by click's `\\b`), right before the option or command list."""


def test_every_option_has_help_text() -> None:
    missing = [
        f"{path} {param.opts[0]}"
        for path, command in [("imxbench", cli), *commands(cli)]
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert missing == []  # hidden (test-only) options included: `--help` is not the only reader


@pytest.mark.parametrize("path", ["imxbench", *(path for path, _ in commands(cli))])
def test_every_help_page_ends_with_examples(path: str) -> None:
    """`imxbench ... --help`: its description ends with an Examples section of two or more
    command lines, each running imxbench (a `# comment` line does not count)."""
    args = path.split()[1:]
    shown = CliRunner().invoke(cli, [*args, "--help"], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    section = EXAMPLES.search(shown.output)
    assert section, f"{path} --help: no Examples section before the options\n{shown.output}"
    lines = section.group(1).splitlines()
    examples = [line.strip() for line in lines if not line.strip().startswith("#")]
    assert len(examples) >= 2, f"{path}: {examples}"
    assert all("imxbench " in e for e in examples), examples


@pytest.mark.parametrize("path", ["imxbench", *(path for path, _ in commands(cli))])
def test_every_help_line_fits_80_columns(path: str) -> None:
    """At COLUMNS=80 click rewraps prose and option help, but never a `\\b` block (the
    Examples): each of those lines must fit as written."""
    args = path.split()[1:]
    shown = CliRunner().invoke(cli, [*args, "--help"], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    wide = [line for line in shown.output.splitlines() if len(line) > 80]
    assert wide == [], f"{path} --help: lines wider than 80 columns"
