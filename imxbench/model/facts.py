"""A board's facts as its probe reported them (board/scripts/probe.sh's JSON document), and the
few facts derived from them. Plain data: reading it needs no SSH."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
