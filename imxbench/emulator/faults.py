"""Fault injection for the emulated board: names, defaults and the control file.

`<control_dir>/faults.json` holds every *runtime* fault. The emulated tools read it at each
invocation (crash, hang, slowdown, delegate_load_fails, oom); the SSH server reads it for each
new channel (drop_connection_after_bytes, drop_connection_on_exec). The server faults are
one-shot: the server switches a fault off when it fires, so a retry succeeds.

`slowdown` multiplies every modelled time of a benchmark_model invocation; `slowdown_delegates`
(None: every invocation) limits it to the invocations that use one of the listed delegates:
a delegate library path (as passed to --external_delegate_path), or where the delegated work
runs: `npu`, `gpu`, or `cpu` (an invocation without an external delegate). On the 8M Plus
the NPU and GPU share libvx_delegate.so, so `npu` slows the vx cells and not the gpu ones.

*Boot* faults change the board image and hold from one start to the next stop: a full or
read-only workdir, a missing benchmark_model, a missing delegate library.

`thermal_time_scale` is not a fault but a knob of the same file: it speeds up the thermal
model's clock (emulator/thermal.py) so a test can heat the board past its trip point quickly.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from imxbench.errors import ConfigError

FAULTS_FILE = "faults.json"

#: Every runtime fault, switched off. Keys and value types are the contract of faults.json.
DEFAULT_FAULTS: dict[str, Any] = {
    "crash": False,
    "hang": False,
    "slowdown": 1.0,
    "slowdown_delegates": None,
    "delegate_load_fails": False,
    "oom": False,
    "thermal_time_scale": 1.0,
    "drop_connection_after_bytes": None,
    "drop_connection_on_exec": False,
}

BOOT_FAULTS = ("disk_full", "readonly_workdir", "no_benchmark_model", "no_delegate", "no_vela")


def check_boot_faults(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Return `names` as a tuple, or raise ConfigError naming the first unknown boot fault."""
    for name in names:
        if name not in BOOT_FAULTS:
            raise ConfigError(f"unknown boot fault {name!r}; known: {', '.join(BOOT_FAULTS)}")
    return tuple(names)


def _check_value(name: str, value: Any) -> None:
    if name not in DEFAULT_FAULTS:
        raise ConfigError(f"unknown fault {name!r}; known: {', '.join(DEFAULT_FAULTS)}")
    if name in ("slowdown", "thermal_time_scale"):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    elif name == "slowdown_delegates":
        ok = value is None or (
            isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        )
    elif name == "drop_connection_after_bytes":
        ok = value is None or (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0
        )
    else:
        ok = isinstance(value, bool)
    if not ok:
        raise ConfigError(f"fault {name!r}: bad value {value!r}")


def load_faults(control_dir: Path) -> dict[str, Any]:
    """The faults in force: defaults overlaid with the control file (missing file = none)."""
    faults = dict(DEFAULT_FAULTS)
    try:
        stored = json.loads((control_dir / FAULTS_FILE).read_text())
    except FileNotFoundError:
        return faults
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{control_dir / FAULTS_FILE}: unreadable: {exc}") from exc
    if not isinstance(stored, dict):
        raise ConfigError(f"{control_dir / FAULTS_FILE}: not a JSON object")
    for name, value in stored.items():
        _check_value(name, value)
    faults.update(stored)
    return faults


def write_faults(control_dir: Path, faults: dict[str, Any]) -> None:
    """Replace the control file atomically with defaults overlaid by `faults`."""
    merged = dict(DEFAULT_FAULTS)
    for name, value in faults.items():
        _check_value(name, value)
        merged[name] = value
    control_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".faults-", dir=control_dir)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(merged, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, control_dir / FAULTS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_faults(control_dir: Path, **changes: Any) -> dict[str, Any]:
    """Change some faults, keep the others; returns the faults now in force."""
    faults = load_faults(control_dir)
    faults.update(changes)
    write_faults(control_dir, faults)
    return faults
