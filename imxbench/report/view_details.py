"""The report's view model, reference part: board facts, run settings, failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def failures_view(failures: Sequence[Failure]) -> list[dict[str, str]]:
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
        }
        for f in failures
    ]
