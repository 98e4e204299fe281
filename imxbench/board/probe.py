"""The board probe: what SoC, BSP, TFLite, delegates and NPU a board has.

The shipped POSIX-sh script `board/scripts/probe.sh` is piped to the board's `sh -s` (nothing is
written on the board, so a probe also works on a full or read-only disk) and prints one versioned
JSON document; this module checks it and derives the few facts the pipeline needs.
"""

from __future__ import annotations

import json
from importlib import resources

from imxbench.board.transport import BoardSession
from imxbench.errors import InfrastructureError
from imxbench.model.facts import PROBE_FORMAT, BoardFacts, cap_facts

PROBE_OUTPUT_BYTES = 32 * 1024 * 1024
"""The most of the probe's output read (a larger document is refused: its JSON is cut)."""


def probe_script() -> bytes:
    return resources.files("imxbench.board").joinpath("scripts/probe.sh").read_bytes()


def probe_board(session: BoardSession) -> BoardFacts:
    """Run the probe on the board and return its facts."""
    result = session.run(
        ["sh", "-s", "--", session.board.workdir],
        stdin=probe_script(),
        timeout_s=120,
        capture_bytes=PROBE_OUTPUT_BYTES,
    )
    return parse_probe_output(session.board.name, result.stdout_text)


def parse_probe_output(board: str, text: str) -> BoardFacts:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        if "[imxbench: " in text and "bytes of output dropped here" in text:
            raise InfrastructureError(
                f"{board}: the board probe printed more than the "
                f"{PROBE_OUTPUT_BYTES // (1024 * 1024)} MiB imxbench reads; its document was cut"
            ) from None
        raise InfrastructureError(
            f"{board}: the board probe printed no valid JSON ({exc.msg} at char {exc.pos})",
            text[-300:] or None,
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != PROBE_FORMAT:
        raise InfrastructureError(f"{board}: unexpected probe document (format {PROBE_FORMAT})")
    return BoardFacts(cap_facts(raw))
