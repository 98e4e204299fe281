"""Power and false alarms of the nightly regression detector (imxbench.analysis.detector, the
function the nightly and `imxbench compare` call) and two reference detectors.

Simulated series, no emulator: each series is a run of nights with `--reps` repetitions of one
cell's latency (µs); the noise model is per family (below), and several are NOT the one the
detector assumes (heavy tails, outliers, skew, bimodality, quantisation). Every detector judges
every night in order and sees its own earlier verdicts (the state it would find in the store).

Detectors, judged on the same data:
* mine:  imxbench.analysis.detector.judge with DetectorConfig() (alphas one-sided per
         cell-night: regressed 0.006, improved 0.001, drift 0.002; minimum effect 3%);
* asv:   Mann-Whitney U (normal approximation with tie correction) between the repetitions of
         the last 5 nights not judged regressed and tonight's, two-sided p < 0.002 AND a ratio
         of medians >= 1.05 (or <= 1/1.05: improved);
* ratio5: ratio of medians (tonight / the same 5-night window) >= 1.05 (<= 1/1.05: improved).

Layout of a standard family: S series of 30 unchanged nights (night 0 has no baseline; nights
1..29 are the unchanged cell-nights for false alarms, so short histories are included), then
branches sharing that past: a step of +3%, +5% or +10% from night 30 on. Recall = the share of
series judged `regressed` on night 30 (the first night of the change); "2n" = by night 31.
The +5% step runs to night 60: `@30` = share still `regressed` on night 60 (30 nights later,
never accepted). Special families: short histories (4-night series, nights 1..3 judged, steps
on night 1, 2 or 3); transient (+10% on night 30 only: caught that night, and nights 31..59
count as unchanged); drift (+0.1%/night from night 30 to 89: share flagged regressed on any
night by drift night 60, and on the last night).

False alarms: regressed or improved on an unchanged cell-night, with a one-sided 95%
Clopper-Pearson upper bound. `inc` = share inconclusive on unchanged cell-nights.

    .venv/bin/python benchmarks/regression_power.py [--quick] [--series 400] [--workers 2]

The full run takes about 3 minutes on 2 cores, `--quick` (100 series per family) under a
minute; the table is in docs/PERFORMANCE.md ("Regression power").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imxbench.analysis.detector import (
    DetectorConfig,
    Night,
    PooledNoise,
    judge,
    pooled_noise,
)

CODES = {"no baseline": 0, "unchanged": 1, "inconclusive": 2, "improved": 3, "regressed": 4}
NAMES = {v: k for k, v in CODES.items()}
PRE = 30  # unchanged nights before a change
STEP_NIGHTS = 31  # nights 30..60 of the persistent +5% step
EFFECTS = (0.03, 0.05, 0.10)
Noise = Callable[[np.random.Generator, int, int, int], np.ndarray]
"""(rng, series, nights, reps) -> ln latency offsets, shape (series, nights, reps)."""


def gauss(rep: float, night: float = 0.0) -> Noise:
    def draw(rng: np.random.Generator, s: int, n: int, r: int) -> np.ndarray:
        return rng.normal(0, rep, (s, n, r)) + rng.normal(0, night, (s, n, 1))

    return draw


def skewed(rng: np.random.Generator, s: int, n: int, r: int) -> np.ndarray:
    """Lognormal extra delay (median 2%, sigma 0.8: right-skewed) + 0.5% Gaussian + 0.5%
    night noise."""
    extra = rng.lognormal(math.log(0.02), 0.8, (s, n, r))
    return np.log1p(extra) + rng.normal(0, 0.005, (s, n, r)) + rng.normal(0, 0.005, (s, n, 1))


def student3(rng: np.random.Generator, s: int, n: int, r: int) -> np.ndarray:
    """Student-t(3) repetitions with a 2% SD (scale 2%/sqrt 3)."""
    return 0.02 / math.sqrt(3.0) * rng.standard_t(3, (s, n, r))


def outliers(rng: np.random.Generator, s: int, n: int, r: int) -> np.ndarray:
    """1% Gaussian repetitions, 5% of them 30% slower."""
    slow = rng.random((s, n, r)) < 0.05
    return rng.normal(0, 0.01, (s, n, r)) + math.log(1.3) * slow


def bimodal_process(rng: np.random.Generator, s: int, n: int, r: int) -> np.ndarray:
    """Each repetition (process) lands on one of two levels 3% apart (50/50), 0.5% noise."""
    return rng.normal(0, 0.005, (s, n, r)) + math.log(1.03) * (rng.random((s, n, r)) < 0.5)


def bimodal_boot(rng: np.random.Generator, s: int, n: int, r: int) -> np.ndarray:
    """Each night (boot) lands on one of two levels 4% apart (50/50), 1% repetitions."""
    return rng.normal(0, 0.01, (s, n, r)) + math.log(1.04) * (rng.random((s, n, 1)) < 0.5)


@dataclass(frozen=True)
class Family:
    name: str
    noise: Noise
    kind: str = "standard"  # standard | short | transient | drift
    level_us: float = 10_000.0
    quantum_us: float = 0.0
    reps: int = 5
    pooled: bool = False
    pooled_cells: tuple[int, int] = (3, 30)  # other cells lending noise: (cells, nights)
    target_recall5: bool = False  # rep <= 2% and night <= 1%


FAMILIES = (
    Family("gauss rep 1%", gauss(0.01), target_recall5=True),
    Family("gauss rep 2%", gauss(0.02), target_recall5=True),
    Family("gauss rep 5%", gauss(0.05)),
    Family("rep 1% + night 0.5%", gauss(0.01, 0.005), target_recall5=True),
    Family("rep 1% + night 1%", gauss(0.01, 0.01), target_recall5=True),
    Family("rep 2% + night 1%", gauss(0.02, 0.01), target_recall5=True),
    Family("rep 1% + night 2%", gauss(0.01, 0.02)),
    Family("lognormal skewed", skewed),
    Family("student-t(3) 2%", student3),
    Family("outliers 5% x1.3", outliers),
    Family("bimodal/process 3%", bimodal_process),
    Family("bimodal/boot 4%", bimodal_boot),
    Family("220us q1us 5 reps", gauss(0.01, 0.005), level_us=220.0, quantum_us=1.0),
    Family("220us q1us 3 reps", gauss(0.01, 0.005), level_us=220.0, quantum_us=1.0, reps=3),
    Family("short 1-3 n, prior", gauss(0.01, 0.02), kind="short"),
    Family("short 1-3 n, pooled", gauss(0.01, 0.02), kind="short", pooled=True),
    Family(
        "short 1-3 n, 6 young cells",
        gauss(0.01, 0.02),
        kind="short",
        pooled=True,
        pooled_cells=(6, 2),
    ),
    Family("transient +10% 1 n", gauss(0.01, 0.01), kind="transient"),
    Family("drift +0.1%/night", gauss(0.01, 0.01), kind="drift"),
)


def latencies(fam: Family, offsets: np.ndarray) -> np.ndarray:
    lat = fam.level_us * np.exp(offsets)
    if fam.quantum_us:
        lat = np.maximum(fam.quantum_us, np.round(lat / fam.quantum_us) * fam.quantum_us)
    return lat


# ---------------------------------------------------------------------------------------------
# My detector (per series, sequential; run in worker processes)


def judge_series(
    pre: np.ndarray, branches: list[np.ndarray], pooled: PooledNoise | None, cfg: DetectorConfig
) -> tuple[list[int], list[list[int]]]:
    """Judge the shared nights `pre` (nights, reps) in order, then each branch's nights after
    them; verdict codes."""
    history: list[Night] = []
    pre_codes = []
    for night in pre:
        reps = tuple(float(v) for v in night)
        verdict = judge(history, reps, cfg, pooled).verdict
        pre_codes.append(CODES[verdict])
        history.append(Night(reps, verdict))
    out = []
    for branch in branches:
        hist = list(history)
        codes = []
        for night in branch:
            reps = tuple(float(v) for v in night)
            verdict = judge(hist, reps, cfg, pooled).verdict
            codes.append(CODES[verdict])
            hist.append(Night(reps, verdict))
        out.append(codes)
    return pre_codes, out


Job = tuple[np.ndarray, list[np.ndarray], list[PooledNoise | None], DetectorConfig]


def _chunk(job: Job) -> tuple[np.ndarray, list[np.ndarray]]:
    pre, branches, pooled, cfg = job
    pres, outs = [], [[] for _ in branches]
    for s in range(len(pre)):
        p, bs = judge_series(pre[s], [b[s] for b in branches], pooled[s], cfg)
        pres.append(p)
        for k, b in enumerate(bs):
            outs[k].append(b)
    return np.array(pres, dtype=int), [np.array(o, dtype=int) for o in outs]


def run_mine(
    pool: ProcessPoolExecutor,
    pre: np.ndarray,
    branches: list[np.ndarray],
    pooled: list[PooledNoise | None],
    ctx: Context,
) -> tuple[np.ndarray, list[np.ndarray]]:
    s = len(pre)
    parts = np.array_split(np.arange(s), ctx.workers * 4)
    jobs: list[Job] = [
        (pre[p], [b[p] for b in branches], [pooled[i] for i in p], ctx.cfg) for p in parts if len(p)
    ]
    pres, outs = [], [[] for _ in branches]
    for p, bs in pool.map(_chunk, jobs):
        pres.append(p)
        for k, b in enumerate(bs):
            outs[k].append(b)
    return np.concatenate(pres), [np.concatenate(o) for o in outs]


# ---------------------------------------------------------------------------------------------
# Reference detectors (vectorised over series)


def run_reference(
    kind: str, pre: np.ndarray, branches: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    pre_codes = _reference(kind, pre, 0)
    outs = []
    for b in branches:
        full = np.concatenate([pre, b], axis=1)
        outs.append(_reference(kind, full, pre.shape[1])[:, pre.shape[1] :])
    return pre_codes[:, : pre.shape[1]], outs


def _reference(kind: str, lat: np.ndarray, start: int, window: int = 5) -> np.ndarray:
    """Verdict codes (series, nights) of `kind` ('asv' or 'ratio5'); nights before `start`
    are judged too (their verdicts are the state), identically for every branch."""
    s, n, _ = lat.shape
    codes = np.zeros((s, n), dtype=int)
    limit = 1.05
    for t in range(1, n):
        good = codes[:, :t] != CODES["regressed"]
        rank = np.cumsum(good[:, ::-1], axis=1)[:, ::-1]  # good nights from t-1 backwards
        chosen = good & (rank <= window)
        base = np.where(chosen[:, :, None], lat[:, :t], np.nan).reshape(s, -1)
        cur = lat[:, t]
        has = chosen.any(axis=1)
        ratio = np.median(cur, axis=1) / np.nanmedian(np.where(has[:, None], base, 1.0), axis=1)
        alarm = np.ones(s, bool) if kind == "ratio5" else _mann_whitney_p(base, cur) < 0.002
        verdict = np.full(s, CODES["unchanged"])
        verdict[alarm & (ratio >= limit)] = CODES["regressed"]
        verdict[alarm & (ratio <= 1 / limit)] = CODES["improved"]
        if kind == "asv":
            verdict[~alarm] = CODES["unchanged"]
        verdict[~has] = CODES["no baseline"]
        codes[:, t] = verdict
    return codes


def _mann_whitney_p(base: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Two-sided Mann-Whitney p per row (NaN in `base` = absent), normal approximation with
    tie correction and continuity correction."""
    valid = ~np.isnan(base)
    n1 = cur.shape[1]
    n2 = valid.sum(axis=1)
    less = (base[:, None, :] < cur[:, :, None]) & valid[:, None, :]
    equal = (base[:, None, :] == cur[:, :, None]) & valid[:, None, :]
    u = less.sum(axis=(1, 2)) + 0.5 * equal.sum(axis=(1, 2))
    mu = n1 * n2 / 2.0
    allv = np.concatenate([np.where(valid, base, np.inf), cur], axis=1)
    # tie correction: sum over tied groups of (t^3 - t), per row
    srt = np.sort(allv, axis=1)
    tie_term = np.zeros(len(base))
    for row in range(len(base)):
        vals = srt[row][np.isfinite(srt[row])]
        _, counts = np.unique(vals, return_counts=True)
        tie_term[row] = float(np.sum(counts**3 - counts))
    big_n = n1 + n2
    var = n1 * n2 / 12.0 * ((big_n + 1) - tie_term / np.maximum(big_n * (big_n - 1), 1))
    z = (np.abs(u - mu) - 0.5) / np.sqrt(np.maximum(var, 1e-300))
    from scipy.special import ndtr

    p = 2.0 * ndtr(-np.maximum(z, 0.0))
    return np.where(n2 > 0, p, 1.0)


# ---------------------------------------------------------------------------------------------
# Families


@dataclass
class Row:
    family: str
    detector: str
    alarms: int = 0
    clean: int = 0
    inconclusive: int = 0
    recall: tuple[float, ...] = ()
    recall2: tuple[float, ...] = ()
    still: float = math.nan
    extra: str = ""


@dataclass(frozen=True)
class Context:
    cfg: DetectorConfig
    workers: int


def simulate(
    fam: Family, series: int, seed: int, pool: ProcessPoolExecutor, ctx: Context
) -> list[Row]:
    rng = np.random.default_rng(seed)
    if fam.kind == "short":
        return simulate_short(fam, series, rng, pool, ctx)
    total = PRE + (STEP_NIGHTS if fam.kind == "standard" else 60)
    off = fam.noise(rng, series, total, fam.reps)
    pre = latencies(fam, off[:, :PRE])
    post_off = off[:, PRE:]
    branches: list[np.ndarray] = []
    if fam.kind == "standard":
        for e in EFFECTS:
            nights = STEP_NIGHTS if e == 0.05 else 2
            branches.append(latencies(fam, post_off[:, :nights] + math.log1p(e)))
    elif fam.kind == "transient":
        bump = np.zeros(post_off.shape[1])
        bump[0] = math.log1p(0.10)
        branches.append(latencies(fam, post_off + bump[None, :, None]))
    else:  # drift
        ramp = np.log1p(0.001 * np.arange(1, post_off.shape[1] + 1))
        branches.append(latencies(fam, post_off + ramp[None, :, None]))
    rows = []
    runs = {
        "mine": run_mine(pool, pre, branches, [None] * series, ctx),
        "asv": run_reference("asv", pre, branches),
        "ratio5": run_reference("ratio5", pre, branches),
    }
    reg, imp, inc = CODES["regressed"], CODES["improved"], CODES["inconclusive"]
    for name, (pre_codes, outs) in runs.items():
        clean = pre_codes[:, 1:]
        if fam.kind == "transient":
            clean = np.concatenate([clean, outs[0][:, 1:]], axis=1)
        row = Row(
            fam.name,
            name,
            int(np.isin(clean, (reg, imp)).sum()),
            clean.size,
            int((clean == inc).sum()),
        )
        if fam.kind == "standard":
            row.recall = tuple(float(np.mean(o[:, 0] == reg)) for o in outs)
            row.recall2 = tuple(float(np.mean((o[:, :2] == reg).any(axis=1))) for o in outs)
            row.still = float(np.mean(outs[1][:, 30] == reg))
        elif fam.kind == "transient":
            row.recall = (math.nan, math.nan, float(np.mean(outs[0][:, 0] == reg)))
        else:
            flagged = (outs[0] == reg).any(axis=1)
            first = (np.argmax(outs[0] == reg, axis=1) + 1)[flagged]
            median = f"{np.median(first):.0f}" if len(first) else "-"
            row.extra = (
                f"flagged by drift night 60: {np.mean(flagged):.1%}; on night 60: "
                f"{np.mean(outs[0][:, -1] == reg):.1%}; median first flagged night "
                f"{median}"
            )
        rows.append(row)
    return rows


def simulate_short(
    fam: Family, series: int, rng: np.random.Generator, pool: ProcessPoolExecutor, ctx: Context
) -> list[Row]:
    """Series of 4 nights (night 0, then 1..3 judged); steps on night 1, 2 or 3 (a branch
    each, judged on that night only). `pooled`: a prior from the board's other cells
    (`pooled_cells`: 3 cells of 30 nights, or 6 young cells of 2 nights as after two nightlies;
    same noise model, independent draws)."""
    s = series * 5
    off = fam.noise(rng, s, 4, fam.reps)
    pooled: list[PooledNoise | None] = [None] * s
    if fam.pooled:
        cells, nights = fam.pooled_cells
        other = latencies(fam, fam.noise(rng, s * cells, nights, fam.reps)).reshape(
            s, cells, nights, fam.reps
        )
        pooled = [
            pooled_noise(
                [[Night(tuple(map(float, r))) for r in cell] for cell in other[i]], ctx.cfg
            )
            for i in range(s)
        ]
    pre = latencies(fam, off)
    branches = []
    for e in EFFECTS:
        for k in (1, 2, 3):
            shifted = off.copy()
            shifted[:, k:] += math.log1p(e)
            branches.append(latencies(fam, shifted))
    rows = []
    reg, imp, inc = CODES["regressed"], CODES["improved"], CODES["inconclusive"]
    # each branch is judged in full (nights 0..3) as its own series: simple, and cheap here
    mine_pre, _ = run_mine(pool, pre, [], pooled, ctx)
    mine_b = [run_mine(pool, b, [], pooled, ctx)[0] for b in branches]
    ref = {
        kind: (_reference(kind, pre, 0), [_reference(kind, b, 0) for b in branches])
        for kind in ("asv", "ratio5")
    }
    for name, (pre_codes, outs) in {"mine": (mine_pre, mine_b), **ref}.items():
        clean = pre_codes[:, 1:]
        row = Row(
            fam.name,
            name,
            int(np.isin(clean, (reg, imp)).sum()),
            clean.size,
            int((clean == inc).sum()),
        )
        rec = []
        for i in range(len(EFFECTS)):
            hits = [np.mean(outs[3 * i + j][:, k] == reg) for j, k in enumerate((1, 2, 3))]
            rec.append(float(np.mean(hits)))
        row.recall = tuple(rec)
        by_night = [np.mean(outs[3 + j][:, k] == reg) for j, k in enumerate((1, 2, 3))]
        row.extra = "recall +5% on night 1/2/3: " + "/".join(f"{v:.0%}" for v in by_night)
        rows.append(row)
    return rows


def upper_bound(events: int, trials: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound of a rate."""
    from scipy import stats

    if trials == 0:
        return math.nan
    return 1.0 if events >= trials else float(stats.beta.ppf(0.95, events + 1, trials - events))


def print_rows(fam: Family, rows: list[Row]) -> list[str]:
    lines = [
        f"## {fam.name}  ({fam.reps} reps, {fam.level_us:g} us"
        + (f", quantum {fam.quantum_us:g} us" if fam.quantum_us else "")
        + ")"
    ]
    lines.append(
        f"{'detector':8s} {'false alarm':>11s} {'(95% ub)':>9s} {'n':>6s} {'inc':>6s} "
        f"{'rec+3%':>7s} {'rec+5%':>7s} {'rec+10%':>7s} {'2n+5%':>6s} {'@30':>6s}"
    )
    for r in rows:
        fa = r.alarms / r.clean if r.clean else math.nan
        rec = [
            f"{v:7.1%}" if not math.isnan(v) else f"{'-':>7s}"
            for v in (r.recall or (math.nan,) * 3)
        ]
        two = f"{r.recall2[1]:6.1%}" if r.recall2 else f"{'-':>6s}"
        still = f"{r.still:6.1%}" if not math.isnan(r.still) else f"{'-':>6s}"
        lines.append(
            f"{r.detector:8s} {fa:11.2%} {upper_bound(r.alarms, r.clean):9.2%} {r.clean:6d} "
            f"{r.inconclusive / max(r.clean, 1):6.1%} {' '.join(rec)} {two} {still}"
            + (f"  {r.extra}" if r.extra else "")
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=400, help="series per family")
    parser.add_argument("--quick", action="store_true", help="100 series per family")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--only", default="", help="families whose name contains this")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a DetectorConfig field (a study; not the defaults)",
    )
    args = parser.parse_args()
    series = 100 if args.quick else args.series
    started = time.monotonic()
    fields = {f.name: f for f in dataclasses.fields(DetectorConfig)}
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = int(value) if fields[key].type == "int" else float(value)
    cfg = DetectorConfig(**overrides)
    ctx = Context(cfg, args.workers)
    print(f"detector: {cfg}")
    print(
        f"{series} series per family; recall = regressed on the first night of the change; "
        "2n = by the 2nd night; @30 = +5% step still regressed 30 nights later\n"
    )
    with ProcessPoolExecutor(args.workers) as pool:
        for i, fam in enumerate(FAMILIES):
            if args.only and args.only not in fam.name:
                continue
            t0 = time.monotonic()
            rows = simulate(fam, series, args.seed + 1000 * i, pool, ctx)
            print(
                "\n".join(print_rows(fam, rows)) + f"   [{time.monotonic() - t0:.0f} s]\n",
                flush=True,
            )
    print(f"total time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
