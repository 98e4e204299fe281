"""Does the nightly regression detector find real slowdowns without paging on noise?

Drives the emulated board through a series of simulated nightlies and judges every night with
the product's own code: the emulated `benchmark_model` (imxbench/emulator/benchmark_tool.py:
its cost model, its noise, its faults.json) produces each repetition, the real log parser reads
it, the real results history (a temporary SQLite store) records the night, and
`imxbench.history.baselines.judge_run` judges it against its baseline, as `imxbench nightly` does.

The lab: an emulated i.MX 8M Plus with four series — cpu@1t, cpu@4t, vx (NPU) and gpu — of the
reference model, `--repetitions` repetitions each, with `--noise` percent of run-to-run noise
(board.json `noise_pct`: a per-process offset with a CV of noise/2 plus per-inference jitter of
noise, as `imxbench emulate --noise` gives). The first `--history` nights build the history and
are not counted. Then every night either stays unchanged or gets a `--slowdown` (5%) injected
into ONE series chosen at random (faults.json `slowdown` + `slowdown_delegates`: cpu, npu or
gpu), with probability `--slow-share`. `--night-noise` adds a night-to-night offset of that
CV to every series (off by default: the emulator has none).

Recall: the share of injected slowdowns judged `regressed`. False alarms: the share of
unchanged cell-nights judged regressed or improved (and, stricter, of unchanged nights with any
alarm). The last line is `recall=<r> false_alarm=<f>` (per unchanged cell-night).

Why not over SSH: the emulator's timings are modelled, so SSH adds about a second per
repetition and no information. Two worker processes (the machine has 2 cores), one per half of
the series, each with its own emulated board description and fault file, call the tool's
`main()` in-process with its wall-clock pacing switched off (the tool only sleeps so that its
run time matches the modelled time; the printed figures do not depend on it).

    .venv/bin/python benchmarks/regression_power.py [--nights 700] [--noise 2] [--repetitions 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imxbench.analysis.benchmark_log import parse_log  # noqa: E402
from imxbench.analysis.regression import Thresholds  # noqa: E402
from imxbench.emulator import benchmark_tool  # noqa: E402
from imxbench.emulator.faults import update_faults  # noqa: E402
from imxbench.history.baselines import BaselinePolicy, judge_run  # noqa: E402
from imxbench.history.store import open_store  # noqa: E402
from imxbench.model.records import (  # noqa: E402
    CellRecord,
    Fingerprint,
    RunHeader,
    RunRecord,
    Sample,
)

FIRST_NIGHT = datetime(2025, 1, 1, 2, 0, 0)
MODEL = REPO / "imxbench" / "reference_models" / "pretrainedResnet_quant.tflite"
SETTINGS = {"num_runs": 50, "warmup_runs": 1, "min_secs": 1.0, "threads": None}
# series -> (where its work runs: the slowdown_delegates target, extra flags, environment)
SERIES: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "cpu@1t": ("cpu", ["--num_threads=1"], {}),
    "cpu@4t": ("cpu", ["--num_threads=4"], {}),
    "vx": ("npu", ["--external_delegate_path={lib}"], {"USE_GPU_INFERENCE": "0"}),
    "gpu": ("gpu", ["--external_delegate_path={lib}"], {"USE_GPU_INFERENCE": "1"}),
}


def make_board(root: Path, noise_pct: float, seed: int) -> Path:
    """An emulated i.MX 8M Plus description (board.json) with a stand-in VX delegate library
    and its own fault file."""
    root.mkdir(parents=True, exist_ok=True)
    library = root / "libvx_delegate.so"
    library.write_text("imxbench emulator stand-in\n")
    (root / "control").mkdir(exist_ok=True)
    doc = {
        "format": 1,
        "emulated": True,
        "soc": "imx8mp",
        "soc_id": "i.MX8MP",
        "cpu_count": 4,
        "tflite_version": "2.19.0",
        "delegates": {str(library): "vx"},
        "noise_pct": noise_pct,
        "seed": seed,
        "control_dir": str(root / "control"),
        "python": sys.executable,
    }
    (root / "board.json").write_text(json.dumps(doc))
    return root


def run_series(job: dict[str, Any]) -> dict[str, list[list[float]]]:
    """Worker: every night of some series; {series: [latencies (µs) of each night]}."""
    benchmark_tool.sleep_until = lambda deadline: None  # pacing only; figures are modelled
    out: dict[str, list[list[float]]] = {}
    for name in job["series"]:
        target, flags, env = SERIES[name]
        root = make_board(Path(job["dir"]) / name, job["noise"], job["seed"] + len(out))
        os.environ[benchmark_tool.BOARD_JSON_ENV] = str(root / "board.json")
        os.environ.pop("USE_GPU_INFERENCE", None)
        os.environ.update(env)
        argv = [
            f"--graph={MODEL}",
            *(f.format(lib=root / "libvx_delegate.so") for f in flags),
            f"--num_runs={SETTINGS['num_runs']}",
            f"--warmup_runs={SETTINGS['warmup_runs']}",
            f"--min_secs={SETTINGS['min_secs']}",
        ]
        nights = []
        for factor in job["factors"][name]:
            update_faults(root / "control", slowdown=factor, slowdown_delegates=[target])
            nights.append([_one_run(argv) for _ in range(job["repetitions"])])
        out[name] = nights
    return out


def _one_run(argv: list[str]) -> float:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = benchmark_tool.main(argv)
    runs = parse_log(stdout.getvalue() + "\n" + stderr.getvalue())
    value = runs[-1].to_dict().get("inference_avg_us") if runs else None
    if status != 0 or not value:
        raise RuntimeError(f"emulated benchmark_model failed:\n{stderr.getvalue()[-500:]}")
    return float(value)


def plan_nights(args: argparse.Namespace) -> tuple[list[str | None], dict[str, list[float]]]:
    """Which series is slowed each night (None: an unchanged night), and every series'
    slowdown factor per night (night-to-night noise included)."""
    rng = np.random.default_rng(args.seed)
    total = args.history + args.nights
    slowed: list[str | None] = [None] * args.history
    for _ in range(args.nights):
        slow = rng.random() < args.slow_share
        slowed.append(str(rng.choice(list(SERIES))) if slow else None)
    sigma = math.sqrt(math.log1p((args.night_noise / 100) ** 2))
    offsets = rng.lognormal(-sigma * sigma / 2, sigma, size=total) if sigma else np.ones(total)
    factors = {
        name: [
            round(float(offsets[n]) * (1 + args.slowdown / 100 if slowed[n] == name else 1), 6)
            for n in range(total)
        ]
        for name in SERIES
    }
    return slowed, factors


def judge_nights(
    samples: dict[str, list[list[float]]], slowed: list[str | None], args: argparse.Namespace
) -> list[dict[str, str]]:
    """Record and judge every night with the product's history and verdicts."""
    thresholds = Thresholds(alpha=args.alpha, min_effect=args.min_effect / 100)
    policy = BaselinePolicy.parse(args.baseline)
    said = []
    with tempfile.TemporaryDirectory() as tmp, open_store(None, Path(tmp)) as store:
        for night in range(len(slowed)):
            header = RunHeader(
                run_id=f"night-{night:05d}",
                kind="nightly",
                started_at=(FIRST_NIGHT + timedelta(days=night)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                model=MODEL.name,
                model_sha256="0" * 64,
                settings={**SETTINGS, "repetitions": args.repetitions},
                emulated=True,
            )
            cells = tuple(
                CellRecord(
                    "imx8mp",
                    name,
                    name.split("@")[0],
                    samples=tuple(
                        Sample(i + 1, "ok", {"inference_avg_us": v})
                        for i, v in enumerate(samples[name][night])
                    ),
                )
                for name in SERIES
            )
            record = RunRecord(header, (Fingerprint("imx8mp", emulated=True),), cells)
            verdicts = judge_run(store, record, policy, thresholds)
            store.record_run(record, verdicts, str(policy))
            said.append({v.cell: v.verdict for v in verdicts})
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nights", type=int, default=700, help="judged nights")
    parser.add_argument("--history", type=int, default=10, help="nights before counting")
    parser.add_argument("--noise", type=float, default=2.0, help="emulator noise_pct")
    parser.add_argument("--night-noise", type=float, default=0.0, help="extra CV %%, per night")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--slowdown", type=float, default=5.0, help="injected slowdown, %%")
    parser.add_argument("--slow-share", type=float, default=0.5, help="share of slowed nights")
    parser.add_argument("--baseline", default="window:5")
    parser.add_argument("--alpha", type=float, default=0.01, help="false alarms per night")
    parser.add_argument("--min-effect", type=float, default=3.0, help="percent")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    started = time.monotonic()
    slowed, factors = plan_nights(args)
    names = list(SERIES)
    samples: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.workers) as pool:
        jobs = [
            {
                "series": names[i :: args.workers],
                "factors": factors,
                "dir": tmp,
                "noise": args.noise,
                "seed": args.seed + 100 * i,
                "repetitions": args.repetitions,
            }
            for i in range(args.workers)
        ]
        for part in pool.map(run_series, jobs):
            samples.update(part)
    measured = time.monotonic() - started
    said = judge_nights(samples, slowed, args)
    report(args, slowed, said, samples, measured, time.monotonic() - started)


def report(
    args: argparse.Namespace,
    slowed: list[str | None],
    said: list[dict[str, str]],
    samples: dict[str, list[list[float]]],
    measured_s: float,
    total_s: float,
) -> None:
    counted = range(args.history, len(slowed))
    injected = [(n, slowed[n]) for n in counted if slowed[n] is not None]
    detected = sum(said[n][name] == "regressed" for n, name in injected if name)
    alarms = ("regressed", "improved")
    clean_cells = [(n, c) for n in counted for c in SERIES if c != slowed[n]]
    cell_alarms = sum(said[n][c] in alarms for n, c in clean_cells)
    inconclusive = sum(said[n][c] == "inconclusive" for n, c in clean_cells)
    quiet_nights = [n for n in counted if slowed[n] is None]
    night_alarms = sum(any(v in alarms for v in said[n].values()) for n in quiet_nights)
    history_alarms = sum(any(v in alarms for v in said[n].values()) for n in range(1, args.history))
    spread = np.mean(
        [np.std(np.log(night), ddof=1) for series in samples.values() for night in series]
    )
    recall = detected / len(injected) if injected else float("nan")
    false_alarm = cell_alarms / len(clean_cells) if clean_cells else float("nan")
    print(
        f"emulated imx8mp, series {' '.join(SERIES)}; noise_pct={args.noise:g} (repetitions "
        f"spread {100 * spread:.2f}%), night-to-night noise {args.night_noise:g}%, "
        f"{args.repetitions} repetitions, baseline {args.baseline}, alpha {args.alpha:g} per "
        f"night, minimum effect {args.min_effect:g}%"
    )
    print(
        f"{args.history} history nights (alarms there: {history_alarms}), {args.nights} judged "
        f"nights; {len(injected)} with a {args.slowdown:g}% slowdown in one series"
    )
    print(f"slowdowns detected: {detected}/{len(injected)}")
    print(
        f"unchanged cell-nights with an alarm: {cell_alarms}/{len(clean_cells)} "
        f"(95% upper bound {100 * _upper_bound(cell_alarms, len(clean_cells)):.2f}%); "
        f"inconclusive: {inconclusive}"
    )
    print(
        f"unchanged nights with any alarm: {night_alarms}/{len(quiet_nights)} "
        f"(95% upper bound {100 * _upper_bound(night_alarms, len(quiet_nights)):.2f}%)"
    )
    print(f"time: {measured_s:.0f} s emulating, {total_s:.0f} s in all")
    print(f"recall={recall:.3f} false_alarm={false_alarm:.4f}")


def _upper_bound(events: int, trials: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound of a rate."""
    if trials == 0:
        return float("nan")
    from scipy import stats

    return 1.0 if events >= trials else float(stats.beta.ppf(0.95, events + 1, trials - events))


if __name__ == "__main__":
    main()
