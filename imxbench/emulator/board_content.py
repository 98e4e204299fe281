"""What the emulated board's generated files say: pure functions of the SoC row, no I/O.

sysfs trees are returned as {relative path: value}; board_image.py writes them.
"""

from __future__ import annotations

import shlex

from imxbench.emulator.socs import DISTRO_VERSION, KERNEL_RELEASE, KERNEL_VERSION, SocSpec

CPUFREQ_GOVERNORS = "conservative ondemand userspace powersave performance schedutil"


def os_release() -> str:
    """NXP i.MX Release Distro as OE-core's os-release recipe writes it, marked emulated."""
    codename = DISTRO_VERSION.split("-", 1)[1]
    return (
        "ID=fsl-imx-xwayland\n"
        'NAME="NXP i.MX Release Distro"\n'
        f'VERSION="{DISTRO_VERSION} ({codename})"\n'
        f"VERSION_ID={DISTRO_VERSION}\n"
        f'VERSION_CODENAME="{codename}"\n'
        f'PRETTY_NAME="NXP i.MX Release Distro {DISTRO_VERSION} ({codename})"\n'
        f'CPE_NAME="cpe:/o:openembedded:fsl-imx-xwayland:{DISTRO_VERSION}"\n'
        "IMXBENCH_EMULATED=1\n"
    )


def uname_script(spec: SocSpec) -> str:
    values = {
        "s": "Linux",
        "n": spec.hostname,
        "r": KERNEL_RELEASE,
        "v": KERNEL_VERSION,
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
    """A sh launcher that runs the host interpreter with `pythonpath` prepended."""
    path = ":".join(pythonpath)
    command = " ".join(shlex.quote(a) for a in [python, *args])
    return (
        "#!/bin/sh\n"
        "# imxbench emulator: runs on the host interpreter (the board is emulated).\n"
        f'PYTHONPATH={shlex.quote(path)}"${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        "export PYTHONPATH\n"
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
        policy + "scaling_governor": "ondemand",
        policy + "scaling_driver": spec.cpufreq_driver,
        policy + "cpuinfo_max_freq": str(max_khz),
        policy + "cpuinfo_min_freq": str(min_khz),
        policy + "cpuinfo_cur_freq": str(max_khz),
        policy + "scaling_max_freq": str(max_khz),
        policy + "scaling_min_freq": str(min_khz),
        policy + "scaling_cur_freq": str(max_khz),
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
    return {
        "thermal/thermal_zone0/temp": str(spec.temp_millic),
        "thermal/thermal_zone0/type": "cpu-thermal",
    }


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
