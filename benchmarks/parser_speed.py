"""Parser speed: the largest real log and adversarial long lines, against a plain line split.

Prints ratios measured side by side in one run (no thresholds in tests).
"""

from __future__ import annotations

import time
from pathlib import Path

from imxbench.analysis.benchmark_log import parse_log

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "benchmark_model"
LOG20 = FIXTURES / "20_vx-npu-imx8mp-evk-yolov3tiny-ldd-and-VIV_VX_PROFILE-noise.log"


def best_of(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    text = LOG20.read_text(errors="replace")
    split = best_of(lambda: [line.split() for line in text.splitlines()])
    parse = best_of(lambda: parse_log(text))
    print(
        f"log 20 ({len(text) / 1e6:.1f} MB): parse {parse * 1000:.1f} ms, "
        f"plain split {split * 1000:.1f} ms, ratio {parse / split:.1f}x"
    )
    hostile = "STARTING!\n" + "\n".join(
        [
            "Inference timings in us: " + "a" * 200_000,
            "count=1 " + "b" * 200_000,
            "\t".join(["1"] * 100_000),
        ]
    )
    hostile_s = best_of(lambda: parse_log(hostile))
    print(f"adversarial 0.5 MB of long lines: parse {hostile_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
