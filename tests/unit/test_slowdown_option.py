"""`--slowdown DELEGATE=PERCENT`: which emulated boards it slows, and its bad input."""

from __future__ import annotations

import pytest

from imxbench.cli.options import emulation_for, parse_slowdown
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError


def board(name: str, soc: str) -> Board:
    return Board(name=name, soc=soc, host="127.0.0.1")


def test_a_delegate_is_slowed_only_on_the_socs_it_runs_on() -> None:
    # vx and ethosu are both "npu" to the emulator: vx=8% must not slow an i.MX 93's Ethos-U
    assert parse_slowdown("vx=8%", "imx8mp") == {"slowdown": 1.08, "slowdown_delegates": ["npu"]}
    assert parse_slowdown("vx=8%", "imx93") == {}
    assert parse_slowdown("ethosu=10", "imx8mp") == {}
    assert parse_slowdown("cpu,vx=5%", "imx93")["slowdown_delegates"] == ["cpu"]


def test_emulation_for_gives_faults_to_the_boards_that_run_the_delegate() -> None:
    boards = [board("imx8mp", "imx8mp"), board("imx93", "imx93")]
    emulation = emulation_for(boards, True, None, "vx=8%")
    assert set(emulation.faults) == {"imx8mp"}
    with pytest.raises(ConfigError, match="no chosen board runs that delegate"):
        emulation_for([boards[1]], True, None, "vx=8%")
    with pytest.raises(ConfigError, match="expected DELEGATE=PERCENT"):
        emulation_for(boards, True, None, "npu=8%")
