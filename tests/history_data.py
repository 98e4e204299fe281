"""Run records made up for the results-history tests (no boards involved)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from imxbench.model.records import (
    SAMPLE_METRICS,
    AccuracyResult,
    CellRecord,
    Fingerprint,
    RunHeader,
    RunRecord,
    Sample,
)

MODEL_SHA = "ab" * 32
SETTINGS = {"repetitions": 5, "num_runs": 50, "warmup_runs": 1, "min_secs": 1.0, "threads": None}
CELLS = {("imx8mp", "cpu@1t"): 3830.0, ("imx8mp", "vx"): 220.0, ("imx93", "ethosu"): 330.0}


def header(
    night: int, kind: str = "nightly", settings: Mapping[str, object] = SETTINGS
) -> RunHeader:
    return RunHeader(
        run_id=f"20250101-{night:06d}-beef",
        kind=kind,
        started_at=f"2025-01-01T{night // 3600:02d}:{night // 60 % 60:02d}:{night % 60:02d}Z",
        model="pretrainedResnet_quant.tflite",
        model_sha256=MODEL_SHA,
        settings=dict(settings),
        holder="tester@lab",
        emulated=True,
        out_dir=f"/reports/20250101-{night:06d}-beef",
    )


def fingerprint(board: str, kernel: str = "6.12.34", error: str | None = None) -> Fingerprint:
    return Fingerprint(
        board=board,
        soc=board,
        bsp="NXP i.MX Release Distro 6.12-walnascar",
        kernel=kernel,
        tflite_version="2.19.0",
        delegate_hashes={"/usr/lib/libvx_delegate.so": "aa" * 32} if board == "imx8mp" else {},
        vela_version="4.2.0" if board == "imx93" else None,
        governor="ondemand",
        temperature_mc=45000,
        emulated=True,
        error=error,
        facts={"kernel": kernel},
    )


def record(
    night: int,
    *,
    rng: np.random.Generator,
    noise: float = 0.01,
    slow: Mapping[tuple[str, str], float] | None = None,
    reps: int = 5,
    cells: Sequence[tuple[str, str]] = tuple(CELLS),
    kernel: str = "6.12.34",
    kind: str = "nightly",
    accuracy: Mapping[tuple[str, str], tuple[int, int]] | None = None,
    failed: Sequence[tuple[str, str]] = (),
) -> RunRecord:
    """One night: every cell `reps` lognormal repetitions around its CELLS latency."""
    made = []
    for key in cells:
        board, cell = key
        factor = (slow or {}).get(key, 1.0)
        values = CELLS[key] * factor * np.exp(rng.normal(0.0, noise, reps))
        samples = tuple(Sample(i + 1, "ok", _metrics(float(v))) for i, v in enumerate(values))
        acc = ()
        if accuracy and key in accuracy:
            correct, total = accuracy[key]
            acc = (AccuracyResult("top1", correct / total, correct, total),)
        made.append(
            CellRecord(
                board=board,
                cell=cell,
                delegate=cell.split("@")[0],
                variant=cell.split("@")[1] if "@" in cell else "",
                threads=1 if "@" in cell else None,
                status="failed" if key in failed else "ok",
                error="Segmentation fault (exit 139)" if key in failed else None,
                samples=() if key in failed else samples,
                accuracy=acc,
            )
        )
    boards = sorted({b for b, _ in cells})
    return RunRecord(
        header(night, kind),
        tuple(fingerprint(b, kernel) for b in boards),
        tuple(made),
        finished_at=header(night).started_at,
    )


def _metrics(avg_us: float) -> dict[str, float | None]:
    """Every stored metric (as the store gives them back)."""
    known = {
        "inference_avg_us": avg_us,
        "inference_median_us": avg_us * 0.99,
        "inference_p95_us": avg_us * 1.05,
        "inference_count": 50.0,
    }
    return {m: known.get(m) for m in SAMPLE_METRICS}
