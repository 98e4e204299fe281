"""The report pipeline's data step: run directories → one frozen `ReportData`.

A run directory (`reports/<run-id>/`, written by job.py) holds run.json, results.json (one row
per benchmark_model process), summary.json (board x cell), facts/<board>.json, boards.json and,
when other parts of imxbench wrote them:

- `accuracy.json` — on-device accuracy. Read tolerantly (see `parse_accuracy`): a document
  `{"dataset", "samples", "labels": [...], "cells": [...]}` (or just the list of cells), each
  cell `{"board", "cell" | "delegate", "top1", "top1_ci_low", "top1_ci_high" | "top1_ci": [lo,
  hi], "top5", "agreement_top1" | "agreement", "per_class": {label: top1} | [top1, ...] |
  [{"label", "top1"}], "confusion" | "confusion_matrix": [[count]], "labels"}`. Fractions 0..1
  (values above 1 are read as percentages).
- `verdicts.json` — regression verdicts against history: a list of `{board, cell, verdict,
  change_pct, p_value, detail, fingerprint_changed}` (or `{"verdicts": [...]}`); verdict is one
  of regressed, improved, unchanged, inconclusive, no baseline, missing, failed.

Nothing here formats for display (report_view.py) or draws (report_charts.py). The DataFrames in
`ReportData` are the loaded tables; treat them as read-only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from imxbench.analysis.results import summarize
from imxbench.errors import ConfigError
from imxbench.model.series import series_settings
from imxbench.report.model_facts import ModelFactsSource, load_model_facts
from imxbench.rundir.layout import RunDir, read_optional_json

LEGACY_VERDICTS = {"new": "no baseline"}
"""Verdict names older verdicts.json files used."""


@dataclass(frozen=True)
class RunMeta:
    """What run.json says about one run."""

    run_id: str
    path: Path
    started: str | None  # as written (ISO 8601)
    started_at: datetime | None
    model: str | None  # the model file's name
    boards: tuple[str, ...]
    settings: Mapping[str, Any]
    emulated: bool
    status: str | None = None  # running | partial | complete (None: written before statuses)
    emulation: str | None = None
    """What the emulated boards were asked to be (BSP, --slowdown), as run.json says."""
    kind: str | None = None
    """run | nightly, as run.json says (None: written before run.json said it)."""
    model_sha256: str | None = None
    """The model file's sha256, as run.json says (None: written before run.json said it)."""
    series_settings: str | None = None
    """The settings that make a series, as the history keys it (model/series.py: without the
    repetition count); the trends match runs by it with the model's sha256 and `emulated`."""


@dataclass(frozen=True)
class Failure:
    """A failed benchmark_model process, or a board that failed as a whole (cell None)."""

    board: str
    cell: str | None
    kind: str | None
    repetition: int | None
    error: str
    stderr_tail: str | None
    log_file: str | None


@dataclass(frozen=True)
class Verdict:
    board: str
    cell: str
    verdict: str
    change_pct: float | None
    p_value: float | None
    detail: str | None
    fingerprint_changed: bool
    ci_pct: tuple[float, float] | None = None  # the change's confidence interval, in %


@dataclass(frozen=True)
class AccuracyCell:
    board: str
    cell: str
    top1: float | None  # fraction 0..1
    top1_ci_low: float | None
    top1_ci_high: float | None
    top5: float | None
    agreement_top1: float | None  # agreement of top-1 with the CPU reference
    per_class: tuple[tuple[str, float], ...] = ()  # (label, top-1 fraction)
    confusion: tuple[tuple[float, ...], ...] | None = None  # rows: true class, cols: predicted
    labels: tuple[str, ...] = ()  # the confusion matrix's class labels
    error: str | None = None  # a failed evaluation
    stderr_tail: str | None = None


@dataclass(frozen=True)
class SanityScore:
    """One preprocessing variant's score in the sanity check (host CPU, on a subset)."""

    channel_order: str
    quantization: str
    images: int | None
    top1: float | None

    @property
    def name(self) -> str:
        if self.quantization == "scaled":  # a float model fed pixels / 255 (preprocess_check)
            return f"{self.channel_order.upper()} + pixels scaled to 0..1"
        if self.quantization == "raw":  # a float model given a mean/scale, fed raw pixels
            return f"{self.channel_order.upper()} + raw pixels 0..255"
        return f"{self.channel_order.upper()} + {self.quantization} quantization"


@dataclass(frozen=True)
class Accuracy:
    dataset: str | None
    samples: int | None
    cells: tuple[AccuracyCell, ...]
    reference_top1: float | None = None  # the host CPU reference's top-1
    warning: str | None = None  # the preprocessing sanity check's warning
    labels: tuple[str, ...] = ()  # the data set's classes
    sanity_configured: SanityScore | None = None  # set only when the check warned
    sanity_best: SanityScore | None = None

    @property
    def classes(self) -> int | None:
        """How many classes the model tells apart (None: not known)."""
        counts = [len(self.labels)] + [len(c.labels) for c in self.cells]
        return max(counts) or None


@dataclass(frozen=True)
class EnvChange:
    """Between the previous run with this board and `run_id`, these facts changed."""

    board: str
    run_id: str
    started_at: datetime | None
    changes: tuple[str, ...]  # e.g. "kernel 6.12.20 → 6.12.34"


@dataclass(frozen=True)
class History:
    """Earlier runs of the same model, oldest first, the current run last.

    `points`: one row per (run, board, cell): run_id, started_at, board, cell, latency_ms,
    failed, verdict (that run's verdict for the cell, or None), p5_ms and p95_ms (medians of
    the repetitions' 5th and 95th percentiles of single inferences, None when unknown)."""

    runs: tuple[RunMeta, ...] = ()
    points: pd.DataFrame = field(default_factory=pd.DataFrame)
    env_changes: tuple[EnvChange, ...] = ()


@dataclass(frozen=True)
class ReportData:
    run: RunMeta
    results: pd.DataFrame  # results.json: one row per benchmark_model process
    summary: pd.DataFrame  # board x cell (+ accuracy columns when known)
    facts: Mapping[str, Mapping[str, Any]]  # board -> probe facts
    failures: tuple[Failure, ...]
    verdicts: tuple[Verdict, ...] | None  # None: no verdicts.json
    accuracy: Accuracy | None  # None: no accuracy.json
    history: History
    model: ModelFactsSource | None = None  # the model's facts (report/model_facts.py)

    @property
    def emulated_boards(self) -> frozenset[str]:
        """Boards whose data came from the emulator."""
        named = {b for b, f in self.facts.items() if f.get("emulated")}
        if not self.summary.empty and "emulated" in self.summary:
            emulated = self.summary["emulated"].fillna(False).astype(bool)
            named |= set(self.summary.loc[emulated, "board"])
        return frozenset(named)


# -- reading ---------------------------------------------------------------------------------
def is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


def load_meta(run_dir: Path) -> RunMeta:
    doc = RunDir(run_dir).read_run()
    started = doc.get("started")
    model = doc.get("model")
    return RunMeta(
        run_id=str(doc.get("run_id") or run_dir.name),
        path=run_dir,
        started=started,
        started_at=parse_time(started),
        model=Path(model).name if isinstance(model, str) else None,
        boards=tuple(str(b) for b in doc.get("boards") or ()),
        settings=dict(doc.get("settings") or {}),
        emulated=bool(doc.get("emulate")),
        status=_str(doc.get("status")),
        emulation=_str(doc.get("emulation")),
        kind=_str(doc.get("kind")),
        model_sha256=_str(doc.get("model_sha256")),
        series_settings=series_settings(dict(doc.get("settings") or {})),
    )


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def load_run(run_dir: Path, history: History | None = None) -> ReportData:
    """Everything the report shows about one run directory (history: see report_history)."""
    if not is_run_dir(run_dir):
        raise ConfigError(f"{run_dir}: not a run directory (no run.json)")
    meta = load_meta(run_dir)
    files = RunDir(run_dir)
    results = pd.DataFrame(files.read_results() or [])
    summary_doc = files.read_summary()
    summary = pd.DataFrame(summary_doc) if summary_doc else summarize(results)
    facts = files.read_facts()
    accuracy_doc = files.read_accuracy()
    accuracy = parse_accuracy(accuracy_doc) if accuracy_doc is not None else None
    verdicts_doc = files.read_verdicts()
    return ReportData(
        run=meta,
        results=results,
        summary=with_accuracy_columns(summary, accuracy),
        facts=facts,
        failures=collect_failures(results, read_optional_json(files.boards_json) or [])
        + accuracy_failures(accuracy),
        verdicts=parse_verdicts(verdicts_doc) if verdicts_doc is not None else None,
        accuracy=accuracy,
        history=history or History(),
        model=load_model_facts(run_dir),
    )


# -- pure parts ------------------------------------------------------------------------------
def collect_failures(
    results: pd.DataFrame, boards: Sequence[Mapping[str, Any]]
) -> tuple[Failure, ...]:
    """Board-level errors (boards.json), then every failed process, in table order (a
    skipped cell, whose delegate cannot run the model, is not a failure)."""
    found = [
        Failure(str(b.get("board")), None, None, None, str(b["error"]), None, None)
        for b in boards
        if isinstance(b, Mapping) and b.get("error")
    ]
    if results.empty or "status" not in results:
        return tuple(found)
    failed = results[~results["status"].isin(["ok", "skipped"])]
    for row in failed.to_dict(orient="records"):
        found.append(
            Failure(
                board=str(row.get("board")),
                cell=_str(row.get("cell")),
                kind=_str(row.get("kind")),
                repetition=_int(row.get("repetition")),
                error=_str(row.get("error")) or "failed",
                stderr_tail=_str(row.get("stderr_tail")),
                log_file=_str(row.get("log_file")),
            )
        )
    return tuple(found)


def accuracy_failures(accuracy: Accuracy | None) -> tuple[Failure, ...]:
    """Failed accuracy evaluations, as failures of kind "accuracy"."""
    if accuracy is None:
        return ()
    return tuple(
        Failure(c.board, c.cell, "accuracy", None, c.error, c.stderr_tail, None)
        for c in accuracy.cells
        if c.error
    )


def _verdict_name(value: Any) -> str:
    name = str(value or "inconclusive")
    return LEGACY_VERDICTS.get(name, name)


def parse_verdicts(doc: Any) -> tuple[Verdict, ...]:
    rows = doc.get("verdicts", []) if isinstance(doc, Mapping) else doc
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        out.append(
            Verdict(
                board=str(row.get("board")),
                cell=str(row.get("cell")),
                verdict=_verdict_name(row.get("verdict")),
                change_pct=_float(row.get("change_pct")),
                p_value=_float(row.get("p_value")),
                detail=_str(row.get("detail")),
                fingerprint_changed=bool(
                    row.get("fingerprint_changed") or row.get("fingerprint_changes")
                ),
                ci_pct=_pair(row.get("ci_pct")),
            )
        )
    return tuple(out)


def parse_accuracy(doc: Any) -> Accuracy:
    """accuracy.json, read tolerantly (see the module docstring)."""
    top: Mapping[str, Any] = doc if isinstance(doc, Mapping) else {}
    rows = doc if isinstance(doc, list) else _first(top, "cells", "results", "entries") or []
    default_labels = tuple(str(x) for x in top.get("labels") or top.get("classes") or ())
    cells = [_accuracy_cell(row, default_labels) for row in rows if isinstance(row, Mapping)]
    reference = top.get("reference")
    sanity = top.get("sanity_check")
    warning = _str(sanity.get("warning")) if isinstance(sanity, Mapping) else None
    return Accuracy(
        dataset=_str(top.get("dataset")),
        samples=_int(_first(top, "samples", "num_samples", "n")),
        cells=tuple(cells),
        reference_top1=_fraction(reference.get("top1")) if isinstance(reference, Mapping) else None,
        warning=warning,
        labels=default_labels,
        sanity_configured=_sanity_score(sanity.get("configured"))
        if warning and isinstance(sanity, Mapping)
        else None,
        sanity_best=_sanity_score(sanity.get("best"))
        if warning and isinstance(sanity, Mapping)
        else None,
    )


def _sanity_score(value: Any) -> SanityScore | None:
    if not isinstance(value, Mapping) or not value.get("channel_order"):
        return None
    return SanityScore(
        channel_order=str(value["channel_order"]),
        quantization=str(value.get("quantization") or "model"),
        images=_int(value.get("images")),
        top1=_fraction(value.get("top1")),
    )


def _accuracy_cell(row: Mapping[str, Any], default_labels: tuple[str, ...]) -> AccuracyCell:
    labels = tuple(str(x) for x in row.get("labels") or row.get("classes") or default_labels)
    ci = row.get("top1_ci")
    low, high = (ci[0], ci[1]) if isinstance(ci, list | tuple) and len(ci) == 2 else (None, None)
    confusion = _first(row, "confusion", "confusion_matrix")
    return AccuracyCell(
        board=str(row.get("board")),
        cell=str(_first(row, "cell", "delegate")),
        top1=_fraction(row.get("top1")),
        top1_ci_low=_fraction(_first(row, "top1_ci_low") if low is None else low),
        top1_ci_high=_fraction(_first(row, "top1_ci_high") if high is None else high),
        top5=_fraction(row.get("top5")),
        agreement_top1=_fraction(_first(row, "agreement_top1", "agreement")),
        per_class=_per_class(row.get("per_class"), labels),
        confusion=(
            tuple(tuple(float(v) for v in r) for r in confusion)
            if isinstance(confusion, list) and all(isinstance(r, list) for r in confusion)
            else None
        ),
        labels=labels,
        error=_str(row.get("error"))
        if row.get("status", "ok") != "ok" or row.get("error")
        else None,
        stderr_tail=_str(row.get("stderr_tail")),
    )


def _per_class(value: Any, labels: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    pairs: list[tuple[str, Any]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                label = _first(item, "label", "class", "name")
                pairs.append(
                    (str(label if label is not None else i), _first(item, "top1", "accuracy"))
                )
            else:
                pairs.append((labels[i] if i < len(labels) else str(i), item))
    out = []
    for label, raw in pairs:
        number = _fraction(raw)
        if number is not None:
            out.append((label, number))
    return tuple(out)


ACCURACY_COLUMNS = ("top1", "top1_ci_low", "top1_ci_high", "top5", "agreement_top1")
ACCURACY_STATUS = "accuracy_status"  # ok | failed | not evaluated; None: no accuracy measured


def with_accuracy_columns(summary: pd.DataFrame, accuracy: Accuracy | None) -> pd.DataFrame:
    """The summary with the accuracy columns taken from accuracy.json's cell of the same board
    and cell name, and `accuracy_status`. Each delegate is evaluated once (the CPU with its
    most threads), so a cell without its own accuracy cell was not evaluated: its accuracy
    columns are emptied even when the summary table copied them from its delegate's."""
    out = summary.copy()
    for column in ACCURACY_COLUMNS:
        if column not in out:
            out[column] = None
    out[ACCURACY_STATUS] = None
    if accuracy is None or out.empty:
        return out
    by_key = {(c.board, c.cell): c for c in accuracy.cells}
    sources = [by_key.get((b, c)) for b, c in zip(out["board"], out["cell"], strict=True)]
    for column in ACCURACY_COLUMNS:
        values: list[Any] = []
        for source, current in zip(sources, out[column], strict=True):
            present = current is not None and not (
                isinstance(current, float) and math.isnan(current)
            )
            if source is None:
                values.append(None)
            else:
                values.append(current if present else getattr(source, column))
        out[column] = pd.Series(values, index=out.index, dtype=object)
    out[ACCURACY_STATUS] = pd.Series(
        ["not evaluated" if s is None else "failed" if s.error else "ok" for s in sources],
        index=out.index,
        dtype=object,
    )
    return out


# -- small converters ------------------------------------------------------------------------
def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _pair(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    low, high = _float(value[0]), _float(value[1])
    return None if low is None or high is None else (low, high)


def _fraction(value: Any) -> float | None:
    number = _float(value)
    if number is None:
        return None
    return number / 100 if number > 1.0 else number


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) if str(value) else None
