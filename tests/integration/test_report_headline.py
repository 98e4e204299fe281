"""Issue 18, "reports that answer in five seconds": the verdict headline, the comparison page
of two runs, run references (prefix, latest) and labels that say what the data says."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from imxbench.cli.main import cli
from imxbench.errors import ConfigError
from imxbench.report.build import load_report, render, resolve_runs, write_report
from imxbench.report.headline import headline
from tests.chromium_cdp import chromium_path, open_page
from tests.report_fixtures import write_run

DAY0 = datetime(2026, 9, 1, 2, 0, 0)
IMX8MP = {"imx8mp": ("cpu@1t", "cpu@4t", "vx", "gpu")}


def _edit_json(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def low_accuracy_run(root: Path, run_id: str = "20260901-020000-0acc") -> Path:
    """An imx8mp run whose top-1 is 5.7% (10 classes: below 1.5× chance), cpu@1t not
    evaluated (each delegate is evaluated once), and a preprocessing warning on 200 of the
    300 images."""
    run = write_run(root, run_id, DAY0, cells=IMX8MP, accuracy=True)

    def change(doc: dict[str, Any]) -> None:
        doc["samples"] = 300
        doc["cells"] = [c for c in doc["cells"] if c["cell"] != "cpu@1t"]
        for cell in doc["cells"]:
            cell.update(top1=0.057, top1_ci=[0.035, 0.09], top1_ci_low=0.035, top1_ci_high=0.09)
            cell.update(status="ok", error=None)
        doc["sanity_check"] = {
            "configured": {
                "channel_order": "rgb",
                "quantization": "model",
                "images": 200,
                "top1_correct": 11,
                "top1": 0.055,
            },
            "best": {
                "channel_order": "bgr",
                "quantization": "model",
                "images": 200,
                "top1_correct": 170,
                "top1": 0.85,
            },
            "warning": "the configured preprocessing (RGB + model quantization) scores 5.5% "
            "top-1 on 200 images, but BGR + model quantization scores 85.0%",
        }

    _edit_json(run / "accuracy.json", change)
    # the summary table copies each delegate's accuracy into all its cells (cpu@1t too)
    _edit_json(run / "summary.json", lambda rows: [r.update(top1=0.057) for r in rows])
    return run


# -- the headline ----------------------------------------------------------------------------
def test_headline_statuses(tmp_path: Path) -> None:
    ok = load_report([write_run(tmp_path, "20260901-000000-0a0a", DAY0, cells=IMX8MP)])
    found = headline(ok)
    assert found.status == "ok" and found.summary == "All 4 cells ran"
    [board] = found.boards
    assert board.cell == "vx" and board.cpu_cell == "cpu@4t"
    assert board.speedup == pytest.approx(1.42 / 0.221, rel=0.05)
    assert re.search(r"imx8mp: vx fastest at 0\.2\d+ ms, 6\.\d\d× the CPU \(cpu@4t", found.sentence)

    low = headline(load_report([low_accuracy_run(tmp_path)]))
    assert low.status == "attention"
    assert "below 1.5× chance (15.0% for 10 classes)" in low.summary
    assert "imx8mp · cpu@1t" not in low.summary  # never evaluated: not judged
    assert any("preprocessing sanity check" in r for r in low.reasons)
    assert "top-1 5.7% (CI 3.5–9.0%)" in low.sentence

    failed = write_run(
        tmp_path, "20260901-000000-0f0f", DAY0, cells=IMX8MP, failed=[("imx8mp", "gpu")]
    )
    assert headline(load_report([failed])).status == "failed"
    regressed = write_run(
        tmp_path,
        "20260901-000000-0e0e",
        DAY0,
        cells=IMX8MP,
        verdicts=[{"board": "imx8mp", "cell": "vx", "verdict": "regressed", "change_pct": 9.0}],
    )
    assert headline(load_report([regressed])).status == "regression"
    fallback = write_run(tmp_path, "20260901-000000-0b0b", DAY0, cells=IMX8MP)
    _edit_json(
        fallback / "summary.json",
        lambda rows: [r.update(execution="partial") for r in rows if r["cell"] == "gpu"],
    )
    found = headline(load_report([fallback]))
    assert (
        found.status == "attention" and "imx8mp · gpu fell back to the CPU partly" in found.summary
    )


def test_a_failed_delegate_is_not_said_to_lose_to_the_cpu(tmp_path: Path) -> None:
    """Every delegate cell failed: the CPU is fastest because nothing else ran, and the
    sentence says so instead of "no delegate beats it"."""
    none_ran = write_run(
        tmp_path,
        "20260901-000000-0d0d",
        DAY0,
        cells=IMX8MP,
        failed=[("imx8mp", "vx"), ("imx8mp", "gpu")],
    )
    found = headline(load_report([none_ran]))
    assert found.status == "failed" and "beats" not in found.sentence
    assert re.search(
        r"imx8mp: the CPU \(cpu@4t\) fastest at [\d.]+ ms, no delegate cell ran "
        r"\(vx failed, gpu failed\)",
        found.sentence,
    )
    slower = write_run(
        tmp_path,
        "20260901-000000-0d0e",
        DAY0,
        cells=IMX8MP,
        scale={("imx8mp", "vx"): 20.0},
        failed=[("imx8mp", "gpu")],
    )
    found = headline(load_report([slower]))
    assert "fastest at " in found.sentence
    assert "no delegate beats it (gpu failed)" in found.sentence


def test_headline_latencies_read_as_the_tables_print_them() -> None:
    """The digits of the tables (0.220 and 0.012, not 0.22 and 0.0120), and no scientific
    notation for a model slower than a second."""
    from imxbench.report.headline import _ms
    from imxbench.report.view import fmt_ms

    values = (0.012, 0.22, 0.2192, 3.8, 12.4, 299.4, 1234.5)
    assert [_ms(v) for v in values] == [f"{fmt_ms(v)} ms" for v in values]
    assert [_ms(v) for v in values] == [
        "0.012 ms",
        "0.220 ms",
        "0.219 ms",
        "3.80 ms",
        "12.4 ms",
        "299 ms",
        "1,234 ms",
    ]


def test_an_unreachable_board_is_a_failed_board_not_a_failed_cell(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        "20260901-000000-0c0c",
        DAY0,
        cells={**IMX8MP, "imx93": ("cpu@1t",)},
        failed=[("imx8mp", "gpu")],
    )
    _edit_json(
        run / "boards.json",
        lambda rows: [
            r.update(error="imx93: cannot connect to root@127.0.0.1:1: Connection refused")
            for r in rows
            if r["board"] == "imx93"
        ],
    )
    found = headline(load_report([run]))
    assert found.status == "failed"
    assert found.summary == "1 failed board · 1 failed cell"


def test_json_report_carries_the_headline(tmp_path: Path) -> None:
    doc = json.loads(render(load_report([low_accuracy_run(tmp_path)]), "json"))
    assert doc["headline"]["status"] == "attention"
    assert doc["headline"]["boards"][0]["cell"] == "vx"
    assert doc["headline"]["sentence"].startswith("Attention: top-1 accuracy below 1.5× chance")


def test_labels_follow_the_data(tmp_path: Path) -> None:
    page = render(load_report([low_accuracy_run(tmp_path)]), "html")
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    row = {m[0]: m[1] for m in re.findall(r"<td>(cpu@1t|gpu|vx)</td>(.*?)</tr>", text)}
    assert "100% on GPU" in row["gpu"] and "on NPU" not in row["gpu"]
    assert "100% on NPU" in row["vx"]
    assert "not evaluated" in row["cpu@1t"] and "5.7%" not in row["cpu@1t"]
    assert "5.7% [3.5–9.0]" in row["vx"]
    # the sanity check's counts say which images: 200 of the 300 evaluated
    assert "over 200 images (a subset of the 300 evaluated)" in text
    assert "300 images evaluated per cell" in text
    placement = re.search(r'<svg[^>]*data-chart="op_placement".*?</svg>', page, re.S)
    assert placement and "gpu delegate on GPU" in placement[0]
    assert "vx delegate on NPU" in placement[0] and "Vx Delegate" not in placement[0]
    cold = text[text.index('id="chart-cold_warm"') :][:600]
    assert "NPU&#39;s" not in cold and "NPU's" not in cold
    assert not re.search(r"\b\w+\.json\b", text.replace(".tflite", ""))  # no internal files


# -- the browser -----------------------------------------------------------------------------
FIRST_SCREEN = """JSON.stringify((() => {
  const box = document.querySelector('#verdict');
  const r = box.getBoundingClientRect();
  const small = [...document.querySelectorAll('body *')].filter(e =>
    e.childNodes.length && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
    && !e.closest('svg') && parseFloat(getComputedStyle(e).fontSize) < 10).length;
  return {top: r.top, bottom: r.bottom, status: box.querySelector('.status').textContent,
          css: box.className, colour: getComputedStyle(box).backgroundColor,
          headline: box.querySelector('.headline').textContent,
          width: document.documentElement.scrollWidth, small: small,
          text: document.body.innerText};
})())"""


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (setup.sh)")
def test_attention_headline_is_in_the_first_screen(tmp_path: Path) -> None:
    path = write_report(load_report([low_accuracy_run(tmp_path)]))
    page = open_page(path, 1400, FIRST_SCREEN)
    assert page.console_errors == []
    found = json.loads(page.evaluated)
    assert found["status"] == "attention" and "warn" in found["css"].split()
    assert found["colour"] == "rgb(255, 248, 225)"  # the warning colour, not green
    assert "below 1.5× chance" in found["headline"]
    assert found["top"] >= 0 and found["bottom"] <= 900, found
    assert ".json" not in found["text"]


# -- the comparison page ---------------------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_a_b_writes_a_comparison_page_and_leaves_both_runs(tmp_path: Path) -> None:
    a = write_run(tmp_path, "20260901-020000-aaaa", DAY0, cells=IMX8MP, accuracy=True)
    b = write_run(
        tmp_path,
        "20260902-020000-bbbb",
        DAY0 + timedelta(days=1),
        cells=IMX8MP,
        scale={("imx8mp", "vx"): 1.3},
        accuracy=True,
        verdicts=[
            {
                "board": "imx8mp",
                "cell": "vx",
                "verdict": "regressed",
                "change_pct": 30.0,
                "ci_pct": [24.0, 36.5],
            }
        ],
        seed=1,
    )
    for run in (a, b):
        write_report(load_report([run]))
    before = {run: _sha(run / "report.html") for run in (a, b)}
    done = CliRunner().invoke(cli, ["report", "20260901", "latest", "--reports", str(tmp_path)])
    assert done.exit_code == 0, done.output
    page_path = tmp_path / "compare-20260901-020000-aaaa-20260902-020000-bbbb" / "index.html"
    assert done.output.strip() == f"report: {page_path}"
    assert {run: _sha(run / "report.html") for run in (a, b)} == before
    page = page_path.read_text()
    assert "20260901-020000-aaaa" in page and "20260902-020000-bbbb" in page
    assert not re.search(r"<script", page, re.I)
    vx = re.search(r"<td>imx8mp</td><td>vx</td>(.*?)</tr>", page, re.S)
    assert vx is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", vx[1])
    a_ms, b_ms, change, interval, verdict = cells[:5]
    assert float(b_ms) / float(a_ms) == pytest.approx(1.3, rel=0.05)
    assert change.startswith("+") and "change CI +24.0% … +36.5%" in interval
    assert verdict == "regressed"
    gpu = re.search(r"<td>imx8mp</td><td>gpu</td>(.*?)</tr>", page, re.S)
    assert gpu is not None and re.search(r"A [\d.]+–[\d.]+ ms · B [\d.]+–[\d.]+ ms", gpu[1])
    assert "pp</td>" in page  # the accuracy change
    out = tmp_path / "elsewhere" / "c.html"
    out.parent.mkdir()
    done = CliRunner().invoke(
        cli, ["report", str(a), str(b), "--reports", str(tmp_path), "--out", str(out)]
    )
    assert done.exit_code == 0 and "20260902-020000-bbbb" in out.read_text()
    done = CliRunner().invoke(
        cli, ["report", "20260901", "20260902", "--reports", str(tmp_path), "--format", "json"]
    )
    doc = json.loads(done.output)
    assert doc["comparison"] == {"a": "20260901-020000-aaaa", "b": "20260902-020000-bbbb"}
    assert {before[a], before[b]} == {_sha(a / "report.html"), _sha(b / "report.html")}


def test_run_prefix_and_latest_resolve(tmp_path: Path) -> None:
    for day, suffix in ((1, "aaaa"), (2, "bbbb"), (3, "cccc")):
        write_run(
            tmp_path, f"2026090{day}-020000-{suffix}", DAY0 + timedelta(days=day), cells=IMX8MP
        )
    assert resolve_runs(["latest"], tmp_path) == [tmp_path / "20260903-020000-cccc"]
    assert resolve_runs(["20260902"], tmp_path) == [tmp_path / "20260902-020000-bbbb"]
    assert resolve_runs(["20260901-020000-aaaa"], tmp_path) == [tmp_path / "20260901-020000-aaaa"]
    with pytest.raises(ConfigError, match="matches 3 runs"):
        resolve_runs(["202609"], tmp_path)
    with pytest.raises(ConfigError, match="not a run id"):
        resolve_runs(["2027"], tmp_path)
    done = CliRunner().invoke(cli, ["report", "2026090", "--reports", str(tmp_path)])
    assert isinstance(done.exception, ConfigError)
    done = CliRunner().invoke(cli, ["report", "latest", "--reports", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert done.output.strip().endswith("20260903-020000-cccc/report.html")
