"""The model section's view: a model's facts and each cell's throughput as display strings
(report.html's "Model" section and the matrix view's per-model sections share it, through the
`model_section` macro of templates/_model.html.j2)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from imxbench.analysis.model_facts import DelegateShare, ModelFacts, TensorFacts
from imxbench.model.peaks import PublishedPeak
from imxbench.report.data import ReportData
from imxbench.report.model_facts import CellFacts, ModelFactsSource, cell_facts

SHARE_SOURCES = {
    "vela": "Vela's placement",
    "profile": "op profile",
    "int-only rule": "predicted: int-only rule",
    "all ops": "predicted",
}


def model_view(data: ReportData) -> dict[str, Any]:
    """The "Model" section of one run's report."""
    source = data.model or ModelFactsSource(None, "not read")
    cells = cell_facts(source.facts, data.summary, data.results, data.facts)
    return model_section_view(source, cells, data.emulated_boards)


def model_section_view(
    source: ModelFactsSource, cells: Sequence[CellFacts], emulated: Collection[str] = ()
) -> dict[str, Any]:
    """`emulated`: the boards whose numbers came from the emulator (their rows get the badge)."""
    facts = source.facts
    if facts is None:
        return {
            "available": False,
            "note": f"Model facts unavailable: {source.note}." if source.note else "",
            "sha256": "",
            "rows": [],
            "ops": "",
            "cells": [],
            "peaks": [],
        }
    peaks: dict[tuple[str, str], PublishedPeak] = {}
    for c in cells:
        if c.peak is not None and c.percent_of_peak is not None:
            peaks[(c.peak.soc, c.peak.unit)] = c.peak
    return {
        "available": True,
        "note": "",
        "sha256": facts.sha256,
        "rows": facts_rows(facts),
        "ops": ops_text(facts),
        "cells": [{**cell_row(c), "emulated": c.board in emulated} for c in cells],
        "peaks": [
            f"{p.name}: {p.int8_tops:g} TOPS int8 — {p.source}"
            + (f"; {p.derivation}" if p.derivation else "")
            for p in peaks.values()
        ],
    }


def facts_rows(facts: ModelFacts) -> list[dict[str, str]]:
    rows = [
        {"label": "file", "value": f"{facts.name} ({fmt_bytes(facts.size_bytes)})"},
        {"label": "parameters", "value": f"{facts.parameters:,}"},
        {"label": "MACs per inference", "value": macs_text(facts)},
    ]
    for label, tensors in (("input", facts.inputs), ("output", facts.outputs)):
        for t in tensors:
            rows.append({"label": label, "value": tensor_text(t)})
    kind = (
        "Vela-compiled (Ethos-U command stream)"
        if facts.is_vela_compiled
        else "fully integer (int8/uint8)"
        if facts.is_fully_int
        else f"floating point ({facts.float_ops} of {facts.ops} ops use float tensors)"
    )
    rows.append({"label": "arithmetic", "value": kind})
    return rows


def macs_text(facts: ModelFacts) -> str:
    if facts.macs <= 0:
        return "unknown (the work is inside Vela's ethos-u op)" if facts.is_vela_compiled else "0"
    parts = " · ".join(f"{name} {fmt_count(macs)}" for name, macs in facts.macs_by_op)
    return f"{fmt_count(facts.macs)} ({facts.macs:,}): {parts}"


def ops_text(facts: ModelFacts) -> str:
    histogram = " · ".join(f"{name} × {count}" for name, count in facts.op_histogram)
    return f"{facts.ops} ops: {histogram}"


def tensor_text(t: TensorFacts) -> str:
    shape = "[" + ", ".join(str(n) for n in t.shape) + "]"
    quant = (
        f", scale {t.scale:.6g}, zero point {t.zero_point}"
        if t.scale is not None
        else ", not quantized"
    )
    return f"{t.name or '(unnamed)'}: {t.dtype} {shape}{quant}"


def cell_row(c: CellFacts) -> dict[str, str]:
    if c.status != "ok":
        text = c.status
        return {
            "board": c.board,
            "cell": c.cell,
            "unit": c.unit,
            "latency": text,
            "gops": "–",
            "peak": "–",
            "share": share_text(c.share),
            "css": "muted" if c.status == "skipped" else "bad",
        }
    return {
        "board": c.board,
        "cell": c.cell,
        "unit": c.unit,
        "latency": f"{c.latency_ms:.3f} ms" if c.latency_ms is not None else "–",
        "gops": f"{c.gops:,.1f}" if c.gops is not None else "–",
        "peak": (
            f"{fmt_share(c.percent_of_peak)} of {c.peak.int8_tops:g} TOPS"
            if c.percent_of_peak is not None and c.peak is not None
            else "no published peak"
            if c.unit != "CPU" and c.peak is None
            else "–"
        ),
        "share": share_text(c.share) if c.unit != "CPU" else "all on the CPU",
        "css": "",
    }


def share_text(share: DelegateShare | None) -> str:
    if share is None or share.fraction is None:
        return "–"
    how = SHARE_SOURCES.get(share.source, share.source)
    unit = "Vela operators" if share.source == "vela" else "ops"
    at_most = "at most " if share.source in ("int-only rule", "all ops") else ""
    return (
        f"{at_most}{share.fraction * 100:.0f}% ({share.delegated_ops}/{share.total_ops} "
        f"{unit}, {how})"
    )


def fmt_share(percent: float) -> str:
    """A percentage of peak: one decimal, or two significant digits below 1%."""
    return f"{percent:.1f}%" if percent >= 1 else f"{percent:.2g}%"


def fmt_count(value: int) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.2f} {suffix}"
    return str(value)


def fmt_bytes(size: int) -> str:
    return f"{size / 1024:,.1f} KiB" if size < 1024 * 1024 else f"{size / 1048576:,.2f} MiB"
