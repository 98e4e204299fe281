"""What an adaptive run says before and while it runs: `run --dry-run` states that a cell's
timed step repeats adaptively (run/dry_run.py), and the progress bar counts the fewest
processes an adaptive cell needs, not its one timed template (plan.expected_processes)."""

from __future__ import annotations

from pathlib import Path

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import Board
from imxbench.config.models import ModelEntry
from imxbench.model.progress import ProgressEvent
from imxbench.run.dry_run import plan_document, plan_run, render_text
from imxbench.run.matrix import ModelPlan, plan_everything
from tests.locations import REPO

MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
BOARD = Board("lab", "imx8mp", "evk.invalid")
ADAPTIVE = RunSettings(precision=0.02, max_repetitions=12, max_seconds=20)


def test_the_dry_run_says_the_timed_step_repeats_adaptively(tmp_path: Path) -> None:
    (plan,) = plan_run([BOARD], MODEL, load_catalogue(), "cpu,vx", ADAPTIVE, tmp_path)
    text = render_text([plan])
    assert "vx rep 1, 2, ... (adaptive: 6 to 12 processes)" in text
    assert "stops at the first n >= 6 where it is within 2.0%" in text
    assert "at most 20 s of them" in text
    doc = plan_document([plan])["boards"][0]["commands"]
    vx = {c["kind"]: c for c in doc if c.get("cell") == "vx"}
    cpu = next(c for c in doc if c.get("kind") == "timed" and c["cell"] != "vx")
    # the fields a script read before are all there, as they were
    assert vx["timed"]["repetition"] == 1 and "--num_runs=20" in vx["timed"]["argv"]
    assert {"phase", "where", "what", "command", "argv", "env"} <= set(vx["timed"])
    adaptive = vx["timed"]["adaptive"]
    assert adaptive["min_processes"] == 6 and adaptive["max_repetitions"] == 12
    assert adaptive["max_seconds"] == 20 and adaptive["precision"] == 0.02
    assert adaptive["cold_counts_when_steady"] is True  # vx has a cold step
    assert cpu["adaptive"]["cold_counts_when_steady"] is False
    assert "adaptive" not in vx["cold"] and "adaptive" not in vx["profile"]


def test_a_fixed_run_plan_is_as_it_was(tmp_path: Path) -> None:
    fixed = RunSettings(repetitions=3)
    (plan,) = plan_run([BOARD], MODEL, load_catalogue(), "vx", fixed, tmp_path)
    doc = plan_document([plan])["boards"][0]["commands"]
    timed = [c for c in doc if c.get("kind") == "timed"]
    assert [c["repetition"] for c in timed] == [1, 2, 3]
    assert not any("adaptive" in c for c in doc)
    assert "adaptive" not in render_text([plan])


def test_the_matrix_estimate_counts_the_fewest_adaptive_processes() -> None:
    catalogue = load_catalogue()
    plans = [ModelPlan(ModelEntry(MODEL, "m"), {"lab": [catalogue["cpu"], catalogue["vx"]]})]
    events: list[ProgressEvent] = []
    plan_everything(events.append, [BOARD], plans, RunSettings(precision=0.01))
    (planned,) = [e.planned for e in events if e.kind == "planned"]
    # cpu@1t, cpu@4t: 6 timed + profile; vx: cold + 6 timed + profile
    assert planned == 7 + 7 + 8
    events.clear()
    plan_everything(events.append, [BOARD], plans, RunSettings(repetitions=3))
    assert [e.planned for e in events if e.kind == "planned"] == [4 + 4 + 5]
