"""A *series*: the latency history of one (board, emulated or real, cell, model, settings)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class SeriesKey:
    """What a latency history is about: the same board (emulated or real), cell, model and
    settings. An emulated board never shares a series (so never a baseline) with a real board
    of the same name."""

    board: str
    cell: str
    model_sha256: str
    settings: str
    """Canonical JSON of the settings that change what is measured (series_settings)."""
    emulated: bool = False

    @property
    def label(self) -> str:
        return f"{self.board} {self.cell}"

    @property
    def digest(self) -> str:
        """A short stable id of the series (the store indexes cells by it). A real board's
        digest is the one it always had; an emulated board's differs."""
        parts = [self.board, self.cell, self.model_sha256, self.settings]
        raw = json.dumps([*parts, "emulated"] if self.emulated else parts)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def series_settings(settings: Mapping[str, Any]) -> str:
    """Canonical JSON of `settings` without `repetitions` (more or fewer repetitions measure
    the same thing, so they stay in the same series)."""
    return json.dumps(
        {k: v for k, v in settings.items() if k != "repetitions"}, sort_keys=True, default=str
    )
