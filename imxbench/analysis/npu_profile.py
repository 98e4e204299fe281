"""Parse the NPU delegates' own profiling output (`run --npu-profile`) from a benchmark_model log.

Pure: no I/O; `parse_npu_profile` never raises on any `str` and ignores every line it does not
know. The Ethos-U delegate (nxp-imx/tflite-ethosu-delegate-imx, `ethosu_delegate.cc`
`EthosuDelegateKernel::Eval`, identical on branches lf-6.1.22_2.0.0 ... lf-6.6.3_1.0.0, commit
6fb32a1; `external_delegate_adaptor.cc` for the option echo) prints to stdout, after every
inference and for every `ethos-u` operation it ran:

    Ethos_u PMUs : [ 1234 567 89 10 ]            (pmu_event0..3 configured: one count each,
                                                  the non-zero events in order)
    Ethos-u cycle counter: 123456                 (enable_cycle_counter, or enable_profiling)
    Ethos_u qread profiling data.                 (enable_profiling: one row per qread event)
    index:0,qread:0x1c,status:0x0,cycle count:4321
    Ethos_u profiling_buffer_size is too small, please set a larger number

and at creation `Ethosu delegate: pmu_eventN set to E.` (the configured event numbers). The
qread rows are the command stream's read position (`qread`, hex) with the NPU cycle counter
when it was reached: per NPU command, not per TFLite operator name; they are kept as printed.

The VX delegate's driver-level timings (`VIV_VX_DEBUG_LEVEL=1 CNN_PERF=1`, NXP_FACTS §3, §10)
are not parsed: their line format is not established in our sources; the step's log keeps them.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_PMUS = re.compile(r"Ethos_u PMUs : \[((?:\s+\d+)*)\s*\]")
_CYCLES = re.compile(r"Ethos-u cycle counter: (\d+)")
_QREAD_HEADER = "Ethos_u qread profiling data."
_QREAD_ROW = re.compile(
    r"index:(\d+),qread:0x([0-9a-fA-F]+),status:0x([0-9a-fA-F]+),cycle count:(\d+)"
)
_TOO_SMALL = "Ethos_u profiling_buffer_size is too small"
_EVENT_ECHO = re.compile(r"Ethosu delegate: pmu_event([0-3]) set to (\d+)\.")
MAX_SAMPLES = 100_000
"""At most this many counter lines are kept (a log is bounded already; this bounds memory)."""


@dataclass(frozen=True)
class QreadRow:
    """One row of the delegate's qread profile: command-stream position and NPU cycles."""

    index: int
    qread: int
    status: int
    cycle_count: int

    def to_dict(self) -> dict[str, int]:
        return {
            "index": self.index,
            "qread": self.qread,
            "status": self.status,
            "cycle_count": self.cycle_count,
        }


@dataclass(frozen=True)
class NpuProfile:
    """What the delegate's profiling printed over one benchmark_model process."""

    cycle_counts: tuple[int, ...] = ()
    """`Ethos-u cycle counter` values, one per inference (and per ethos-u operation)."""
    pmu_events: tuple[int, ...] = ()
    """The configured PMU event numbers (pmu_event0..3, zeros dropped), as echoed."""
    pmu_counts: tuple[tuple[int, ...], ...] = ()
    """`Ethos_u PMUs` per inference: one count per configured event."""
    qread: tuple[QreadRow, ...] = ()
    """The last complete qread table printed (the last inference's)."""
    qread_tables: int = 0
    buffer_too_small: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.cycle_counts or self.pmu_counts or self.qread or self.buffer_too_small)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document kept in results (`npu_profile`): summaries and the last table."""
        events = list(self.pmu_events)
        per_event: dict[str, int] = {}
        for position in range(max((len(c) for c in self.pmu_counts), default=0)):
            values = [c[position] for c in self.pmu_counts if len(c) > position]
            name = f"event{events[position]}" if position < len(events) else f"pmu{position}"
            per_event[name] = int(statistics.median(values))
        return {
            "format": 1,
            "source": "ethos-u delegate",
            "inferences": len(self.cycle_counts),
            "cycles_median": _median(self.cycle_counts),
            "cycles_min": min(self.cycle_counts) if self.cycle_counts else None,
            "cycles_max": max(self.cycle_counts) if self.cycle_counts else None,
            "pmu_events": events,
            "pmu_median": per_event,
            "qread": [row.to_dict() for row in self.qread],
            "qread_tables": self.qread_tables,
            "buffer_too_small": self.buffer_too_small,
        }


def _median(values: Sequence[int]) -> int | None:
    return int(statistics.median(values)) if values else None


def parse_npu_profile(text: str) -> NpuProfile | None:
    """The delegate profiling in `text`, or None when it printed none."""
    cycles: list[int] = []
    pmus: list[tuple[int, ...]] = []
    events: dict[int, int] = {}
    last_table: list[QreadRow] = []
    table: list[QreadRow] | None = None
    tables = 0
    too_small = False
    for line in text.replace("\0", "").splitlines():
        if _QREAD_HEADER in line:
            if table:
                last_table, tables = table, tables + 1
            table = []
            continue
        row = _QREAD_ROW.search(line)
        if row is not None:
            if table is not None and len(table) < MAX_SAMPLES:
                table.append(QreadRow(int(row[1]), int(row[2], 16), int(row[3], 16), int(row[4])))
            continue
        counter = _CYCLES.search(line) or _PMUS.search(line)
        if counter is not None and table:  # the next inference's counters end the table
            last_table, tables, table = table, tables + 1, None
        if (match := _CYCLES.search(line)) is not None:
            if len(cycles) < MAX_SAMPLES:
                cycles.append(int(match[1]))
        elif (match := _PMUS.search(line)) is not None:
            if len(pmus) < MAX_SAMPLES:
                pmus.append(tuple(int(v) for v in match[1].split()))
        elif (match := _EVENT_ECHO.search(line)) is not None:
            events[int(match[1])] = int(match[2])
        elif _TOO_SMALL in line:
            too_small = True
    if table:
        last_table, tables = table, tables + 1
    profile = NpuProfile(
        cycle_counts=tuple(cycles),
        pmu_events=tuple(e for _, e in sorted(events.items()) if e != 0),
        pmu_counts=tuple(pmus),
        qread=tuple(last_table),
        qread_tables=tables,
        buffer_too_small=too_small,
    )
    return None if profile.empty else profile
