"""Test tiers by folder: `unit/` (pure code and the CLI's quick paths) is the fast lane;
`integration/` (real servers: the emulator, OpenSSH sshd, Dropbear, PostgreSQL, Chromium) and
`faults/` (the fault matrix) are marked `slow`.

    python -m pytest -m "not slow"    # the fast lane, under a minute
    python -m pytest                  # everything (what CI runs)
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FAST_FOLDERS = {"unit"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.path)).resolve().relative_to(TESTS).parts[0]
        if folder not in FAST_FOLDERS:
            item.add_marker(pytest.mark.slow)
