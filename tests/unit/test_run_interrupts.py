"""Ctrl-C and SIGTERM at the edges of a command: `imxbench run` records a finished job whole
(a signal while its table prints and its record is written waits for that, cli/run.py), the
`interrupted` line says what can be resumed, and a signal while imxbench exits is no traceback
(cli/main.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from imxbench.cli.run import interrupts_held


def test_a_signal_is_held_until_the_block_is_done_a_second_one_is_not() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    finished = False
    with interrupts_held() as held:
        os.kill(os.getpid(), signal.SIGTERM)  # before: a KeyboardInterrupt mid-record
        finished = True
    assert finished
    assert held == [signal.SIGTERM]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before

    with pytest.raises(KeyboardInterrupt), interrupts_held() as held:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # the user insists: stop waiting
        finished = False
    assert finished and held == [signal.SIGINT, signal.SIGINT]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with interrupts_held() as held:
            os.kill(os.getpid(), signal.SIGTERM)
        assert held == []
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_signal_after_the_command_finished_is_no_traceback(tmp_path: Path) -> None:
    """Before: SIGTERM or Ctrl-C landing while imxbench exited (a run done, its report
    written) printed `Exception ignored ... KeyboardInterrupt` with its traceback."""
    inventory = tmp_path / "boards.yaml"
    inventory.write_text("boards:\n  evk:\n    soc: imx8mp\n    host: evk\n")
    code = (
        "import atexit, os, signal, sys, time\n"
        "from imxbench.cli.main import entry\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(0.2)))\n"
        "sys.argv = ['imxbench', 'boards', '--inventory', sys.argv[1]]\n"
        "entry()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(inventory)],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "evk" in done.stdout
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


def test_the_interrupted_line_offers_resume_only_to_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nightly` has no --resume: before, its Ctrl-C said `resume with --resume DIR`."""
    from imxbench.cli.main import _interrupted
    from imxbench.run.recording import RunInterrupted

    (tmp_path / "run.json").write_text("{}")
    for resumable, expected in (
        (True, f"interrupted: partial results in {tmp_path} (resume with --resume {tmp_path})"),
        (False, f"interrupted: partial results in {tmp_path}\n"),
    ):
        with pytest.raises(SystemExit) as done:
            _interrupted(RunInterrupted(tmp_path, resumable))
        assert done.value.code == 130
        assert expected in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no run directory yet: nothing to point at
        _interrupted(RunInterrupted(tmp_path / "none", True))
    assert capsys.readouterr().err == "interrupted\n"
