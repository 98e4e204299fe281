"""Clock and thermal state around every benchmark step, the CPU governor of a run, and what a
failed step left in the kernel log.

Sources (shared/docs/NXP_FACTS.md): §5 and §10 — NXP's `imx_v8_defconfig` boots with the
`ondemand` governor, nothing pins the clock unless the user does; the sysfs files are
`/sys/devices/system/cpu/cpufreq/policy*/scaling_{governor,cur_freq}`,
`/sys/class/thermal/thermal_zone*/temp` (passive trip point 85 °C in NXP's device trees) and the
cooling devices' `cur_state`. §4.4, §8.9 and §10 — on NPU failures NXP support asks for the
`dmesg` lines of galcore / ethosu and the remoteproc state
(`/sys/class/remoteproc/remoteproc*/state`).

Each board-side read is one POSIX-sh script piped to `sh -s` (one round trip, busybox-safe, no
file written); the parsing and the judgement are pure and total: unknown lines are ignored.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imxbench.board.transport import BoardSession
from imxbench.errors import ConfigError, InfrastructureError

SNAPSHOT_TIMEOUT_S = 20.0
GOVERNOR_RESTORE_FILE = ".imxbench/governor.restore"
"""Under the board's workdir: the governor to restore, written before imxbench changes it and
removed once it is restored. A run that lost its board leaves it; the next connection restores
it (`restore_governor`)."""
MAX_DMESG_LINES = 60
MAX_LINE_CHARS = 400
DMESG_PATTERN = "galcore|ethosu|ethos-u|remoteproc|rpmsg|oom|out of memory|killed process"
_GOVERNOR = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")

_POLICY = """\
p=/sys/devices/system/cpu/cpufreq/policy0
[ -d "$p" ] || p=/sys/devices/system/cpu/cpu0/cpufreq
"""

SNAPSHOT_SCRIPT = (
    _POLICY
    + r"""rd() { v=; read -r v < "$1"; }
rd /proc/uptime; echo "uptime ${v%% *}"
rd "$p/scaling_governor"; echo "governor $v"
rd "$p/scaling_cur_freq"; echo "cur_khz $v"
rd "$p/cpuinfo_max_freq"; echo "max_khz $v"
rd "$p/scaling_max_freq"; echo "scaling_max_khz $v"
rd "$p/scaling_setspeed"; echo "setspeed_khz $v"
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] || continue
  trip=-
  for t in "$z"/trip_point_*_type; do
    rd "$t"; [ "$v" = passive ] || continue
    rd "${t%_type}_temp"; trip=${v:--}; break
  done
  rd "$z/temp"; temp=$v; rd "$z/type"
  echo "zone ${z##*/} $temp $trip $v"
done
for c in /sys/class/thermal/cooling_device*; do
  [ -r "$c/cur_state" ] || continue
  rd "$c/cur_state"; cur=$v; rd "$c/max_state"; max=$v; rd "$c/type"
  echo "cooling ${c##*/} $cur $max $v"
done
"""
)
"""The clock and thermal state, read with the shell's own `read`: no process is started (each
`cat` was a fork and an exec: 24 ms a snapshot on the emulated board, ~4 ms now)."""

SNAPSHOT_MARK = "@@imxbench-snapshot"


def with_snapshots(command: str, tag: str) -> str:
    """`command` with a snapshot right before and right after it, in the same shell: one round
    trip per step (issue 17). Each snapshot goes to stdout between `SNAPSHOT_MARK tag before|after`
    and `SNAPSHOT_MARK tag end` lines (its errors to /dev/null); the exit status is the
    command's. `split_snapshots` takes them out again."""
    mark = f"{SNAPSHOT_MARK} {tag}"
    return (
        f"{{ echo '{mark} before'\n{SNAPSHOT_SCRIPT}echo '{mark} end'; }} 2>/dev/null\n"
        f"{command}\n"
        "s=$?\n"
        f"{{ echo; echo '{mark} after'\n{SNAPSHOT_SCRIPT}echo '{mark} end'; }} 2>/dev/null\n"
        "exit $s"
    )


def split_snapshots(
    stdout: bytes, tag: str
) -> tuple[bytes, ClockSnapshot | None, ClockSnapshot | None]:
    """`with_snapshots`' output: the command's own stdout (exactly as it printed it) and the
    snapshots before and after it (None when missing: the command was killed, or the output
    was cut there)."""
    mark = f"{SNAPSHOT_MARK} {tag}".encode()
    head, after_head, end = mark + b" before\n", b"\n" + mark + b" after\n", mark + b" end\n"
    before = after = None
    if stdout.startswith(head):
        stop = stdout.find(end, len(head))
        if stop >= 0:
            before = parse_snapshot(stdout[len(head) : stop].decode("utf-8", "replace"))
            stdout = stdout[stop + len(end) :]
    start = stdout.rfind(after_head)
    if start >= 0 and stdout.endswith(end):
        after = parse_snapshot(
            stdout[start + len(after_head) : -len(end)].decode("utf-8", "replace")
        )
        stdout = stdout[:start]
    return stdout, before, after


@dataclass(frozen=True)
class Zone:
    name: str
    temp_mc: int | None
    passive_mc: int | None
    type: str


@dataclass(frozen=True)
class Cooling:
    name: str
    cur_state: int | None
    max_state: int | None
    type: str


@dataclass(frozen=True)
class ClockSnapshot:
    """The board's clock and thermal state at one moment (SNAPSHOT_SCRIPT's output)."""

    uptime_s: float | None = None
    governor: str | None = None
    cur_khz: int | None = None
    max_khz: int | None = None
    scaling_max_khz: int | None = None
    setspeed_khz: int | None = None
    zones: tuple[Zone, ...] = field(default=())
    coolings: tuple[Cooling, ...] = field(default=())

    @property
    def max_temp_c(self) -> float | None:
        temps = [z.temp_mc for z in self.zones if z.temp_mc is not None]
        return max(temps) / 1000.0 if temps else None

    def expected_khz(self) -> int | None:
        """The clock the governor should hold: the top one under `performance` (capped by
        scaling_max_freq), scaling_setspeed under `userspace`; None for the dynamic ones."""
        if self.governor == "performance" and self.max_khz:
            return min(self.max_khz, self.scaling_max_khz or self.max_khz)
        if self.governor == "userspace":
            return self.setspeed_khz
        return None

    def throttle_reasons(self) -> list[str]:
        """Why this moment counts as throttled: a cooling device active, a zone at or past its
        passive trip point, or the clock below the governor's expected one."""
        reasons = [
            f"{c.name} ({c.type or 'cooling'}) state {c.cur_state}"
            for c in self.coolings
            if c.cur_state
        ]
        reasons += [
            f"{z.name} {z.temp_mc / 1000:.1f} °C ≥ passive trip {z.passive_mc / 1000:.0f} °C"
            for z in self.zones
            if z.temp_mc is not None and z.passive_mc and z.temp_mc >= z.passive_mc
        ]
        expected = self.expected_khz()
        if expected and self.cur_khz is not None and self.cur_khz < expected:
            reasons.append(
                f"CPU at {self.cur_khz} kHz, below the {expected} kHz {self.governor} should hold"
            )
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "uptime_s": self.uptime_s,
            "governor": self.governor,
            "cur_khz": self.cur_khz,
            "max_khz": self.max_khz,
            "temp_c": self.max_temp_c,
            "zones": [
                {"name": z.name, "temp_mc": z.temp_mc, "passive_mc": z.passive_mc, "type": z.type}
                for z in self.zones
            ],
            "cooling": [
                {"name": c.name, "cur_state": c.cur_state, "max_state": c.max_state}
                for c in self.coolings
            ],
        }


def _int(token: str) -> int | None:
    return int(token) if token.isdigit() and len(token) <= 18 else None


def parse_snapshot(text: str) -> ClockSnapshot:
    """SNAPSHOT_SCRIPT's output; total: anything it does not know is ignored."""
    values: dict[str, Any] = {}
    zones: list[Zone] = []
    coolings: list[Cooling] = []
    for line in text.splitlines()[:1000]:
        parts = line.split()
        if not parts:
            continue
        key, rest = parts[0], parts[1:]
        if key == "uptime" and rest:
            with contextlib.suppress(ValueError):
                values["uptime_s"] = float(rest[0])
        elif key == "governor" and rest:
            values["governor"] = rest[0][:64]
        elif key in ("cur_khz", "max_khz", "scaling_max_khz", "setspeed_khz") and rest:
            values[key] = _int(rest[0])
        elif key == "zone" and len(rest) >= 3:
            zones.append(Zone(rest[0][:64], _int(rest[1]), _int(rest[2]), " ".join(rest[3:])[:64]))
        elif key == "cooling" and len(rest) >= 3:
            coolings.append(
                Cooling(rest[0][:64], _int(rest[1]), _int(rest[2]), " ".join(rest[3:])[:64])
            )
    return ClockSnapshot(zones=tuple(zones[:64]), coolings=tuple(coolings[:64]), **values)


def take_snapshot(session: BoardSession) -> ClockSnapshot | None:
    """The board's clock and thermal state, one round trip; None when it could not be read
    (the step goes on: these are notes on the measurement, not the measurement)."""
    try:
        result = session.run(
            ["sh", "-s"],
            stdin=SNAPSHOT_SCRIPT.encode(),
            timeout_s=SNAPSHOT_TIMEOUT_S,
            check=False,
            capture_bytes=256 * 1024,
        )
    except InfrastructureError:
        return None
    return parse_snapshot(result.stdout_text)


def step_columns(before: ClockSnapshot | None, after: ClockSnapshot | None) -> dict[str, Any]:
    """The per-step clock and thermal columns of the results table."""
    reasons: list[str] = []
    for when, snap in (("before", before), ("after", after)):
        if snap is not None:
            reasons += [f"{when}: {r}" for r in snap.throttle_reasons()]
    ref = before or after
    return {
        "cpu_governor_before": before.governor if before else None,
        "cpu_governor_after": after.governor if after else None,
        "cpu_freq_khz_before": before.cur_khz if before else None,
        "cpu_freq_khz_after": after.cur_khz if after else None,
        "cpu_freq_expected_khz": ref.expected_khz() if ref else None,
        "temp_c_before": before.max_temp_c if before else None,
        "temp_c_after": after.max_temp_c if after else None,
        "cooling_state_after": (
            max((c.cur_state or 0 for c in after.coolings), default=0) if after else None
        ),
        "throttled": bool(reasons) if ref else None,
        "throttle_reason": "; ".join(reasons) or None,
    }


# -- the governor -------------------------------------------------------------------------------


def check_governor_name(name: str) -> str:
    if not _GOVERNOR.match(name):
        raise ConfigError(f"--cpu-governor {name!r}: expected a cpufreq governor name")
    return name


def _governor_script(workdir: str, body: str) -> str:
    restore = shlex.quote(f"{workdir.rstrip('/')}/{GOVERNOR_RESTORE_FILE}")
    return (
        _POLICY
        + f"f={restore}\n"
        + "set_all() {\n"
        + "  ok=0\n"
        + "  for g in /sys/devices/system/cpu/cpufreq/policy*/scaling_governor "
        + "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do\n"
        + '    [ -w "$g" ] || continue\n'
        + '    echo "$1" > "$g" 2>/dev/null && ok=1\n'
        + "  done\n"
        + '  [ "$ok" = 1 ]\n'
        + "}\n"
        + body
    )


def set_governor(session: BoardSession, governor: str) -> str | None:
    """Set `governor` on every cpufreq policy; returns the one it replaced. The previous one is
    written to the workdir's restore file first (kept if one is there already: that is the
    board's own, from a run that never restored it)."""
    check_governor_name(governor)
    body = (
        f"want={shlex.quote(governor)}\n"
        'avail=$(cat "$p/scaling_available_governors" 2>/dev/null)\n'
        'case " $avail " in *" $want "*) ;; *) [ -z "$avail" ] || '
        '{ echo "governor $want not available (available: $avail)" >&2; exit 3; } ;; esac\n'
        'prev=$(cat "$p/scaling_governor" 2>/dev/null)\n'
        '{ mkdir -p "${f%/*}" && { [ -s "$f" ] || echo "$prev" > "$f"; }; } 2>/dev/null\n'
        'set_all "$want" || { echo "cannot write scaling_governor (not root?)" >&2; exit 4; }\n'
        # performance: let the clock get there before the first step is measured (<= 2 s)
        'if [ "$want" = performance ]; then i=0; while [ $i -lt 20 ] && [ "$(cat '
        '"$p/scaling_cur_freq" 2>/dev/null)" != "$(cat "$p/scaling_max_freq" 2>/dev/null)" ];'
        " do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; fi\n"
        'echo "$prev"\n'
    )
    return _run_governor_script(session, body, f"cannot set the CPU governor to {governor}")


def restore_governor(session: BoardSession) -> str | None:
    """Restore the governor named in the workdir's restore file, if there is one, and remove
    it; returns the governor restored (None: nothing to restore)."""
    body = (
        '[ -s "$f" ] || exit 0\n'
        'prev=$(head -n 1 "$f")\n'
        'case $prev in ""|*[!a-z0-9_]*) rm -f "$f"; exit 0 ;; esac\n'
        'set_all "$prev" || { echo "cannot write scaling_governor" >&2; exit 4; }\n'
        'rm -f "$f"\n'
        'echo "$prev"\n'
    )
    return _run_governor_script(session, body, "cannot restore the CPU governor")


def _run_governor_script(session: BoardSession, body: str, failure: str) -> str | None:
    """Run a governor script (with the restore file's helpers); its output's first word is
    the governor it read or set. InfrastructureError saying `failure` when it fails."""
    result = session.run(
        ["sh", "-s"],
        stdin=_governor_script(session.board.workdir, body).encode(),
        timeout_s=SNAPSHOT_TIMEOUT_S,
        check=False,
    )
    if result.exit_status != 0:
        raise InfrastructureError(
            f"{session.board.name}: {failure}: "
            + (result.stderr_text.strip() or f"exit {result.exit_status}")
        )
    return result.stdout_text.strip() or None


# -- failure diagnosis --------------------------------------------------------------------------

DIAGNOSIS_SCRIPT = (
    r"""since=${1:-0}
out=$(dmesg 2>&1); rc=$?
if [ "$rc" != 0 ]; then
  echo "dmesg-unreadable $(printf '%s' "$out" | head -n 1)"
else
  printf '%s\n' "$out" | awk -v t="$since" '{
    s = $0
    if (s ~ /^\[ *[0-9]+\.[0-9]+\]/) {
      sub(/^\[ */, "", s); split(s, a, "]"); if (a[1] + 0 < t) next
    }
    print
  }' | grep -i -E '"""
    + DMESG_PATTERN
    + r"""' | tail -n """
    + str(MAX_DMESG_LINES)
    + r""" | sed 's/^/dmesg /'
fi
for r in /sys/class/remoteproc/remoteproc*; do
  [ -r "$r/state" ] || continue
  echo "remoteproc ${r##*/} $(cat "$r/state" 2>/dev/null) $(cat "$r/firmware" 2>/dev/null)"
done
"""
)


def parse_diagnosis(text: str) -> dict[str, Any]:
    """DIAGNOSIS_SCRIPT's output: {"dmesg": [lines], "dmesg_note": why there are none,
    "remoteproc": ["remoteproc0 running ethosu_firmware", ...]}; total."""
    lines: list[str] = []
    remoteproc: list[str] = []
    note: str | None = None
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        rest = rest.strip()[:MAX_LINE_CHARS]
        if key == "dmesg" and len(lines) < MAX_DMESG_LINES:
            lines.append(rest)
        elif key == "dmesg-unreadable":
            note = f"dmesg unreadable (not root, or kernel.dmesg_restrict=1): {rest}".strip()
        elif key == "remoteproc" and rest and len(remoteproc) < 16:
            remoteproc.append(rest)
    if note is None and not lines:
        note = "no galcore/ethosu/remoteproc/oom lines in dmesg since the step began"
    return {"dmesg": lines, "dmesg_note": note, "remoteproc": remoteproc}


def diagnose(session: BoardSession, since_uptime_s: float | None) -> dict[str, Any] | None:
    """The kernel's side of a failed step: the dmesg lines since `since_uptime_s` (the board's
    /proc/uptime when the step began) filtered to the NPU, remoteproc and OOM killer, and the
    remoteproc states. None when the board could not be asked."""
    since = f"{max(0.0, (since_uptime_s or 0.0) - 1.0):.3f}"
    try:
        result = session.run(
            ["sh", "-s", "--", since],
            stdin=DIAGNOSIS_SCRIPT.encode(),
            timeout_s=SNAPSHOT_TIMEOUT_S,
            check=False,
            capture_bytes=256 * 1024,
        )
    except InfrastructureError:
        return None
    return parse_diagnosis(result.stdout_text)


def diagnosis_columns(diagnosis: dict[str, Any] | None) -> dict[str, Any]:
    if not diagnosis:
        return {"dmesg": None, "remoteproc_state": None}
    lines: Sequence[str] = diagnosis.get("dmesg") or []
    return {
        "dmesg": "\n".join(lines) if lines else diagnosis.get("dmesg_note"),
        "remoteproc_state": "; ".join(diagnosis.get("remoteproc") or []) or None,
    }
