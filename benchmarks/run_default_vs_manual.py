"""P1d and P9 (issue 17): `imxbench run` at its DEFAULT settings against hand-written scripts.

One OpenSSH sshd serves an emulated i.MX 8M Plus (3 delegates: cpu at 1 and 4 threads, vx,
gpu); its benchmark_model logs each process's board time (run_vs_manual.log_board_time).
Every side is a whole process (interpreter start, imports, SSH handshakes included); rounds
interleave the sides (the order alternates), figures are medians.

Sides:
* `manual 18`: bash replaying, over OpenSSH (one `ssh` per command, `scp` for the model), the
  18 benchmark_model commands of yesterday's default `run` (3 fixed repetitions of 50
  inferences / 1 s after a 0.5 s warm-up, a cold step for vx and gpu, an op-profile pass per
  cell), captured from imxbench's own logs at `--repetitions 3 --op-profile always`.
* `imxbench default`: `imxbench run --board lab` and nothing else (adaptive sampling to 1%,
  op profiles reused), in a reports dir kept across rounds: the lab's steady state.
* `imxbench first run`: the same in a fresh reports dir each round (the op profiles measured).
* `lab engineer`: what an engineer writes to time the 4 cells: one benchmark_model per cell
  at the tool's defaults over OpenSSH. It states no precision at all (one process).
* `fixed 6`: `imxbench run --repetitions 6` (yesterday's per-process settings): the fewest
  fixed repetitions with which any distribution-free 95% interval exists, to compare the
  time to a stated precision with adaptive sampling.

Printed: walls, the achieved precision (the worst cell's), and imxbench's overhead (wall minus
its own processes' board time).

    .venv/bin/python benchmarks/run_default_vs_manual.py [--rounds N]
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import run_vs_manual as rvm  # noqa: E402

from imxbench.emulator.board_image import build_board_state  # noqa: E402
from tests.ssh_servers import SshServer, start_board_sshd  # noqa: E402

YESTERDAY = ["--repetitions", "3", "--op-profile", "always"]


def board_spans(log: Path) -> tuple[int, float]:
    """(processes, seconds of benchmark_model) logged since the last call (then emptied)."""
    spans = [line.split() for line in log.read_text().splitlines()]
    log.write_text("")
    return len(spans), sum(int(b) - int(a) for a, b in spans) / 1e9


def imxbench(inventory: Path, reports: Path, args: list[str]) -> tuple[float, dict]:  # type: ignore[type-arg]
    rvm.ARGS = args
    wall, _, doc = rvm.imxbench_run(inventory, reports)
    return wall, doc


def worst_precision(doc: dict) -> float | None:  # type: ignore[type-arg]
    values = [row.get("precision_pct") for row in doc["summary"]]
    if not values or any(v is None for v in values):
        return None
    return max(values)


def engineer_script(server: SshServer, steps: list[tuple[str, str | None]], model: str) -> str:
    """One benchmark_model per cell at the tool's defaults (the first timed command of each)."""
    firsts: dict[str, str] = {}
    for command, cache in steps:
        words = shlex.split(command)
        if cache or any(w.startswith("--enable_op_profiling") for w in words):
            continue
        key = " ".join(w for w in words if not w.startswith("--graph="))
        firsts.setdefault(key, command)
    return rvm.manual_script(server, [(c, None) for c in firsts.values()], model)


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        layout = build_board_state("imx8mp", tmp / "state")
        rvm.log_board_time(layout, tmp / "board-times.log")
        server = start_board_sshd(layout, tmp / "sshd")
        try:
            measure(server, tmp, rounds)
        finally:
            server.stop()


def measure(server: SshServer, tmp: Path, rounds: int) -> None:
    inventory = rvm.write_inventory(server, tmp)
    log = tmp / "board-times.log"
    kept = tmp / "reports"
    _, doc = imxbench(inventory, tmp / "capture", YESTERDAY)
    steps = rvm.step_commands(Path(doc["out_dir"]))
    board_spans(log)
    rows = __import__("json").loads((Path(doc["out_dir"]) / "results.json").read_text())
    remote = rows[0]["graph_on_board"].replace(".tflite", "-manual.tflite")
    manual = tmp / "manual.sh"
    manual.write_text(rvm.manual_script(server, steps, remote))
    engineer = tmp / "engineer.sh"
    engineer.write_text(engineer_script(server, steps, remote))
    imxbench(inventory, kept, [])  # the kept reports dir measures its op profiles once
    board_spans(log)
    results: dict[str, list[tuple[float, int, float, float | None]]] = {}
    sides = ["manual 18", "imxbench default", "imxbench first run", "lab engineer", "fixed 6"]
    for r in range(rounds):
        for side in sides if r % 2 == 0 else list(reversed(sides)):
            precision = None
            if side in ("manual 18", "lab engineer"):
                started = time.perf_counter()
                script = manual if side == "manual 18" else engineer
                subprocess.run(["bash", str(script)], check=True)
                wall = time.perf_counter() - started
            elif side == "imxbench default":
                wall, doc = imxbench(inventory, kept, [])
                precision = worst_precision(doc)
            elif side == "imxbench first run":
                wall, doc = imxbench(inventory, tmp / f"fresh{r}", [])
                precision = worst_precision(doc)
            else:
                wall, doc = imxbench(inventory, kept, ["--repetitions", "6"])
                precision = worst_precision(doc)
            n, board = board_spans(log)
            results.setdefault(side, []).append((wall, n, board, precision))
            print(f"  round {r + 1} {side:<20} wall {wall:6.2f} s, {n:2d} processes, "
                  f"board {board:6.2f} s, worst precision {precision}", flush=True)  # fmt: skip
    manual_wall = statistics.median(w for w, _, _, _ in results["manual 18"])
    print(f"medians of {rounds} interleaved rounds (whole processes):")
    for side in sides:
        rows_ = results[side]
        wall = statistics.median(w for w, _, _, _ in rows_)
        n = statistics.median(n for _, n, _, _ in rows_)
        overhead = statistics.median(w - b for w, _, b, _ in rows_)
        worst = [p for _, _, _, p in rows_ if p is not None]
        said = f"worst cell of any round ±{max(worst):.2f}%" if worst else "no precision stated"
        print(
            f"  {side:<20} {wall:6.2f} s = {wall / manual_wall:.2f}x manual 18; "
            f"{n:.0f} processes; wall - board time {overhead:.2f} s; {said}"
        )
    default = statistics.median(w for w, _, _, _ in results["imxbench default"])
    print(
        f"P1d: imxbench run at its defaults {default:.2f} s / manual replay of yesterday's "
        f"18-command default {manual_wall:.2f} s = {default / manual_wall:.2f}x (target <= 0.6x, "
        f"every cell's precision <= 1%)"
    )


if __name__ == "__main__":
    main()
