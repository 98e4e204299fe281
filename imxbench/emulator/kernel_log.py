"""The emulated board's own kernel log: what its `dmesg` prints, never the host's.

The log is a file in the board's control dir (`kmsg`), written fresh at every boot
(board_image.build_board_state) with the boot lines of the SoC and BSP, and appended to by the
emulated tools when the kernel would log something: the Ethos-U firmware start on the first
NPU use after boot, the OOM killer (fault `oom`). Timestamps are seconds since boot as the
kernel prints them (`[%5lu.%06lu]`); the board's uptime is the host's `/proc/uptime` (the
emulator does not virtualise it), so the boot lines are stamped at a boot a few seconds long
and the runtime lines at the uptime when they happen: the diagnosis's "since the step began"
filter (board/clocks.py) works on them as on a board.

Line sources (docs/DESIGN.md "The emulated kernel log"):
* `Booting Linux on physical CPU 0x0000000000 [0x<MIDR>]`, `Linux version ...`,
  `Machine model: ...`: arch/arm64 and init/main.c boot banners (MIDR from socs.py's CPU id).
* i.MX 8M Plus: `Galcore version %d.%d.%d.%d` (galcore's `drv_init`, gcmkPRINT) and DRM's
  `[drm] Initialized vivante 1.0.0 20170808 for 40000000.mix_gpu_ml on minor 0`, as in a
  public i.MX 8M Plus boot log; the galcore version 6.4.3.p4.398061 is that log's, for every
  BSP (an assumption: the version per BSP is not established).
* i.MX 93: `remoteproc remoteproc0: imx-rproc is available` (remoteproc_core.c rproc_add's
  `"%s is available"`), and at the first NPU use the firmware start exactly as the Forlinx
  OK-MX9352 Linux 6.1.36 user's manual shows it (NXP_FACTS §4.4): `powering up imx-rproc`,
  `Booting fw image ethosu_firmware, size N` (N: the board's firmware file), the two rpmsg
  virtio devices, `creating channel rpmsg-ethosu-channel addr 0x1e`, `remote processor
  imx-rproc is now up`.
* OOM: mm/oom_kill.c's `Out of memory: Killed process %d (%s) total-vm:%lukB, anon-rss:%lukB,
  file-rss:%lukB, shmem-rss:%lukB, UID:%u pgtables:%lukB oom_score_adj:%hd`.
A crash (fault `crash`: the tool raises SIGSEGV itself) and a hang log nothing, as a process
that signals itself or waits forever makes the kernel log nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from imxbench.emulator.socs import BspSpec, SocSpec

KMSG = "kmsg"
GALCORE_VERSION = "6.4.3.p4.398061"
EMULATED_MARK = "imxbench-emulator: this kernel log is the emulated board's own, not the host's"


def uptime_s() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def stamp(seconds: float, text: str) -> str:
    """A kernel log line as dmesg prints it: `[%5lu.%06lu] text`."""
    seconds = max(0.0, seconds)
    whole = int(seconds)
    micro = round((seconds - whole) * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    return f"[{whole:5d}.{micro:06d}] {text}"


def _midr(spec: SocSpec) -> str:
    value = (
        (0x41 << 24)
        | (int(str(spec.cpu_variant), 0) << 20)
        | (0xF << 16)
        | (int(str(spec.cpu_part), 0) << 4)
        | int(str(spec.cpu_revision), 0)
    )
    return f"0x{value:08x}"


def boot_lines(spec: SocSpec, bsp: BspSpec) -> list[tuple[float, str]]:
    """(seconds since boot, text) of the boot log of `spec` running `bsp`."""
    lines = [
        (0.0, f"Booting Linux on physical CPU 0x0000000000 [{_midr(spec)}]"),
        (
            0.0,
            f"Linux version {bsp.kernel_release} (oe-user@oe-host) (aarch64-poky-linux-gcc) "
            f"{bsp.kernel_version}",
        ),
        (0.0, f"Machine model: {spec.machine}"),
        (0.0, EMULATED_MARK),
    ]
    if spec.npu_node == "galcore":
        lines += [
            (1.432581, f"Galcore version {GALCORE_VERSION}"),
            (
                1.512307,
                "[drm] Initialized vivante 1.0.0 20170808 for 40000000.mix_gpu_ml on minor 0",
            ),
        ]
    elif spec.npu_node == "ethosu0":
        lines.append((1.873144, "remoteproc remoteproc0: imx-rproc is available"))
    return lines


def firmware_start_lines(firmware_size: int) -> list[tuple[float, str]]:
    """The M33 boot that the Ethos-U driver triggers on first use (offsets in seconds from
    then; the Forlinx manual's own gaps)."""
    return [
        (0.0, "remoteproc remoteproc0: powering up imx-rproc"),
        (
            0.007337,
            f"remoteproc remoteproc0: Booting fw image ethosu_firmware, size {firmware_size}",
        ),
        (
            0.550329,
            "rproc-virtio rproc-virtio.0.auto: assigned reserved memory node vdevbuffer@a4020000",
        ),
        (0.560275, "virtio_rpmsg_bus virtio0: rpmsg host is online"),
        (0.568361, "rproc-virtio rproc-virtio.0.auto: registered virtio0 (type 7)"),
        (
            0.576639,
            "rproc-virtio rproc-virtio.1.auto: assigned reserved memory node vdevbuffer@a4020000",
        ),
        (0.588220, "virtio_rpmsg_bus virtio1: rpmsg host is online"),
        (0.593862, "virtio_rpmsg_bus virtio1: creating channel rpmsg-ethosu-channel addr 0x1e"),
        (0.606329, "rproc-virtio rproc-virtio.1.auto: registered virtio1 (type 7)"),
        (0.613641, "remoteproc remoteproc0: remote processor imx-rproc is now up"),
    ]


def oom_lines(pid: int, comm: str, total_vm_kb: int, anon_rss_kb: int) -> list[tuple[float, str]]:
    return [
        (
            0.0,
            f"Out of memory: Killed process {pid} ({comm[:15]}) total-vm:{total_vm_kb}kB, "
            f"anon-rss:{anon_rss_kb}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:"
            f"{max(4, total_vm_kb // 512)}kB oom_score_adj:0",
        )
    ]


def write_boot_log(control_dir: Path, spec: SocSpec, bsp: BspSpec) -> None:
    """A fresh log at boot: the boot lines, stamped so that the boot ends now."""
    lines = boot_lines(spec, bsp)
    boot_at = max(0.0, uptime_s() - (max(t for t, _ in lines) + 1.0))
    text = "".join(stamp(boot_at + t, line) + "\n" for t, line in lines)
    path = control_dir / KMSG
    path.write_text(text, encoding="utf-8")
    (control_dir / "kmsg.boot").write_text(f"{boot_at:.6f}\n", encoding="utf-8")


def append(control_dir: Path | None, lines: Sequence[tuple[float, str]]) -> None:
    """Log `lines` (offsets in seconds from now) as the kernel would; best effort."""
    if control_dir is None or not lines:
        return
    boot_at = 0.0
    with contextlib.suppress(OSError, ValueError):
        boot_at = float((control_dir / "kmsg.boot").read_text().strip())
    now = max(uptime_s(), boot_at)
    text = "".join(stamp(now + t, line) + "\n" for t, line in lines)
    with contextlib.suppress(OSError):
        fd = os.open(control_dir / KMSG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def dmesg_script(control_dir: Path) -> str:
    """The board's /usr/bin/dmesg: prints its own kernel log (options are ignored)."""
    import shlex

    return (
        "#!/bin/sh\n"
        "# imxbench emulator: the emulated board's own kernel log (emulator/kernel_log.py),\n"
        "# never the host's.\n"
        f"exec cat {shlex.quote(str(control_dir / KMSG))}\n"
    )
