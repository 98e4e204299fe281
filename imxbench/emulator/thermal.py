"""The emulated board's thermal zone and CPU clock: they respond to the emulated tools' load.

Model (first order; constants are assumptions, NXP publishes no thermal resistance for the EVKs):
the die temperature T relaxes towards `idle + RISE_C * power` with time constant `TAU_S`, where
`power` is the load's share of full-SoC heating (LOAD_POWER: NPU, GPU, CPU with n threads) and 0
when idle; `idle` is the SoC row's idle temperature. Past the passive trip point (85 °C, NXP's
device trees, NXP_FACTS §5, §10) the cpufreq cooling device steps one operating point down per
STEP_C degrees (step_wise governor), which caps `scaling_cur_freq`; throttled work heats less
(power scaled by the clock ratio). The state (temperature, when, the load in progress) is a
JSON file in the board's control dir, so it persists across tool invocations and reboots.

Clock: `scaling_governor` (writable, reset to `ondemand` at boot as on a real board) decides the
busy clock: performance -> max, powersave -> min, userspace -> scaling_setspeed, the others
(ondemand, schedutil, conservative) -> max when busy and min when idle; then
min(scaling_max_freq, thermal cap). Timings: CPU work scales with max/cur clock, accelerator
work with max/cap (assumption: the SoC's cooling also slows the NPU/GPU, as galcore's GPU
cooling does on the 8M Plus). When the board is cool and the governor is not powersave/userspace
every factor is exactly 1: the default run's timings are unchanged.

`thermal_time_scale` in faults.json (default 1) speeds the model's clock up, so tests can
drive the board past the trip point in seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from imxbench.emulator.socs import PASSIVE_TRIP_MILLIC, SocSpec

STATE_FILE = "thermal.json"
LOCK_FILE = "thermal.lock"
TAU_S = 90.0
RISE_C = 60.0
STEP_C = 2.0
CHECKPOINT_S = 0.25  # how often a running tool publishes the temperature
LOAD_POWER = {"npu": 1.0, "gpu": 1.0}
CPU_POWER_BASE = 0.45  # one busy core; all cores busy -> 1.0 (assumption)
BUSY_GOVERNORS = ("ondemand", "schedutil", "conservative")

ZONE = "thermal/thermal_zone0/temp"
COOLING = "thermal/cooling_device0/cur_state"
POLICY = "system/cpu/cpufreq/policy0/"


@dataclass
class ThermalState:
    temp_c: float
    t: float  # wall time (time.time()) of temp_c
    busy_until: float = 0.0  # wall time the load in progress ends
    power: float = 0.0  # its heating share (already scaled by throttling)


@dataclass(frozen=True)
class BoardPaths:
    """Where the board's state lives (host paths, reachable inside the board too)."""

    control_dir: Path
    sys_class: Path
    sys_devices: Path


def cpu_power(threads: int, cores: int) -> float:
    n = max(1, min(threads, cores))
    return CPU_POWER_BASE + (1.0 - CPU_POWER_BASE) * (n - 1) / max(1, cores - 1)


def idle_c(spec: SocSpec) -> float:
    return spec.temp_millic / 1000.0


def relax(temp_c: float, target_c: float, seconds: float, time_scale: float) -> float:
    """T after `seconds` of relaxing towards `target_c`."""
    if seconds <= 0:
        return temp_c
    return target_c + (temp_c - target_c) * math.exp(-seconds * time_scale / TAU_S)


def temp_at(spec: SocSpec, state: ThermalState, now: float, time_scale: float) -> float:
    """The temperature at wall time `now`: the recorded load until it ends, then idle."""
    busy_end = min(now, state.busy_until)
    temp = state.temp_c
    if busy_end > state.t:
        temp = relax(temp, idle_c(spec) + RISE_C * state.power, busy_end - state.t, time_scale)
    return relax(temp, idle_c(spec), now - max(state.t, busy_end), time_scale)


def cooling_state(spec: SocSpec, temp_c: float) -> int:
    trip = PASSIVE_TRIP_MILLIC / 1000.0
    if temp_c < trip:
        return 0
    return min(len(spec.cpu_freqs_khz) - 1, 1 + int((temp_c - trip) / STEP_C))


def cap_khz(spec: SocSpec, temp_c: float) -> int:
    return spec.cpu_freqs_khz[-1 - cooling_state(spec, temp_c)]


@dataclass(frozen=True)
class Governor:
    """What the user set in the cpufreq policy."""

    name: str = "ondemand"
    setspeed_khz: int | None = None
    max_khz: int | None = None

    def busy_khz(self, spec: SocSpec, busy: bool) -> int:
        freqs = spec.cpu_freqs_khz
        if self.name == "performance":
            khz = freqs[-1]
        elif self.name == "powersave":
            khz = freqs[0]
        elif self.name == "userspace":
            khz = self.setspeed_khz or freqs[-1]
        else:
            khz = freqs[-1] if busy else freqs[0]
        if self.max_khz:
            khz = min(khz, self.max_khz)
        return khz


def read_governor(sys_devices: Path) -> Governor:
    def value(name: str) -> str:
        try:
            return (sys_devices / POLICY / name).read_text().strip()
        except OSError:
            return ""

    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return Governor(
        value("scaling_governor") or "ondemand",
        number(value("scaling_setspeed")),
        number(value("scaling_max_freq")),
    )


def cur_khz(spec: SocSpec, governor: Governor, temp_c: float, busy: bool) -> int:
    return min(governor.busy_khz(spec, busy), cap_khz(spec, temp_c))


def slowdown(spec: SocSpec, governor: Governor, temp_c: float, cpu_share: float) -> float:
    """How much longer an inference takes at `temp_c` (1.0: not at all)."""
    top = spec.cpu_freqs_khz[-1]
    cpu = top / cur_khz(spec, governor, temp_c, busy=True)
    accel = top / cap_khz(spec, temp_c)
    if cpu == 1.0 and accel == 1.0:
        return 1.0
    return cpu_share * cpu + (1.0 - cpu_share) * accel


# --- the state file --------------------------------------------------------------------------


@contextlib.contextmanager
def locked(control_dir: Path) -> Iterator[None]:
    control_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(control_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_state(spec: SocSpec, control_dir: Path, now: float) -> ThermalState:
    try:
        doc = json.loads((control_dir / STATE_FILE).read_text())
        return ThermalState(
            float(doc["temp_c"]),
            float(doc["t"]),
            float(doc.get("busy_until", 0.0)),
            float(doc.get("power", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return ThermalState(idle_c(spec), now)


def save_state(control_dir: Path, state: ThermalState) -> None:
    _write(control_dir / STATE_FILE, json.dumps(asdict(state)) + "\n")


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _update(path: Path, text: str) -> None:
    """Replace an attribute file atomically (a reader never sees it empty), if it changed."""
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    with contextlib.suppress(OSError):
        _write(path, text)


def publish(spec: SocSpec, paths: BoardPaths, temp_c: float, busy: bool) -> None:
    """Write the thermal zone, cooling device and the policy's current clock."""
    governor = read_governor(paths.sys_devices)
    khz = str(cur_khz(spec, governor, temp_c, busy))
    _update(paths.sys_class / ZONE, f"{round(temp_c * 1000)}\n")
    _update(paths.sys_class / COOLING, f"{cooling_state(spec, temp_c)}\n")
    _update(paths.sys_devices / POLICY / "scaling_cur_freq", khz + "\n")
    _update(paths.sys_devices / POLICY / "cpuinfo_cur_freq", khz + "\n")


def refresh(spec: SocSpec, paths: BoardPaths, time_scale: float, now: float | None = None) -> float:
    """Bring the sysfs files up to date (the SSH server calls this periodically); returns T."""
    now = time.time() if now is None else now
    with locked(paths.control_dir):
        state = load_state(spec, paths.control_dir, now)
    temp = temp_at(spec, state, now, time_scale)
    publish(spec, paths, temp, busy=now < state.busy_until)
    return temp


# --- a timed phase under load ----------------------------------------------------------------


@dataclass(frozen=True)
class PhasePlan:
    """A timed phase after throttling: run durations and the temperature along the way."""

    durations_us: np.ndarray
    checkpoints: tuple[tuple[float, float, float], ...]  # (elapsed s, temp °C, power)


def plan_phase(
    spec: SocSpec,
    governor: Governor,
    start_temp_c: float,
    base_us: np.ndarray,
    *,
    power: float,
    cpu_share: float,
    time_scale: float,
    min_runs: int,
    min_secs: float,
    max_secs: float,
    delay_secs: float = 0.0,
) -> PhasePlan:
    """Walk the phase's runs, slowing each by the clock at its start and heating the die; keep
    the runs BenchmarkModel::Run would make with the slower durations (a prefix of base_us)."""
    top = spec.cpu_freqs_khz[-1]
    temp = start_temp_c
    elapsed = 0.0
    next_checkpoint = 0.0
    min_us = min_secs * 1e6 if min_secs > 0 else -1.0
    delay_us = max(delay_secs, 0.0) * 1e6
    out: list[int] = []
    slowed = False
    checkpoints: list[tuple[float, float, float]] = []
    for k, base in enumerate(base_us.tolist()):
        start_us = elapsed * 1e6
        if not ((k < min_runs or start_us < min_us) and start_us <= max_secs * 1e6):
            break
        factor = slowdown(spec, governor, temp, cpu_share)
        duration = base if factor == 1.0 else max(1, round(base * factor))
        slowed = slowed or factor != 1.0
        effective = power * cap_khz(spec, temp) / top
        if elapsed >= next_checkpoint:
            checkpoints.append((elapsed, temp, effective))
            next_checkpoint = elapsed + CHECKPOINT_S
        seconds = (duration + delay_us) / 1e6
        temp = relax(temp, idle_c(spec) + RISE_C * effective, seconds, time_scale)
        elapsed += seconds
        out.append(int(duration))
    checkpoints.append((elapsed, temp, 0.0))
    durations = np.asarray(out, dtype=np.int64) if slowed else base_us  # cool: unchanged
    return PhasePlan(durations, tuple(checkpoints))
