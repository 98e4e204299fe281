"""The emulated i.MX 93's `vela`: NXP's fork of the BSP (its version, NXP_FACTS §4.1), which
compiles with the fork's i.MX 93 defaults when no configuration is given (fork commit 7574575,
NXP_FACTS §4.2).

The emulator has no NXP fork to run: it compiles with the host's Vela and the explicit flags
that select the same values from Arm's vela.ini (NXP_FACTS §4.2, §10: "gives the same result as
a plain `vela model.tflite` on the board"). `--version` answers the fork's version; the first
line of a compile says which Vela really ran. Run as
`python -m imxbench.emulator.board_vela <fork version> [vela arguments]`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

FORK_DEFAULTS = [
    "--accelerator-config",
    "ethos-u65-256",
    "--config",
    "Arm/vela.ini",
    "--system-config",
    "Ethos_U65_High_End",
    "--memory-mode",
    "Dedicated_Sram",
    "--arena-cache-size=393216",
]
"""Upstream flags equal to the fork's defaults (delegates/ethosu.yaml says the same)."""
_CONFIG_FLAGS = ("--accelerator-config", "--config", "--system-config", "--memory-mode")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m imxbench.emulator.board_vela VERSION [vela args]", file=sys.stderr)
        return 2
    version, rest = args[0], args[1:]
    if "--version" in rest:
        print(version)
        return 0
    configured = any(a.split("=", 1)[0] in _CONFIG_FLAGS for a in rest)
    from importlib import metadata

    from ethosu.vela.vela import main as vela_main

    host = metadata.version("ethos-u-vela")
    print(
        f"imxbench emulator: NXP's Vela fork {version} emulated by the host's Vela {host}"
        + ("" if configured else " with the fork's i.MX 93 defaults"),
        flush=True,
    )
    return int(vela_main(rest if configured else [*FORK_DEFAULTS, *rest]) or 0)


if __name__ == "__main__":
    sys.exit(main())
