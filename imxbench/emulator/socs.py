"""What the emulated boards are: one row per SoC, one row per BSP release they can run.

Sources: docs/DESIGN.md (the board contract and its BSP table) and NXP_FACTS §1, §2, §4.1, §5,
§10. An i.MX 95 is one more SoC row; another BSP release is one more `BSPS` row.
The module-level constants below are the default BSP's (lf-6.12, today's behaviour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    temp_millic: int  # idle temperature of the thermal zone
    mem_total_kb: int  # /proc/meminfo MemTotal of the EVK (DRAM minus firmware carve-outs)
    mem_available_kb: int  # MemAvailable of an idle imx-image-full board (assumption)


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
        # 6 GiB LPDDR4 on the 8M Plus EVK (NXP's EVK page); the kernel sees less (carve-outs).
        mem_total_kb=5_903_528,
        mem_available_kb=5_306_112,
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
        # 2 GiB LPDDR4X on the i.MX 93 11x11 EVK (NXP's EVK page), minus the M33/NPU carve-outs.
        mem_total_kb=1_841_708,
        mem_available_kb=1_432_020,
    ),
}


def soc_spec(soc: str) -> SocSpec:
    try:
        return SOCS[soc]
    except KeyError:
        raise ConfigError(f"unknown SoC {soc!r}; the emulator knows: {', '.join(SOCS)}") from None


# --- BSP releases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFormat:
    """How a TFLite release's benchmark_model prints (BENCHMARK_MODEL_FLAGS §4, §5; NXP_FACTS
    §10). The defaults are today's (TFLite 2.19 on L6.12)."""

    info_prefix: bool = True  # the tool's own lines start with `INFO: ` (2.15+; none <= 2.9.1)
    always_going_to_apply: bool = False  # `Going to apply N delegates ...` even for N < 2
    peak_memory_label: bool = False  # `Peak memory footprint (MB):` (old) vs `... delta ...`
    signature_echo: bool = True  # `Signature to run: []` (2.18+)
    percentiles: bool = True  # `p5= median= p95=` after the count lines

    def as_json(self) -> dict[str, bool]:
        return {
            "info_prefix": self.info_prefix,
            "always_going_to_apply": self.always_going_to_apply,
            "peak_memory_label": self.peak_memory_label,
            "signature_echo": self.signature_echo,
            "percentiles": self.percentiles,
        }


@dataclass(frozen=True)
class BspSpec:
    """One NXP BSP release as seen from a shell (docs/DESIGN.md "BSP releases" for sources)."""

    name: str  # the emulator's name for it, `--bsp`
    release: str  # NXP's release name
    kernel_release: str  # uname -r
    kernel_version: str  # uname -v
    distro_version: str  # os-release VERSION_ID, "<kernel series>-<Yocto codename>"
    tflite_version: str
    log_format: LogFormat
    # board path of each delegate library -> delegate name, per SoC (absent SoC: none)
    delegates: Mapping[str, Mapping[str, str]]
    ethosu_builtin: bool  # TFLite runs the `ethos-u` custom op itself (no external delegate)
    vela_version: str  # NXP's Vela fork installed on i.MX 93 images (NXP_FACTS §4.1)
    facts: Mapping[str, str] = field(default_factory=dict)  # fact -> source, for the docs
    # TFLite built with TFLITE_ENABLE_NNAPI=on: `--use_nnapi=true` reaches the 8M Plus NPU
    # through NXP's NNAPI runtime (L5.4 ... L5.15.5; NXP_FACTS §1.3, §2, §10)
    nnapi: bool = False
    # the SoCs NXP released this BSP for: the i.MX 93 first appears in L5.15.52 (NXP_FACTS §1.3)
    socs: tuple[str, ...] = ("imx8mp", "imx93")

    @property
    def benchmark_model(self) -> str:
        return f"/usr/bin/tensorflow-lite-{self.tflite_version}/examples/benchmark_model"

    def delegates_for(self, soc: str) -> Mapping[str, str]:
        return self.delegates.get(soc, {})


_VX = {"/usr/lib/libvx_delegate.so": "vx"}
_ETHOSU = {"/usr/lib/libethosu_delegate.so": "ethosu"}

DEFAULT_BSP = "lf-6.12"

LF5_LOG_FORMAT = LogFormat(
    info_prefix=False,
    always_going_to_apply=True,
    peak_memory_label=True,
    signature_echo=False,
    percentiles=False,
)
"""benchmark_model's log on the L5 BSPs (TFLite 2.5-2.9): no `INFO:` prefix, the `Going to
apply` line, `Peak memory footprint`; lf-5.10.52 is assumed to print as lf-5.15 does."""

BSPS: dict[str, BspSpec] = {
    "lf-5.10.52": BspSpec(
        name="lf-5.10.52",
        release="L5.10.52_2.1.0 (hardknott)",
        kernel_release="5.10.52-lts-5.10.y-emulated",
        kernel_version="#1 SMP PREEMPT Fri Sep 24 10:00:00 UTC 2021",
        distro_version="5.10-hardknott",
        tflite_version="2.5.0",
        log_format=LF5_LOG_FORMAT,
        delegates={},  # no libvx_delegate.so before L5.10.72: the 8M Plus NPU is NNAPI only
        ethosu_builtin=False,
        vela_version="3.5.0",  # unused: no i.MX 93 release of this BSP
        nnapi=True,
        socs=("imx8mp",),
    ),
    "lf-5.15": BspSpec(
        name="lf-5.15",
        release="L5.15.71_2.2.0 (kirkstone)",
        kernel_release="5.15.71-lts-5.15.y-emulated",
        kernel_version="#1 SMP PREEMPT Thu Dec 15 10:00:00 UTC 2022",
        distro_version="5.15-kirkstone",
        tflite_version="2.9.1",
        log_format=LF5_LOG_FORMAT,
        delegates={"imx8mp": _VX},  # i.MX 93: the Ethos-U op is built into TFLite
        ethosu_builtin=True,
        vela_version="3.5.0",
    ),
    "lf-6.1": BspSpec(
        name="lf-6.1",
        release="L6.1.55_2.2.0 (mickledore)",
        kernel_release="6.1.55-lts-6.1.y-emulated",
        kernel_version="#1 SMP PREEMPT Tue Nov 28 10:00:00 UTC 2023",
        distro_version="6.1-mickledore",
        tflite_version="2.12.1",
        log_format=LogFormat(signature_echo=False, percentiles=False),
        delegates={"imx8mp": _VX, "imx93": _ETHOSU},
        ethosu_builtin=False,
        vela_version="3.9.0",
    ),
    "lf-6.6": BspSpec(
        name="lf-6.6",
        release="L6.6.36_2.1.0 (scarthgap)",
        kernel_release="6.6.36-lts-next-emulated",
        kernel_version="#1 SMP PREEMPT Tue Sep 10 10:00:00 UTC 2024",
        distro_version="6.6-scarthgap",
        tflite_version="2.16.2",
        log_format=LogFormat(signature_echo=False, percentiles=False),
        delegates={"imx8mp": _VX, "imx93": _ETHOSU},
        ethosu_builtin=False,
        vela_version="3.12.0",
    ),
    DEFAULT_BSP: BspSpec(
        name=DEFAULT_BSP,
        release="L6.12.34_2.1.0 (walnascar)",
        kernel_release=KERNEL_RELEASE,
        kernel_version=KERNEL_VERSION,
        distro_version=DISTRO_VERSION,
        tflite_version=TFLITE_VERSION,
        log_format=LogFormat(),
        delegates={"imx8mp": _VX, "imx93": _ETHOSU},
        ethosu_builtin=False,
        vela_version="4.2.0",
    ),
}


def bsp_spec(bsp: str | None) -> BspSpec:
    """The BSP row for `bsp` (None: the default, lf-6.12)."""
    try:
        return BSPS[bsp or DEFAULT_BSP]
    except KeyError:
        raise ConfigError(f"unknown BSP {bsp!r}; the emulator knows: {', '.join(BSPS)}") from None


def check_soc_on_bsp(soc: str, bsp: BspSpec) -> None:
    """Refuse a board NXP never released: a SoC on a BSP that predates it (i.MX 93 on
    L5.10.52 would pass for an LF5.15 board with the built-in Ethos-U op)."""
    if soc not in bsp.socs:
        raise ConfigError(
            f"BSP {bsp.name} ({bsp.release}) has no {soc} release; "
            f"it runs on: {', '.join(bsp.socs)}"
        )


# --- thermal and cpufreq (NXP_FACTS §5, §10) --------------------------------------------------

#: Passive trip point of the CPU thermal zone on both SoCs (NXP device trees; NXP_FACTS §5, §10).
PASSIVE_TRIP_MILLIC = 85000
#: Critical trip point (NXP device trees use 95 °C on these parts; an assumption here).
CRITICAL_TRIP_MILLIC = 95000
