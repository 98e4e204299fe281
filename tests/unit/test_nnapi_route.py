"""Issue 16 item 3: the 8M Plus before L5.10.72 has no VX delegate, only TFLite's NNAPI
(NXP_FACTS §1.3, §2, §10). The VX cell then runs `--use_nnapi=true`, decided from the probe
(model/facts.py `nnapi_npu`, analysis/plan.py `resolve_specs`)."""

from __future__ import annotations

import pytest

from imxbench.analysis.plan import (
    NNAPI_FLAG,
    ROUTE_NNAPI,
    RunSettings,
    plan_cells,
    resolve_specs,
    route_of,
)
from imxbench.config.delegates import load_catalogue
from imxbench.emulator.benchmark_tool import parse_flags
from imxbench.model.facts import BoardFacts

VX = "/usr/lib/libvx_delegate.so"


def facts(tflite: str, delegates: list[str], galcore: bool = True) -> BoardFacts:
    return BoardFacts(
        {
            "format": 1,
            "soc_id": "i.MX8MP",
            "tflite": [
                {
                    "version": tflite,
                    "benchmark_model": f"/usr/bin/tensorflow-lite-{tflite}/examples/bm",
                    "executable": True,
                }
            ],
            "delegates": [{"path": p, "sha256": None} for p in delegates],
            "npu_devices": {"/dev/galcore": galcore},
        }
    )


@pytest.mark.parametrize(
    ("board", "nnapi"),
    [
        (facts("2.5.0", []), True),  # L5.10.52: NNAPI only
        (facts("2.4.0", []), True),  # L5.4.70
        (facts("2.6.0", [VX]), False),  # L5.10.72: the VX delegate ships, use it
        (facts("2.5.0", [], galcore=False), False),  # no NPU driver: nothing to route to
        (facts("2.9.1", []), False),  # L5.15.32+: NNAPI built off, a broken image
    ],
)
def test_the_nnapi_route_needs_all_three_facts(board: BoardFacts, nnapi: bool) -> None:
    assert board.nnapi_npu is nnapi
    catalogue = load_catalogue()
    cpu, vx = resolve_specs([catalogue["cpu"], catalogue["vx"]], board)
    assert (vx.external_delegate_path is None) is nnapi
    assert (NNAPI_FLAG in vx.benchmark_args) is nnapi
    assert (route_of(vx) == ROUTE_NNAPI) is nnapi
    assert route_of(cpu) == "cpu" and NNAPI_FLAG not in cpu.benchmark_args


def test_the_plan_runs_use_nnapi_instead_of_the_missing_library() -> None:
    specs = resolve_specs([load_catalogue()["vx"]], facts("2.5.0", []))
    (cell,) = plan_cells(specs, {"vx": "/w/m.tflite"}, "/bm", "/w", 4, RunSettings(repetitions=1))
    assert cell.name == "vx" and cell.route == ROUTE_NNAPI
    for step in cell.steps:
        assert NNAPI_FLAG in step.argv
        assert not any(a.startswith("--external_delegate") for a in step.argv)
        assert step.env["USE_GPU_INFERENCE"] == "0"  # the driver's settings still apply


def test_the_emulated_tool_knows_use_nnapi_only_with_nnapi() -> None:
    assert parse_flags([NNAPI_FLAG], nnapi=True)["use_nnapi"] is True
    assert parse_flags([NNAPI_FLAG]).unconsumed == [NNAPI_FLAG]  # TFLite built without NNAPI
