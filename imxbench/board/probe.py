"""The board probe: what SoC, BSP, TFLite, delegates and NPU a board has.

The shipped POSIX-sh script `board/scripts/probe.sh` is piped to the board's `sh -s` (nothing is
written on the board, so a probe also works on a full or read-only disk) and prints one versioned
JSON document; this module checks it and derives the few facts the pipeline needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from imxbench.board.transport import BoardSession
from imxbench.errors import InfrastructureError

PROBE_FORMAT = 1
SOC_IDS = {"i.MX8MP": "imx8mp", "i.MX93": "imx93", "i.MX95": "imx95"}


@dataclass(frozen=True)
class BoardFacts:
    """The probe's JSON document plus what we derive from it."""

    raw: dict[str, Any]

    @property
    def soc(self) -> str | None:
        return SOC_IDS.get(self.raw.get("soc_id") or "")

    @property
    def emulated(self) -> bool:
        return bool(self.raw.get("emulated"))

    @property
    def tflite_version(self) -> str | None:
        newest = self._newest_tflite()
        return newest["version"] if newest else None

    @property
    def benchmark_model(self) -> str | None:
        newest = self._newest_tflite()
        return newest["benchmark_model"] if newest else None

    @property
    def delegate_libraries(self) -> dict[str, str | None]:
        return {d["path"]: d.get("sha256") for d in self.raw.get("delegates", [])}

    def _newest_tflite(self) -> dict[str, Any] | None:
        found = [t for t in self.raw.get("tflite", []) if t.get("executable", True)]
        if not found:
            return None
        return max(found, key=lambda t: _version_key(t.get("version", "")))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def probe_script() -> bytes:
    return resources.files("imxbench.board").joinpath("scripts/probe.sh").read_bytes()


def probe_board(session: BoardSession) -> BoardFacts:
    """Run the probe on the board and return its facts."""
    result = session.run(
        ["sh", "-s", "--", session.board.workdir], stdin=probe_script(), timeout_s=120
    )
    return parse_probe_output(session.board.name, result.stdout_text)


def parse_probe_output(board: str, text: str) -> BoardFacts:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InfrastructureError(
            f"{board}: the board probe printed no valid JSON ({exc.msg} at char {exc.pos})",
            text[-300:] or None,
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != PROBE_FORMAT:
        raise InfrastructureError(f"{board}: unexpected probe document (format {PROBE_FORMAT})")
    return BoardFacts(raw)
