"""Progress as typed events: the pipeline and the accuracy phase emit them, the display and the
log lines render them. Nobody parses a message to learn what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal[
    "board",  # something about the board as a whole: connected, deploying, ...
    "planned",  # the board's plan is known: `planned` steps to run
    "step_started",  # one benchmark_model process starts
    "step_ended",  # ... and ends, with `status` and `duration_s`
    "accuracy",  # the accuracy phase: a lasting line (upload, a delegate's outcome)
    "accuracy_count",  # evaluate.py's running count (`done` of `planned` images)
]
Phase = Literal["setup", "benchmark", "accuracy"]


@dataclass(frozen=True)
class ProgressEvent:
    board: str
    kind: EventKind
    message: str
    """The human text of the event's line (no board or cell prefix)."""
    cell: str = "-"
    step: str | None = None
    """With step_*: the step's kind, cold | timed | profile."""
    repetition: int | None = None
    phase: Phase = "setup"
    status: str | None = None
    """With step_ended and accuracy outcomes: ok | failed."""
    duration_s: float | None = None
    planned: int | None = None
    """With planned: the board's step count; with accuracy_count: the images to evaluate."""
    done: int | None = None
    """With accuracy_count: images evaluated so far."""

    @property
    def line(self) -> str:
        """`[board] cell: message`, the line a log shows."""
        return f"[{self.board}] {self.cell + ': ' if self.cell != '-' else ''}{self.message}"


Progress = Callable[[ProgressEvent], None]
"""Whoever wants to know: the display, a log, a test."""
