"""Parse the console output of TFLite's `benchmark_model` into `BenchmarkRun` records.

Pure: no I/O, and `parse_log` never raises on any `str`. Proven on the real logs in
`tests/fixtures/benchmark_model/` (tests/unit/test_benchmark_log.py; sources and licences in its
INDEX.md). The line shapes of every TFLite version are in TFLite's benchmark tool sources.

Public API: `parse_log(text) -> list[BenchmarkRun]`, `runs_to_json(runs) -> list[dict]`,
`BenchmarkRun` (and the `DelegateUse` / `OpTypeTiming` rows it holds).

Cleaning. NUL bytes and ANSI colour sequences are dropped; lines split on any line break
(CRLF, CR, LF); trailing blanks are stripped. A kernel message with a dmesg timestamp
(`[  123.456] ...`, at least 3 decimals) that breaks *into* a line is cut out, and the rest of
the interrupted line, which the console prints on the next line, is joined back on. Every
pattern is searched anywhere in a line, so a shell prompt, a damaged or missing `INFO: ` prefix
or other text before it does not matter. Lines the parser does not know (driver spam, `set -x`
traces, label_image output) are ignored.

Splitting. A run starts at each line containing `STARTING!` and runs to the next one. Text
before the first `STARTING!` (or the whole text, when there is none) becomes a run only if it
holds at least one line this parser extracts something from (a summary, a `count=` line, a
memory line, a delegate line, a failure marker, an op table...) or one only benchmark_model
prints (`Log parameter values verbosely`, `The input model file size`, a `Profiling Info`
heading); otherwise it is dropped, so `ldd` output or a label_image run before the benchmark
adds nothing, and a text with nothing benchmark-like at all gives an EMPTY LIST. A `STARTING!`
run is always kept, even if empty.

Fields (None where absent; times in microseconds, memory in MB, counts as ints):

* `graph`: the path in `Graph: [...]`.
* The summary line, `Inference timings in us: Init: I, First inference: F, Warmup (avg): W,
  Inference (avg): A` (about 2.1 on), or the old `Average inference timings in us: Warmup: W,
  Init: I, no stats: A` (or `Inference: A`), gives `init_us`, `first_inference_us`,
  `warmup_avg_us` and `inference_avg_us`. The first summary line holding an inference average
  is used. A summary value counts only when a comma ends it or, for the inference average
  (every format's last field), when it is the whole rest of the line: a line cut short or
  broken into gives no value, never a shortened one. Where the summary lacks a value (old
  builds, lost or truncated lines): `init_us` falls back to `Initialized session in X ms`
  (x 1000, so rounded to 6 significant digits), `first_inference_us` / `warmup_avg_us` to the
  warm-up `count=` line's `first` / `avg`, `inference_avg_us` to the regular `count=` line's
  `avg`.
* `inference_count/std/min/max/p5/median/p95`: the `count=N first= curr= min= max= avg= std=
  [p5= median= p95=]` line of the REGULAR runs phase. With a summary line it is the last such
  line before the summary. Without one, phases are told apart by the `Running benchmark for ...`
  headers (the second header opens the regular phase) or, with no header at all, by order (the
  second `count=` line). `Timings (microseconds): count=...` lines of the op tables never count.
  A single-run phase prints only `count=1 curr=X`, and a phase whose samples were all equal
  `count=N curr=X(all same)`: then min = max = avg = first = X, std = 0. The last value of a
  `count=` line counts only when it is one a whole line ends with (`std=`, `p95=`, or the
  `curr=` of those two shapes): a line cut short loses its last value, not its accuracy.
* `memory_init_mb`, `memory_overall_mb`: `Peak memory footprint (MB): init=.. overall=..`
  (about 2.2-2.6) or `Memory footprint delta from the start of the tool (MB): init=..
  overall=..` (2.8 on); an empty value is None. `memory_peak_mb`: `Overall peak memory
  footprint (MB) via periodic monitoring: X`.
* `delegates`: one entry per `Explicitly applied X delegate, and the model graph will be
  completely executed ...` (execution "full", kernels 1: the tool prints "completely" only when
  the execution plan is exactly one delegate kernel), `... partially executed by the delegate
  w/ K delegate kernels.` ("partial", K) or `Though X delegate is explicitly applied, ... not be
  executed ...` ("none", 0) line, named as printed (`EXTERNAL`, `XNNPACK`, `NNAPI`, `GPU`...).
  Only when a run has none of those lines (a default XNNPACK delegate, label_image output, an
  old build), each partition report makes an entry instead: `Replacing N out of M node(s) with
  delegate (D) node, yielding K partitions` (name D) or `EthosuDelegate: N nodes delegated out
  of M nodes with K partitions` (name EthosuDelegate); execution "none" if N = 0, "full" if
  N = M, else "partial"; kernels K. The old `Replacing N node(s) with delegate ...` (no M) and
  `Applied X delegate.` lines say nothing about how much ran on the delegate and are not used.
* `op_profile`: see `benchmark_log_profile` (None: no table; []: table with no rows).

Status and error. `error` holds the failure lines, each from its marker to the end of the line
(log-level prefixes and shell noise before the marker dropped), joined by newlines, in order.
Fatal markers: `Benchmarking failed`, `Failed to apply X delegate`, `Disallowed CPU fallback
detected`, `Failed to allocate tensors`, `Failed to construct interpreter`, `Failed to load/mmap
model`, `Node number N (...) failed to prepare/invoke`, `Failed to invoke`, `Encountered
unresolved custom op`, the Ethos-U delegate's errors, `terminate called after throwing`, and the
shell's `Segmentation fault`, `Aborted`, `Killed`, `Terminated`, `Bus error`, `Illegal
instruction`, `Floating point exception`. Soft marker: `Unable to load external delegate` (the
tool goes on without the delegate and still prints `EXTERNAL delegate created.`).

* "failed": a fatal marker is present, or a soft one while the run has no inference timings
  (neither a summary nor a regular-phase `count=` line). Timings found are still reported.
* "ok": otherwise, when the summary line's inference average was parsed. `error` may still
  hold a soft marker: the timings are real but the delegate was not used.
* "incomplete": anything else (a truncated log, a summary line lost to noise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from imxbench.analysis.op_profile import (
    OpTypeTiming,
    leading_float,
    parse_float,
    parse_int,
    parse_op_profile,
)

__all__ = [
    "BenchmarkRun",
    "DelegateUse",
    "OpTypeTiming",
    "parse_log",
    "runs_to_json",
    "timed_first_us",
]

Status = Literal["ok", "failed", "incomplete"]
Execution = Literal["full", "partial", "none"]

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_KERNEL_STAMP_RE = re.compile(r"\[\s*\d+\.\d{3,}\]\s")
_MAX_JOINED_LINE_CHARS = 65536
_SESSION_RE = re.compile(r"Initialized session in ([-+.\deE]+)\s*ms")
_SUMMARY_RE = re.compile(r"(?:Average )?[Ii]nference timings in us:")
_MEMORY_RE = re.compile(
    r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\):"
    r"\s*init=(\S*)\s+overall=(\S*)"
)
_PEAK_MEMORY_RE = re.compile(r"via periodic monitoring:\s*(\S+)")
_EXPLICIT_RE = re.compile(
    r"Explicitly applied (.{1,80}?) delegate, and the model graph will be (completely|partially)"
    r" executed(?: by the delegate w/ (\d+) delegate kernels)?"
)
_NOT_USED_RE = re.compile(r"Though (.{1,80}?) delegate is explicitly applied")
_REPLACING_RE = re.compile(
    r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]{1,80})\) node,"
    r" yielding (\d+) partition"
)
_NODES_DELEGATED_RE = re.compile(
    r"\b(\w+)(?: delegate)?: (\d+) nodes delegated out of (\d+) nodes with (\d+) partition"
)
_FATAL_RE = re.compile(
    r"Benchmarking failed|Failed to apply \S+ delegate|Disallowed CPU fallback detected"
    r"|Failed to allocate tensors|Failed to construct interpreter|Failed to (?:load|mmap) model"
    r"|Node number \d+ \([^)]{0,80}\) failed to (?:prepare|invoke)|Failed to invoke"
    r"|Encountered unresolved custom op|Failed to (?:create|alloc) ethos_u"
    r"|Unsupported vela compiled model|Ethos_u inference failed|terminate called after throwing"
    r"|Segmentation fault|\bAborted\b|\bKilled\b|\bTerminated\b|Bus error|Illegal instruction"
    r"|Floating point exception"
)
_SOFT_FAILURE_RE = re.compile(r"Unable to load external delegate")
# Lines only benchmark_model prints: they make a text benchmark-like even when nothing is extracted.
_TOOL_SIGNATURES = ("Log parameter values verbosely", "The input model file size", "Profiling Info")
# Cheap substring gates: a line containing none of these cannot hold a failure marker.
_FAILURE_HINTS = (
    "ailed",
    "Disallowed",
    "fault",
    "Abort",
    "Kill",
    "Termin",
    "error",
    "Illegal",
    "exception",
    "Encountered",
    "Unsupported",
    "terminate",
    "Unable",
)

_LAST_STAT_KEYS = ("std", "p95")
"""The keys a whole `count=` line ends with (`count=1 curr=X` and `curr=X(all same)` aside)."""

_SUMMARY_KEYS = {
    "Init": "init",
    "First inference": "first",
    "Warmup (avg)": "warmup",
    "Warmup": "warmup",
    "Inference (avg)": "inference",
    "Inference": "inference",
    "no stats": "inference",
}


@dataclass(frozen=True)
class DelegateUse:
    """How much of the graph one delegate took: `execution` full/partial/none, `kernels`."""

    name: str
    execution: Execution
    kernels: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: `{name, execution, kernels}`."""
        return asdict(self)


@dataclass(frozen=True)
class BenchmarkRun:
    """One benchmark_model invocation as parsed from its console output (see module doc).

    Times are microseconds (`_us`), memory megabytes (`_mb`); None where the log lacks them.
    """

    status: Status
    error: str | None = None
    graph: str | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    inference_std_us: float | None = None
    inference_min_us: float | None = None
    inference_max_us: float | None = None
    inference_count: int | None = None
    inference_p5_us: float | None = None
    inference_median_us: float | None = None
    inference_p95_us: float | None = None
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    memory_peak_mb: float | None = None
    delegates: tuple[DelegateUse, ...] = ()
    op_profile: tuple[OpTypeTiming, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: every field by name; `delegates` and `op_profile` as lists of
        dicts (`delegates` is [] when no delegate line was seen, `op_profile` None when no
        table was printed)."""
        result = {f.name: getattr(self, f.name) for f in fields(self)}
        result["delegates"] = [delegate.to_dict() for delegate in self.delegates]
        if self.op_profile is not None:
            result["op_profile"] = [row.to_dict() for row in self.op_profile]
        return result


def runs_to_json(runs: Iterable[BenchmarkRun]) -> list[dict[str, Any]]:
    """The JSON-ready form of `runs` (one `BenchmarkRun.to_dict()` per run)."""
    return [run.to_dict() for run in runs]


def parse_log(text: str) -> list[BenchmarkRun]:
    """Every benchmark_model run in `text` (splitting rule: module doc). Never raises."""
    lines = _clean_lines(text)
    starts = [index for index, line in enumerate(lines) if "STARTING!" in line]
    runs: list[BenchmarkRun] = []
    head_scan = _scan(lines[: starts[0]] if starts else lines)
    if not head_scan.is_empty():
        runs.append(head_scan.to_run())
    ends = [*starts[1:], len(lines)] if starts else []
    runs.extend(_scan(lines[begin:end]).to_run() for begin, end in zip(starts, ends, strict=True))
    return runs


def timed_first_us(text: str) -> float | None:
    """The first timed inference (the regular phase's `first=`) of the last run in `text`, µs;
    None where it was not printed. Adaptive sampling's warm-up check (analysis/sampling.py)."""
    lines = _clean_lines(text)
    starts = [index for index, line in enumerate(lines) if "STARTING!" in line]
    scan = _scan(lines[starts[-1] :] if starts else lines)
    regular, _ = scan._phases(scan._summary()[0])
    return regular.values.get("first") if regular is not None else None


def _clean_lines(text: str) -> list[str]:
    """Lines without NULs or trailing blanks, with mid-line kernel messages cut out."""
    lines: list[str] = []
    pending = ""  # the first part of a line a kernel message broke into
    text = text.replace("\x00", "")
    if "\x1b" in text:  # a terminal's or serial console's colours
        text = _ANSI_RE.sub("", text)
    for raw in text.splitlines():
        line = pending + raw
        search_from = max(0, len(pending) - 32)
        stamp = _KERNEL_STAMP_RE.search(line, search_from) if "]" in raw else None
        if (
            stamp is not None
            and line[: stamp.start()].strip()
            and stamp.start() < _MAX_JOINED_LINE_CHARS
        ):
            pending = line[: stamp.start()]
            continue
        pending = ""
        lines.append(line.rstrip())
    if pending:
        lines.append(pending.rstrip())
    return lines


@dataclass(frozen=True)
class _PhaseStats:
    """One `count=... curr=...` line; `headers_seen` counts `Running benchmark` lines before."""

    line_index: int
    headers_seen: int
    count: int | None
    values: dict[str, float]


@dataclass
class _Scan:
    """What one pass over a run's lines found, before the run-level rules are applied."""

    graph: str | None = None
    session_init_us: float | None = None
    summaries: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    phase_stats: list[_PhaseStats] = field(default_factory=list)
    headers_seen: int = 0
    tool_signature_seen: bool = False
    memory: tuple[float | None, float | None] | None = None
    memory_peak_mb: float | None = None
    explicit_delegates: list[DelegateUse] = field(default_factory=list)
    reported_delegates: list[DelegateUse] = field(default_factory=list)
    failures: list[tuple[str, bool]] = field(default_factory=list)  # (text, fatal)
    op_profile: tuple[OpTypeTiming, ...] | None = None

    def is_empty(self) -> bool:
        """True when nothing benchmark-like was found."""
        return not (
            self.graph is not None
            or self.session_init_us is not None
            or self.summaries
            or self.phase_stats
            or self.headers_seen
            or self.tool_signature_seen
            or self.memory is not None
            or self.memory_peak_mb is not None
            or self.explicit_delegates
            or self.reported_delegates
            or self.failures
            or self.op_profile is not None
        )

    def to_run(self) -> BenchmarkRun:
        """Apply the summary, phase, status and delegate rules of the module doc."""
        summary_index, summary = self._summary()
        regular, warmup = self._phases(summary_index)
        regular_values = regular.values if regular is not None else {}
        warmup_values = warmup.values if warmup is not None else {}
        inference_avg_us = summary.get("inference", regular_values.get("avg"))
        memory_init_mb, memory_overall_mb = self.memory or (None, None)
        fatal = any(is_fatal for _, is_fatal in self.failures)
        soft = any(not is_fatal for _, is_fatal in self.failures)
        status: Status = "incomplete"
        if fatal or (soft and "inference" not in summary and regular is None):
            status = "failed"
        elif "inference" in summary:
            status = "ok"
        return BenchmarkRun(
            status=status,
            error="\n".join(text for text, _ in self.failures) or None,
            graph=self.graph,
            init_us=summary.get("init", self.session_init_us),
            first_inference_us=summary.get("first", warmup_values.get("first")),
            warmup_avg_us=summary.get("warmup", warmup_values.get("avg")),
            inference_avg_us=inference_avg_us,
            inference_std_us=regular_values.get("std"),
            inference_min_us=regular_values.get("min"),
            inference_max_us=regular_values.get("max"),
            inference_count=regular.count if regular is not None else None,
            inference_p5_us=regular_values.get("p5"),
            inference_median_us=regular_values.get("median"),
            inference_p95_us=regular_values.get("p95"),
            memory_init_mb=memory_init_mb,
            memory_overall_mb=memory_overall_mb,
            memory_peak_mb=self.memory_peak_mb,
            delegates=tuple(self.explicit_delegates or self.reported_delegates),
            op_profile=self.op_profile,
        )

    def _summary(self) -> tuple[int | None, dict[str, float]]:
        """The first summary line with an inference average, else the first one at all."""
        for index, values in self.summaries:
            if "inference" in values:
                return index, values
        if self.summaries:
            return self.summaries[0]
        return None, {}

    def _phases(self, summary_index: int | None) -> tuple[_PhaseStats | None, _PhaseStats | None]:
        """The (regular, warm-up) `count=` lines, by the phase rule of the module doc."""
        candidates = [
            stats
            for stats in self.phase_stats
            if summary_index is None or stats.line_index < summary_index
        ]
        phases = [
            min(stats.headers_seen, 2) - 1 if stats.headers_seen else min(position, 1)
            for position, stats in enumerate(candidates)
        ]
        regular: _PhaseStats | None = None
        if summary_index is not None and candidates:
            regular = candidates[-1]
        elif summary_index is None:
            regular = next(
                (s for s, p in zip(reversed(candidates), reversed(phases), strict=True) if p),
                None,
            )
        warmup = next(
            (
                stats
                for stats, phase in zip(reversed(candidates), reversed(phases), strict=True)
                if phase == 0 and stats is not regular
            ),
            None,
        )
        return regular, warmup


def _scan(lines: Sequence[str]) -> _Scan:
    """One pass over a run's lines, recording every line shape the parser knows."""
    scan = _Scan()
    for index, line in enumerate(lines):
        if "count=" in line and "Timings (" not in line and "Memory (bytes)" not in line:
            stats = _parse_phase_stats(line, index, scan.headers_seen)
            if stats is not None:
                scan.phase_stats.append(stats)
        if "Running benchmark for" in line:
            scan.headers_seen += 1
        if not scan.tool_signature_seen and any(sig in line for sig in _TOOL_SIGNATURES):
            scan.tool_signature_seen = True
        if "timings in us:" in line:
            summary = _parse_summary(line)
            if summary is not None:
                scan.summaries.append((index, summary))
        if "Graph: [" in line and scan.graph is None:
            scan.graph = _graph_path(line)
        if "Initialized session in" in line and scan.session_init_us is None:
            session = _SESSION_RE.search(line)
            session_ms = parse_float(session.group(1)) if session is not None else None
            scan.session_init_us = round(session_ms * 1000.0, 3) if session_ms is not None else None
        if "(MB)" in line:
            _scan_memory(line, scan)
        if "delegate" in line or "Delegate" in line:
            _scan_delegates(line, scan)
        if any(hint in line for hint in _FAILURE_HINTS):
            _scan_failures(line, scan)
    scan.op_profile = parse_op_profile(lines)
    return scan


def _graph_path(line: str) -> str | None:
    """The path in `Graph: [<path>]` (up to the last `]`), or None when the `]` is lost."""
    value = line[line.find("Graph: [") + len("Graph: [") :]
    end = value.rfind("]")
    return value[:end] if end >= 0 else None


def _parse_phase_stats(line: str, index: int, headers_seen: int) -> _PhaseStats | None:
    """A `count=N first=.. curr=.. min=.. max=.. avg=.. std=.. [p5= median= p95=]` line."""
    # tsl::Stat prints `count=N curr=X(all same)` when every sample was equal.
    all_same = "(all same)" in line
    tokens = line[line.find("count=") :].replace("(all same)", " ").split()
    raw: dict[str, str] = {}
    last_key = ""
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep:
            raw.setdefault(key, value)
            last_key = key
    count = parse_int(raw.get("count", ""))
    if last_key not in _LAST_STAT_KEYS and not (last_key == "curr" and (count == 1 or all_same)):
        # A line cut short ("max=25" of max=2586): its last value may be cut too; drop it.
        raw.pop(last_key, None)
    values: dict[str, float] = {}
    for key in ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95"):
        number = parse_float(raw.get(key, ""))
        if number is not None:
            values[key] = number
    if count is None or "curr" not in values:
        return None
    if count == 1 or all_same:
        for key in ("first", "min", "max", "avg"):
            values.setdefault(key, values["curr"])
        values.setdefault("std", 0.0)
    return _PhaseStats(line_index=index, headers_seen=headers_seen, count=count, values=values)


def _parse_summary(line: str) -> dict[str, float] | None:
    """`Init`/`First inference`/`Warmup`/`Inference` values of a summary line, in us."""
    match = _SUMMARY_RE.search(line)
    if match is None:
        return None
    values: dict[str, float] = {}
    pieces = line[match.end() :].split(",")
    for position, piece in enumerate(pieces, start=1):
        key, sep, raw_value = piece.partition(":")
        name = _SUMMARY_KEYS.get(key.strip())
        if position == len(pieces):
            # The line's last value is only trusted as the inference average (the last field of
            # every summary format) written out whole: a line cut short ("First inference: 46"
            # of 4625131) or broken into must not give a made-up number.
            number = parse_float(raw_value.strip()) if name == "inference" else None
        else:
            number = leading_float(raw_value) if sep else None
        if name is not None and number is not None:
            values.setdefault(name, number)
    return values


def _scan_memory(line: str, scan: _Scan) -> None:
    """The footprint line (init/overall) and the periodic-monitoring peak line."""
    memory = _MEMORY_RE.search(line)
    if memory is not None and scan.memory is None:
        scan.memory = (parse_float(memory.group(1)), parse_float(memory.group(2)))
    peak = _PEAK_MEMORY_RE.search(line) if "peak memory footprint" in line else None
    if peak is not None and scan.memory_peak_mb is None:
        scan.memory_peak_mb = leading_float(peak.group(1))


def _scan_delegates(line: str, scan: _Scan) -> None:
    """Explicit delegate verdicts, and partition reports (used only without a verdict)."""
    explicit = _EXPLICIT_RE.search(line)
    if explicit is not None:
        name, extent, kernels = explicit.groups()
        if extent == "completely":
            scan.explicit_delegates.append(DelegateUse(name, "full", 1))
        else:
            scan.explicit_delegates.append(DelegateUse(name, "partial", parse_int(kernels or "")))
    not_used = _NOT_USED_RE.search(line)
    if not_used is not None:
        scan.explicit_delegates.append(DelegateUse(not_used.group(1), "none", 0))
    replacing = _REPLACING_RE.search(line)
    if replacing is not None:
        replaced, total, name, partitions = replacing.groups()
        scan.reported_delegates.append(_reported_use(name, replaced, total, partitions))
    delegated = _NODES_DELEGATED_RE.search(line)
    if delegated is not None:
        name, replaced, total, partitions = delegated.groups()
        scan.reported_delegates.append(_reported_use(name, replaced, total, partitions))


def _reported_use(name: str, replaced: str, total: str, partitions: str) -> DelegateUse:
    """A `DelegateUse` from a partition report: N of M nodes in K partitions."""
    replaced_nodes, total_nodes = parse_int(replaced), parse_int(total)
    execution: Execution = "partial"
    if replaced_nodes == 0:
        execution = "none"
    elif replaced_nodes == total_nodes:
        execution = "full"
    return DelegateUse(name, execution, parse_int(partitions))


def _scan_failures(line: str, scan: _Scan) -> None:
    """A failure marker, kept from the marker to the end of the line."""
    marker = _FATAL_RE.search(line)
    if marker is not None:
        scan.failures.append((line[marker.start() :].strip(), True))
        return
    marker = _SOFT_FAILURE_RE.search(line)
    if marker is not None:
        scan.failures.append((line[marker.start() :].strip(), False))
