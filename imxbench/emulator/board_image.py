"""The emulated board's disk: a state directory that sandbox.py mounts over the real paths.

Layout of a state directory (persistent: the workdir survives restarts, everything else is
rewritten at each build, i.e. at each boot):

    usr-upper/, usr-work/    overlay upper and work dirs for /usr (tools, delegates, os-release)
    sys-devices/             -> /sys/devices   (soc0, cpus, cpufreq)
    sys-firmware/            -> /sys/firmware  (devicetree model and compatible)
    sys-class/               -> /sys/class     (thermal, cooling device, remoteproc)
    lib-firmware/            -> /usr/lib/firmware (only the board's firmware, not the host's)
    home/root/               -> /home/root     (imxbench workdir, .ssh)
    dev/                     the NPU device node, bound into the board's fresh /dev
    etc/passwd, etc/shadow   root's home is /home/root, empty root password (debug-tweaks)
    proc/cpuinfo, meminfo    -> /proc/cpuinfo, /proc/meminfo  (Cortex-A53 / A55, the EVK's RAM)
    control/faults.json      runtime faults (faults.py), all off at boot
    control/thermal.json     the thermal model's state (thermal.py), kept across reboots
    run/                     scratch mount points used while booting
    ssh_host_ed25519_key, known_hosts, emulator.log    written by the SSH server / launcher
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from imxbench.emulator import board_content, kernel_log
from imxbench.emulator.faults import write_faults
from imxbench.emulator.socs import (
    BOARD_HOME,
    BOARD_JSON,
    BSPS,
    ETHOSU_FIRMWARE,
    SOCS,
    BspSpec,
    SocSpec,
    bsp_spec,
    check_soc_on_bsp,
    soc_spec,
)
from imxbench.errors import ConfigError

BOARD_PYTHON_DIR = Path(__file__).resolve().parent / "board_python"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the imxbench package


# Host paths the board hides (the host's /usr stays visible below the overlay).
_HIDDEN_ON_BOARD = ("/sys", "/dev", "/proc", BOARD_HOME)


@dataclass(frozen=True)
class BoardLayout:
    """Where one emulated board's state lives on the host."""

    spec: SocSpec
    root: Path
    bsp: BspSpec = field(default_factory=lambda: bsp_spec(None))

    @property
    def delegates(self) -> dict[str, str]:
        """The delegate libraries this board's BSP ships for its SoC."""
        return dict(self.bsp.delegates_for(self.spec.soc))

    @property
    def lib_firmware(self) -> Path:
        return self.root / "lib-firmware"

    @property
    def usr_upper(self) -> Path:
        return self.root / "usr-upper"

    @property
    def usr_work(self) -> Path:
        return self.root / "usr-work"

    @property
    def sys_devices(self) -> Path:
        return self.root / "sys-devices"

    @property
    def sys_firmware(self) -> Path:
        return self.root / "sys-firmware"

    @property
    def sys_class(self) -> Path:
        return self.root / "sys-class"

    @property
    def home_root(self) -> Path:
        """The board's /home/root."""
        return self.root / "home" / "root"

    @property
    def workdir(self) -> Path:
        """The board's /home/root/imxbench, seen from the host."""
        return self.home_root / "imxbench"

    @property
    def dev(self) -> Path:
        return self.root / "dev"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def control_dir(self) -> Path:
        return self.root / "control"

    @property
    def host_key_path(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def known_hosts_path(self) -> Path:
        return self.root / "known_hosts"

    @property
    def log_path(self) -> Path:
        return self.root / "emulator.log"

    def usr_file(self, board_path: str) -> Path:
        """The upper-layer file behind a board path below /usr."""
        return self.usr_upper / Path(board_path).relative_to("/usr")


def layout_for(soc: str, state_dir: Path, bsp: str | None = None) -> BoardLayout:
    """The layout of a state directory (no files are touched); `bsp=None`: the one its
    board.json names, else the default."""
    root = Path(os.path.abspath(state_dir))
    if bsp is None:
        bsp = _stored(root, "bsp")
    soc_facts = soc_spec(soc)  # an unknown SoC is named as such, before any BSP check
    spec = bsp_spec(bsp)
    check_soc_on_bsp(soc, spec)
    return BoardLayout(soc_facts, root, spec)


def _stored(root: Path, key: str) -> str | None:
    board_json = root / "usr-upper" / Path(BOARD_JSON).relative_to("/usr")
    try:
        value = json.loads(board_json.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


def build_board_state(
    soc: str,
    state_dir: Path,
    *,
    bsp: str | None = None,
    noise_pct: float = 1.0,
    seed: int | None = None,
) -> BoardLayout:
    """Create or refresh the state directory of an emulated `soc` board running BSP `bsp`
    (None: the state dir's own, else the default); returns its layout.

    Idempotent: generated files are rewritten, the board's home (workdir, authorized_keys)
    and the overlay's user changes below /usr are kept.
    """
    layout = layout_for(soc, state_dir, bsp)
    _check_location(layout.root)
    _check_same_soc(layout)
    python, pythonpath = board_python_command()
    for directory in (layout.usr_upper, layout.usr_work, layout.workdir, layout.run, layout.dev):
        directory.mkdir(parents=True, exist_ok=True)
    (layout.home_root / ".ssh").mkdir(mode=0o700, exist_ok=True)
    for relative, (content, mode) in _usr_files(layout, python, pythonpath).items():
        _write(layout.usr_upper / relative, content, mode)
    board = {
        "format": 1,
        "emulated": True,
        "soc": layout.spec.soc,
        "soc_id": layout.spec.soc_id,
        "machine": layout.spec.machine,
        "cpu_count": layout.spec.cpu_count,
        "bsp": layout.bsp.name,
        "bsp_release": layout.bsp.release,
        "tflite_version": layout.bsp.tflite_version,
        "delegates": layout.delegates,
        "ethosu_builtin": layout.bsp.ethosu_builtin and layout.spec.npu_node == "ethosu0",
        "log_format": layout.bsp.log_format.as_json(),
        "noise_pct": noise_pct,
        "seed": seed,
        "control_dir": str(layout.control_dir),
        "sys_class_dir": str(layout.sys_class),
        "sys_devices_dir": str(layout.sys_devices),
        "python": python,
    }
    if layout.bsp.nnapi and layout.spec.npu_node == "galcore":
        board["nnapi"] = True  # TFLite built with NNAPI (L5.10.52's 8M Plus); absent: none
    _write(layout.usr_file(BOARD_JSON), json.dumps(board, indent=2) + "\n")
    _write_tree(layout.sys_devices, board_content.sys_devices(layout.spec, _serial(layout)))
    for n in range(layout.spec.cpu_count):  # all cores share one cpufreq policy
        link = layout.sys_devices / f"system/cpu/cpu{n}/cpufreq"
        if not link.is_symlink():
            link.symlink_to("../cpufreq/policy0")
    _write_tree(layout.sys_firmware, board_content.sys_firmware(layout.spec))
    _write_tree(layout.sys_class, board_content.sys_class(layout.spec))
    _write(layout.dev / layout.spec.npu_node, b"")
    _write(layout.proc / "cpuinfo", board_content.cpuinfo(layout.spec))
    _write(layout.proc / "meminfo", board_content.meminfo(layout.spec))
    _write_firmware(layout)
    _write_accounts(layout.etc)
    write_faults(layout.control_dir, {})
    (layout.control_dir / "ethosu_firmware_running").unlink(missing_ok=True)  # a fresh boot
    kernel_log.write_boot_log(layout.control_dir, layout.spec, layout.bsp)  # its own dmesg
    return layout


def _write_firmware(layout: BoardLayout) -> None:
    """The board's /usr/lib/firmware: the Ethos-U firmware on the i.MX 93 (NXP_FACTS §4.4),
    nothing of the host's."""
    layout.lib_firmware.mkdir(parents=True, exist_ok=True)
    (layout.usr_upper / "lib" / "firmware").mkdir(parents=True, exist_ok=True)  # mount point
    if layout.spec.npu_node == "ethosu0":
        name = Path(ETHOSU_FIRMWARE).name
        text = f"imxbench emulator stand-in: Ethos-U65 firmware for the {layout.spec.soc_id} M33\n"
        _write(layout.lib_firmware / name, text)


def remove_state(state_dir: Path) -> None:
    """Delete a state directory, including the mode-000 dirs overlayfs leaves in its workdir."""

    def make_writable(_func: object, path: str, _exc: object) -> None:
        parent = os.path.dirname(path)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, stat.S_IRWXU)
            shutil.rmtree(path, onerror=make_writable)
        else:
            os.unlink(path)

    if state_dir.exists():
        shutil.rmtree(state_dir, onerror=make_writable)


def overlaid_paths() -> set[str]:
    """Board paths below /usr that the emulator's upper layer may replace."""
    paths = {"/usr/lib/os-release", "/usr/bin/uname", "/usr/bin/python3", "/usr/bin/df"}
    paths.add("/usr/bin/dmesg")
    paths |= {"/usr/bin/vela", "/usr/lib/firmware", ETHOSU_FIRMWARE, BOARD_JSON}
    for bsp in BSPS.values():
        paths.add(bsp.benchmark_model)
        for soc in SOCS:
            paths |= set(bsp.delegates_for(soc))
    return paths


def board_python_command() -> tuple[str, list[str]]:
    """The host interpreter the board's python3 and benchmark_model run, and its PYTHONPATH.

    The interpreter is this process's (a venv keeps its packages) unless reaching it goes
    through a path the board overlays (e.g. a venv made from /usr/bin/python3, which on the
    board is our wrapper): then the symlink-resolved interpreter plus this environment's
    site-packages on PYTHONPATH.
    """
    pythonpath = [str(PACKAGE_ROOT)]
    python = os.path.abspath(sys.executable)
    if _reaches_overlay(python):
        python = os.path.realpath(sys.executable)
        pythonpath += [p for p in [*site.getsitepackages(), site.getusersitepackages()] if p]
        if _reaches_overlay(python):
            raise ConfigError(
                f"the host interpreter {python} is a file the emulated board replaces",
                hint="run imxbench from a virtualenv or an interpreter outside /usr/bin",
            )
    for hidden in _HIDDEN_ON_BOARD:
        if _below(python, hidden) or _below(str(PACKAGE_ROOT), hidden):
            raise ConfigError(f"{python} or {PACKAGE_ROOT} is below {hidden}, hidden on the board")
    return python, pythonpath


def _reaches_overlay(path: str) -> bool:
    """True if opening `path` on the board would pass through an overlaid file."""
    overlaid = overlaid_paths()
    for _hop in range(40):
        path = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        if path in overlaid:
            return True
        if not os.path.islink(path):
            return False
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    return True  # a symlink loop: refuse rather than guess


def _below(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _check_location(root: Path) -> None:
    real = os.path.realpath(root)
    if any(c in real for c in ",:\\"):
        raise ConfigError(f"emulator state dir {root}: no ',', ':' or '\\' (overlayfs options)")
    for covered in ("/usr", *_HIDDEN_ON_BOARD):
        if _below(real, covered):
            raise ConfigError(f"emulator state dir {root} is below {covered}, covered on the board")


def _check_same_soc(layout: BoardLayout) -> None:
    """A state dir is one board: same SoC, same BSP (another BSP would be a reflash, and the
    old release's files would stay in the overlay)."""
    existing = _stored(layout.root, "soc")
    if existing is not None and existing != layout.spec.soc:
        raise ConfigError(
            f"{layout.root} holds an emulated {existing} board, not {layout.spec.soc}",
            hint="use another --state-dir",
        )
    existing_bsp = _stored(layout.root, "bsp") or (existing and bsp_spec(None).name)
    if existing_bsp and existing_bsp != layout.bsp.name:
        raise ConfigError(
            f"{layout.root} holds a board running {existing_bsp}, not {layout.bsp.name}",
            hint="use another --state-dir",
        )


def _usr_files(
    layout: BoardLayout, python: str, pythonpath: list[str]
) -> dict[str, tuple[bytes, int]]:
    """Files of the upper /usr layer, by path relative to /usr: (content, mode)."""
    spec, bsp = layout.spec, layout.bsp
    files: dict[str, tuple[bytes, int]] = {
        "lib/os-release": (board_content.os_release(bsp).encode(), 0o644),
        "bin/uname": (board_content.uname_script(spec, bsp).encode(), 0o755),
        "bin/df": (board_content.df_script().encode(), 0o755),
        "bin/dmesg": (kernel_log.dmesg_script(layout.control_dir).encode(), 0o755),
        "bin/python3": (
            board_content.python_launcher(
                python, [str(BOARD_PYTHON_DIR), *pythonpath], []
            ).encode(),
            0o755,
        ),
        _rel(bsp.benchmark_model): (
            board_content.python_launcher(
                python, pythonpath, ["-m", "imxbench.emulator.benchmark_tool"]
            ).encode(),
            0o755,
        ),
    }
    # where the BSP's pip put the wheel (NXP_FACTS §1.2), for the probe, which reads versions
    # from the metadata directories' names; the modules themselves come from BOARD_PYTHON_DIR
    site_packages = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    for meta in BOARD_PYTHON_DIR.glob("*.dist-info/*"):
        name, data = meta.parent.name, meta.read_bytes()
        if name.startswith("tflite_runtime-"):  # the BSP's TFLite version (NXP_FACTS §1.2)
            stock = name.removeprefix("tflite_runtime-").removesuffix(".dist-info")
            name = f"tflite_runtime-{bsp.tflite_version}.dist-info"
            data = data.replace(
                f"Version: {stock}".encode(), f"Version: {bsp.tflite_version}".encode()
            )
        files[f"{site_packages}/{name}/{meta.name}"] = (data, 0o644)
    for library, delegate in layout.delegates.items():
        text = f"imxbench emulator stand-in: {delegate} delegate of {spec.soc_id} ({library})\n"
        files[_rel(library)] = (text.encode(), 0o755)
    if spec.npu_node == "ethosu0":  # ethos-u-vela is COMPATIBLE_MACHINE mx93 (NXP_FACTS §4.1)
        vela = ["-m", "imxbench.emulator.board_vela", bsp.vela_version]
        files["bin/vela"] = (
            board_content.python_launcher(python, pythonpath, vela).encode(),
            0o755,
        )
    return files


def _rel(board_path: str) -> str:
    return str(Path(board_path).relative_to("/usr"))


def _write_accounts(etc: Path) -> None:
    try:
        host_passwd = Path("/etc/passwd").read_text().splitlines()
    except OSError:
        host_passwd = []
    passwd, shadow = board_content.accounts(host_passwd)
    _write(etc / "passwd", passwd)
    _write(etc / "shadow", shadow, 0o600)


def _serial(layout: BoardLayout) -> str:
    """A stable serial_number per state dir, formatted like the i.MX UID (16 hex digits)."""
    return hashlib.sha256(f"{layout.spec.soc}:{layout.root}".encode()).hexdigest()[:16].upper()


def _write_tree(top: Path, files: dict[str, str]) -> None:
    """Write sysfs-style attribute files (one value and a newline, NUL-ended values as is)."""
    for relative, value in files.items():
        text = value if value.endswith("\0") else value + "\n"
        _write(top / relative, text)


def _write(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` atomically (this also replaces an overlayfs whiteout left there)."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
