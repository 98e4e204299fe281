"""P8: one `imxbench run` over 8 emulated boards in parallel versus the same run over one board.

Target: 8 boards take <= 1.2x the wall time of one. Each board runs the same plan: the CPU at
1 thread, `REPETITIONS` benchmark_model processes of at least `MIN_SECS` seconds each.

The boards are started before the runs (like a lab's boards, which are up before a job) and
reached over SSH from an inventory, so their boot is not counted.

Why these settings: the emulated boards share this machine's cores, while real boards each
have their own. An emulated benchmark_model spends ~0.3 s of host CPU starting (a Python
interpreter, LiteRT, the model) and then mostly sleeps: its modelled inference time is paced
in wall-clock time, with only ~3% of a core running the model for real. Eight of them starting
at once queue for the host's cores, which a lab's eight boards never do. With `MIN_SECS`
seconds of modelled run per process, board time dominates each run, as it does on real boards
(where a nightly repetition runs for seconds to minutes); shorter settings would measure the
host's CPU queue, not the harness. The harness's own costs that grow with the number of boards
(8 probes and deploys handled at once, the results table, the history record, the HTML report
with 8 boards' charts) stay in the measurement. The script prints the imxbench process's own
CPU time and the machine's CPU load during each run, to show how busy the shared cores were.

`--default-settings [--rounds N]` (issue 17) measures instead what a lab runs: `imxbench run
--board ... --inventory ... --reports ... --format json` and nothing else, so each board gets
its SoC's default delegates (i.MX 8M Plus: cpu@1t, cpu@4t, vx, gpu; i.MX 93: cpu@1t, cpu@2t,
ethosu) sampled adaptively to 1%, with op profiles reused. Each side keeps its own reports
dir across rounds (a lab's steady state: the profiles are measured once, in an unreported
warm-up round, and its history grows). Rounds interleave three sides (the order alternates):
`1 board` (b1, an i.MX 8M Plus: the longest plan), `8 boards` (one imxbench, b0-b7: 4 i.MX 93
and 4 i.MX 8M Plus) and `8 processes`: 8 single-board imxbench runs at once, one per board, each
with its own reports dir: no interpreter (no GIL) shared between boards, but 8 interpreters'
imports, probes, histories and reports on the same 2 cores. Printed per side (medians): wall,
imxbench's CPU, the emulated boards' CPU (their SSH server and every process on them, from
/proc), the machine's busy share (other users included), benchmark_model processes per board
(adaptive sampling: the count depends on each cell's noise) and their mean step time, and the
harness's own phases from its progress lines, stamped as they arrive: start (until the last
board began its steps) and end (from the last board's last line to the exit: results,
history, report). Then the P8 ratio, the ratio per process (8 boards' wall / the most
processes any of them ran, against 1 board's wall / its processes), the separate processes'
ratio, and what the emulated boards' CPU alone needs of the host's cores (a floor for any
harness on this machine; real boards each bring their own CPU).

`--replayed-boards [--rounds N]`: the same three sides at the defaults, but with the boards'
CPU off this machine, as for real boards: 8 boards served by OpenSSH's sshd whose
benchmark_model is a shell script (REPLAYER) that first records each board's own default run
(every process's output, exit status and duration; each board alone), then replays them, the
same output after the same time, at next to no CPU. What is left is the harness's own cost for
8 boards (docs/PERFORMANCE.md, P8). ~6 minutes.

    .venv/bin/python benchmarks/parallel_boards.py [--default-settings|--replayed-boards]
        [--rounds N]

(the default-settings mode takes ~8 minutes at 3 rounds; the other one under a minute)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imxbench.emulator.board_image import BoardLayout, build_board_state  # noqa: E402
from imxbench.emulator.launcher import RunningEmulator, start_emulator  # noqa: E402
from imxbench.emulator.socs import BENCHMARK_MODEL  # noqa: E402
from tests.ssh_servers import SshServer, start_board_sshd  # noqa: E402

BOARDS = 8
REPETITIONS = 2
MIN_SECS = 6
ARGS = [
    "--delegate",
    "cpu",
    "--threads",
    "1",
    "--repetitions",
    str(REPETITIONS),
    "--no-op-profile",
    "--num-runs",
    "10",
    "--min-secs",
    str(MIN_SECS),
    "--format",
    "json",
]


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run(inventory: Path, boards: str, reports: Path) -> tuple[float, float, float]:
    """Wall time (s), the imxbench process's CPU time (s) and the machine's busy share."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, total_before = busy_jiffies()
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
    busy_after, total_after = busy_jiffies()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"imxbench run failed: {done.stderr[-2000:]}")
    cells = {(r["board"], r["cell"]) for r in json.loads(done.stdout)["summary"]}
    assert len(cells) == len(boards.split(",")), cells  # no result lost
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, cpu, (busy_after - busy_before) / max(1, total_after - total_before)


def inventory_of(emulators: list[RunningEmulator]) -> str:
    return "boards:\n" + "".join(
        f"  b{i}:\n    soc: {e.soc}\n    host: {e.host}\n    port: {e.port}\n"
        f"    auth: {{type: none}}\n    known_hosts: {e.known_hosts_path}\n"
        for i, e in enumerate(emulators)
    )


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int) -> float:
    """CPU seconds of `root`'s live descendants, their reaped children included (/proc)."""
    children: dict[int, list[int]] = {}
    seconds: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        seconds[pid] = sum(int(v) for v in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
    total, todo = 0.0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += seconds.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


@dataclass(frozen=True)
class Sample:
    """One side of one round."""

    wall_s: float
    imxbench_cpu_s: float
    boards_cpu_s: float  # the emulated boards: SSH server and every process they ran
    busy: float  # the machine's busy share (all cores, other users included)
    processes: tuple[int, ...]  # benchmark_model processes, per board
    board_time_s: tuple[float, ...]  # seconds of those processes' steps, per board (imxbench's)
    start_s: float  # until every board has begun its steps (the slowest imxbench process)
    end_s: float  # from the last board's last progress line to the exit (the slowest process)


def board_work(doc: dict) -> dict[str, tuple[int, float]]:  # type: ignore[type-arg]
    """Per board: benchmark_model processes run and their seconds (a reused profile ran none)."""
    work: dict[str, tuple[int, float]] = {}
    for row in json.loads((Path(doc["out_dir"]) / "results.json").read_text()):
        if row.get("exit_status") is None or (
            row["kind"] == "profile" and row.get("op_profile_from")
        ):
            continue
        n, seconds = work.get(row["board"], (0, 0.0))
        work[row["board"]] = (n + 1, seconds + (row["duration_s"] or 0.0))
    return work


def stamped(proc: subprocess.Popen[str], started: float, into: list[tuple[float, str]]) -> None:
    """Read `proc`'s stderr to its end, each line with its arrival (s since `started`)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        into.append((time.perf_counter() - started, line.rstrip()))
    proc.wait()
    into.append((time.perf_counter() - started, "exit"))


def phases(lines: list[tuple[float, str]]) -> tuple[float, float]:
    """(start, end) of one imxbench process from its stamped progress lines: until its last
    board began its steps; from its last board progress line to its exit."""
    began = [t for t, line in lines if line.startswith("[") and "benchmark steps" in line]
    last = [t for t, line in lines if line.startswith("[")]
    return max(began, default=0.0), lines[-1][0] - max(last, default=lines[-1][0])


def run_default(inventory: Path, jobs: list[tuple[str, Path]]) -> Sample:
    """`imxbench run` at its defaults, one process per (boards, reports dir), all at once."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    boards_before = tree_cpu_s(os.getpid())  # only the emulators are running now
    busy_before, total_before = busy_jiffies()
    started = time.perf_counter()
    procs = []
    for boards, reports in jobs:
        argv = [str(REPO / ".venv/bin/imxbench"), "run", "--board", boards]
        argv += ["--inventory", str(inventory), "--reports", str(reports), "--format", "json"]
        out = (reports.parent / f"{reports.name}.json").open("w")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, cwd=REPO)
        lines: list[tuple[float, str]] = []
        reader = threading.Thread(target=stamped, args=(proc, started, lines))
        reader.start()
        procs.append((proc, out, reader, lines))
    for _, out, reader, _ in procs:
        reader.join()
        out.close()
    wall = time.perf_counter() - started
    busy_after, total_after = busy_jiffies()
    boards_after = tree_cpu_s(os.getpid())
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    work: dict[str, tuple[int, float]] = {}
    for (proc, _, _, lines), (boards, reports) in zip(procs, jobs, strict=True):
        doc_path = reports.parent / f"{reports.name}.json"
        if proc.returncode != 0:
            sys.exit(f"imxbench run failed ({proc.returncode}): {lines[-10:]}")
        doc = json.loads(doc_path.read_text())
        assert not doc["failures"], doc["failures"]
        assert {r["board"] for r in doc["summary"]} == set(boards.split(",")), doc["summary"]
        work.update(board_work(doc))
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return Sample(
        wall_s=wall,
        imxbench_cpu_s=cpu,
        boards_cpu_s=boards_after - boards_before,
        busy=(busy_after - busy_before) / max(1, total_after - total_before),
        processes=tuple(work[board][0] for board in sorted(work)),
        board_time_s=tuple(work[board][1] for board in sorted(work)),
        start_s=max(phases(lines)[0] for *_, lines in procs),
        end_s=max(phases(lines)[1] for *_, lines in procs),
    )


def median_of(samples: list[Sample]) -> Sample:
    """Field by field medians (per-board tuples: their medians board by board)."""

    def per_board(values: list[tuple[float, ...]]) -> tuple[float, ...]:
        return tuple(statistics.median(v) for v in zip(*values, strict=True))

    return Sample(
        wall_s=statistics.median(s.wall_s for s in samples),
        imxbench_cpu_s=statistics.median(s.imxbench_cpu_s for s in samples),
        boards_cpu_s=statistics.median(s.boards_cpu_s for s in samples),
        busy=statistics.median(s.busy for s in samples),
        processes=tuple(round(v) for v in per_board([s.processes for s in samples])),
        board_time_s=per_board([s.board_time_s for s in samples]),
        start_s=statistics.median(s.start_s for s in samples),
        end_s=statistics.median(s.end_s for s in samples),
    )


def describe(label: str, s: Sample) -> str:
    procs = s.processes
    spread = f"{procs[0]}" if len(procs) == 1 else f"{min(procs)}-{max(procs)}"
    return (
        f"{label:<12} wall {s.wall_s:5.1f} s, imxbench CPU {s.imxbench_cpu_s:4.1f} s, boards' "
        f"CPU {s.boards_cpu_s:5.1f} s, machine {100 * s.busy:3.0f}% busy, {spread} processes "
        f"per board ({sum(procs)} in all) of {sum(s.board_time_s) / max(1, sum(procs)):.2f} s "
        f"each, {max(s.board_time_s):4.1f} s of them on the busiest board; start "
        f"{s.start_s:.2f} s, end {s.end_s:.2f} s"
    )


@contextmanager
def emulated_lab() -> Iterator[tuple[Path, Path]]:
    """BOARDS emulated boards (imx93 and imx8mp in turn), started at once and reached from an
    inventory: (a scratch folder, the inventory); the boards are stopped on the way out."""
    socs = ["imx8mp" if i % 2 else "imx93" for i in range(BOARDS)]
    with ThreadPoolExecutor(BOARDS) as pool:
        emulators = list(pool.map(start_emulator, socs))
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            inventory = tmp / "boards.yaml"
            inventory.write_text(inventory_of(emulators))
            yield tmp, inventory
    finally:
        for emulator in emulators:
            emulator.stop()


def main_default(rounds: int) -> None:
    """--default-settings: 1 board, 8 boards in one imxbench, 8 imxbench processes at once."""
    with emulated_lab() as (tmp, inventory):
        compare_sides(tmp, inventory, rounds, "default settings")


def compare_sides(tmp: Path, inventory: Path, rounds: int, mode: str) -> None:
    """Round 0 (op profiles measured, not reported), then `rounds` interleaved rounds of the
    three sides at `run`'s defaults; their medians and the P8 ratio."""
    names = [f"b{i}" for i in range(BOARDS)]
    sides = {
        "1 board": [("b1", tmp / "one")],
        "8 boards": [(",".join(names), tmp / "eight")],
        "8 processes": [(name, tmp / f"sep-{name}") for name in names],
    }
    samples: dict[str, list[Sample]] = {side: [] for side in sides}
    for r in range(rounds + 1):  # round 0: the op profiles measured, not reported
        order = list(sides) if r % 2 else list(reversed(sides))
        for side in order:
            sample = run_default(inventory, sides[side])
            loads = os.getloadavg()
            tag = "warm-up" if r == 0 else f"round {r}"
            print(f"  {tag:<8} {describe(side, sample)}; load {loads[0]:.2f}", flush=True)
            if r:
                samples[side].append(sample)
    one, eight, floor = (median_of(samples[side]) for side in sides)
    print(f"medians of {rounds} interleaved rounds (load averages now {os.getloadavg()}):")
    for side, s in zip(sides, (one, eight, floor), strict=True):
        print(f"  {describe(side, s)}")
    per_process = (eight.wall_s / max(eight.processes)) / (one.wall_s / one.processes[0])
    cores = os.cpu_count() or 1
    print(
        f"  the {BOARDS} emulated boards' CPU alone needs {eight.boards_cpu_s / cores:.1f} s of "
        f"this machine's {cores} cores (1 board: {one.boards_cpu_s / cores:.1f} s); real "
        "boards each bring their own"
    )
    print(
        f"P8 ({mode}): 1 board {one.wall_s:.1f} s, {BOARDS} boards in parallel "
        f"{eight.wall_s:.1f} s: ratio {eight.wall_s / one.wall_s:.2f}x (target <= 1.2x); per "
        f"process {per_process:.2f}x; {BOARDS} separate imxbench processes "
        f"{floor.wall_s:.1f} s = {floor.wall_s / one.wall_s:.2f}x (no shared interpreter)"
    )


REPLAYER = r"""#!/bin/sh
# parallel_boards.py --replayed-boards: this board's benchmark_model, recorded (its output, exit
# status and duration) while $POOL/recording exists, replayed afterwards: the same output after
# the same time, at next to no CPU (a shell, sleep, cat), as a real board's own CPU costs the
# host nothing. A run's steps are told apart by their command line (less the run-length flags,
# which adaptive sampling sets from the data), USE_GPU_INFERENCE and whether the NPU graph
# cache is empty (a cold step); each replays its recordings in turn.
POOL=@POOL@
cache=${VIV_VX_CACHE_BINARY_GRAPH_DIR:-}
state=warm
if [ -n "$cache" ] && [ -z "$(ls -A "$cache" 2>/dev/null)" ]; then state=cold; fi
step="$state ${USE_GPU_INFERENCE:-}"
for a in "$@"; do
    case $a in
        --num_runs=*|--min_secs=*|--max_secs=*|--warmup_runs=*|--warmup_min_secs=*) ;;
        *) step="$step $a" ;;
    esac
done
key=$(printf '%s\n' "$step" | md5sum | cut -c1-16)
if [ -f "$POOL/recording" ]; then
    a=$(date +%s%N)
    @REAL@ "$@" >"$POOL/$key.$$.out" 2>"$POOL/$key.$$.err"
    rc=$?
    b=$(date +%s%N)
    echo "$(( (b - a) / 1000 )) $rc" >"$POOL/$key.$$.meta"
    cat "$POOL/$key.$$.out"
    cat "$POOL/$key.$$.err" >&2
    exit $rc
fi
set -- "$POOL/$key".*.meta
[ -f "$1" ] || { echo "replay: no recording of this step: $step" >&2; exit 1; }
n=$(cat "$POOL/$key.next" 2>/dev/null || echo 0)
echo $(( n + 1 )) >"$POOL/$key.next"
shift $(( n % $# ))
read -r us rc <"$1"
sleep "$(( us / 1000000 )).$(printf %06d $(( us % 1000000 )))"
if [ "$state" = cold ]; then : >"$cache/replayed.nb"; fi
cat "${1%.meta}.out"
cat "${1%.meta}.err" >&2
exit "$rc"
"""


def replaying(layout: BoardLayout, pool: Path) -> None:
    """Wrap the board's benchmark_model in REPLAYER, recording into `pool` (empty it first)."""
    tool = layout.usr_file(BENCHMARK_MODEL)
    real = tool.with_name("benchmark_model.real")
    tool.rename(real)
    pool.mkdir(parents=True)
    (pool / "recording").touch()
    text = REPLAYER.replace("@POOL@", str(pool)).replace("@REAL@", f"{BENCHMARK_MODEL}.real")
    tool.write_text(text)
    tool.chmod(0o755)


@contextmanager
def replayed_lab() -> Iterator[tuple[Path, Path, list[Path]]]:
    """BOARDS emulated boards (imx93 and imx8mp in turn), each served by OpenSSH's sshd (C, a
    few ms of CPU per connection) with its benchmark_model wrapped in REPLAYER: (a scratch
    folder, the inventory, each board's recording pool)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        servers: list[SshServer] = []
        pools = [tmp / f"pool-b{i}" for i in range(BOARDS)]
        try:
            lines = ["boards:"]
            for i, pool in enumerate(pools):
                soc = "imx8mp" if i % 2 else "imx93"
                layout = build_board_state(soc, tmp / f"state-b{i}")
                replaying(layout, pool)
                server = start_board_sshd(layout, tmp / f"sshd-b{i}")
                servers.append(server)
                lines += [
                    f"  b{i}:",
                    f"    soc: {soc}",
                    "    host: 127.0.0.1",
                    f"    port: {server.port}",
                    f"    auth: {{type: key, key_file: {server.client_key}}}",
                    f"    known_hosts: {server.known_hosts}",
                ]
            inventory = tmp / "boards.yaml"
            inventory.write_text("\n".join(lines) + "\n")
            yield tmp, inventory, pools
        finally:
            for server in servers:
                server.stop()


def main_replayed(rounds: int) -> None:
    """--replayed-boards: as --default-settings, but every board's benchmark_model is first
    recorded (each board alone, one default run into a scratch reports dir, so no recording is
    slowed by the others), then replayed: what the harness itself costs for 8 boards, with
    the boards' own CPU off this machine's cores, as it is for real boards."""
    with replayed_lab() as (tmp, inventory, pools):
        for i, pool in enumerate(pools):
            sample = run_default(inventory, [(f"b{i}", tmp / f"record-b{i}")])
            print(f"  recorded b{i}: {sum(sample.processes)} processes", flush=True)
            (pool / "recording").unlink()
        compare_sides(tmp, inventory, rounds, "replayed boards")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--default-settings", action="store_true")
    parser.add_argument("--replayed-boards", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.replayed_boards:
        main_replayed(args.rounds)
        return
    if args.default_settings:
        main_default(args.rounds)
        return
    with emulated_lab() as (tmp, inventory):
        names = ",".join(f"b{i}" for i in range(BOARDS))
        one = run(inventory, "b0", tmp / "one")
        eight = run(inventory, names, tmp / "eight")
        one_again = run(inventory, "b0", tmp / "one-again")
    single = min(one, one_again)
    cores = os.cpu_count() or 1
    for label, (wall, cpu, busy) in (("1 board ", single), (f"{BOARDS} boards", eight)):
        print(
            f"  {label}: {wall:5.1f} s wall, imxbench's own CPU {cpu:4.1f} s, machine "
            f"{100 * busy:3.0f}% busy ({cores} cores shared with the emulated boards)"
        )
    print(
        f"P8: 1 board {single[0]:.1f} s, {BOARDS} boards in parallel {eight[0]:.1f} s: "
        f"ratio {eight[0] / single[0]:.2f}x (target <= 1.2x; {REPETITIONS} x {MIN_SECS} s "
        "of board time per board)"
    )


if __name__ == "__main__":
    main()
