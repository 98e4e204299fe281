"""The report's view model, reference part: board facts, run settings, failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from imxbench.model.facts import BoardFacts
from imxbench.report.data import Failure, RunMeta

SETTING_LABELS = {
    "repetitions": "repetitions (benchmark_model processes per cell)",
    "num_runs": "--num_runs",
    "warmup_runs": "--warmup_runs",
    "min_secs": "--min_secs",
    "threads": "CPU threads (blank: 1 and all cores)",
}


def _text(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def facts_view(
    facts: Mapping[str, Mapping[str, Any]], emulated: frozenset[str]
) -> list[dict[str, Any]]:
    """One block per board: the probe facts that explain its numbers."""
    out = []
    for board, raw in facts.items():
        info = BoardFacts(dict(raw))
        npu = [d for d, ok in (raw.get("npu_devices") or {}).items() if ok]
        libraries = [
            f"{path} (sha256 {(sha or '?')[:12]})" for path, sha in info.delegate_libraries.items()
        ]
        temperature = raw.get("temperature_mc")
        items = [
            ("SoC", f"{_text(raw.get('soc_id'))} rev {_text(raw.get('soc_revision'))}"),
            ("machine", _text(raw.get("machine"))),
            ("OS", _text((raw.get("os_release") or {}).get("pretty_name"))),
            ("kernel", _text(raw.get("kernel"))),
            ("TFLite", _text(info.tflite_version)),
            ("benchmark_model", _text(info.benchmark_model)),
            ("delegate libraries", ", ".join(libraries) or "none"),
            ("NPU devices", ", ".join(npu) or "none"),
            (
                "CPUs",
                f"{_text(raw.get('cpu_count'))} · governor {_text(raw.get('cpufreq_governor'))}"
                f" · max {_khz(raw.get('cpu_max_khz'))}",
            ),
            (
                "temperature",
                f"{temperature / 1000:.1f} °C" if isinstance(temperature, int | float) else "–",
            ),
            ("memory available", _kb(raw.get("mem_available_kb"))),
            ("BSP (os-release VERSION_ID)", _text(info.bsp_version_id)),
            ("Vela on the board", _text(info.vela_version)),
            ("hostname", _text(raw.get("hostname"))),
        ]
        out.append(
            {
                "board": board,
                "emulated": board in emulated,
                "rows": [{"label": k, "value": v} for k, v in items],
            }
        )
    return out


def _khz(value: Any) -> str:
    return f"{value / 1e6:.2f} GHz" if isinstance(value, int | float) else "–"


def _kb(value: Any) -> str:
    return f"{value / 1024 / 1024:.1f} GiB" if isinstance(value, int | float) else "–"


def settings_view(run: RunMeta) -> list[dict[str, str]]:
    items = [
        ("run id", run.run_id),
        ("started", _text(run.started)),
        ("status", _text(run.status)),
        ("model", _text(run.model)),
        ("boards", ", ".join(run.boards) or "–"),
        ("emulated boards requested (--emulate)", _text(run.emulated)),
    ]
    for key, value in run.settings.items():
        items.append((SETTING_LABELS.get(key, key), _text(value)))
    items.append(("directory", str(run.path)))
    return [{"label": k, "value": v} for k, v in items]


def _rows(results: pd.DataFrame | None, *columns: str) -> list[dict[str, Any]]:
    if results is None or results.empty or not set(columns) <= set(results.columns):
        return []
    return [
        {k: (None if _missing(v) else v) for k, v in row.items()}
        for row in results.to_dict(orient="records")
    ]


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _step_key(board: Any, cell: Any, kind: Any, repetition: Any) -> tuple[str, str, str, int]:
    try:
        rep = int(repetition or 0)
    except (TypeError, ValueError):
        rep = 0
    return (str(board), str(cell), str(kind), rep)


def throttled_steps(results: pd.DataFrame | None) -> dict[tuple[str, str], int]:
    """(board, cell) -> the number of its steps that ran throttled."""
    out: dict[tuple[str, str], int] = {}
    for row in _rows(results, "throttled"):
        if row.get("throttled") is True or row.get("throttled") == 1:
            key = (str(row.get("board")), str(row.get("cell")))
            out[key] = out.get(key, 0) + 1
    return out


def clocks_view(results: pd.DataFrame | None) -> dict[str, Any]:
    """The clock and thermal section: every throttled step with why, the governor the run set,
    the BSP and both Velas (host, board) per board."""
    rows = _rows(results, "throttled")
    throttled = [
        {
            "board": str(r.get("board")),
            "cell": str(r.get("cell")),
            "step": _step_label(r.get("kind"), r.get("repetition")),
            "reason": _text(r.get("throttle_reason")),
            "freq": f"{_mhz(r.get('cpu_freq_khz_before'))} → {_mhz(r.get('cpu_freq_khz_after'))}",
            "temp": f"{_deg(r.get('temp_c_before'))} → {_deg(r.get('temp_c_after'))}",
        }
        for r in rows
        if r.get("throttled") is True or r.get("throttled") == 1
    ]
    boards: dict[str, dict[str, str]] = {}
    for r in rows:
        board = boards.setdefault(str(r.get("board")), {"board": str(r.get("board"))})
        for key in ("cpu_governor_set", "bsp_version_id", "vela_board", "npu_route"):
            if r.get(key) and key not in board:
                board[key] = str(r[key])
        if r.get("vela_compiled_on") == "board":  # --vela-on board: the board's own Vela
            board["vela_host"] = "– (compiled on the board)"
        if r.get("vela_host"):
            board["vela_host"] = str(r["vela_host"])
            if r.get("vela_mismatch") is True:
                board["vela_mismatch"] = "yes"
        if r.get("npu_route") and str(r.get("delegate")) != "cpu":
            board["npu_route"] = f"{r.get('cell')}: {r['npu_route']}"
    return {
        "measured": bool(rows) and any(r.get("temp_c_before") is not None for r in rows),
        "throttled": throttled,
        "boards": [
            {
                "board": b["board"],
                "governor": b.get("cpu_governor_set") or "as the board had it",
                "bsp": b.get("bsp_version_id", "–"),
                "vela": f"host {b.get('vela_host', '–')} · board {b.get('vela_board', '–')}"
                + (" · MISMATCH (major.minor)" if b.get("vela_mismatch") else ""),
                "route": b.get("npu_route", "–"),
            }
            for b in boards.values()
        ],
    }


def npu_profile_view(results: pd.DataFrame | None) -> list[dict[str, Any]]:
    """`--npu-profile`: per profile step, the Ethos-U delegate's cycle counter (median, range,
    how many inferences), its PMU counters (median per event) and its last qread table: the
    NPU cycle count reached at each command-stream position (and the cycles since the row
    before), as the delegate prints them (analysis/npu_profile.py)."""
    import json

    out = []
    for r in _rows(results, "npu_profile"):
        text = r.get("npu_profile")
        try:
            doc = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            continue
        qread, previous = [], 0
        for row in doc.get("qread") or []:
            cycles = int(row.get("cycle_count") or 0)
            qread.append(
                {
                    "index": row.get("index"),
                    "qread": f"0x{int(row.get('qread') or 0):x}",
                    "status": f"0x{int(row.get('status') or 0):x}",
                    "cycles": f"{cycles:,}",
                    "delta": f"{cycles - previous:,}",
                }
            )
            previous = cycles
        pmu = doc.get("pmu_median") or {}
        low, high = doc.get("cycles_min"), doc.get("cycles_max")
        out.append(
            {
                "board": str(r.get("board")),
                "cell": str(r.get("cell")),
                "inferences": doc.get("inferences") or 0,
                "cycles": (
                    f"{doc['cycles_median']:,} (min {low:,}, max {high:,})"
                    if isinstance(doc.get("cycles_median"), int)
                    and isinstance(low, int)
                    and isinstance(high, int)
                    else "–"
                ),
                "pmu": " · ".join(f"{k} {v:,}" for k, v in pmu.items() if isinstance(v, int))
                or "–",
                "qread": qread,
                "too_small": bool(doc.get("buffer_too_small")),
            }
        )
    return out


def _step_label(kind: Any, repetition: Any) -> str:
    return f"{kind} {repetition}" if kind == "timed" and repetition else str(kind or "–")


def _mhz(value: Any) -> str:
    return f"{value / 1000:.0f} MHz" if isinstance(value, int | float) else "–"


def _deg(value: Any) -> str:
    return f"{value:.1f} °C" if isinstance(value, int | float) else "–"


def failures_view(
    failures: Sequence[Failure], results: pd.DataFrame | None = None
) -> list[dict[str, str]]:
    kernel = {
        _step_key(r.get("board"), r.get("cell"), r.get("kind"), r.get("repetition")): r
        for r in _rows(results, "dmesg")
        if r.get("status") != "ok"
    }
    return [
        {
            "board": f.board,
            "cell": f.cell or "whole board",
            "step": (
                f"{f.kind} {f.repetition}"
                if f.kind == "timed" and f.repetition
                else (f.kind or "–")
            ),
            "error": f.error,
            "stderr_tail": f.stderr_tail or "",
            "log_file": f.log_file or "",
            **_kernel_side(kernel.get(_step_key(f.board, f.cell, f.kind, f.repetition))),
        }
        for f in failures
    ]


def _kernel_side(row: Mapping[str, Any] | None) -> dict[str, str]:
    """A failed step's dmesg lines (galcore/ethosu/remoteproc/oom since the step began, or why
    there are none) and remoteproc state."""
    if row is None:
        return {"dmesg": "", "remoteproc": ""}
    return {
        "dmesg": str(row.get("dmesg") or ""),
        "remoteproc": str(row.get("remoteproc_state") or ""),
    }
