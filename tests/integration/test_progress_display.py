"""Progress on stderr: lines for logs; on a terminal, lines plus a live status bar."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
from pathlib import Path

from imxbench.cli.progress_display import ProgressDisplay
from imxbench.model.progress import ProgressEvent
from tests.locations import IMXBENCH

REPO = Path(__file__).resolve().parents[2]
EVENTS = [
    ProgressEvent("imx8mp", "board", "connected; probing"),
    ProgressEvent("imx8mp", "planned", "4 benchmark steps", planned=4),
    ProgressEvent("imx8mp", "step_started", "rep 1 ...", "cpu@4t", "timed", 1, "benchmark"),
    ProgressEvent(
        "imx8mp", "step_ended", "rep 1 ok 1.432 ms", "cpu@4t", "timed", 1, "benchmark", "ok", 3.0
    ),
    ProgressEvent("imx8mp", "step_started", "cold ...", "vx", "cold", 0, "benchmark"),
    ProgressEvent(
        "imx8mp",
        "step_ended",
        "cold failed Segmentation fault",
        "vx",
        "cold",
        0,
        "benchmark",
        "failed",
        3.0,
    ),
    ProgressEvent("imx8mp", "step_started", "rep 1 ...", "vx", "timed", 1, "benchmark"),
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_not_a_terminal_every_event_is_one_line() -> None:
    out = io.StringIO()
    silent = ProgressEvent("imx8mp", "planned", "", planned=3)  # adaptive sampling's re-plan
    with ProgressDisplay(out, live=False) as progress:
        for event in [*EVENTS[:2], silent, *EVENTS[2:]]:
            progress(event)
    assert out.getvalue().splitlines() == [
        "[imx8mp] connected; probing",
        "[imx8mp] 4 benchmark steps",
        "[imx8mp] cpu@4t: rep 1 ...",
        "[imx8mp] cpu@4t: rep 1 ok 1.432 ms",
        "[imx8mp] vx: cold ...",
        "[imx8mp] vx: cold failed Segmentation fault",
        "[imx8mp] vx: rep 1 ...",
    ]


def test_terminal_bar_counts_steps_and_estimates_the_rest() -> None:
    out, clock = io.StringIO(), Clock()
    progress = ProgressDisplay(out, live=True, clock=clock)
    for event in EVENTS:
        clock.now += 3.0
        progress(event)
    status = progress.status(200)
    # 2 of 4 steps done (an ok and a failed one) in 21 s: ~21 s left; vx rep 1 running
    assert "2/4 steps" in status
    assert "21 s, ~21 s left" in status
    assert status.endswith("imx8mp vx rep 1")
    assert status.count("█") == 10 and status.count("░") == 10
    progress.close()
    text = out.getvalue()
    assert text.endswith("\r\x1b[K")  # the bar is gone; the lines above stay
    lines = [re.sub(r".*\x1b\[K", "", line) for line in text.split("\n")]
    assert "[imx8mp] cpu@4t: rep 1 ok 1.432 ms" in lines
    assert "[imx8mp] vx: cold failed Segmentation fault" in lines
    assert not any(line.endswith(" ...") for line in lines)  # starts only move the bar
    assert len(progress.status(30)) == 30


def test_imxbench_run_on_a_terminal_shows_the_bar(tmp_path: Path) -> None:
    """The real command under a pseudo-terminal: the bar reaches N/N, the results follow."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            *IMXBENCH,
            "run",
            "--board",
            "imx8mp",
            "--emulate",
            "--reports",
            str(tmp_path),
            "--delegate",
            "cpu",
            "--threads",
            "4",
            "--repetitions",
            "2",
            "--no-op-profile",
            "--num-runs",
            "5",
            "--min-secs",
            "0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=REPO,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "[imx8mp] 2 benchmark steps" in text
    assert "1/2 steps" in text and "2/2 steps" in text
    assert "[imx8mp] cpu@4t: rep 2 ok" in text
    assert "\r\x1b[K\x1b[1mimx8mp · EMULATED" in text  # the bar is cleared before the table


def test_the_bar_counts_the_accuracy_phase_and_finished_boards_leave_it() -> None:
    out, clock = io.StringIO(), Clock()
    progress = ProgressDisplay(out, live=True, clock=clock)
    for event in (
        ProgressEvent("imx93", "planned", "1 benchmark steps", planned=1),
        ProgressEvent(
            "imx93", "planned", "then 2 accuracy evaluations", phase="accuracy", planned=2
        ),
        ProgressEvent("imx93", "step_started", "rep 1 ...", "cpu", "timed", 1, "benchmark"),
        ProgressEvent("imx93", "step_ended", "rep 1 ok", "cpu", "timed", 1, "benchmark", "ok"),
        ProgressEvent(
            "imx93",
            "accuracy_count",
            "100/300",
            "accuracy cpu",
            phase="accuracy",
            planned=300,
            done=100,
        ),
    ):
        progress(event)
    assert "1/3 steps" in progress.status(200)
    assert progress.status(200).endswith("imx93 accuracy cpu 100/300")
    progress(
        ProgressEvent(
            "imx93", "accuracy", "top-1 85%", "accuracy cpu", phase="accuracy", status="ok"
        )
    )
    assert "2/3 steps" in progress.status(200)
    assert "imx93" not in progress.status(200).split("steps")[1]  # nothing running: not shown
    progress.close()
