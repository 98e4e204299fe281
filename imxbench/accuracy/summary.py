"""What an accuracy run leaves behind: `accuracy.json`, summary-table rows and terminal text.

`reports/<run-id>/accuracy.json` (format 1):

    {"format": 1, "model": ..., "dataset": "<path>", "samples": N, "labels": [class names],
     "dataset_details": {path, format, images, images_in_dataset, image_size, class_names,
                         images_per_class, limit, sample_seed},
     "preprocessing": {input_name, input_shape, dtype, scale, zero_point, channel_order,
                       quantization, formula, description},
     "packed_inputs_sha256": ...,
     "reference": {where, runtime, runtime_version, seconds_per_image, top1, top5, ...},
     "sanity_check": {configured, best, variants: [...], warning},
     "cells": [{board, delegate, cell, status, error, stderr_tail, threads, graph, runtime,
                runtime_version, duration_s, result_file, predictions_file,
                images, top1, top1_correct, top1_ci: [low, high], top1_ci_low, top1_ci_high,
                top5, top5_correct, top5_ci, per_class: [{name, images, top1_correct, top1}],
                confusion: [[count]] (rows: true class), labels,
                agreement_top1, agreement: {images, top1_agree, top1_rate, disagreeing,
                                            max_abs_diff, mean_abs_diff},
                agreement_cpu_top1, agreement_cpu: {the same, against the board's own
                    CPU cell on the same images; null for the CPU and a board without one},
                latency: {invokes, first_us, p50_us, p90_us, p99_us, mean_us, min_us,
                          max_us}}]}

Accuracies are fractions 0..1; a failed cell has its error and null metrics.
`accuracy/<board>/<delegate>.npz` is evaluate.py's raw result and `.csv` the per-image
predictions next to the reference's top-1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imxbench.accuracy.datasets import SAMPLE_SEED
from imxbench.accuracy.phase import AccuracyCell, Evaluation
from imxbench.analysis.accuracy_stats import AccuracyMetrics, accuracy_metrics
from imxbench.rundir.layout import RunDir

REPORT_FORMAT = 1
SUMMARY_COLUMNS = (
    "top1",
    "top1_ci_low",
    "top1_ci_high",
    "top5",
    "agreement_top1",
    "accuracy_n",
    "accuracy_error",
)


_METRIC_KEYS = (
    "images",
    "top1",
    "top1_correct",
    "top1_ci",
    "top1_ci_low",
    "top1_ci_high",
    "top5",
    "top5_correct",
    "top5_ci",
    "per_class",
    "confusion",
)


def cell_document(cell: AccuracyCell, labels: tuple[str, ...]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "board": cell.board,
        "delegate": cell.delegate,
        "cell": cell.cell,
        "status": cell.status,
        "error": cell.error,
        "stderr_tail": cell.stderr_tail,
        "threads": cell.threads,
        "graph": cell.graph,
        "runtime": cell.runtime,
        "runtime_version": cell.runtime_version,
        "duration_s": cell.duration_s,
        "result_file": cell.result_file,
        "predictions_file": cell.predictions_file,
    }
    doc.update(metrics_document(cell.metrics, labels))
    doc["agreement_top1"] = cell.agreement.top1_rate if cell.agreement else None
    doc["agreement"] = cell.agreement.as_dict() if cell.agreement else None
    versus = cell.agreement_cpu
    doc["agreement_cpu_top1"] = versus.top1_rate if versus else None
    doc["agreement_cpu"] = versus.as_dict() if versus else None
    doc["latency"] = cell.latency.as_dict() if cell.latency else None
    return doc


def metrics_document(metrics: AccuracyMetrics | None, labels: tuple[str, ...]) -> dict[str, Any]:
    """The accuracy keys of a cell (all None for a failed one)."""
    if metrics is None:
        return {**dict.fromkeys(_METRIC_KEYS), "labels": list(labels)}
    doc = metrics.as_dict()
    return {
        "images": doc["images"],
        "top1": doc["top1"],
        "top1_correct": doc["top1_correct"],
        "top1_ci": doc["top1_ci"],
        "top1_ci_low": doc["top1_ci"][0],
        "top1_ci_high": doc["top1_ci"][1],
        "top5": doc["top5"],
        "top5_correct": doc["top5_correct"],
        "top5_ci": doc["top5_ci"],
        "per_class": doc["per_class"],
        "confusion": doc["confusion"],
        "labels": [c["name"] for c in doc["per_class"]],
    }


def accuracy_document(evaluation: Evaluation) -> dict[str, Any]:
    dataset, reference = evaluation.dataset, evaluation.reference
    ref_metrics = accuracy_metrics(dataset.labels, reference.top_k, dataset.class_names)
    cells = sorted(evaluation.cells, key=lambda c: (c.board, c.delegate))
    return {
        "format": REPORT_FORMAT,
        "model": str(evaluation.model),
        "dataset": str(dataset.source),
        "samples": len(dataset),
        "labels": list(dataset.class_names),
        "dataset_details": {
            **dataset.describe(),
            "limit": evaluation.request.limit,
            "sample_seed": SAMPLE_SEED,
        },
        "preprocessing": evaluation.preprocessing.as_dict(),
        "packed_inputs_sha256": evaluation.packed_sha256,
        "reference": {
            "where": "host CPU",
            "runtime": reference.runtime,
            "runtime_version": reference.runtime_version,
            "seconds_per_image": reference.seconds_per_image,
            **metrics_document(ref_metrics, dataset.class_names),
        },
        "sanity_check": evaluation.sanity.as_dict(),
        "cells": [cell_document(c, dataset.class_names) for c in cells],
    }


def write_accuracy_json(evaluation: Evaluation, out_dir: Path) -> Path:
    return RunDir(out_dir).write_accuracy(accuracy_document(evaluation))


def summary_rows(cells: list[AccuracyCell]) -> list[dict[str, Any]]:
    """One row per (board, delegate) with the summary table's accuracy columns."""
    rows = []
    for cell in cells:
        metrics, agree = cell.metrics, cell.agreement
        rows.append(
            {
                "board": cell.board,
                "delegate": cell.delegate,
                "top1": metrics.top1 if metrics else None,
                "top1_ci_low": metrics.top1_ci[0] if metrics else None,
                "top1_ci_high": metrics.top1_ci[1] if metrics else None,
                "top5": metrics.top5 if metrics else None,
                "agreement_top1": agree.top1_rate if agree else None,
                "accuracy_n": metrics.images if metrics else None,
                "accuracy_error": cell.error,
            }
        )
    return rows


def render_accuracy(evaluation: Evaluation) -> str:
    """The accuracy block of the terminal output: preprocessing, reference, one line a cell."""
    reference = evaluation.reference
    ref = accuracy_metrics(
        evaluation.dataset.labels, reference.top_k, evaluation.dataset.class_names
    )
    lines = [
        f"accuracy on {len(evaluation.dataset)} images of {evaluation.dataset.source} "
        f"({evaluation.dataset.format})",
        f"preprocessing: {evaluation.preprocessing.describe()}",
        f"host reference ({reference.runtime} {reference.runtime_version}, CPU): "
        f"top-1 {ref.top1:.2%}, top-5 {ref.top5:.2%}",
    ]
    head = (
        f"{'board':<10} {'cell':<9} {'top1':>7} {'95% CI':>15} {'top5':>7} {'agree':>7} "
        f"{'max|diff|':>9} {'vs cpu':>7} {'p50':>9} {'p90':>9} {'p99':>9}  runtime"
    )
    lines += [head, "-" * len(head)]
    for cell in sorted(evaluation.cells, key=lambda c: (c.board, c.delegate)):
        m, a, t = cell.metrics, cell.agreement, cell.latency
        if cell.status != "ok" or m is None or a is None or t is None:
            lines.append(f"{cell.board:<10} {cell.cell:<9} FAILED: {cell.error}")
            continue
        ci = f"{m.top1_ci[0]:.1%}-{m.top1_ci[1]:.1%}"
        vs_cpu = f"{cell.agreement_cpu.top1_rate:.2%}" if cell.agreement_cpu else "-"
        lines.append(
            f"{cell.board:<10} {cell.cell:<9} {m.top1:>7.2%} {ci:>15} {m.top5:>7.2%} "
            f"{a.top1_rate:>7.2%} {a.max_abs_diff:>9.4f} {vs_cpu:>7} {_ms(t.p50_us):>9} "
            f"{_ms(t.p90_us):>9} {_ms(t.p99_us):>9}  {cell.runtime} {cell.runtime_version}"
        )
    return "\n".join(lines)


def _ms(us: float) -> str:
    return f"{us / 1000:.3f} ms"
