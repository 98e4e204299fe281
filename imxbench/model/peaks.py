"""The accelerators' published int8 peaks, with their sources: the ceiling a model's achieved
GOPS (analysis/model_facts.py) is measured against.

Data, not code: one row per SoC and processing unit (the unit a delegate runs on, as
report/accelerators.py names it: "NPU", "GPU"). A unit with no published figure has no row, and
its cells show GOPS without a percentage of peak. Peaks count one MAC as two operations, as the
vendors' TOPS figures do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedPeak:
    """One accelerator's published int8 peak (`int8_tops`, tera-operations per second)."""

    soc: str  # the inventory's SoC name: imx8mp, imx93
    unit: str  # NPU, GPU
    name: str  # what the accelerator is, for labels
    int8_tops: float
    source: str  # where the figure is published
    derivation: str = ""  # how it follows from the hardware, when it does

    @property
    def int8_gops(self) -> float:
        return self.int8_tops * 1000.0


PEAKS: tuple[PublishedPeak, ...] = (
    PublishedPeak(
        soc="imx8mp",
        unit="NPU",
        name="i.MX 8M Plus NPU (VeriSilicon VIPNano-SI+)",
        int8_tops=2.3,
        source="NXP's i.MX 8M Plus product page and fact sheet: an NPU of up to 2.3 TOPS "
        '(also emb-exp.com, "NXP NPUs: Understanding the Shift")',
    ),
    PublishedPeak(
        soc="imx93",
        unit="NPU",
        name="i.MX 93 NPU (Arm Ethos-U65-256)",
        int8_tops=0.5,
        source="NXP's i.MX 93 product page (an Ethos-U65 microNPU of 0.5 TOPS); "
        "shared/docs/NXP_FACTS.md §4.5 (256 MACs, 1 GHz in NXP's Vela config; Forlinx: "
        '"0.5 TOPS NPU")',
        derivation="256 int8 MACs per cycle x 2 operations x 1 GHz (NXP's Vela system config) "
        "= 0.512 TOPS, published rounded to 0.5",
    ),
)


def peak_for(soc: str | None, unit: str | None) -> PublishedPeak | None:
    """The published peak of `unit` on `soc`, or None when none is published (or known)."""
    for peak in PEAKS:
        if peak.soc == soc and peak.unit == unit:
            return peak
    return None
