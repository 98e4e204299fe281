"""The terminal table: fits the width it is given, marks the fastest cell, colours on request."""

from __future__ import annotations

import pandas as pd
import pytest

from imxbench.analysis.terminal_table import render_table


def summary(boards: tuple[str, ...] = ("imx8mp", "imx93"), accuracy: bool = True) -> pd.DataFrame:
    rows = []
    for board in boards:
        for cell, latency, failed in (
            ("cpu@1t", 3.8, 0),
            ("cpu@4t", 1.4, 0),
            ("vx", 0.22, 0),
            ("gpu", 3.7, 1),
        ):
            rows.append(
                {
                    "board": board,
                    "cell": cell,
                    "delegate": cell.split("@")[0],
                    "latency_ms": latency,
                    "p95_ms": latency * 1.02,
                    "spread_pct": 1.0,
                    "speedup": 1.4 / latency,
                    "init_ms": 4.0,
                    "first_ms": 4.1,
                    "cold_first_ms": 300.0 if cell == "vx" else None,
                    "npu_share": 1.0 if cell in ("vx", "gpu") else 0.0,
                    "failed": failed,
                    "error": "Segmentation fault" if failed else None,
                    "execution": "full",
                    "emulated": True,
                    **({"top1": 0.85, "top5": 0.99, "agreement_top1": 1.0} if accuracy else {}),
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("width", [80, 72, 60])
def test_every_line_fits_the_width(width: int) -> None:
    text = render_table(summary(), width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "latency ms" in text and "status" in text  # the essentials are never dropped


def test_wide_keeps_every_column_and_one_board_goes_to_the_title() -> None:
    wide = render_table(summary(("imx8mp",)), wide=True)
    lines = wide.splitlines()
    assert lines[0] == "imx8mp · EMULATED"
    for header in (
        "p95 ms",
        "spread",
        "init ms",
        "first ms",
        "cold 1st",
        "deleg.",
        "top1",
        "top5",
        "agree",
        "status",
    ):
        assert header in lines[1]
    assert not lines[1].startswith("board")


def test_the_fastest_cell_of_each_board_is_marked_and_failures_say_so() -> None:
    lines = render_table(summary(), width=100).splitlines()
    marked = [line for line in lines if "vx*" in line]
    assert len(marked) == 2 and all(line.split()[0] in ("imx8mp", "imx93") for line in marked)
    assert sum("FAILED (1)" in line for line in lines) == 2


def test_no_star_legend_when_no_cell_is_starred() -> None:
    rows = summary(("imx8mp",))
    assert "* fastest cell of its board" in render_table(rows, width=80)
    rows["failed"], rows["latency_ms"] = 1, None  # every cell failed: none is the fastest
    rows["emulated"] = False  # and no other note
    for wide in (False, True):
        text = render_table(rows, width=80, wide=wide)
        assert "*" not in text and "fastest" not in text
        assert "" not in text.splitlines()  # no empty legend line left behind


def test_colour_only_when_asked() -> None:
    assert "\033[" not in render_table(summary(), width=80)
    coloured = render_table(summary(), width=80, color=True)
    assert "\033[32m" in coloured and "\033[31m" in coloured and "\033[1m" in coloured


def test_board_text_cannot_reach_the_terminal_raw() -> None:
    hostile = summary(("evil\033]0;pwned\007\033[2J",))
    text = render_table(hostile, width=80, color=True)
    assert "\033]" not in text and "\007" not in text and "\033[2J" not in text


def test_a_skipped_cell_says_why_and_is_not_a_failure() -> None:
    rows = summary(("imx8mp",), accuracy=False)
    rows["status"] = "ok"
    rows["skip_reason"] = None
    skipped = rows["cell"] == "vx"
    reason = "a float32 model; the vx delegate runs only integer-quantized (int8/uint8) models"
    rows.loc[skipped, ["status", "skip_reason", "error", "failed"]] = [
        "skipped", "float32 model", reason, 0
    ]  # fmt: skip
    rows.loc[skipped, ["latency_ms", "p95_ms", "speedup", "npu_share"]] = None
    text = render_table(rows, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    vx = next(line for line in text.splitlines() if line.startswith("vx "))
    assert vx.endswith("skipped: float32 model")
    assert "vx skipped: a float32 model; the vx delegate" in text  # the whole reason below
    assert "\033[33mskipped: float32 model" in render_table(rows, width=80, color=True)


def test_spread_and_speedup_say_what_the_reports_say() -> None:
    """The spread reads as the HTML and Markdown reports print it (0.4%, not 0%), a cell of
    one repetition shows no spread rather than a perfect 0%, and the speedup is the ratio of
    the latencies shown."""
    from imxbench.analysis.results import build_table, summarize

    rows = [
        {
            "board": "imx8mp",
            "cell": cell,
            "delegate": cell.split("@")[0],
            "kind": "timed",
            "repetition": rep,
            "status": "ok",
            "emulated": True,
            "inference_avg_us": us,
            **dict.fromkeys(
                ("error", "execution", "delegate_time_share", "vela_estimate_us", "skip_reason")
            ),
        }
        for cell, rep, us in (
            ("cpu@4t", 1, 1425.0),
            ("cpu@4t", 2, 1430.5),
            ("vx", 1, 220.0),
            ("gpu", 1, 1000.0),
            ("gpu", 2, 1200.0),
        )
    ]
    table = summarize(build_table(rows))
    spread = dict(zip(table["cell"], table["spread_pct"], strict=True))
    assert spread["cpu@4t"] == pytest.approx(100 * 5.5 / 1427.75)
    assert pd.isna(spread["vx"])
    # speedup: the ratio of the printed latencies (the reference CPU cell exactly 1), not the
    # median of per-process ratios (1427.75 / 1000 and / 1200: 1.309, not 1.298)
    speedup = dict(zip(table["cell"], table["speedup"], strict=True))
    latency = dict(zip(table["cell"], table["latency_ms"], strict=True))
    assert speedup["cpu@4t"] == 1.0
    assert speedup["gpu"] == pytest.approx(latency["cpu@4t"] / latency["gpu"], rel=1e-12)
    assert speedup["gpu"] == pytest.approx(1427.75 / 1100, rel=1e-12)
    lines = render_table(table, wide=True).splitlines()
    cpu = next(line for line in lines if line.startswith("cpu@4t"))
    vx = next(line for line in lines if line.startswith("vx"))
    assert " 0.4% " in cpu
    assert "%" not in vx.replace("100%", "")
