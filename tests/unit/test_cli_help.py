"""Every option says what it is for, and every command's help ends with examples."""

from __future__ import annotations

import click

from imxbench.cli.main import cli


def commands(group: click.Group, prefix: str = "imxbench") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found.extend(commands(command, f"{prefix} {name}"))
    return found


def test_every_option_has_help_text() -> None:
    missing = [
        f"{path} {param.opts[0]}"
        for path, command in commands(cli)
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]
    assert missing == []


def test_every_command_shows_examples() -> None:
    missing = [
        path
        for path, command in commands(cli)
        if not isinstance(command, click.Group) and "Examples:" not in (command.help or "")
    ]
    assert missing == []
