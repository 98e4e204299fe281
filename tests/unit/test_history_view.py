"""`imxbench history`'s table (history/view.py)."""

from __future__ import annotations

from imxbench.history.store import RunSummary
from imxbench.history.view import render_runs


def test_a_board_error_that_names_its_board_is_not_named_twice() -> None:
    """Before: `imx8mp: imx8mp: interrupted` for an interrupted run."""
    run = RunSummary(
        run_id="20261204-124654-9cbc",
        kind="run",
        status="partial",
        started_at="2026-12-04T12:46:54Z",
        finished_at=None,
        model="m.tflite",
        model_sha256="ab" * 32,
        holder=None,
        emulated=True,
        note="interrupted",
        out_dir=None,
        boards=("imx8mp", "imx93"),
        board_errors={"imx8mp": "imx8mp: interrupted", "imx93": "cannot connect"},
    )
    line = render_runs([run]).splitlines()[-1]
    assert "imx8mp: interrupted; imx93: cannot connect; interrupted" in line
    assert "imx8mp: imx8mp:" not in line
