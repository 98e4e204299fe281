"""Report scale: a year of nightlies (2 boards x 3 delegates x 365 runs) must render in < 3 s.

Synthesizes the run directories in a temporary folder (not timed), then times, in this process
after the imports: loading the newest run with its year of history, drawing every chart, and
rendering the HTML page; and, separately, rendering reports/index.html over the 365 runs.
Prints the times and their ratio to the 3 s target (no thresholds in tests). An argument: a file
to keep the rendered page in.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.report_fixtures

from imxbench.report.build import load_report, render
from imxbench.report.index import write_index
from tests.report_fixtures import CELLS, facts, write_run

NIGHTS = 365
TARGET_S = 3.0


def synthesize(root: Path) -> Path:
    """365 nightly runs; a kernel update every 90 nights, a vx regression on a few nights."""
    start = datetime(2025, 11, 21, 2, 0, 0)
    last = root
    for night in range(NIGHTS):
        kernel = f"6.12.{20 + night // 90}-lts"
        regressed = night % 97 == 96
        verdicts = [
            {
                "board": board,
                "cell": cell,
                "verdict": "regressed" if regressed and cell == "vx" else "unchanged",
                "change_pct": 9.0 if regressed and cell == "vx" else 0.2,
                "p_value": 0.001 if regressed and cell == "vx" else 0.6,
                "detail": "",
                "fingerprint_changed": False,
            }
            for board, cells in CELLS.items()
            for cell in cells
        ]
        when = start + timedelta(days=night)
        last = write_run(
            root,
            when.strftime("%Y%m%d-%H%M%S-") + f"{night:04x}",
            when,
            scale={("imx8mp", "vx"): 1.09 if regressed else 1.0 + 0.0002 * night},
            board_facts={"imx8mp": facts("imx8mp", kernel=kernel), "imx93": facts("imx93")},
            verdicts=verdicts,
            seed=night,
        )
    return last


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="imxbench-report-scale-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        latest = synthesize(root)
        print(f"synthesized {NIGHTS} runs in {time.perf_counter() - started:.1f} s (not timed)")
        data = load_report([latest])
        points = len(data.history.points)
        html = render(data, "html")
        print(
            f"history: {len(data.history.runs)} runs, {points} trend points, "
            f"{len(data.history.env_changes)} environment changes; page {len(html) / 1e6:.2f} MB"
        )
        load_s = best_of(lambda: load_report([latest]))
        total_s = best_of(lambda: render(load_report([latest]), "html"))
        index_s = best_of(lambda: write_index(root))
        print(f"load (run + a year of history): {load_s:.2f} s")
        print(f"load + charts + HTML: {total_s:.2f} s = {total_s / TARGET_S:.2f}x the 3 s target")
        print(f"index.html over {NIGHTS} runs: {index_s:.2f} s")
        cli = [str(Path(sys.executable).with_name("imxbench")), "report", str(latest)]
        cold_s = best_of(lambda: subprocess.run(cli, check=True, capture_output=True), 1)
        print(
            f"`imxbench report RUN` from a cold start (imports included, writes report.html "
            f"and index.html): {cold_s:.2f} s = {cold_s / TARGET_S:.2f}x the target"
        )
        if len(sys.argv) > 1:  # keep the page to look at
            Path(sys.argv[1]).write_text(html, encoding="utf-8")


if __name__ == "__main__":
    main()
