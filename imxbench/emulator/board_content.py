"""What the emulated board's generated files say: pure functions of the SoC and BSP rows, no I/O.

sysfs trees are returned as {relative path: value}; board_image.py writes them. The thermal and
cpufreq values that move with load are rewritten at run time by emulator/thermal.py.
"""

from __future__ import annotations

import shlex

from imxbench.emulator.socs import (
    CRITICAL_TRIP_MILLIC,
    DEFAULT_BSP,
    PASSIVE_TRIP_MILLIC,
    BspSpec,
    SocSpec,
    bsp_spec,
)

CPUFREQ_GOVERNORS = "conservative ondemand userspace powersave performance schedutil"
CPUFREQ_DEFAULT_GOVERNOR = "ondemand"  # imx_v8_defconfig (NXP_FACTS §5, §10)

# The EVKs' 32 GB eMMC with the root filesystem grown over it, and what an imx-image-full root
# filesystem occupies (assumptions: NXP's .wic leaves the partition at image size unless grown).
DISK_SIZE_KB = 29_826_144
DISK_USED_KB = 6_291_456


def os_release(bsp: BspSpec | None = None) -> str:
    """NXP i.MX Release Distro as OE-core's os-release recipe writes it, marked emulated."""
    version = (bsp or bsp_spec(DEFAULT_BSP)).distro_version
    codename = version.split("-", 1)[1]
    return (
        "ID=fsl-imx-xwayland\n"
        'NAME="NXP i.MX Release Distro"\n'
        f'VERSION="{version} ({codename})"\n'
        f"VERSION_ID={version}\n"
        f'VERSION_CODENAME="{codename}"\n'
        f'PRETTY_NAME="NXP i.MX Release Distro {version} ({codename})"\n'
        f'CPE_NAME="cpe:/o:openembedded:fsl-imx-xwayland:{version}"\n'
        "IMXBENCH_EMULATED=1\n"
    )


def uname_script(spec: SocSpec, bsp: BspSpec | None = None) -> str:
    bsp = bsp or bsp_spec(DEFAULT_BSP)
    values = {
        "s": "Linux",
        "n": spec.hostname,
        "r": bsp.kernel_release,
        "v": bsp.kernel_version,
        "m": "aarch64",
        "p": "unknown",
        "i": "unknown",
        "o": "GNU/Linux",
    }
    assignments = "\n".join(f"{k}={shlex.quote(v)}" for k, v in values.items())
    fields = "\n".join(f'case $flags in *{k}*) add "${k}" ;; esac' for k in values)
    return f"""#!/bin/sh
# imxbench emulator: uname of the emulated board's NXP BSP kernel.
{assignments}
flags=
for arg in "$@"; do
    case $arg in
        --all) flags="${{flags}}a" ;;
        --kernel-name) flags="${{flags}}s" ;;
        --nodename) flags="${{flags}}n" ;;
        --kernel-release) flags="${{flags}}r" ;;
        --kernel-version) flags="${{flags}}v" ;;
        --machine) flags="${{flags}}m" ;;
        --processor) flags="${{flags}}p" ;;
        --hardware-platform) flags="${{flags}}i" ;;
        --operating-system) flags="${{flags}}o" ;;
        -[!-]*) flags="$flags${{arg#-}}" ;;
        *) echo "uname: invalid argument '$arg'" >&2; exit 1 ;;
    esac
done
case $flags in *[!asnrvmpio]*) echo "uname: invalid option -- '$flags'" >&2; exit 1 ;; esac
case $flags in *a*) flags=snrvmo ;; '') flags=s ;; esac
out=
add() {{ out="${{out:+$out }}$1"; }}
{fields}
echo "$out"
"""


def python_launcher(python: str, pythonpath: list[str], args: list[str]) -> str:
    """A sh launcher that runs the host interpreter with `pythonpath` prepended.

    numpy's OpenBLAS starts a thread per host core when it is imported, which costs each
    emulated process ~0.1 s of host CPU (a third of an emulated benchmark_model's) and nothing
    the emulation needs: the emulated boards share the host's cores, so one BLAS thread each
    (unless the caller set a number)."""
    path = ":".join(pythonpath)
    command = " ".join(shlex.quote(a) for a in [python, *args])
    return (
        "#!/bin/sh\n"
        "# imxbench emulator: runs on the host interpreter (the board is emulated).\n"
        f'PYTHONPATH={shlex.quote(path)}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        'OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"\n'
        "export PYTHONPATH OPENBLAS_NUM_THREADS\n"
        f'exec {command} "$@"\n'
    )


def sys_devices(spec: SocSpec, serial: str) -> dict[str, str]:
    """/sys/devices: soc0 and the CPUs (one cpufreq policy shared by all cores)."""
    last = spec.cpu_count - 1
    cpus = "0" if last == 0 else f"0-{last}"
    policy = "system/cpu/cpufreq/policy0/"
    max_khz, min_khz = spec.cpu_freqs_khz[-1], spec.cpu_freqs_khz[0]
    tree = {
        "soc0/soc_id": spec.soc_id,
        "soc0/machine": spec.machine,
        "soc0/family": "Freescale i.MX",
        "soc0/revision": spec.revision,
        "soc0/serial_number": serial,
        "system/cpu/online": cpus,
        "system/cpu/possible": cpus,
        "system/cpu/present": cpus,
        "system/cpu/offline": "",
        policy + "scaling_governor": CPUFREQ_DEFAULT_GOVERNOR,
        policy + "scaling_driver": spec.cpufreq_driver,
        policy + "cpuinfo_max_freq": str(max_khz),
        policy + "cpuinfo_min_freq": str(min_khz),
        policy + "cpuinfo_cur_freq": str(min_khz),
        policy + "scaling_max_freq": str(max_khz),
        policy + "scaling_min_freq": str(min_khz),
        policy + "scaling_cur_freq": str(min_khz),  # idle under ondemand (thermal.py)
        policy + "scaling_setspeed": "<unsupported>",
        policy + "scaling_available_governors": CPUFREQ_GOVERNORS,
        policy + "scaling_available_frequencies": " ".join(map(str, spec.cpu_freqs_khz)),
        policy + "related_cpus": " ".join(map(str, range(spec.cpu_count))),
        policy + "affected_cpus": " ".join(map(str, range(spec.cpu_count))),
    }
    for n in range(spec.cpu_count):
        tree[f"system/cpu/cpu{n}/online"] = "1"
    return tree


def sys_firmware(spec: SocSpec) -> dict[str, str]:
    # Devicetree properties are NUL-terminated strings, lists are NUL-separated.
    return {
        "devicetree/base/model": spec.machine + "\0",
        "devicetree/base/compatible": "".join(c + "\0" for c in spec.compatible),
    }


def sys_class(spec: SocSpec) -> dict[str, str]:
    """Thermal zone (trip points of NXP's device trees), its cpufreq cooling device and, on the
    i.MX 93, the Cortex-M33 remoteproc that runs the Ethos-U firmware (NXP_FACTS §4.4)."""
    zone, cooling = "thermal/thermal_zone0/", "thermal/cooling_device0/"
    tree = {
        zone + "temp": str(spec.temp_millic),
        zone + "type": "cpu-thermal",
        zone + "policy": "step_wise",
        zone + "mode": "enabled",
        zone + "trip_point_0_temp": str(PASSIVE_TRIP_MILLIC),
        zone + "trip_point_0_type": "passive",
        zone + "trip_point_1_temp": str(CRITICAL_TRIP_MILLIC),
        zone + "trip_point_1_type": "critical",
        cooling + "type": "thermal-cpufreq-0",
        cooling + "max_state": str(len(spec.cpu_freqs_khz) - 1),
        cooling + "cur_state": "0",
    }
    if spec.npu_node == "ethosu0":
        tree["remoteproc/remoteproc0/name"] = "imx-rproc"
        tree["remoteproc/remoteproc0/firmware"] = "ethosu_firmware"
        tree["remoteproc/remoteproc0/state"] = "offline"
    return tree


def meminfo(spec: SocSpec) -> str:
    """/proc/meminfo of an idle EVK (the fields the probe and `free` read)."""
    total, available = spec.mem_total_kb, spec.mem_available_kb
    free = available - total // 20
    fields = [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", available),
        ("Buffers", 12_288),
        ("Cached", total // 20),
        ("SwapCached", 0),
        ("Active", total // 25),
        ("Inactive", total // 30),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Shmem", 9_216),
        ("CmaTotal", 983_040 if spec.soc == "imx8mp" else 262_144),
        ("CmaFree", 950_000 if spec.soc == "imx8mp" else 250_000),
    ]
    return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in fields)


def df_script() -> str:
    """`df` of the board: one root filesystem the size of the EVK's eMMC. Available space is
    the smaller of the board's and the host's (so a full workdir still shows up full)."""
    return f"""#!/bin/sh
# imxbench emulator: df of the emulated board (1K blocks; -h is not emulated).
size={DISK_SIZE_KB}
base_used={DISK_USED_KB}
paths=
for arg in "$@"; do
    case $arg in
        -*) ;;
        *) paths="$paths $arg" ;;
    esac
done
[ -n "$paths" ] || paths=/
echo "Filesystem     1024-blocks    Used Available Capacity Mounted on"
status=0
for p in $paths; do
    real=$(stat -f -c '%a %S' "$p" 2>/dev/null) || {{
        echo "df: $p: No such file or directory" >&2; status=1; continue; }}
    set -- $real
    host_avail=$(( $1 * $2 / 1024 ))
    avail=$(( size - base_used ))
    [ "$host_avail" -lt "$avail" ] && avail=$host_avail
    used=$(( size - avail ))
    pct=$(( (used * 100 + size - 1) / size ))
    printf '%-14s %11s %7s %9s %7s%% %s\n' /dev/root "$size" "$used" "$avail" "$pct" /
done
exit $status
"""


def cpuinfo(spec: SocSpec) -> bytes:
    block = (
        f"BogoMIPS\t: {spec.bogomips}\nFeatures\t: {spec.cpu_features}\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\n"
        f"CPU variant\t: {spec.cpu_variant}\nCPU part\t: {spec.cpu_part}\n"
        f"CPU revision\t: {spec.cpu_revision}\n\n"
    )
    return "".join(f"processor\t: {n}\n{block}" for n in range(spec.cpu_count)).encode()


def accounts(host_passwd: list[str]) -> tuple[str, str]:
    """passwd and shadow: root at /home/root with /bin/sh and an empty password (debug-tweaks).

    The host's other users are kept, locked, so tools inside the board still resolve them; the
    host's shadow is never read.
    """
    passwd, shadow = ["root:x:0:0:root:/home/root:/bin/sh"], ["root::19000:0:99999:7:::"]
    for line in host_passwd:
        name = line.split(":", 1)[0]
        if name and name != "root" and not name.startswith("#"):
            passwd.append(line)
            shadow.append(f"{name}:*:19000:0:99999:7:::")
    return "\n".join(passwd) + "\n", "\n".join(shadow) + "\n"
