"""The command line: one module per command group; the only layer that prints and exits."""

from imxbench.cli.main import cli, entry, main

__all__ = ["cli", "entry", "main"]
