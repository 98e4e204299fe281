"""What the emulated boards are: one row per SoC, and the BSP they run (NXP L6.12, TFLite 2.19).

Sources: docs/DESIGN.md (the board contract) and NXP_FACTS §1, §5. An i.MX 95 is one more row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imxbench.errors import ConfigError

TFLITE_VERSION = "2.19.0"
KERNEL_RELEASE = "6.12.34-lts-next-emulated"
KERNEL_VERSION = "#1 SMP PREEMPT Tue Jul 22 10:00:00 UTC 2025"
DISTRO_VERSION = "6.12-walnascar"
BOARD_HOME = "/home/root"
BOARD_WORKDIR = "/home/root/imxbench"
BENCHMARK_MODEL = f"/usr/bin/tensorflow-lite-{TFLITE_VERSION}/examples/benchmark_model"
BOARD_JSON = "/usr/share/imxbench-emulator/board.json"
ETHOSU_FIRMWARE = "/usr/lib/firmware/ethosu_firmware"


@dataclass(frozen=True)
class SocSpec:
    """What one emulated SoC looks like from a shell. Frequencies in kHz, temperature in m°C."""

    soc: str
    soc_id: str
    machine: str
    compatible: tuple[str, ...]
    hostname: str
    cpu_count: int
    cpu_freqs_khz: tuple[int, ...]  # ascending operating points; the last one is the max
    cpufreq_driver: str
    cpu_part: str  # /proc/cpuinfo "CPU part" (0xd03 Cortex-A53, 0xd05 Cortex-A55)
    cpu_variant: str
    cpu_revision: int
    cpu_features: str
    bogomips: str
    revision: str
    npu_node: str  # under /dev
    delegates: Mapping[str, str]  # board path of the delegate library -> delegate name
    temp_millic: int


# One row per SoC: docs/DESIGN.md table and NXP_FACTS §5.
SOCS: dict[str, SocSpec] = {
    "imx8mp": SocSpec(
        soc="imx8mp",
        soc_id="i.MX8MP",
        machine="NXP i.MX8MPlus EVK board",
        compatible=("fsl,imx8mp-evk", "fsl,imx8mp"),
        hostname="imx8mpevk",
        cpu_count=4,
        cpu_freqs_khz=(1200000, 1600000, 1800000),
        cpufreq_driver="imx-cpufreq-dt",
        cpu_part="0xd03",
        cpu_variant="0x0",
        cpu_revision=4,
        cpu_features="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid",
        bogomips="16.00",
        revision="1.1",
        npu_node="galcore",
        delegates={"/usr/lib/libvx_delegate.so": "vx"},
        temp_millic=43000,
    ),
    "imx93": SocSpec(
        soc="imx93",
        soc_id="i.MX93",
        machine="NXP i.MX93 11X11 EVK board",
        compatible=("fsl,imx93-11x11-evk", "fsl,imx93"),
        hostname="imx93evk",
        cpu_count=2,
        cpu_freqs_khz=(900000, 1400000, 1700000),
        cpufreq_driver="imx-cpufreq-dt",
        cpu_part="0xd05",
        cpu_variant="0x2",
        cpu_revision=0,
        cpu_features=(
            "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
            "asimdrdm lrcpc dcpop asimddp"
        ),
        bogomips="48.00",
        revision="1.1",
        npu_node="ethosu0",
        delegates={"/usr/lib/libethosu_delegate.so": "ethosu"},
        temp_millic=39000,
    ),
}


def soc_spec(soc: str) -> SocSpec:
    try:
        return SOCS[soc]
    except KeyError:
        raise ConfigError(f"unknown SoC {soc!r}; the emulator knows: {', '.join(SOCS)}") from None
