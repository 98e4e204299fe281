"""The report's model facts: where they come from, and what each cell achieved.

Data step (no formatting; report/model_view.py formats). A run's model facts are, in order:

1. `model.json` in the run directory (rundir/layout.py), written the first time a report of the
   run found the model file (`keep_model_facts`, called by write_run_report at the end of a run
   and by the matrix view), so that later reports need not find the file again;
2. else the model file that run.json names (as written: absolute, or relative to the current
   directory, as at the end of `run`), if its sha256 is the run's `model_sha256`;
3. else none, with the reason (`ModelFactsSource.note`).

Per cell (`cell_facts`): the steady latency (summary median), the achieved GOPS (2 x MACs /
latency), the % of the published int8 peak of the unit it ran on (model/peaks.py: NPU cells of
the 8M Plus and the i.MX 93; none for CPU and GPU), and the share of the model's ops the cell's
delegate took (analysis/model_facts.py: Vela's summary for Ethos-U, the op profile for others,
the int-only rule as a prediction when no profile exists).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from imxbench.analysis.model_facts import (
    DelegateShare,
    ModelFacts,
    achieved_gops,
    facts_document,
    facts_from_document,
    model_facts,
    percent_of_peak,
    share_by_int_rule,
    share_from_profile,
    share_from_vela,
)
from imxbench.analysis.model_info import inspect_model_bytes
from imxbench.errors import ConfigError
from imxbench.model.facts import SOC_IDS
from imxbench.model.peaks import PublishedPeak, peak_for
from imxbench.report.accelerators import accelerator, delegate_of
from imxbench.rundir.layout import RunDir


@dataclass(frozen=True)
class ModelFactsSource:
    """A run's model facts (None: unknown) and, when unknown or not from model.json, why."""

    facts: ModelFacts | None
    note: str | None = None
    from_file: Path | None = None  # the model file read (None: model.json, or nothing)


@dataclass(frozen=True)
class CellFacts:
    """One board x cell of a run, against the model's facts."""

    board: str
    cell: str
    status: str  # ok | failed | skipped
    unit: str  # CPU, NPU, GPU, accelerator
    latency_ms: float | None
    gops: float | None
    peak: PublishedPeak | None
    percent_of_peak: float | None
    share: DelegateShare | None  # None for CPU cells (all ops on the CPU) and unknowns


def load_model_facts(run_dir: Path) -> ModelFactsSource:
    """The run's model facts (see the module docstring); never raises for a missing model."""
    files = RunDir(run_dir)
    bad: str | None = None
    try:
        doc = files.read_model_facts()
    except ConfigError as exc:
        doc, bad = None, str(exc)
    if doc is not None:
        try:
            return ModelFactsSource(facts_from_document(doc))
        except ValueError as exc:
            bad = f"{files.model_json}: {exc}"
    run = files.read_run()
    named, sha256 = run.get("model"), run.get("model_sha256")
    if not isinstance(named, str) or not named:
        return ModelFactsSource(None, bad or "run.json names no model file")
    path = Path(named)
    try:
        data = path.read_bytes()
    except OSError:
        return ModelFactsSource(None, bad or f"the model file {named} is no longer there")
    try:
        info = inspect_model_bytes(data, path)
    except ConfigError as exc:
        return ModelFactsSource(None, str(exc))
    if isinstance(sha256, str) and sha256 and info.sha256 != sha256:
        return ModelFactsSource(
            None, f"the model file {named} has changed since the run (its sha256 differs)"
        )
    return ModelFactsSource(model_facts(info), bad, from_file=path)


def keep_model_facts(run_dir: Path) -> ModelFactsSource:
    """load_model_facts, and model.json written when the facts came from the model file (a
    directory that cannot be written keeps none: the report still shows them)."""
    found = load_model_facts(run_dir)
    if found.facts is not None and found.from_file is not None:
        with contextlib.suppress(OSError):
            RunDir(run_dir).write_model_facts(facts_document(found.facts))
    return found


# -- per cell --------------------------------------------------------------------------------
def cell_facts(
    facts: ModelFacts | None,
    summary: pd.DataFrame,
    results: pd.DataFrame,
    board_facts: Mapping[str, Mapping[str, Any]],
) -> list[CellFacts]:
    """Each summary row (board x cell) with its throughput and delegate share."""
    if summary.empty or "board" not in summary or "cell" not in summary:
        return []
    socs = _socs(results, board_facts)
    out = []
    for row in summary.to_dict(orient="records"):
        board, cell = str(row["board"]), str(row["cell"])
        status = _status(row)
        unit = accelerator(cell)
        latency = _number(row.get("latency_ms")) if status == "ok" else None
        gops = achieved_gops(facts.macs, latency) if facts is not None else None
        peak = peak_for(socs.get(board), unit)
        out.append(
            CellFacts(
                board=board,
                cell=cell,
                status=status,
                unit=unit,
                latency_ms=latency,
                gops=gops,
                peak=peak,
                percent_of_peak=percent_of_peak(gops, peak.int8_tops if peak else None),
                share=_share(facts, results, board, cell, unit, status),
            )
        )
    return out


def _share(
    facts: ModelFacts | None,
    results: pd.DataFrame,
    board: str,
    cell: str,
    unit: str,
    status: str,
) -> DelegateShare | None:
    if facts is None or unit == "CPU" or status == "skipped":
        return None
    rows = _rows_of(results, board, cell)
    for row in rows:
        vela = share_from_vela(row.get("vela_npu_operators"), row.get("vela_cpu_operators"))
        if vela is not None:
            return vela
    for row in rows:
        if row.get("kind") == "profile" and row.get("status") == "ok":
            profile = _profile(row.get("op_profile"))
            if profile:
                return share_from_profile(facts, profile)
    requires_int = _requires_int(delegate_of(cell))
    return None if requires_int is None else share_by_int_rule(facts, requires_int)


def _rows_of(results: pd.DataFrame, board: str, cell: str) -> list[dict[str, Any]]:
    if results.empty or "board" not in results or "cell" not in results:
        return []
    mine = results[(results["board"] == board) & (results["cell"] == cell)]
    return list(mine.to_dict(orient="records"))


def _profile(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list):
        return [r for r in value if isinstance(r, dict)]
    if not isinstance(value, str) or not value:
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return [r for r in doc if isinstance(r, dict)] if isinstance(doc, list) else None


@cache
def _requires_int(delegate: str) -> bool | None:
    """The shipped catalogue's `requires_int` of a delegate (None: not in it)."""
    from imxbench.config.delegates import load_catalogue

    try:
        spec = load_catalogue().get(delegate)
    except ConfigError:
        return None
    return None if spec is None else spec.requires_int


def _socs(results: pd.DataFrame, board_facts: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """board -> SoC name (imx8mp, imx93): the results' `soc` column, else the probe's soc_id."""
    found: dict[str, str] = {}
    if not results.empty and "soc" in results and "board" in results:
        for board, soc in zip(results["board"], results["soc"], strict=True):
            if isinstance(soc, str) and soc:
                found.setdefault(str(board), soc)
    for board, doc in board_facts.items():
        soc = SOC_IDS.get(str(doc.get("soc_id") or ""))
        if soc:
            found.setdefault(board, soc)
    return found


def _status(row: Mapping[str, Any]) -> str:
    status = row.get("status")
    if status in ("ok", "failed", "skipped"):
        return str(status)
    failed = _number(row.get("failed"))
    return "failed" if failed else "ok"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
