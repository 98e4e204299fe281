"""Progress on stderr: a line per event for logs, plus a live status bar on a terminal.

When stderr is not a terminal (CI logs, pipes, tests) every event is one line,
`[board] cell: message`, which is what scripts and people reading logs expect. On a terminal
the lines that say something lasting (connected, each step's result, failures, accuracy) still
scroll past, and one status line under them shows the whole job: a bar of the benchmark steps
done out of those planned, elapsed time, an estimate of the time left, and what each board is
doing now. A step's "... started" line and evaluate.py's running count only update the bar.

The events are typed (model/progress.py: ProgressEvent, emitted by run/pipeline.py and
accuracy/phase.py): the display counts `planned` and `step_ended` events and shows what
`step_started` and `accuracy_count` say each board is doing; it never reads a message's words.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from imxbench.analysis.text_safety import terminal_safe
from imxbench.model.progress import ProgressEvent

BAR_CELLS = 20
TICK_S = 1.0  # the status bar is redrawn at least this often


class ProgressDisplay:
    """Call it with each ProgressEvent; `close()` (or leave the `with` block) at the end."""

    def __init__(
        self,
        stream: TextIO | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._planned: dict[str, int] = {}  # board/phase -> steps planned
        self._done: dict[str, int] = {}  # board/phase -> steps ended
        self._now: dict[str, str] = {}  # board -> what it is doing
        self._bar_shown = False
        self._closed = threading.Event()
        if self._live:  # the clock on the bar keeps moving during a long step
            threading.Thread(target=self._tick, name="imxbench-progress", daemon=True).start()

    def __call__(self, event: ProgressEvent) -> None:
        line = terminal_safe(event.line)  # board output may carry escape sequences
        with self._lock:
            if not self._live:
                if event.kind != "planned" or event.message:  # a silent re-plan: no line
                    self._write(line + "\n")
                return
            lasting = self._track(event)
            self._clear_bar()
            if lasting:
                self._write(line + "\n")
            self._draw_bar()

    def close(self) -> None:
        """Remove the status bar (the lines above it stay)."""
        self._closed.set()
        with self._lock:
            self._clear_bar()

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self, width: int = 100) -> str:
        """The status line, at most `width` characters."""
        planned, done = sum(self._planned.values()), sum(self._done.values())
        elapsed = self._clock() - self._started
        filled = round(BAR_CELLS * done / planned) if planned else 0
        text = f"▕{'█' * filled}{'░' * (BAR_CELLS - filled)}▏ {done}/{planned or '?'} steps"
        text += f" · {_duration(elapsed)}"
        if 0 < done < planned:
            text += f", ~{_duration(elapsed / done * (planned - done))} left"
        doing = [terminal_safe(f"{board} {what}") for board, what in self._now.items() if what]
        if doing:
            text += " · " + ", ".join(doing)
        return text if len(text) <= width else text[: max(width - 1, 0)] + "…"

    # -- internals --------------------------------------------------------------------------------
    def _track(self, event: ProgressEvent) -> bool:
        """Update the counters; True when the event deserves a line of its own. Steps are
        planned per board and phase (benchmark steps, then accuracy evaluations); a board
        that is done with its work leaves the "doing" part of the bar."""
        board = event.board
        if event.kind == "planned" and event.planned is not None:
            self._planned[f"{board}/{event.phase}"] = event.planned
            return bool(event.message)  # a silent re-plan (adaptive sampling) only moves the bar
        if event.kind == "step_started":
            self._now[board] = f"{event.cell} {_step_label(event)}"
            return False
        if event.kind == "step_ended" or (event.kind == "accuracy" and event.status):
            self._done[f"{board}/{event.phase}"] = self._done.get(f"{board}/{event.phase}", 0) + 1
            self._now[board] = ""
            return True
        if event.kind == "accuracy_count":
            self._now[board] = f"{event.cell} {event.done}/{event.planned}"
            return False
        return True

    def _tick(self) -> None:
        while not self._closed.wait(TICK_S):
            with self._lock:
                if self._bar_shown and not self._closed.is_set():
                    self._clear_bar()
                    self._draw_bar()

    def _draw_bar(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self._write(self.status(width))
        self._bar_shown = True

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._write("\r\033[K")
            self._bar_shown = False

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def _step_label(event: ProgressEvent) -> str:
    """cold, rep N or profile."""
    return f"rep {event.repetition}" if event.step == "timed" else str(event.step)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
