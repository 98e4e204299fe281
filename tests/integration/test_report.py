"""HTML/Markdown/CSV/JSON reports: data loading, history, escaping, self-containment, the CLI,
and the page as Chromium renders it (a screenshot is kept in reports/test-artifacts/)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from imxbench.analysis.model_facts import facts_document, model_facts
from imxbench.analysis.model_info import inspect_model_bytes
from imxbench.cli.main import cli
from imxbench.errors import ConfigError
from imxbench.report.build import load_report, render, resolve_runs, write_report
from imxbench.report.charts import build_charts
from imxbench.report.data import History, load_run, parse_accuracy, parse_verdicts
from imxbench.report.history import history_for
from imxbench.report.index import index_view
from imxbench.report.render import markdown_escape
from imxbench.report.svg import DELEGATE_COLORS, OKABE_ITO, cell_color
from imxbench.report.trend_chart import history_chart
from imxbench.rundir.layout import RunDir
from tests.chromium_cdp import chromium_path, open_page
from tests.locations import IMXBENCH, QUANT_MODEL
from tests.report_fixtures import facts, write_run

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "reports" / "test-artifacts"
DAY0 = datetime(2026, 9, 1, 2, 0, 0)
EVIL = "<script>alert(1)</script>"
VERDICTS = [
    {
        "board": "imx8mp",
        "cell": "vx",
        "verdict": "regressed",
        "change_pct": 18.2,
        "p_value": 0.0004,
        "detail": "0.221 → 0.261 ms",
        "fingerprint_changed": True,
    },
    {
        "board": "imx8mp",
        "cell": "cpu@4t",
        "verdict": "unchanged",
        "change_pct": 0.3,
        "p_value": 0.61,
        "detail": "",
        "fingerprint_changed": False,
    },
    {
        "board": "imx93",
        "cell": "ethosu",
        "verdict": "improved",
        "change_pct": -6.0,
        "p_value": 0.001,
        "detail": "",
        "fingerprint_changed": False,
    },
    {
        "board": "imx93",
        "cell": "cpu@1t",
        "verdict": "failed",
        "change_pct": None,
        "p_value": None,
        "detail": "no result tonight",
        "fingerprint_changed": False,
    },
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six nightly runs: a kernel update on imx8mp before night 4, vx 18% slower on night 6
    (with verdicts), imx93 cpu@1t failed on night 6, accuracy measured on night 6, and one run
    of another model that must stay out of the trends."""
    root = tmp_path_factory.mktemp("reports")
    for night in range(6):
        kernel = "6.12.20-lts" if night < 3 else "6.12.34-lts"
        write_run(
            root,
            f"2026090{night + 1}-020000-00{night}a",
            DAY0 + timedelta(days=night),
            scale={("imx8mp", "vx"): 1.18 if night == 5 else 1.0},
            failed=[("imx93", "cpu@1t")] if night == 5 else [],
            board_facts={"imx8mp": facts("imx8mp", kernel=kernel), "imx93": facts("imx93")},
            accuracy=night == 5,
            verdicts=VERDICTS if night == 5 else ([] if night else None),
            seed=night,
        )
    write_run(
        root, "20260903-120000-beef", DAY0 + timedelta(days=2, hours=10), model="other.tflite"
    )
    return root


@pytest.fixture(scope="module")
def latest(lab: Path) -> Path:
    return lab / "20260906-020000-005a"


@pytest.fixture(scope="module")
def html(latest: Path) -> str:
    return render(load_report([latest]), "html")


# -- data ------------------------------------------------------------------------------------
def test_load_run_reads_every_part(latest: Path) -> None:
    data = load_report([latest])
    assert data.run.run_id == "20260906-020000-005a"
    assert data.run.model == "pretrainedResnet_quant.tflite"
    assert len(data.summary) == 6
    assert set(data.results["kind"]) == {"timed", "cold", "profile"}
    assert data.emulated_boards == {"imx8mp", "imx93"}
    assert set(data.facts) == {"imx8mp", "imx93"}
    # failures: 4 failed processes (cpu@1t: 2 timed, 1 profile) + the failed accuracy cell
    kinds = sorted((f.cell, f.kind) for f in data.failures)
    assert kinds == [
        ("cpu@1t", "accuracy"),
        ("cpu@1t", "profile"),
        ("cpu@1t", "timed"),
        ("cpu@1t", "timed"),
    ]
    assert all(f.stderr_tail and "Segmentation fault" in f.stderr_tail for f in data.failures)
    assert data.verdicts is not None and [v.verdict for v in data.verdicts][:1] == ["regressed"]
    assert data.accuracy is not None and len(data.accuracy.cells) == 6
    vx = next(c for c in data.accuracy.cells if c.cell == "vx")
    assert len(vx.per_class) == 10 and vx.confusion is not None and len(vx.confusion) == 10
    assert vx.top1 is not None and vx.top1_ci_low is not None and vx.top1_ci_low < vx.top1
    assert data.accuracy.reference_top1 == pytest.approx(0.862)
    # accuracy columns joined into the summary from accuracy.json
    row = data.summary.set_index(["board", "cell"]).loc[("imx8mp", "vx")]
    assert row["top1"] == pytest.approx(vx.top1)
    assert row["agreement_top1"] == pytest.approx(0.985)


def test_history_same_model_in_order_with_environment_changes(latest: Path) -> None:
    data = load_report([latest])
    runs = [r.run_id for r in data.history.runs]
    assert len(runs) == 6 and runs[-1] == data.run.run_id and "beef" not in "".join(runs)
    assert runs == sorted(runs)
    points = data.history.points
    assert len(points) == 6 * 6
    assert points[(points["run_id"] == runs[-1]) & (points["cell"] == "vx")]["verdict"].item() == (
        "regressed"
    )
    [change] = data.history.env_changes
    assert change.board == "imx8mp" and change.run_id == runs[3]
    assert change.changes == ("kernel 6.12.20-lts → 6.12.34-lts",)


def test_history_limit_and_explicit_comparison(lab: Path, latest: Path) -> None:
    meta = load_report([latest]).run
    assert len(history_for(meta, lab.iterdir(), limit=3).runs) == 3
    data = load_report([lab / "20260901-020000-000a", latest])  # compare two runs
    assert [r.run_id for r in data.history.runs] == ["20260901-020000-000a", meta.run_id]


def test_change_against_previous_run_only_without_verdicts(lab: Path) -> None:
    page = render(load_report([lab / "20260905-020000-004a"]), "html")  # verdicts.json: []
    assert ">Δ prev. run</th>" in page and ">verdict</th>" not in page
    assert "All 6 cells ran · no regressions" in page


def test_parsers_tolerate_odd_documents() -> None:
    assert parse_verdicts({"verdicts": [{"board": "b", "cell": "c", "verdict": "new"}, 3]})[
        0
    ].verdict == ("no baseline")  # older documents said "new"
    assert parse_verdicts("nonsense") == ()
    acc = parse_accuracy([{"board": "b", "delegate": "vx", "top1": 91.5, "per_class": [0.5, 1]}])
    assert acc.cells[0].cell == "vx" and acc.cells[0].top1 == pytest.approx(0.915)
    assert acc.cells[0].per_class == (("0", 0.5), ("1", 1.0))


def test_resolve_runs(lab: Path) -> None:
    assert resolve_runs([], lab) == [lab / "20260906-020000-005a"]  # newest by start time
    assert resolve_runs(["20260902-020000-001a"], lab) == [lab / "20260902-020000-001a"]
    with pytest.raises(ConfigError, match="not a run id"):
        resolve_runs(["nope"], lab)
    with pytest.raises(ConfigError, match="no runs"):
        resolve_runs([], lab / "empty")


# -- HTML ------------------------------------------------------------------------------------
def test_html_shows_verdict_matrix_charts_facts_failures(html: str) -> None:
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    verdict = text[text.index('id="verdict"') : text.index('id="matrix"')]
    assert "1 regression · 1 failed cell" in verdict
    assert "regressed</span> imx8mp · vx +18.2% (p = 0.0004)" in verdict
    assert "environment changed" in verdict
    assert "failed</span> imx93 · cpu@1t: Segmentation fault (exit 139)" in verdict
    for heading in (
        "latency ms",
        "p95 ms",
        "speedup",
        "init ms",
        "first ms",
        "cold 1st ms",
        "top-1 [CI]",
        "agree\u00adment",
        "memory MB",
        "delegated",  # was "on NPU": the GPU cell's share is on the GPU (issue 18)
        "Vela est. ms",
        "verdict",
    ):
        assert f">{heading}</th>" in text, heading
    assert "regressed +18.2%" in text and "EMULATED" in text
    assert "kernel 6.12.20-lts → 6.12.34-lts" in text
    assert "INFO: Initialized TensorFlow Lite runtime.\nSegmentation fault" in text
    assert "host CPU reference top-1 86.2%" in text
    for key in (
        "latency",
        "speedup",
        "cold_warm",
        "op_placement",
        "vela",
        "trend",
        "accuracy",
        "per_class",
        "confusion",
    ):
        assert f'data-chart="{key}"' in html, key


def test_html_is_self_contained(html: str) -> None:
    assert not re.search(r"<script", html, re.I)
    assert not re.search(r"<link|<iframe|<img|@import", html, re.I)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "http:" not in html and "https:" not in html  # not even a namespace URL
    assert not re.findall(r"url\((?!#)", html)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids must be unique across the inlined charts"


def test_board_name_is_escaped_everywhere(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        "20260901-000000-e111",
        DAY0,
        cells={EVIL: ("cpu@4t", "vx"), "imx93": ("ethosu",)},
        verdicts=[{"board": EVIL, "cell": "vx", "verdict": "regressed"}],
    )
    data = load_report([run])
    page = render(data, "html")
    assert not re.search(r"<script", page, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    markdown = render(data, "markdown")
    assert "<script" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert json.loads(render(data, "json"))["matrix"][0]["board"] == EVIL  # data stays data


def test_first_run_has_no_trend_no_accuracy_and_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path, "20260901-000000-f1f1", DAY0, cells={"imx93": ("cpu@1t", "ethosu")})
    data = load_report([run])
    charts = build_charts(data)
    assert set(charts) == {"latency", "speedup", "op_placement", "vela", "cold_warm"}
    page = render(data, "html")
    assert "trends appear from the second run on" in page
    assert "No accuracy measured in this run" in page
    assert "Not compared with history" in page
    assert ">top-1 [CI]</th>" not in page and ">verdict</th>" not in page


# -- exports ---------------------------------------------------------------------------------
def test_markdown_for_ci_comments(latest: Path) -> None:
    markdown = render(load_report([latest]), "markdown")
    assert markdown.startswith("### imxbench:")
    assert "**1 regression · 1 failed cell**" in markdown
    assert "- regressed: imx8mp · vx +18.2% (p = 0.0004)" in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| imx")]
    assert len(table) == 6 and all(line.count(" | ") >= 10 for line in table)
    assert markdown_escape("a|b_c*<i>") == "a\\|b\\_c\\*&lt;i&gt;"  # tables and markup hold


def test_markdown_has_the_model_section_escaped(tmp_path: Path) -> None:
    """The HTML page's model facts in the Markdown report too: the file, its sha256, size,
    parameters, MACs, ops and each cell's GOPS; a hostile file name cannot break the tables."""
    run = write_run(tmp_path, "20260901-000000-m0d1", DAY0, cells={"imx8mp": ("cpu@4t", "vx")})
    info = inspect_model_bytes(QUANT_MODEL.read_bytes(), Path("a|b_*<i>\n| x |.tflite"))
    RunDir(run).write_model_facts(facts_document(model_facts(info)))
    markdown = render(load_report([run]), "markdown")
    section = markdown[markdown.index("#### Model") :]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert "| file | a\\|b\\_\\*&lt;i&gt; \\| x \\|.tflite (96.2 KiB) |" in rows
    assert f"| sha256 | {info.sha256} |" in rows
    assert "| parameters | 77,706 |" in rows
    assert any(r.startswith("| MACs per inference | 12.51 M (12,505,728): CONV\\_2D") for r in rows)
    assert any(r.startswith("| operators | 16 ops: CONV\\_2D × 9 ·") for r in rows)
    vx = next(r for r in rows if r.startswith("| imx8mp (emulated) | vx | NPU | "))
    assert re.search(r"\| [\d.]+ ms \| [\d.,]+ \| [\d.]+% of 2\.3 TOPS \| 100% \(16/16 ops", vx)
    for row in rows:  # every row of both tables has its own column count: no cell leaked a |
        cells = re.split(r"(?<!\\)\|", row)
        assert len(cells) - 2 in (2, 7), row
    assert "Peaks: i.MX 8M Plus NPU" in section


def test_model_section_badges_every_emulated_cell(tmp_path: Path) -> None:
    """The Model section's latency and GOPS are emulated numbers too: each row of an emulated
    board carries the EMULATED badge, a real board's row none."""
    run = write_run(
        tmp_path,
        "20260901-000000-m0d2",
        DAY0,
        cells={"imx8mp": ("cpu@4t", "vx"), "imx93": ("cpu@2t",)},
        board_facts={"imx8mp": facts("imx8mp"), "imx93": facts("imx93", emulated=False)},
    )
    info = inspect_model_bytes(QUANT_MODEL.read_bytes(), Path("model.tflite"))
    RunDir(run).write_model_facts(facts_document(model_facts(info)))
    page = render(load_report([run]), "html")
    table = re.search(r'<table class="model-cells">.*?</table>', page, re.S)
    assert table is not None
    rows = {
        m[1]: m[0] for m in re.findall(r"<tr[^>]*><td>(.*?)</td><td>([^<]*)</td>", table[0])
    }
    assert set(rows) == {"cpu@4t", "vx", "cpu@2t"}
    assert "EMULATED" in rows["cpu@4t"] and "EMULATED" in rows["vx"]
    assert "EMULATED" not in rows["cpu@2t"]
    markdown = render(load_report([run]), "markdown")
    section = markdown[markdown.index("#### Model") :]
    assert "| imx8mp (emulated) | vx | NPU | " in section
    assert "| imx93 | cpu@2t | CPU | " in section


def test_a_cell_with_one_failed_process_shows_no_number(tmp_path: Path) -> None:
    """One of vx's two processes crashed: the cell is FAILED, and no table, chart or terminal
    line shows a latency, speedup or first inference for it (the ok process's numbers would
    read as the cell's result); results.json keeps that process's own numbers."""
    from imxbench.analysis.results import build_table, summarize
    from imxbench.analysis.terminal_table import render_table

    cells = {"imx8mp": ("cpu@1t", "cpu@4t", "vx", "gpu")}
    run = write_run(tmp_path, "20260901-000000-0f1f", DAY0, cells=cells)
    rows = json.loads((run / "results.json").read_text())
    [second] = [r for r in rows if (r["cell"], r["kind"], r["repetition"]) == ("vx", "timed", 2)]
    for key in [k for k in second if k.startswith("inference_")]:
        second[key] = None
    second.update(status="failed", error="Segmentation fault (exit 139)")
    (run / "results.json").write_text(json.dumps(rows))
    summary = summarize(build_table(rows))
    (run / "summary.json").write_text(summary.to_json(orient="records"))
    data = load_report([run])
    html = render(data, "html")
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    vx = re.search(r"<td>vx</td>(.*?)</tr>", text, re.S)
    assert vx is not None and "FAILED (1 step)" in vx[1]
    shown = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", vx[1])]
    assert not any(re.fullmatch(r"[\d.,]+×?", c) for c in shown if c != "1"), shown  # 1: reps
    for key in ("latency", "speedup", "cold_warm"):
        chart = re.search(rf'<svg[^>]*data-chart="{key}".*?</svg>', html, re.S)
        assert chart is not None and ">vx<" not in chart[0] and "· vx" not in chart[0], key
    markdown = render(data, "markdown")
    [md_row] = [x for x in markdown.splitlines() if x.startswith("| imx8mp (emulated) | vx |")]
    assert "FAILED (1 step)" in md_row
    assert not re.search(r"\| [\d.]+×? \|", md_row.replace("| 1 |", "|"))
    terminal = render_table(summary, wide=True)
    [line] = [x for x in terminal.splitlines() if x.startswith("vx ")]
    assert "FAILED (1)" in line and not re.search(r"\d\.\d", line)


def test_a_precision_that_missed_the_target_is_marked(tmp_path: Path) -> None:
    """An adaptive run stopped at --max-repetitions before the 95% interval was within
    --precision: the ±95% cell says so (and is a warning), a cell that reached it does not."""
    run = write_run(tmp_path, "20260901-000000-0a1a", DAY0, cells={"imx8mp": ("cpu@4t", "vx")})
    doc = json.loads((run / "run.json").read_text())
    doc["settings"].update(repetitions="adaptive", precision=0.01, max_repetitions=8)
    (run / "run.json").write_text(json.dumps(doc))
    summary = json.loads((run / "summary.json").read_text())
    for row in summary:
        row["precision_pct"] = 1.3 if row["cell"] == "cpu@4t" else 0.56
    (run / "summary.json").write_text(json.dumps(summary))
    data = load_report([run])
    text = re.sub(r"<svg.*?</svg>", "", render(data, "html"), flags=re.S)
    cpu = re.search(r"<td>cpu@4t</td>(.*?)</tr>", text, re.S)
    vx = re.search(r"<td>vx</td>(.*?)</tr>", text, re.S)
    assert cpu is not None and vx is not None
    assert '<td class="num warn">1.30% (target 1%)</td>' in cpu[1]
    assert '<td class="num">0.56%</td>' in vx[1] and "target" not in vx[1]
    markdown = render(data, "markdown")
    assert "| 1.30% (target 1%) |" in markdown and "| 0.56% |" in markdown


def test_markdown_says_why_model_facts_are_missing(latest: Path) -> None:
    markdown = render(load_report([latest]), "markdown")
    section = markdown[markdown.index("#### Model") :]
    assert "\n\n_Model facts unavailable: the model file /models/" in section
    assert "is no longer there._" in section


def test_csv_and_json_exports_carry_the_matrix(latest: Path) -> None:
    data = load_report([latest])
    frame = pd.read_csv(io.StringIO(render(data, "csv")))
    assert len(frame) == 6
    for column in (
        "run_id",
        "board",
        "cell",
        "latency_ms",
        "p95_ms",
        "speedup",
        "top1",
        "verdict",
        "emulated",
    ):
        assert column in frame, column
    vx = frame[(frame["board"] == "imx8mp") & (frame["cell"] == "vx")].iloc[0]
    assert vx["verdict"] == "regressed" and vx["latency_ms"] == pytest.approx(0.261, rel=0.03)
    doc = json.loads(render(data, "json"))
    assert doc["format"] == 1 and doc["run"]["run_id"] == data.run.run_id
    assert len(doc["matrix"]) == 6 and len(doc["failures"]) == 4
    assert len(doc["history"]["runs"]) == 6 and len(doc["history"]["env_changes"]) == 1
    assert doc["accuracy"]["cells"][0]["confusion"]


# -- CLI and index ---------------------------------------------------------------------------
def test_cli_report_writes_html_and_index(lab: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    shutil.copytree(lab, reports)
    runner = CliRunner()
    done = runner.invoke(cli, ["report", "--reports", str(reports)])
    assert done.exit_code == 0, done.output
    path = reports / "20260906-020000-005a" / "report.html"
    assert done.output.strip() == f"report: {path}"
    index = (reports / "index.html").read_text()
    assert 'href="./20260906-020000-005a/report.html"' in index
    assert index.index("20260906-020000-005a") < index.index("20260901-020000-000a")
    assert "1 regressed" in index and "EMULATED" in index
    done = runner.invoke(
        cli, ["report", "20260901-020000-000a", "--reports", str(reports), "--format", "markdown"]
    )
    assert done.exit_code == 0 and done.output.startswith("### imxbench:")
    out = tmp_path / "x.json"
    done = runner.invoke(
        cli,
        ["report", str(reports / "20260902-020000-001a"), "--format", "json", "--out", str(out)],
    )
    assert done.exit_code == 0 and json.loads(out.read_text())["run"]["run_id"].endswith("001a")
    done = runner.invoke(cli, ["report", "missing", "--reports", str(reports)])
    assert isinstance(done.exception, ConfigError)


def test_index_has_a_kind_column_and_counts_every_verdict(tmp_path: Path) -> None:
    """A first nightly's cells (all `no baseline`) are counted, never a blank cell; a run's
    kind comes from run.json, an older directory's from its nightly files; names are text."""
    first = [{"board": "imx93", "cell": c, "verdict": "no baseline"} for c in ("cpu@1t", "ethosu")]
    night = write_run(tmp_path, "20260901-020000-0001", DAY0, verdicts=first)
    legacy = [{"board": "imx93", "cell": "ethosu", "verdict": "new"}]  # an older verdicts.json
    write_run(tmp_path, "20260902-020000-0002", DAY0 + timedelta(days=1), verdicts=legacy)
    run = write_run(tmp_path, "20260903-020000-0003", DAY0 + timedelta(days=2))
    doc = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**doc, "kind": "run"}))
    evil = write_run(tmp_path, "javascript:alert(1)", DAY0 + timedelta(days=3))
    doc = json.loads((evil / "run.json").read_text())
    evil_doc = {**doc, "kind": "<b>nightly</b>", "run_id": "<img src=x onerror=alert(1)>"}
    (evil / "run.json").write_text(json.dumps(evil_doc))
    for one in (night, run, evil):
        write_report(load_report([one]))
    rows = {r["run_id"]: r for r in index_view(tmp_path)["runs"]}
    assert rows["20260901-020000-0001"]["kind"] == "nightly"
    assert rows["20260901-020000-0001"]["verdicts"] == "2 no baseline"
    assert rows["20260902-020000-0002"]["kind"] == "nightly"
    assert rows["20260902-020000-0002"]["verdicts"] == "1 no baseline"
    assert rows["20260903-020000-0003"]["kind"] == "run"
    assert rows["20260903-020000-0003"]["verdicts"] == "–"
    page = (tmp_path / "index.html").read_text()
    assert "<th>kind</th>" in page and "<td>nightly</td>" in page and "<td>run</td>" in page
    assert "2 no baseline" in page
    assert "<img" not in page and "<b>" not in page and "&lt;b&gt;nightly&lt;/b&gt;" in page
    assert 'href="./javascript%3Aalert%281%29/report.html"' in page
    assert 'href="javascript' not in page


def test_report_failure_does_not_lose_the_run(tmp_path: Path) -> None:
    run = write_run(tmp_path, "20260901-000000-0bad", DAY0, cells={"imx93": ("cpu@1t",)})
    (run / "summary.json").write_text("{broken")
    with pytest.raises(ConfigError, match=r"summary\.json: not valid JSON"):
        write_report(load_run(run))
    assert (run / "results.json").is_file() and not (run / "report.html").exists()


# -- the browser -----------------------------------------------------------------------------
MEASURE = """JSON.stringify({
  charts: [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {key: s.dataset.chart, width: r.width, height: r.height,
            w: s.getAttribute('width'), h: s.getAttribute('height'),
            visible: getComputedStyle(s).visibility === 'visible' && r.width > 0};
  }),
  clipped: [...document.querySelectorAll('svg.chart')].flatMap(s => {
    const r = s.getBoundingClientRect();
    return [...s.querySelectorAll('text')].filter(t => {
      const b = t.getBoundingClientRect();
      return b.left < r.left - 1 || b.right > r.right + 1 || b.top < r.top - 1
        || b.bottom > r.bottom + 1;
    }).map(t => s.dataset.chart + ': ' + t.textContent.trim());
  }),
  title: document.title,
  headline: document.querySelector('#verdict .headline').textContent,
  scripts: document.scripts.length,
})"""


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (setup.sh)")
def test_report_renders_in_headless_chromium(latest: Path) -> None:
    path = write_report(load_report([latest]))
    page = open_page(path, 1400, MEASURE)
    assert page.console_errors == []
    found = json.loads(page.evaluated)
    keys = list(dict.fromkeys(c["key"] for c in found["charts"]))  # small multiples: several
    assert keys == [
        "latency",
        "speedup",
        "cold_warm",
        "op_placement",
        "vela",
        "trend",
        "accuracy",
        "per_class",
        "confusion",
    ]
    for chart in found["charts"]:
        assert chart["visible"] and chart["width"] > 250 and chart["height"] > 100, chart
        assert float(chart["w"].removesuffix("pt")) > 0 and float(chart["h"].removesuffix("pt")) > 0
    assert found["headline"] == "1 regression · 1 failed cell" and found["scripts"] == 0
    assert found["clipped"] == []  # every label inside its chart
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.write_bytes(page.screenshot_png)
    image = mpimg.imread(shot)
    assert image.shape[1] == 1400 and image.shape[0] == page.content_height > 3000
    assert np.std(image[..., :3]) > 0.05  # not blank
    assert len(np.unique((image[::4, ::4, :3] * 255).astype(int).reshape(-1, 3), axis=0)) > 50


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (setup.sh)")
def test_long_names_are_not_clipped(tmp_path: Path) -> None:
    """The charts' margins are sized from their texts: long board and cell names, many cells
    and notes past the bars' ends all stay inside the charts."""
    long_board = "imx8mp-evk-lab-rack-3-shelf-b-slot-17"
    cells = {
        long_board: ("cpu@1t", "cpu@4t", "vx", "vx:opt-level-3-with-a-long-suffix", "gpu"),
        "imx93-frdm-lab-rack-12": ("cpu@2t", "ethosu", "ethosu:vela-size-optimised"),
    }
    for night in range(2):
        run = write_run(
            tmp_path,
            f"2026090{night + 1}-020000-00{night}c",
            DAY0 + timedelta(days=night),
            cells=cells,
            accuracy=night == 1,
            seed=night,
        )
    page = open_page(write_report(load_report([run])), 1400, MEASURE)
    found = json.loads(page.evaluated)
    assert {c["key"] for c in found["charts"]} >= {"latency", "cold_warm", "trend", "accuracy"}
    assert all(c["visible"] and c["height"] > 100 for c in found["charts"])
    assert found["clipped"] == []


# -- charts on a phone, the trend's small multiples, tooltips ----------------------------------
TEXT_SIZES = """JSON.stringify((() => {
  const texts = [...document.querySelectorAll('svg.chart text')].map(t => {
    const s = t.closest('svg');
    const scale = s.getBoundingClientRect().width / s.viewBox.baseVal.width;
    const turn = t.getAttribute('transform') || '';
    return {chart: s.dataset.chart, text: t.textContent.trim(),
            px: parseFloat(getComputedStyle(t).fontSize) * scale,
            height: turn && !/rotate\\(-?0 /.test(turn) ? null : t.getBoundingClientRect().height};
  });
  const trend = [...document.querySelectorAll('svg.chart[data-chart="trend"]')].map(s => {
    const r = s.getBoundingClientRect(); return {width: r.width, top: r.top}; });
  return {count: texts.length,
          small: texts.filter(t => t.px < 10 || (t.height !== null && t.height < 10)),
          smallest: Math.min(...texts.map(t => t.px)),
          page_width: document.documentElement.scrollWidth,
          scrolled: [...document.querySelectorAll('figure')]
            .filter(f => f.scrollWidth > f.clientWidth + 1).map(f => f.id),
          trend: trend};
})())"""


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (setup.sh)")
def test_chart_text_is_at_least_10_px_on_a_phone(latest: Path) -> None:
    """At 420 px wide every chart reflows to the column (no sideways scrolling) and no chart
    text is smaller than 10 px: its font size times the SVG's scale, and the height of the
    box Chromium lays it in (upright texts). On a wide screen the trend's small multiples
    share rows."""
    path = write_report(load_report([latest]))
    phone = json.loads(open_page(path, 420, TEXT_SIZES).evaluated)
    assert phone["count"] > 300
    assert phone["small"] == [], phone["small"][:5]
    assert phone["smallest"] >= 10
    assert phone["page_width"] == 420 and phone["scrolled"] == []
    assert len(phone["trend"]) == 6  # one per board x cell
    assert all(p["width"] > 360 for p in phone["trend"])  # one per row, the column's width
    wide = json.loads(open_page(path, 1400, TEXT_SIZES).evaluated)
    assert wide["small"] == [] and wide["scrolled"] == []
    tops = [round(p["top"]) for p in wide["trend"]]
    assert len(set(tops)) <= 2 < len(tops)  # several per row


def _panels(svg: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", svg, re.S)


def _y_ticks(panel: str) -> list[float]:
    return [
        float(t)
        for t in re.findall(r'<g id="[^"]*-ytick_\d+">.*?<text[^>]*>([^<]+)</text>', panel, re.S)
    ]


def _tip_values(panel: str) -> list[float]:
    """Every latency the panel's tooltips name: the median and its p5–p95."""
    values = []
    for tip in re.findall(r"<title>([^<]*)</title>", panel):
        found = re.search(r": ([\d.]+) ms(?: \(p5–p95 ([\d.]+)–([\d.]+)\))?", tip)
        if found:
            values += [float(v) for v in found.groups() if v]
    return values


def _history(series: dict[str, list[float]]) -> History:
    """Two boards' worth of odd series (board "b", one cell per series), with p5/p95 ±3%."""
    rows = []
    for cell, latencies in series.items():
        for night, ms in enumerate(latencies):
            rows.append(
                {
                    "run_id": f"run-{night}",
                    "started_at": DAY0 + timedelta(days=night),
                    "board": "b",
                    "cell": cell,
                    "latency_ms": ms,
                    "failed": False,
                    "verdict": "regressed" if night == len(latencies) - 1 else None,
                    "p5_ms": ms * 0.97,
                    "p95_ms": ms * 1.03,
                }
            )
    return History(points=pd.DataFrame(rows))


def test_each_trend_panel_labels_the_range_of_its_points(latest: Path) -> None:
    """One small multiple per board x cell, each on its own linear scale: its lowest and
    highest labelled ticks enclose every point and band it draws (read back from the SVG: the
    tick labels, and the values in the points' tooltips); the band is drawn and the
    regression is marked on its point."""
    lab_chart = history_chart(load_report([latest]).history)
    odd_chart = history_chart(
        _history(
            {
                "cpu": [1.42, 1.43, 1.41, 1.42 * 1.075],  # +7.5% on the last night
                "tiny": [0.0123, 0.0124, 0.0123],
                "flat": [0.2, 0.2, 0.2],
                "wide": [0.2, 5.0, 0.9, 40.0],
                "big": [1250.0, 1310.0, 1288.0],
            }
        )
    )
    assert lab_chart is not None and odd_chart is not None
    lab, odd = _panels(lab_chart.svg), _panels(odd_chart.svg)
    assert len(lab) == 6 and len(odd) == 5
    for panel in lab + odd:
        ticks, values = _y_ticks(panel), _tip_values(panel)
        assert len(ticks) >= 3 and values, panel[:200]
        assert min(ticks) <= min(values) and max(values) <= max(ticks), (ticks, values)
        assert "FillBetweenPolyCollection" in panel  # the p5–p95 band
    vx = next(p for p in lab if "imx8mp · vx</text>" in p)
    [marked] = re.findall(r'id="trend-\d+-regressed-0"><title>([^<]*)</title>', vx)
    assert "regressed · run 20260906-020000-005a · 2026-09-06 02:00" in marked
    assert "kernel</text>" in vx  # the environment change, named at the top
    cpu = _y_ticks(odd[0])
    assert max(cpu) - min(cpu) < 0.5  # linear, around the data: +7.5% is a visible step


def test_trend_tooltips_are_escaped(tmp_path: Path) -> None:
    """Every point has a <title> with its value, run id and date; a run id with markup in it
    stays text and the SVG stays well-formed. Colours come from the Okabe–Ito palette."""
    hostile = "20260902-020000-<svg onload=alert(1)>&"
    write_run(tmp_path, "20260901-020000-0001", DAY0, cells={"imx93": ("cpu@1t", "ethosu")})
    run = write_run(
        tmp_path,
        hostile,
        DAY0 + timedelta(days=1),
        cells={"imx93": ("cpu@1t", "ethosu")},
        seed=1,
    )
    data = load_report([run])
    chart = history_chart(data.history)
    assert chart is not None
    panels = _panels(chart.svg)
    assert len(panels) == 2
    for panel in panels:
        tips = re.findall(r"<title>([^<]*)</title>", panel)
        assert len(tips) == 2, tips
        assert "run 20260901-020000-0001 · 2026-09-01 02:00" in tips[0]
        assert "run 20260902-020000-&lt;svg onload=alert(1)&gt;&amp; · 2026-09-02 02:00" in tips[1]
        assert re.match(r"imx93 · (cpu@1t|ethosu): \d\.\d{3} ms \(p5–p95 ", tips[1])
        ET.fromstring(panel.replace("<svg ", '<svg xmlns:xlink="urn:x" ', 1))  # well-formed
    page = render(data, "html")
    assert "<svg onload" not in page and not re.search(r"<script", page, re.I)
    palette = set(OKABE_ITO.values())
    assert set(DELEGATE_COLORS.values()) <= palette
    assert {cell_color(c) for c in ("cpu@1t", "cpu@4t", "vx", "gpu", "ethosu")} <= palette


# -- end to end ------------------------------------------------------------------------------
@pytest.mark.emulator
def test_run_ends_by_printing_the_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *IMXBENCH,
            "run",
            "--board",
            "imx8mp",
            "--emulate",
            "--repetitions",
            "1",
            "--num-runs",
            "5",
            "--min-secs",
            "0",
            "--reports",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("report: ") and last.endswith("report.html")
    page = Path(last.removeprefix("report: ")).read_text()
    assert 'data-chart="latency"' in page and 'data-chart="op_placement"' in page
    assert "EMULATED" in page and (tmp_path / "index.html").is_file()


def test_warm_up_compiles_the_templates_and_changes_no_setting() -> None:
    """What `run` and `nightly` preload while the boards work (job.py: "module:function")."""
    import matplotlib as mpl

    from imxbench.report.render import html_environment
    from imxbench.run.job import _Preloader

    before = dict(mpl.rcParams)
    html_environment.cache_clear()
    preloader = _Preloader([], ["imxbench.report.build:warm_up"], ["board"])
    preloader.board_busy("board")
    for _ in range(200):  # the preloader's thread: up to ~10 s on a loaded machine
        cache = html_environment().cache
        if cache is not None and len(cache) >= 2:
            break
        time.sleep(0.05)
    assert cache is not None and len(cache) >= 2  # report.html.j2 and index.html.j2
    assert preloader.error is None
    assert dict(mpl.rcParams) == before
