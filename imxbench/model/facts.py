"""A board's facts as its probe reported them (board/scripts/probe.sh's JSON document), and the
few facts derived from them. Plain data: reading it needs no SSH."""

from __future__ import annotations

import re
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
ETHOSU_DELEGATE_LIBRARY = "/usr/lib/libethosu_delegate.so"
ETHOSU_DEVICE = "/dev/ethosu0"
VX_DELEGATE_LIBRARY = "/usr/lib/libvx_delegate.so"
VIV_DEVICE = "/dev/galcore"
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)*")


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

    @property
    def vela_version(self) -> str | None:
        """The board's own `vela --version` (NXP's fork on i.MX 93 images, NXP_FACTS §4.1,
        §10), e.g. "3.12.0"; None when the board has no vela."""
        return version_in(self.raw.get("vela"))

    @property
    def bsp_version_id(self) -> str | None:
        """os-release VERSION_ID: "<kernel series>-<Yocto codename>" on NXP's distro
        (e.g. "5.15-kirkstone"; NXP_FACTS §5)."""
        value = (self.raw.get("os_release") or {}).get("version_id")
        return str(value) if value else None

    @property
    def ethosu_builtin_op(self) -> bool:
        """TFLite runs Vela's `ethos-u` custom op itself, with no external delegate: the
        i.MX 93 on LF5.15 (NXP_FACTS §4.3, §10; TFLite built with TFLITE_ENABLE_ETHOSU). Decided
        from the facts: no libethosu_delegate.so, /dev/ethosu0 present, TFLite older than 2.10
        (the external delegate first ships in L6.1.1, with TFLite 2.10)."""
        if ETHOSU_DELEGATE_LIBRARY in self.delegate_libraries:
            return False
        if not (self.raw.get("npu_devices") or {}).get(ETHOSU_DEVICE):
            return False
        version = self.tflite_version
        return version is not None and _version_key(version)[:2] < (2, 10)

    @property
    def nnapi_npu(self) -> bool:
        """The 8M Plus NPU is reached through TFLite's NNAPI (`--use_nnapi=true`): L5.4 to
        L5.10.52 (NXP_FACTS §1.3, §2, §10). Decided from the facts: no libvx_delegate.so (first
        shipped in L5.10.72), /dev/galcore present, TFLite older than 2.8 (L5.15.32 builds
        TFLite 2.8 with NNAPI off)."""
        if VX_DELEGATE_LIBRARY in self.delegate_libraries:
            return False
        if not (self.raw.get("npu_devices") or {}).get(VIV_DEVICE):
            return False
        version = self.tflite_version
        return version is not None and _version_key(version)[:2] < (2, 8)

    def _newest_tflite(self) -> dict[str, Any] | None:
        found = [t for t in self.raw.get("tflite", []) if t.get("executable", True)]
        if not found:
            return None
        return max(found, key=lambda t: _version_key(t.get("version", "")))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


def version_in(text: Any) -> str | None:
    """The first dotted version number in `text` ("vela 3.12.0" -> "3.12.0"), else None."""
    match = _VERSION.search(text) if isinstance(text, str) else None
    return match.group() if match else None


def major_minor(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of a version string, None when it has none."""
    found = version_in(version)
    if found is None:
        return None
    parts = [int(p) for p in found.split(".")[:2]]
    return parts[0], parts[1]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))
