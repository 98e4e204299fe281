"""Run a program on the emulated board: private namespaces with the board's state mounted.

`board_command()` builds an `unshare` command line. Inside the new namespaces this module runs
as PID 1: it mounts the board (`boot()`), starts the program, forwards signals to it, reaps
orphans, and exits with the program's status. When it exits the kernel kills every process
left in the namespace, so stopping a board never leaves strays behind.

Mounts, in order (host paths on the left are below the state directory):

    overlay usr-upper + host /usr      -> /usr            (tools, delegates, os-release, python3)
    lib-firmware                       -> /usr/lib/firmware (the board's firmware only)
    sys-devices, sys-firmware, sys-class -> /sys/devices, /sys/firmware, /sys/class
    proc/cpuinfo, proc/meminfo         -> /proc/cpuinfo, /proc/meminfo (over the PID ns' /proc)
    a new tmpfs: null zero full random urandom tty, a new devpts (ptmx -> pts/ptmx), shm,
      fd/stdin/stdout/stderr links, the NPU node from dev/  -> /dev
    a new tmpfs: the host's /home/* bound back, home/root -> /home (board's home is /home/root)
    etc/passwd, etc/shadow             -> /etc/passwd, /etc/shadow (root: /home/root, no password)

New trees are assembled on a scratch mount point in run/ and moved into place (`mount --move`),
so the host paths they replace stay reachable while they are built.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from imxbench.emulator.board_image import PACKAGE_ROOT, BoardLayout, layout_for
from imxbench.emulator.faults import check_boot_faults
from imxbench.emulator.socs import BOARD_WORKDIR
from imxbench.errors import InfrastructureError

DISK_FULL_SIZE = "64k"  # the tmpfs mounted over the workdir by the disk_full boot fault
_DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = {
    "ptmx": "pts/ptmx",
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


class BootError(Exception):
    """A mount step of the board boot failed."""


def unshare_prefix() -> list[str]:
    """`unshare` options: new mount, UTS and PID namespaces (and a user namespace if not root)."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return [
        "unshare",
        *user,
        "--mount",
        "--propagation",
        "private",
        "--uts",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
    ]


def board_command(
    layout: BoardLayout, argv: Sequence[str], *, boot_faults: Sequence[str] = ()
) -> list[str]:
    """The command line that boots the board in new namespaces, then execs `argv` there."""
    faults = [f"--fault={name}" for name in check_boot_faults(list(boot_faults))]
    bootstrap = (
        f"import sys; sys.path.insert(0, {str(PACKAGE_ROOT)!r}); "
        "from imxbench.emulator.sandbox import main; sys.exit(main(sys.argv[1:]))"
    )
    return [
        *unshare_prefix(),
        sys.executable,
        "-c",
        bootstrap,
        f"--state={layout.root}",
        f"--soc={layout.spec.soc}",
        *faults,
        "--",
        *argv,
    ]


@functools.cache
def ensure_namespaces() -> None:
    """Raise InfrastructureError (one line + hint) unless this host lets us build a board."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        raise InfrastructureError(
            "the board emulator needs `unshare` and `mount` (util-linux)",
            hint="install util-linux",
        )
    probe = subprocess.run([*unshare_prefix(), "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "failed"
        raise InfrastructureError(
            f"cannot create the emulator's namespaces: {reason}",
            hint="run as root, or enable unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces)",
        )


# --- inside the namespaces -------------------------------------------------------------------


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BootError(f"mount {' '.join(args)}: {done.stderr.strip()}")


def _bind(source: Path | str, target: Path | str) -> None:
    _mount("--bind", str(source), str(target))


def _empty_like(source: Path, target: Path) -> None:
    """Create a mount point at `target` of the same kind (file or directory) as `source`."""
    if source.is_dir():
        target.mkdir()
    else:
        target.touch()


def _mount_usr(layout: BoardLayout, faults: Sequence[str]) -> None:
    options = f"lowerdir=/usr,upperdir={layout.usr_upper},workdir={layout.usr_work}"
    if _in_user_namespace():
        options += ",userxattr"  # trusted.* xattrs are out of reach there
    _mount("-t", "overlay", "overlay", "-o", options, "/usr")
    if Path("/usr/lib/firmware").is_dir():
        _bind(layout.lib_firmware, "/usr/lib/firmware")
    removed = []
    if "no_benchmark_model" in faults:
        removed.append(layout.bsp.benchmark_model)
    if "no_delegate" in faults:
        removed.extend(layout.delegates)
    if "no_vela" in faults:  # an image built without ethos-u-vela
        removed.append("/usr/bin/vela")
    for path in removed:
        Path(path).unlink(missing_ok=True)


def _in_user_namespace() -> bool:
    uid_map = Path("/proc/self/uid_map").read_text().split()
    return uid_map[:3] != ["0", "0", "4294967295"]


def _mount_sys_and_proc(layout: BoardLayout) -> None:
    _bind(layout.sys_devices, "/sys/devices")
    _bind(layout.sys_firmware, "/sys/firmware")
    _bind(layout.sys_class, "/sys/class")
    _bind(layout.proc / "cpuinfo", "/proc/cpuinfo")
    _bind(layout.proc / "meminfo", "/proc/meminfo")


def _mount_dev(layout: BoardLayout) -> None:
    new = layout.run / "dev"
    new.mkdir(exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=64k", "tmpfs", str(new))
    for name in _DEV_NODES:
        (new / name).touch()
        _bind(f"/dev/{name}", new / name)
    (new / "pts").mkdir()
    _mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620", "devpts", str(new / "pts"))
    (new / "shm").mkdir()
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", str(new / "shm"))
    for name, target in _DEV_LINKS.items():
        (new / name).symlink_to(target)
    npu = layout.spec.npu_node
    (new / npu).touch()
    _bind(layout.dev / npu, new / npu)
    _mount("--move", str(new), "/dev")


def _mount_home(layout: BoardLayout, faults: Sequence[str]) -> None:
    new = layout.run / "home"
    new.mkdir(exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", str(new))
    for entry in sorted(Path("/home").iterdir()):
        if entry.name != "root":  # the host's other homes stay visible (and writable)
            _empty_like(entry, new / entry.name)
            _bind(entry, new / entry.name)
    (new / "root").mkdir(mode=0o700)
    _bind(layout.home_root, new / "root")
    _mount("--move", str(new), "/home")
    if "disk_full" in faults:
        _mount("-t", "tmpfs", "-o", f"size={DISK_FULL_SIZE},mode=755", "tmpfs", BOARD_WORKDIR)
    if "readonly_workdir" in faults:
        _bind(BOARD_WORKDIR, BOARD_WORKDIR)
        _mount("-o", "remount,bind,ro", BOARD_WORKDIR)


def _mount_etc(layout: BoardLayout) -> None:
    for name in ("passwd", "shadow"):
        if Path("/etc", name).exists():
            _bind(layout.etc / name, f"/etc/{name}")
    os_release = Path("/etc/os-release")
    if os_release.exists() and os.path.realpath(os_release) != "/usr/lib/os-release":
        _bind("/usr/lib/os-release", os_release)


def _limit_cpus(count: int) -> None:
    """Let board processes run on `count` host CPUs, so `nproc` matches the SoC."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > count:
        os.sched_setaffinity(0, cpus[:count])


def boot(layout: BoardLayout, faults: Sequence[str]) -> None:
    """Mount the board's state over this mount namespace's paths (see the module docstring)."""
    _mount_usr(layout, faults)
    _mount_sys_and_proc(layout)
    _mount_dev(layout)
    _mount_home(layout, faults)
    _mount_etc(layout)
    socket.sethostname(layout.spec.hostname)
    _limit_cpus(layout.spec.cpu_count)


def run_as_init(argv: Sequence[str]) -> int:
    """Start `argv`, forward termination signals to it, reap every orphan; return its status."""
    child = subprocess.Popen(list(argv))

    def forward(signum: int, _frame: object) -> None:
        os.kill(child.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    while True:
        pid, status = os.wait()
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def main(args: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imxbench-board-boot")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--soc", required=True)
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("argv", nargs="+")
    options = parser.parse_args(args)
    try:
        boot(layout_for(options.soc, options.state), options.fault)
    except (BootError, OSError) as exc:
        print(f"imxbench board boot failed: {exc}", file=sys.stderr)
        return 1
    return run_as_init(options.argv)
