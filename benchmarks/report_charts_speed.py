"""The report's charts on the run's critical path: how long `build_charts` takes for a small run.

Synthesizes run directories in a temporary folder (not timed) with tests/report_fixtures.py and
times `build_charts` on the loaded data, in this process after the imports and one untimed
call (which pays matplotlib's one-time costs); prints the median of REPEAT calls for:

(a) one board (imx8mp) with 3 delegates (cpu@4t, vx, gpu), no history, no op profile (as
    `imxbench run --no-op-profile`, P2's run): latency, speedup, cold_warm; and again with the
    op profile (+ op_placement), as a default `imxbench run`;
(b) the same board after 5 runs, no op profile: + the trend chart;
(c) 2 boards (imx8mp, imx93; 6 cells) with accuracy.json, no history: every chart but the trend.

A run draws its charts once, in a fresh process: so, last, the first `build_charts` of case (a)
in a fresh interpreter (median of 3), without and with `warm_up()` run before it in a thread
(as the job's preloader would), and how long warm_up itself took. Under a minute.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.report_fixtures

from imxbench.report.build import load_report
from imxbench.report.charts import build_charts
from imxbench.report.data import ReportData
from tests.report_fixtures import CELLS, write_run

REPEAT = 9
ONE_BOARD = {"imx8mp": CELLS["imx8mp"]}
DAY0 = datetime(2026, 9, 1, 2, 0, 0)


def without_profile(data: ReportData) -> ReportData:
    """The run as `--no-op-profile` writes it: no profile rows."""
    return dataclasses.replace(data, results=data.results[data.results["kind"] != "profile"])


def median_s(fn: Callable[[], object]) -> float:
    fn()  # untimed: the first call pays matplotlib's one-time costs
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def case(name: str, data: ReportData) -> None:
    keys = "+".join(build_charts(data))
    print(f"{name}: {keys} {median_s(lambda: build_charts(data)):.3f} s")


def first_call(run: str, warm: bool) -> None:
    """In a fresh interpreter: warm_up in a thread (if asked), then the first build_charts;
    prints both times."""
    from imxbench.report.svg import warm_up

    data = without_profile(load_report([Path(run)]))
    started = time.perf_counter()
    if warm:
        thread = threading.Thread(target=warm_up)
        thread.start()
        thread.join()
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    build_charts(data)
    print(f"{warm_s:.4f} {time.perf_counter() - started:.4f}")


def fresh(run: Path, warm: bool) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--first-call", str(run), "warm" if warm else "cold"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="imxbench-charts-speed-") as tmp:
        root = Path(tmp)
        single = write_run(root / "single", "20260901-020000-000a", DAY0, cells=ONE_BOARD)
        for night in range(5):
            latest = write_run(
                root / "history",
                f"2026090{night + 1}-020000-00{night}a",
                DAY0 + timedelta(days=night),
                cells=ONE_BOARD,
                scale={("imx8mp", "vx"): 1.0 + 0.02 * night},
                seed=night,
            )
        both = write_run(root / "both", "20260901-020000-000b", DAY0, accuracy=True)

        one = load_report([single])
        case("charts (a) 1 board x 3 delegates", without_profile(one))
        case("charts (a) with op profile", one)
        case("charts (b) + trend over 5 runs", without_profile(load_report([latest])))
        case("charts (c) 2 boards with accuracy", load_report([both]))

        cold = [fresh(single, warm=False)[1] for _ in range(3)]
        warmed = [fresh(single, warm=True) for _ in range(3)]
        warm_s = statistics.median(w for w, _ in warmed)
        after_s = statistics.median(f for _, f in warmed)
        print(
            f"first build_charts in a fresh process, case (a): {statistics.median(cold):.3f} s; "
            f"after warm_up(): {after_s:.3f} s (warm_up itself: {warm_s:.3f} s, off the "
            "critical path)"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--first-call"]:
        first_call(sys.argv[2], sys.argv[3] == "warm")
    else:
        main()
