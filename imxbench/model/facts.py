"""A board's facts as its probe reported them (board/scripts/probe.sh's JSON document), and the
few facts derived from them. Plain data: reading it needs no SSH."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBE_FORMAT = 1
SOC_IDS = {"i.MX8MP": "imx8mp", "i.MX93": "imx93", "i.MX95": "imx95"}
MAX_FACT_CHARS = 4096
"""A string fact (a SoC name, a kernel version) longer than this is cut, saying so."""
MAX_FACT_ITEMS = 512
"""A list or object of facts with more entries than this is cut, saying so."""
MAX_FACTS_CHARS = 256 * 1024
"""The whole document: once its strings add up to this, the remaining ones are cut."""
TRUNCATED = "[truncated by imxbench: "


def cap_facts(raw: dict[str, Any]) -> dict[str, Any]:
    """The probe document with every string, list and object capped (MAX_FACT_*), and the
    document as a whole (MAX_FACTS_CHARS), each cut stated where it was made; a board that
    reports a 30 MB SoC name must not put it into the facts file, the history and the report."""
    budget = [MAX_FACTS_CHARS]
    capped = _cap(raw, budget, 0)
    return capped if isinstance(capped, dict) else {}


def _cap(value: Any, budget: list[int], depth: int) -> Any:
    if isinstance(value, str):
        limit = max(0, min(MAX_FACT_CHARS, budget[0]))
        budget[0] -= min(len(value), limit)
        if len(value) <= limit:
            return value
        return f"{value[:limit]}{TRUNCATED}{len(value) - limit} more characters]"
    if depth >= 8 and isinstance(value, dict | list):
        return f"{TRUNCATED}nested too deep]"
    if isinstance(value, list):
        kept = [_cap(v, budget, depth + 1) for v in value[:MAX_FACT_ITEMS]]
        if len(value) > MAX_FACT_ITEMS:
            kept.append(f"{TRUNCATED}{len(value) - MAX_FACT_ITEMS} more items]")
        return kept
    if isinstance(value, dict):
        items = list(value.items())
        out = {
            _cap(str(k), budget, depth + 1): _cap(v, budget, depth + 1)
            for k, v in items[:MAX_FACT_ITEMS]
        }
        if len(items) > MAX_FACT_ITEMS:
            out["truncated_by_imxbench"] = f"{len(items) - MAX_FACT_ITEMS} more entries"
        return out
    return value


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
