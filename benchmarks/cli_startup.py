"""P3: `imxbench --help` versus `python -c pass`, side by side in one run (target <= 3x).

Heavy imports (pandas, matplotlib, LiteRT, paramiko, yaml) must happen only where needed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
ROUNDS = 15


def wall_s(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    bare = [sys.executable, "-c", "pass"]
    cli = [str(VENV_BIN / "imxbench"), "--help"]
    wall_s(bare), wall_s(cli)  # warm the file cache
    bare_s, cli_s = [], []
    for _ in range(ROUNDS):  # interleaved so both see the same machine load
        bare_s.append(wall_s(bare))
        cli_s.append(wall_s(cli))
    b, c = statistics.median(bare_s), statistics.median(cli_s)
    print(
        f"P3: python -c pass {b * 1000:.1f} ms, imxbench --help {c * 1000:.1f} ms: "
        f"ratio {c / b:.2f}x (target <= 3x; medians of {ROUNDS} interleaved rounds)"
    )


if __name__ == "__main__":
    main()
