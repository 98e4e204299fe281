"""Opening a session to a board of the inventory — a real one, or one the emulator serves.

With `emulate=True` an emulated board of the same SoC is started on 127.0.0.1 and the inventory
entry keeps its name, workdir and tags but takes the emulator's address, port and host key.
From there on the code path is the one real boards use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from imxbench.inventory import AuthSpec, Board, emulated_board
from imxbench.transport import BoardSession


@contextmanager
def open_session(board: Board, *, emulate: bool = False) -> Iterator[BoardSession]:
    """A connected session for `board`; with `emulate`, to a fresh emulated board of its SoC."""
    with ExitStack() as stack:
        if emulate:
            board = stack.enter_context(emulated(board))
        session = BoardSession.connect(board)
        stack.callback(session.close)
        yield session


@contextmanager
def emulated(board: Board) -> Iterator[Board]:
    """Start an emulated board for `board.soc` and yield the inventory entry that reaches it."""
    from imxbench.emulator.launcher import start_emulator  # the emulator only when asked for

    with start_emulator(board.soc) as emulator:
        yield replace(
            emulated_board(board.name, board.soc, board),
            host=emulator.host,
            port=emulator.port,
            user=emulator.user,
            auth=AuthSpec(type="none"),
            host_key_policy="strict",
            known_hosts=str(emulator.known_hosts_path),
        )
