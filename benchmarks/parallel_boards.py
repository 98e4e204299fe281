"""P8: one `imxbench run` over 8 emulated boards in parallel versus over one board.

Target: 8 boards take <= 1.2x the wall time of one. Each board runs the same plan (CPU, one
repetition). The emulated boards all share this machine's 2 cores, while real boards each
have their own: `--min-secs 2` makes each benchmark_model process spend most of its time in
the modelled board time (as on a real board) rather than in host CPU (LiteRT start-up).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOARDS = 8
ARGS = [
    "--delegate",
    "cpu",
    "--threads",
    "1",
    "--repetitions",
    "2",
    "--no-op-profile",
    "--num-runs",
    "10",
    "--min-secs",
    "2",
    "--emulate",
    "--format",
    "json",
]


def run(inventory: Path, boards: str, reports: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(REPO / ".venv/bin/imxbench"),
            "run",
            "--board",
            boards,
            "--inventory",
            str(inventory),
            "--reports",
            str(reports),
            *ARGS,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"imxbench run failed: {done.stderr[-2000:]}")
    cells = {(r["board"], r["cell"]) for r in json.loads(done.stdout)["summary"]}
    assert len(cells) == len(boards.split(",")), cells  # no result lost
    return wall


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        inventory = tmp / "boards.yaml"
        inventory.write_text(
            "boards:\n"
            + "".join(
                f"  b{i}:\n    soc: {'imx8mp' if i % 2 else 'imx93'}\n    host: lab.invalid\n"
                for i in range(BOARDS)
            )
        )
        names = ",".join(f"b{i}" for i in range(BOARDS))
        one = run(inventory, "b0", tmp / "one")
        eight = run(inventory, names, tmp / "eight")
        one_again = run(inventory, "b0", tmp / "one-again")
        single = min(one, one_again)
        print(
            f"P8: 1 board {single:.1f} s, {BOARDS} boards in parallel {eight:.1f} s: "
            f"ratio {eight / single:.2f}x (target <= 1.2x)"
        )


if __name__ == "__main__":
    main()
