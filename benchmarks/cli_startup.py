"""P3: `imxbench --help` and `imxbench boards` versus `python -c pass`, side by side in one run
(target <= 3x), whole processes (interpreter start included), medians of interleaved rounds.

Heavy imports (pandas, matplotlib, LiteRT, paramiko, yaml) must happen only where needed.
`imxbench boards` lists a 3-board inventory completed from an ssh config (HOME points at a
temporary one with `Host` blocks, as a lab's has): it must not import paramiko.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
ROUNDS = 15


def wall_s(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / ".ssh").mkdir()
        (tmp / ".ssh" / "config").write_text(
            "Host evk8 evk93\n  User root\n  ServerAliveInterval 10\n"
            "Host evk8\n  HostName 10.0.0.8\nHost *\n  IdentityFile ~/.ssh/lab\n"
        )
        inventory = tmp / "boards.yaml"
        inventory.write_text(
            "boards:\n"
            + "".join(f"  {n}:\n    soc: imx8mp\n    host: {n}\n" for n in ("evk8", "evk93", "x"))
        )
        import os

        os.environ["HOME"] = str(tmp)
        sides = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "imxbench --help": [str(VENV_BIN / "imxbench"), "--help"],
            "imxbench boards": [
                str(VENV_BIN / "imxbench"),
                "boards",
                "--inventory",
                str(inventory),
            ],
        }
        for argv in sides.values():
            wall_s(argv)  # warm the file cache
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(ROUNDS):  # interleaved so all see the same machine load
            for name, argv in sides.items():
                times[name].append(wall_s(argv))
    b = statistics.median(times["python -c pass"])
    for name in ("imxbench --help", "imxbench boards"):
        c = statistics.median(times[name])
        print(
            f"P3: python -c pass {b * 1000:.1f} ms, {name} {c * 1000:.1f} ms: "
            f"ratio {c / b:.2f}x (target <= 3x; medians of {ROUNDS} interleaved rounds)"
        )


if __name__ == "__main__":
    main()
