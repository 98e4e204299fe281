"""`run --dry-run`'s plan (run/dry_run.py) and --npu-profile's profile step (analysis/plan.py):
every remote argument shell-quoted, the plan made without any board."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from click.testing import CliRunner

from imxbench.analysis.plan import RunSettings, plan_cells
from imxbench.cli.main import cli
from imxbench.config.delegates import load_catalogue, with_vela_on
from imxbench.config.inventory import Board
from imxbench.model.facts import BoardFacts
from imxbench.run.dry_run import plan_document, plan_run, render_text
from tests.locations import REPO

MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
ODD = """\
description: a delegate whose env and flags need quoting
socs: [imx8mp]
external_delegate_path: /usr/lib/libvx_delegate.so
delegate_options: {cache_file_path: /tmp/a b}
env:
  ODD_VALUE: "a b'c $HOME;rm -rf /"
  ODD_DIR: "{workdir}/cache dir"
graph_cache_env: ODD_DIR
benchmark_args: ["--odd=x y"]
"""


def test_every_remote_argument_is_quoted(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "cpu.yaml").write_text("description: cpu\nsocs: [imx8mp]\n")
    (folder / "odd.yaml").write_text(ODD)
    board = Board("lab", "imx8mp", "evk.invalid", workdir="/home/root/work space")
    (plan,) = plan_run(
        [board], MODEL, load_catalogue(folder), "odd", RunSettings(repetitions=1), tmp_path
    )
    steps = [c for c in plan.commands if c.cell == "odd"]
    assert [c.kind for c in steps] == ["cold", "timed", "profile"]
    cold = steps[0].command
    assert cold is not None
    clear, make, *_, run = cold.split(" && ")  # then the env's *_DIR folders, then the tool
    assert shlex.split(clear) == ["rm", "-rf", "/home/root/work space/cache dir"]
    assert shlex.split(make) == ["mkdir", "-p", "/home/root/work space/cache dir"]
    words = shlex.split(run)
    assert words[:3] == [
        "env",
        "ODD_VALUE=a b'c $HOME;rm -rf /",  # literal: no expansion, no second command
        "ODD_DIR=/home/root/work space/cache dir",
    ]
    assert "--external_delegate_options=cache_file_path:/tmp/a b" in words
    assert words[-1] == "--odd=x y"
    assert words[3] == "/usr/bin/tensorflow-lite-VERSION/examples/benchmark_model"
    assert any("VERSION in benchmark_model's path" in a for a in plan.assumptions)
    probe = next(c for c in plan.commands if c.phase == "probe")
    assert shlex.split(probe.command or "") == ["sh", "-s", "--", "/home/root/work space"]
    doc = plan_document([plan])
    assert doc["dry_run"] and doc["boards"][0]["commands"][-1]["kind"] == "profile"
    assert "DRY RUN" in render_text([plan])


def test_npu_profile_options_go_to_the_profile_step_only() -> None:
    catalogue = load_catalogue()
    settings = RunSettings(repetitions=2, npu_profile=True)
    (cell,) = plan_cells([catalogue["ethosu"]], {"ethosu": "/m.tflite"}, "bm", "/w", 2, settings)
    timed = [s for s in cell.steps if s.kind == "timed"]
    (profile,) = [s for s in cell.steps if s.kind == "profile"]
    assert all(not any("external_delegate_options" in a for a in s.argv) for s in timed)
    options = [a for a in profile.argv if a.startswith("--external_delegate_options=")]
    assert options == [
        "--external_delegate_options=enable_cycle_counter:true;enable_profiling:true;"
        "pmu_event0:3;pmu_event1:4;pmu_event2:5;pmu_event3:6"
    ]
    assert profile.argv[-1] == "--enable_op_profiling=true"
    (vx,) = plan_cells([catalogue["vx"]], {"vx": "/m.tflite"}, "bm", "/w", 4, settings)
    vx_profile = next(s for s in vx.steps if s.kind == "profile")
    assert vx_profile.env["CNN_PERF"] == "1" and vx_profile.env["VIV_VX_DEBUG_LEVEL"] == "1"
    assert all("CNN_PERF" not in s.env for s in vx.steps if s.kind != "profile")
    # without --npu-profile nothing changes; with --no-op-profile the NPU profile still runs
    (plain,) = plan_cells([catalogue["ethosu"]], {"ethosu": "/m"}, "bm", "/w", 2, RunSettings())
    assert not any("enable_profiling" in a for s in plain.steps for a in s.argv)
    only = RunSettings(npu_profile=True, op_profile=False)
    (npu,) = plan_cells([catalogue["ethosu"]], {"ethosu": "/m"}, "bm", "/w", 2, only)
    profile = next(s for s in npu.steps if s.kind == "profile")
    assert "--enable_op_profiling=true" not in profile.argv


def test_vela_on_board_plans_the_board_compile_and_no_host_vela(tmp_path: Path) -> None:
    catalogue = with_vela_on(load_catalogue(), "board")
    board = Board("evk", "imx93", "evk.invalid", cpu_governor="performance")
    settings = RunSettings(repetitions=1, vela_on="board")
    (plan,) = plan_run([board], MODEL, catalogue, "ethosu", settings, tmp_path / "cache")
    assert not [c for c in plan.commands if c.where == "host"]  # nothing compiled on the host
    assert not (tmp_path / "cache").exists()
    (compile_,) = [c for c in plan.commands if c.phase == "compile"]
    out = "/home/root/imxbench/vela/3c002613d1b2475e-VELA_VERSION"
    source = "/home/root/imxbench/models/pretrainedResnet_quant-3c002613d1b2475e.tflite"
    assert f"vela --output-dir {out} {source} > {out}/vela.log.part 2>&1" in (
        compile_.command or ""
    )
    steps = [c for c in plan.commands if c.cell == "ethosu"]
    graph = f"{out}/pretrainedResnet_quant-3c002613d1b2475e_vela.tflite"
    assert all(f"--graph={graph}" in c.argv for c in steps)
    phases = [c.phase for c in plan.commands]
    assert phases.index("deploy") < phases.index("compile") < phases.index("step")
    assert phases[-1] == "end"  # boards.yaml's governor restored
    assert any("boards.yaml cpu_governor" in c.what for c in plan.commands)
    assert any("VELA_VERSION is the board's `vela --version`" in a for a in plan.assumptions)


def probed(vela: str | None, delegates: list[str]) -> BoardFacts:
    return BoardFacts(
        {
            "soc_id": "i.MX93",
            "cpu_count": 2,
            "tflite": [
                {
                    "version": "2.16.2",
                    "benchmark_model": "/usr/bin/tensorflow-lite-2.16.2/examples/benchmark_model",
                    "executable": True,
                }
            ],
            "delegates": [{"path": p, "sha256": None} for p in delegates],
            "npu_devices": {"/dev/ethosu0": True},
            "vela": vela,
            "os_release": {"version_id": "6.6-scarthgap"},
        }
    )


def test_probed_facts_decide_the_plan(tmp_path: Path) -> None:
    """--dry-run=probe: a board without vela fails `compile: board` cells (no commands for
    them); one without the delegate library too; `auto` falls back to the host's compile."""
    board = Board("evk", "imx93", "evk.invalid")
    ethosu = "/usr/lib/libethosu_delegate.so"
    cache = tmp_path / "cache"
    board_only = with_vela_on(load_catalogue(), "board")
    settings = RunSettings(repetitions=1, vela_on="board")
    facts = {"evk": probed(None, [ethosu])}
    (plan,) = plan_run([board], MODEL, board_only, "cpu,ethosu", settings, cache, facts)
    assert "ethosu: its cells fail: the board has no `vela`" in plan.assumptions
    assert not [c for c in plan.commands if c.cell == "ethosu" or c.phase == "compile"]
    cpu = [c for c in plan.commands if c.cell and c.cell.startswith("cpu")]
    assert cpu and cpu[0].argv[0] == "/usr/bin/tensorflow-lite-2.16.2/examples/benchmark_model"
    auto = RunSettings(repetitions=1, vela_on="auto")
    (plan,) = plan_run([board], MODEL, load_catalogue(), "ethosu", auto, cache, facts)
    assert "ethosu: no `vela` on the board: the host compiles" in plan.assumptions
    assert [c.where for c in plan.commands if c.phase == "host"] == ["host"]
    assert [c for c in plan.commands if c.cell == "ethosu"]
    facts = {"evk": probed("3.12.0", [])}  # vela, but no delegate library
    (plan,) = plan_run([board], MODEL, load_catalogue(), "ethosu", auto, cache, facts)
    assert f"ethosu: its cells fail: {ethosu} is not on the board" in plan.assumptions
    assert not [c for c in plan.commands if c.cell == "ethosu"]
    (compile_,) = [c for c in plan.commands if c.phase == "compile"]  # auto: the board's 3.12
    assert "/vela/3c002613d1b2475e-3.12.0 " in (compile_.command or "")


def test_an_emulated_dry_run_names_the_emulated_board(tmp_path: Path) -> None:
    """`--emulate --dry-run`: the plan is for the emulated board on 127.0.0.1 the run would
    start, not for the inventory's address (run and nightly alike)."""
    inventory = tmp_path / "boards.yaml"
    inventory.write_text("boards:\n  evk:\n    soc: imx8mp\n    host: evk.lab.invalid\n")
    for command in (
        ["run", "--board", "evk", "--inventory", str(inventory), "--emulate", "--dry-run"],
        [
            "nightly",
            "--board",
            "evk",
            "--inventory",
            str(inventory),
            "--emulate",
            "--dry-run",
            "--reports",
            str(tmp_path / "reports"),
        ],
    ):
        shown = CliRunner().invoke(cli, command)
        assert shown.exit_code == 0, shown.output
        assert "== evk (imx8mp, an emulated imx8mp on 127.0.0.1 (started at run time)) ==" in (
            shown.output
        )
        assert "evk.lab.invalid" not in shown.output
    plain = CliRunner().invoke(
        cli, ["run", "--board", "evk", "--inventory", str(inventory), "--dry-run"]
    )
    assert "root@evk.lab.invalid:22" in plain.output
    assert not (tmp_path / "reports").exists()  # a dry run writes nothing


def test_a_delegate_models_yaml_skips_is_planned_as_skipped(tmp_path: Path) -> None:
    """`--models` with `skip_delegates`: the dry run plans what the run does, the cell skipped
    with models.yaml's reason and no step for it (run and nightly alike)."""
    inventory = tmp_path / "boards.yaml"
    inventory.write_text("boards:\n  evk:\n    soc: imx8mp\n    host: evk.lab.invalid\n")
    models = tmp_path / "models.yaml"
    models.write_text(
        f"format: 1\nmodels:\n  - {{name: resnet8, path: {MODEL}, skip_delegates: [vx]}}\n"
    )
    common = ["--board", "evk", "--inventory", str(inventory), "--models", str(models)]
    for command in (
        ["run", *common, "--dry-run", "--format", "json"],
        ["nightly", *common, "--dry-run", "--format", "json", "--reports", str(tmp_path / "r")],
    ):
        shown = CliRunner().invoke(cli, command)
        assert shown.exit_code == 0, shown.output
        doc = json.loads(shown.output)
        (board,) = doc["boards"]
        assert any(s.startswith("vx: models.yaml skips") for s in board["skipped"]), board
        steps = [c for c in board["commands"] if c["phase"] == "step"]
        cells = {c["what"].split()[0] for c in steps[1:]}  # steps[0]: the snapshot note
        assert cells == {"cpu@1t", "cpu@4t", "gpu"}, cells
