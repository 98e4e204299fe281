"""Opening a session to a board of the inventory — a real one, or one the emulator serves.

With `emulate` an emulated board of the same SoC is started on 127.0.0.1 and the inventory
entry keeps its name, workdir and tags but takes the emulator's address, port and host key.
This happens here, at the edge (`emulated_boards` for a whole job): from there on the boards
are plain inventory entries and the code path is the one real boards use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from imxbench.board.transport import BoardSession
from imxbench.config.inventory import AuthSpec, Board, emulated_board


@dataclass(frozen=True)
class Emulation:
    """`--emulate` with settings for the emulated boards (tests, benchmarks): their timing
    noise, and runtime faults per board name applied right after boot (emulator/faults.py
    names, e.g. `{"imx8mp": {"slowdown": 1.1, "slowdown_delegates": ["npu"]}}`), and the NXP
    BSP release they run (`lf-5.15` ... `lf-6.12`, emulator/socs.py BSPS; None: lf-6.12)."""

    noise_pct: float = 1.0
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    bsp: str | None = None


@contextmanager
def open_session(board: Board, *, emulate: bool | Emulation = False) -> Iterator[BoardSession]:
    """A connected session for `board`; with `emulate`, to a fresh emulated board of its SoC."""
    with ExitStack() as stack:
        if emulate:
            setup = emulate if isinstance(emulate, Emulation) else None
            board = stack.enter_context(emulated(board, setup))
        session = BoardSession.connect(board)
        stack.callback(session.close)
        yield session


@contextmanager
def emulated(board: Board, setup: Emulation | None = None) -> Iterator[Board]:
    """Start an emulated board for `board.soc` and yield the inventory entry that reaches it."""
    from imxbench.emulator.launcher import start_emulator  # the emulator only when asked for

    setup = setup or Emulation()
    with start_emulator(board.soc, bsp=setup.bsp, noise_pct=setup.noise_pct) as emulator:
        faults = setup.faults.get(board.name)
        if faults:
            emulator.set_faults(**faults)
        yield replace(
            emulated_board(board.name, board.soc, board),
            host=emulator.host,
            port=emulator.port,
            user=emulator.user,
            auth=AuthSpec(type="none"),
            host_key_policy="strict",
            known_hosts=str(emulator.known_hosts_path),
        )


@contextmanager
def emulated_boards(boards: Sequence[Board], emulate: bool | Emulation) -> Iterator[list[Board]]:
    """The boards a job reaches: as given, or (with `emulate`) one emulated board each, started
    in parallel and stopped when the block ends, however it ends."""
    if not emulate:
        yield list(boards)
        return
    setup = emulate if isinstance(emulate, Emulation) else None
    with ExitStack() as stack:
        contexts = [emulated(board, setup) for board in boards]
        with ThreadPoolExecutor(max_workers=max(1, len(contexts))) as pool:
            futures = [pool.submit(context.__enter__) for context in contexts]
            started: list[Board] = []
            failure: BaseException | None = None
            pushed: set[int] = set()
            for i, (context, future) in enumerate(zip(contexts, futures, strict=True)):
                try:
                    started.append(future.result())
                    stack.push(context)  # stopped on the way out, in reverse
                    pushed.add(i)
                except BaseException as exc:  # its start failed, or Ctrl-C while it started
                    failure = failure or exc
        if failure is not None:  # the pool waited for every start: stop those that came up
            for i, (context, future) in enumerate(zip(contexts, futures, strict=True)):
                if i not in pushed and not future.cancelled() and future.exception() is None:
                    stack.push(context)
            raise failure
        yield started
