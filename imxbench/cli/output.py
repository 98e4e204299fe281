"""The terminal sink: everything the CLI prints that may carry board output goes through here.

Board output (error messages, stderr tails, delegate names in a parsed log) may hold escape
sequences and control characters; printed raw they would move the cursor, retitle the window or
hide text. `echo` is click.echo with analysis/text_safety.terminal_safe applied. JSON output
needs nothing: json.dumps escapes control characters itself.
"""

from __future__ import annotations

import click

from imxbench.analysis.text_safety import terminal_safe


def echo(text: str, err: bool = False, nl: bool = True) -> None:
    """click.echo of `text` without escape sequences and control characters."""
    click.echo(terminal_safe(text), err=err, nl=nl)
