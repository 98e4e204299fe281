"""Synthetic run directories, shaped like job.py writes them, for the report tests and
benchmarks/report_scale.py. The tables go through the real results.build_table/summarize."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from imxbench.analysis.results import build_table, summarize

MODEL = "pretrainedResnet_quant.tflite"
CELLS: dict[str, tuple[str, ...]] = {
    "imx8mp": ("cpu@4t", "vx", "gpu"),
    "imx93": ("cpu@2t", "ethosu", "cpu@1t"),
}
BASE_MS = {
    "cpu@1t": 1.65,
    "cpu@2t": 1.64,
    "cpu@4t": 1.42,
    "vx": 0.221,
    "gpu": 3.78,
    "ethosu": 0.331,
}
SOC_IDS = {"imx8mp": "i.MX8MP", "imx93": "i.MX93"}
DELEGATE_LIBS = {"vx": "/usr/lib/libvx_delegate.so", "ethosu": "/usr/lib/libethosu_delegate.so"}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CPU_OPS = (
    ("CONV_2D", 89.9),
    ("ADD", 4.1),
    ("FULLY_CONNECTED", 2.5),
    ("AVERAGE_POOL_2D", 2.0),
    ("RESHAPE", 0.9),
    ("SOFTMAX", 0.6),
)


def facts(
    board: str,
    *,
    kernel: str = "6.12.34-lts-next",
    tflite: str = "2.19.0",
    emulated: bool = True,
    lib_sha: str = "ab" * 32,
) -> dict[str, Any]:
    soc = board if board in SOC_IDS else "imx8mp"
    lib = DELEGATE_LIBS["vx" if soc == "imx8mp" else "ethosu"]
    return {
        "format": 1,
        "soc_id": SOC_IDS[soc],
        "soc_revision": "1.1",
        "machine": f"NXP {SOC_IDS[soc]} EVK board",
        "hostname": f"{soc}evk",
        "kernel": kernel,
        "os_release": {"pretty_name": "NXP i.MX Release Distro 6.12-walnascar (walnascar)"},
        "tflite": [
            {
                "version": tflite,
                "benchmark_model": f"/usr/bin/tensorflow-lite-{tflite}/examples/benchmark_model",
                "executable": True,
            }
        ],
        "delegates": [{"path": lib, "sha256": lib_sha}],
        "npu_devices": {"/dev/galcore": soc == "imx8mp", "/dev/ethosu0": soc == "imx93"},
        "cpu_count": 4 if soc == "imx8mp" else 2,
        "cpufreq_governor": "ondemand",
        "cpu_max_khz": 1800000,
        "temperature_mc": 43000,
        "mem_available_kb": 24135812,
        "emulated": emulated,
    }


def _step_row(
    run_id: str,
    board: str,
    cell: str,
    kind: str,
    rep: int,
    ms: float,
    failed: bool,
    emulated: bool,
    rng: random.Random,
) -> dict[str, Any]:
    delegate = cell.split("@")[0]
    avg = ms * 1000 * (1 + rng.gauss(0, 0.01))
    on_npu = delegate != "cpu"
    row: dict[str, Any] = {
        "run_id": run_id,
        "board": board,
        "soc": board if board in SOC_IDS else "imx8mp",
        "emulated": emulated,
        "cell": cell,
        "delegate": delegate,
        "kind": kind,
        "repetition": rep,
        "status": "failed" if failed else "ok",
        "error": "Segmentation fault (exit 139)" if failed else None,
        "stderr_tail": "INFO: Initialized TensorFlow Lite runtime.\nSegmentation fault"
        if failed
        else None,
        "log_file": f"logs/{board}/{cell}-{kind}{rep or ''}.log",
        "execution": "full" if on_npu else None,
        "vela_estimate_us": 113.4 if delegate == "ethosu" else None,
        "tflite_version": "2.19.0",
    }
    if failed:
        return row
    row.update(
        init_us=12400.0 if on_npu else 3969.0,
        first_inference_us=(250000.0 if kind == "cold" else 15000.0) if on_npu else avg * 1.05,
        inference_avg_us=avg,
        inference_std_us=avg * 0.01,
        inference_min_us=avg * 0.97,
        inference_max_us=avg * 1.03,
        inference_p5_us=avg * 0.98,
        inference_median_us=avg,
        inference_p95_us=avg * 1.02,
        memory_overall_mb=29.0 if on_npu else 2.1,
    )
    if kind == "profile":
        ops = (
            [(f"{'Vx' if delegate != 'ethosu' else 'Ethosu'} Delegate", 100.0)]
            if on_npu
            else CPU_OPS
        )
        row["op_profile"] = json.dumps(
            [{"node_type": n, "count": 1, "avg_ms": ms * p / 100, "percent": p} for n, p in ops]
        )
        row["delegate_time_share"] = 1.0 if on_npu else 0.0
    return row


def write_run(
    root: Path,
    run_id: str,
    started: datetime,
    *,
    cells: Mapping[str, Sequence[str]] = CELLS,
    scale: Mapping[tuple[str, str], float] | None = None,
    failed: Sequence[tuple[str, str]] = (),
    board_facts: Mapping[str, dict[str, Any]] | None = None,
    accuracy: bool = False,
    verdicts: list[dict[str, Any]] | None = None,
    model: str = MODEL,
    repetitions: int = 2,
    seed: int = 0,
) -> Path:
    """One run directory under `root`; latency of a cell: BASE_MS x scale[(board, cell)]."""
    rng = random.Random(seed)
    out = root / run_id
    (out / "facts").mkdir(parents=True, exist_ok=True)
    board_facts = board_facts or {b: facts(b) for b in cells}
    rows = []
    for board, board_cells in cells.items():
        emulated = bool(board_facts.get(board, {}).get("emulated"))
        for cell in board_cells:
            ms = BASE_MS[cell.split(":")[0]] * (scale or {}).get((board, cell), 1.0)
            is_failed = (board, cell) in failed
            kinds = (["cold"] if cell in ("vx", "gpu") else []) + ["timed"] * repetitions
            reps = [0] * (len(kinds) - repetitions) + list(range(1, repetitions + 1))
            for kind, rep in [*zip(kinds, reps, strict=True), ("profile", 0)]:
                rows.append(_step_row(run_id, board, cell, kind, rep, ms, is_failed, emulated, rng))
    table = build_table(rows)
    summary = summarize(table)
    stamp = started.strftime("%Y-%m-%dT%H:%M:%S+0000")
    _write(
        out / "run.json",
        {
            "run_id": run_id,
            "model": f"/models/{model}",
            "boards": list(cells),
            "delegates": None,
            "emulate": True,
            "settings": {
                "repetitions": repetitions,
                "num_runs": 50,
                "warmup_runs": 1,
                "min_secs": 1.0,
                "threads": None,
            },
            "started": stamp,
        },
    )
    (out / "results.json").write_text(table.to_json(orient="records") or "[]")
    (out / "summary.json").write_text(summary.to_json(orient="records") or "[]")
    _write(out / "boards.json", [{"board": b, "error": None, "failed_cells": []} for b in cells])
    for board, doc in board_facts.items():
        if "/" not in board:  # a hostile test name cannot be a file name
            _write(out / "facts" / f"{board}.json", doc)
    if accuracy:
        _write(out / "accuracy.json", accuracy_doc(cells, rng))
    if verdicts is not None:
        _write(out / "verdicts.json", verdicts)
    return out


def accuracy_doc(cells: Mapping[str, Sequence[str]], rng: random.Random) -> dict[str, Any]:
    """accuracy.json as accuracy_report.py writes it; the last cell of the last board failed."""
    docs = []
    for board, board_cells in cells.items():
        for cell in board_cells:
            if (board, cell) == (list(cells)[-1], board_cells[-1]):
                docs.append(
                    {
                        "board": board,
                        "delegate": cell.split("@")[0],
                        "cell": cell,
                        "status": "failed",
                        "error": "evaluate.py crashed (exit 139)",
                        "stderr_tail": "Traceback ...\nSegmentation fault",
                        "top1": None,
                    }
                )
                continue
            confusion = [[0] * len(CLASSES) for _ in CLASSES]
            for i in range(len(CLASSES)):
                for _ in range(100):
                    j = i if rng.random() < 0.86 else rng.randrange(len(CLASSES))
                    confusion[i][j] += 1
            correct = sum(confusion[i][i] for i in range(len(CLASSES)))
            top1 = correct / 1000
            docs.append(
                {
                    "board": board,
                    "delegate": cell.split("@")[0],
                    "cell": cell,
                    "status": "ok",
                    "error": None,
                    "images": 1000,
                    "top1": top1,
                    "top1_correct": correct,
                    "top1_ci": [top1 - 0.022, top1 + 0.02],
                    "top1_ci_low": top1 - 0.022,
                    "top1_ci_high": top1 + 0.02,
                    "top5": 0.991,
                    "per_class": [
                        {
                            "name": c,
                            "images": 100,
                            "top1_correct": confusion[i][i],
                            "top1": confusion[i][i] / 100,
                        }
                        for i, c in enumerate(CLASSES)
                    ],
                    "confusion": confusion,
                    "labels": list(CLASSES),
                    "agreement_top1": 1.0 if cell.startswith("cpu") else 0.985,
                }
            )
    return {
        "format": 1,
        "model": MODEL,
        "dataset": "cifar-10-batches-py/test_batch",
        "samples": 1000,
        "labels": list(CLASSES),
        "reference": {"where": "host CPU", "top1": 0.862, "top5": 0.991},
        "sanity_check": {"warning": None},
        "cells": docs,
    }


def _write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
