"""Issue 19, items 4 and 5: the model matrix page and the model facts, on two real emulated
runs (the int8 and the float32 ResNet-8 on both emulated boards), the matrix checked in
headless Chromium (a screenshot is kept in reports/test-artifacts/matrix.png)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner

from imxbench.analysis.model_facts import achieved_gops, percent_of_peak
from imxbench.cli.main import cli
from imxbench.errors import ConfigError
from imxbench.model.peaks import peak_for
from imxbench.report.build import load_report, render
from imxbench.report.matrix import write_matrix_report
from imxbench.report.matrix_view import _href, speedup_band
from tests.chromium_cdp import chromium_path, open_page
from tests.locations import FLOAT_MODEL, IMXBENCH, QUANT_MODEL
from tests.tiny_models import int8_add_tile_add

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "reports" / "test-artifacts"
EVIL = "<script>alert(1)</script>"
EVIL_NAME = "<img src=x onerror=alert(1)>"
NPU_CELLS = {("imx8mp", "vx"), ("imx93", "ethosu")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Two ordinary emulated runs, one per model, in one reports directory (short settings)."""
    root = tmp_path_factory.mktemp("reports")
    found = []
    for model in (QUANT_MODEL, FLOAT_MODEL):
        done = subprocess.run(
            [
                *IMXBENCH,
                "run",
                "--board",
                "imx8mp,imx93",
                "--emulate",
                "--model",
                str(model),
                "--repetitions",
                "1",
                "--num-runs",
                "3",
                "--min-secs",
                "0",
                "--reports",
                str(root),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=root,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        [line] = [x for x in done.stdout.splitlines() if x.startswith("results: ")]
        found.append(Path(line.removeprefix("results: ")))
    return root, found


def _summary(run: Path) -> list[dict[str, Any]]:
    return list(json.loads((run / "summary.json").read_text()))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- the run's own report: the Model section -------------------------------------------------
@pytest.mark.emulator
def test_each_run_report_has_the_model_facts_and_gops(runs: tuple[Path, list[Path]]) -> None:
    _, (quant, floating) = runs
    for run in (quant, floating):
        facts = json.loads((run / "model.json").read_text())  # kept at the end of `run`
        assert facts["macs"] == 12_505_728 and facts["parameters"] == 77_706
        page = (run / "report.html").read_text()
        section = _text(page[page.index('<h2 id="model">') : page.index('<h2 id="facts">')])
        assert "77,706" in section and "12,505,728" in section
        for row in _summary(run):
            if row["status"] != "ok":
                assert row["cell"] in ("vx", "ethosu") and run == floating
                continue
            gops = achieved_gops(facts["macs"], row["latency_ms"])
            assert gops is not None
            expected = f"{row['board']} EMULATED {row['cell']} "  # every emulated number badged
            assert expected in section
            assert f"{row['latency_ms']:.3f} ms {gops:,.1f}" in section
            if (row["board"], row["cell"]) in NPU_CELLS:
                peak = peak_for(row["board"], "NPU")
                assert peak is not None
                share = percent_of_peak(gops, peak.int8_tops)
                assert f"{share:.1f}% of {peak.int8_tops:g} TOPS" in section
    quant_section = _text((quant / "report.html").read_text())
    assert "input_1_int8: int8 [1, 32, 32, 3], scale 1, zero point -128" in quant_section
    assert "Vela operators, Vela's placement" in quant_section.replace("&#39;", "'")
    assert "float32 [1, 32, 32, 3], not quantized" in _text((floating / "report.html").read_text())
    exported = json.loads(render(load_report([quant]), "json"))["model"]
    assert (exported["macs"], exported["parameters"]) == (12_505_728, 77_706)


@pytest.mark.emulator
def test_partial_delegation_share_comes_from_the_op_profile(tmp_path: Path) -> None:
    """ADD -> TILE -> ADD: the VX delegate has no TILE mapper, so the emulated 8M Plus runs two
    delegate kernels and TILE on the CPU; the report says 2 of the 3 ops, from the profile."""
    model = int8_add_tile_add(tmp_path / "tile.tflite")
    done = subprocess.run(
        [
            *IMXBENCH,
            "run",
            "--board",
            "imx8mp",
            "--emulate",
            "--model",
            str(model),
            "--delegate",
            "cpu,vx",
            "--repetitions",
            "1",
            "--num-runs",
            "3",
            "--min-secs",
            "0",
            "--reports",
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [x for x in done.stdout.splitlines() if x.startswith("report: ")]
    section = _text(Path(line.removeprefix("report: ")).read_text())
    assert re.search(r"imx8mp EMULATED vx NPU [\d.]+ ms – – 67% \(2/3 ops, op profile\)", section)
    assert "MACs per inference 0" in section  # ADD and TILE multiply nothing


# -- the matrix page -------------------------------------------------------------------------
MEASURE = """JSON.stringify((() => {
  const cells = [...document.querySelectorAll('td.mcell')].map(td => {
    const r = td.getBoundingClientRect();
    return {model: td.parentElement.querySelector('th a').textContent,
            board: td.dataset.board, cell: td.dataset.cell, status: td.dataset.status,
            text: td.innerText, visible: r.width > 20 && r.height > 10,
            background: getComputedStyle(td).backgroundColor};
  });
  return {cells: cells, scripts: document.scripts.length,
          emulated: (document.querySelector('#emulated') || {}).textContent || '',
          details: [...document.querySelectorAll('section.model-detail')].map(s => ({
              id: s.id, title: s.querySelector('h2').textContent,
              links: [...s.querySelectorAll('a')].map(a => a.getAttribute('href'))})),
          resources: performance.getEntriesByType('resource').length,
          width: document.documentElement.scrollWidth};
})())"""


@pytest.mark.emulator
@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium (setup.sh)")
def test_matrix_page_shows_every_model_board_delegate_cell(
    runs: tuple[Path, list[Path]],
) -> None:
    root, (quant, floating) = runs
    result = CliRunner().invoke(
        cli, ["report", "--matrix", quant.name, floating.name, "--reports", str(root)]
    )
    assert result.exit_code == 0, result.output
    page = Path(result.output.strip().removeprefix("report: "))
    assert page.name == "index.html" and page.parent.parent == root
    shown = open_page(page, 1300, MEASURE)
    assert shown.console_errors == []
    found = json.loads(shown.evaluated)
    assert found["scripts"] == 0 and found["resources"] == 0
    assert found["emulated"].startswith("EMULATED")
    cells = {(c["model"], c["board"], c["cell"]): c for c in found["cells"]}
    assert len(cells) == len(found["cells"])  # each once
    expected = set()
    for run in (quant, floating):
        for row in _summary(run):
            key = (run_model(run), row["board"], row["cell"])
            expected.add(key)
            cell = cells[key]
            assert cell["visible"], cell
            if row["status"] == "ok":
                assert cell["status"] == "ok"
                assert f"{row['latency_ms']:.3f} ms" in cell["text"]
                assert f"{row['speedup']:.2f}× CPU" in cell["text"]
                assert speedup_band(row["speedup"])[1] in cell["text"]  # words, not colour only
            else:
                assert cell["status"] == row["status"] == "skipped"
                assert "float32 model" in cell["text"] and "SKIPPED" in cell["text"].upper()
    # every model x board x delegate of the runs, and nothing else
    assert set(cells) == expected
    assert len(expected) == 2 * 7  # imx8mp: cpu@1t cpu@4t gpu vx; imx93: cpu@1t cpu@2t ethosu
    quant_name, float_name = run_model(quant), run_model(floating)
    assert all(cells[(quant_name, b, c)]["status"] == "ok" for _, b, c in expected)
    assert [cells[(float_name, *k)]["status"] for k in sorted(NPU_CELLS)] == ["skipped"] * 2
    assert cells[(float_name, "imx8mp", "gpu")]["status"] == "ok"
    # colour follows the speedup band: the NPU cell is not coloured like the CPU baseline
    assert (
        cells[(quant_name, "imx8mp", "vx")]["background"]
        != cells[(quant_name, "imx8mp", "cpu@4t")]["background"]
    )
    # a detail section per model, linking its own report
    assert [d["title"].split()[0] for d in found["details"]] == [quant_name, float_name]
    for detail, run in zip(found["details"], (quant, floating), strict=True):
        [link] = [h for h in detail["links"] if h.endswith("report.html")]
        assert (page.parent / unquote(link)).resolve() == (run / "report.html").resolve()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "matrix.png").write_bytes(shown.screenshot_png)


def run_model(run: Path) -> str:
    return Path(json.loads((run / "run.json").read_text())["model"]).name


@pytest.mark.emulator
def test_matrix_escapes_names_and_reasons(tmp_path: Path, runs: tuple[Path, list[Path]]) -> None:
    _, (_, floating) = runs
    copy = tmp_path / "javascript:evil"
    shutil.copytree(floating, copy)
    doc = json.loads((copy / "run.json").read_text())
    doc["model"] = f"/nowhere/{EVIL_NAME}.tflite"
    (copy / "run.json").write_text(json.dumps(doc))
    rows = _summary(copy)
    for row in rows:
        if row["status"] == "skipped":
            row["skip_reason"] = EVIL
    (copy / "summary.json").write_text(json.dumps(rows))
    (copy / "report.html").write_text("<p>its report</p>")
    page = write_matrix_report([copy], tmp_path / "view").read_text()
    assert "<script" not in page.lower() and "<img" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;.tflite") >= 2  # the row, its section
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # 2 skipped cells
    assert 'href="../javascript%3Aevil/report.html"' in page  # never read as a URL scheme
    assert "77,706" in page  # the facts kept in model.json, though the model file is gone


def test_speedup_bands_and_links(tmp_path: Path) -> None:
    assert speedup_band(12.0)[1] == "≥10× faster" and speedup_band(6.5)[1] == "5–10× faster"
    assert speedup_band(1.0)[1] == "≈ CPU" and speedup_band(0.38)[1] == "slower"
    assert speedup_band(None) == ("", "")
    target = tmp_path / "javascript:x" / "report.html"
    assert _href(target, tmp_path) == "./javascript%3Ax/report.html"


def test_matrix_cli_refuses_other_formats_and_no_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--matrix", "--format", "csv", "x"])
    assert result.exit_code == 2 and "HTML page only" in result.output
    result = CliRunner().invoke(cli, ["report", "--matrix", "--reports", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)  # main() makes it exit 2
    assert "--matrix needs the runs" in result.exception.message


def test_matrix_shows_accuracy_failures_and_cells_a_run_did_not_plan(tmp_path: Path) -> None:
    """Synthetic run directories (tests/report_fixtures.py): accuracy measured on one model,
    a failed cell, and a board only one of the models ran on."""
    from datetime import datetime

    from tests.report_fixtures import write_run

    day = datetime(2026, 9, 1, 2, 0, 0)
    a = write_run(tmp_path, "20260901-020000-000a", day, accuracy=True, failed=[("imx8mp", "gpu")])
    b = write_run(
        tmp_path, "20260901-030000-000b", day, cells={"imx93": ("cpu@1t", "ethosu")}, model="b"
    )
    page = _text(write_matrix_report([a, b], tmp_path / "view").read_text())
    accuracy = json.loads((a / "accuracy.json").read_text())
    vx = next(c for c in accuracy["cells"] if c["board"] == "imx8mp" and c["cell"] == "vx")
    assert f"top-1 {vx['top1'] * 100:.1f}%" in page
    assert "FAILED" in page.upper() and "board not in this run" in page
    assert "Model facts unavailable" in page  # the synthetic runs name no real model file


def test_an_emulated_board_never_shares_a_column_with_a_real_one(tmp_path: Path) -> None:
    from datetime import datetime

    from imxbench.report.matrix import load_matrix
    from tests.report_fixtures import facts, write_run

    day = datetime(2026, 9, 1, 2, 0, 0)
    emulated = write_run(tmp_path, "20260901-020000-000e", day, cells={"imx8mp": ("cpu@1t",)})
    real = write_run(
        tmp_path,
        "20260901-020000-000f",
        day,
        cells={"imx8mp": ("cpu@1t",)},
        board_facts={"imx8mp": facts("imx8mp", emulated=False)},
        model="other.tflite",
    )
    doc = json.loads((real / "run.json").read_text())
    (real / "run.json").write_text(json.dumps({**doc, "emulate": False}))
    data = load_matrix([emulated, real])
    assert [(c.board, c.emulated, c.cell) for c in data.columns] == [
        ("imx8mp", True, "cpu@1t"),
        ("imx8mp", False, "cpu@1t"),
    ]
    page = write_matrix_report([emulated, real], tmp_path / "view").read_text()
    headers = re.findall(r'<th colspan="1" scope="colgroup">imx8mp(.*?)</th>', page)
    assert len(headers) == 2 and "EMULATED" in headers[0] and "EMULATED" not in headers[1]
    statuses = re.findall(r'data-board="imx8mp" data-cell="cpu@1t" data-status="([^"]+)"', page)
    assert statuses == ["ok", "not run", "not run", "ok"]  # each model in its own column


def test_report_matrix_of_a_matrix_directory_uses_its_model_names(tmp_path: Path) -> None:
    """`report --matrix reports/<matrix-id>`: the runs matrix.json lists (run/matrix.py), named
    as it names them, the page written into the matrix directory."""
    from datetime import datetime

    from imxbench.rundir import matrix as matrix_record
    from tests.report_fixtures import write_run

    day = datetime(2026, 9, 1, 2, 0, 0)
    a = write_run(tmp_path, "20260901-020000-00aa", day)
    b = write_run(tmp_path, "20260901-020000-00bb", day, model="b.tflite")
    matrix_dir = tmp_path / "matrix-20260901-0200-abcd"
    models = [{"name": "resnet8 <int8>", "run_id": a.name}, {"name": "second", "run_id": b.name}]
    matrix_record.write_matrix(matrix_dir, {"matrix_id": matrix_dir.name, "models": models})
    result = CliRunner().invoke(
        cli, ["report", "--matrix", str(matrix_dir), "--reports", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"report: {matrix_dir / 'index.html'}"
    page = (matrix_dir / "index.html").read_text()
    rows = re.findall(r'<th scope="row"><a href="#model-\d">([^<]*)</a>', page)
    assert rows == ["resnet8 &lt;int8&gt;", "second"]
