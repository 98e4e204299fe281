"""`python -m imxbench`: the same as the `imxbench` command."""

from imxbench.cli import entry

entry()
