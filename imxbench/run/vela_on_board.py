"""Vela compiled on the board (`--vela-on board|auto`, `vela: {compile: board|auto}`): which
delegates of a board compile there, and the compile itself, after the source model is
deployed. The board's own `vela` is NXP's fork matched to its BSP (NXP_FACTS §4.1, §10); its
graph, summary and log are fetched into the run directory (`vela/<board>/<delegate>/`) for the
Vela summary columns, and the graph gets its provenance file on the board like a host-compiled
one (with `compiled_on: board` and the source's path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from imxbench.analysis.model_info import inspect_model
from imxbench.analysis.plan import RunSettings, vela_place
from imxbench.board import vela_board
from imxbench.board.deploy import deploy_bytes
from imxbench.board.transport import BoardSession
from imxbench.config.delegates import DelegateSpec
from imxbench.errors import ConfigError, InfrastructureError
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.prepare.model_prep import PreparedModel
from imxbench.prepare.vela import VelaResult, parse_vela_summary
from imxbench.rundir.layout import RunDir

if TYPE_CHECKING:
    from imxbench.run.pipeline import BoardRun


def board_compiles(
    result: BoardRun,
    specs: Sequence[DelegateSpec],
    prepared: Mapping[str, PreparedModel],
    settings: RunSettings,
    say: Progress,
) -> set[str]:
    """The delegates whose model this board compiles with its own Vela. `board` without a
    Vela on the board fails that delegate's cells (result.cell_errors); `auto` without one
    keeps the host's compile, with a warning."""
    board_vela = result.facts.vela_version if result.facts else None
    chosen: set[str] = set()
    for spec in specs:
        place = vela_place(spec, settings)
        model = prepared.get(spec.name)
        if place in (None, "host") or model is None or model.source_info.is_vela_compiled:
            continue  # a model given already compiled runs as it is
        if board_vela:
            chosen.add(spec.name)
            say(
                ProgressEvent(
                    result.board.name,
                    "board",
                    f"compiling with the board's Vela {board_vela} (NXP's defaults)",
                    spec.name,
                )
            )
        elif place == "board" or model.vela is None:
            result.cell_errors[spec.name] = (
                "Vela is to compile on the board (--vela-on board / vela.compile: board) but "
                "the board has no `vela` (its probe found none)"
            )
        else:
            warning = (
                f"{result.board.name}: no `vela` on the board (vela.compile auto): the "
                f"{spec.name} model was compiled with the host's Vela {model.vela.vela_version}"
            )
            result.warnings.append(warning)
            say(ProgressEvent(result.board.name, "board", "WARNING: " + warning.split(": ", 1)[1]))
    return chosen


def source_only(model: PreparedModel) -> PreparedModel:
    """What to deploy for a board compile: the source model, as given."""
    return PreparedModel.as_given(model.source, model.source_info)


def compile_on_board(
    session: BoardSession,
    result: BoardRun,
    spec: DelegateSpec,
    model: PreparedModel,
    source_remote: str,
    out_dir: Path,
) -> str:
    """Compile the deployed source with the board's Vela, fetch the result, put the
    provenance beside the graph on the board; sets result.prepared[spec.name] and returns the
    graph's path on the board. InfrastructureError/ConfigError when it cannot."""
    version = result.facts.vela_version if result.facts else None
    if not version:
        raise InfrastructureError(f"{result.board.name}: no vela on the board")
    plan = vela_board.compile_plan(
        session.board.workdir, source_remote, model.source_sha256, version
    )
    local = RunDir(out_dir).board_vela(result.board.name, spec.name)
    fetched = vela_board.compile_on_board(session, plan, local)
    info = inspect_model(fetched.graph)
    if not info.is_vela_compiled:
        raise ConfigError(
            f"{result.board.name}: the board's Vela {version} placed none of the operators on "
            "the NPU; the ethos-u cells would run on the CPU"
        )
    summary = parse_vela_summary(
        fetched.summary_csv, fetched.log.read_text(encoding="utf-8", errors="replace")
    )
    doc = {
        "source_sha256": model.source_sha256,
        "vela_version": version,
        "vela_args": [],  # NXP's fork with its own defaults: `vela --output-dir DIR MODEL`
        "compiled_on": "board",
        "source": source_remote,
    }
    provenance = fetched.graph.with_name(fetched.graph.name + ".json")
    provenance.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    deploy_bytes(session, json.dumps(doc, indent=1).encode(), f"{plan.graph}.json")
    vela = VelaResult(fetched.graph, version, (), summary, provenance, fetched.cached)
    result.prepared[spec.name] = PreparedModel(
        source=model.source,
        source_sha256=model.source_sha256,
        graph=fetched.graph,
        provenance=provenance,
        provenance_doc=doc,
        vela=vela,
        info=info,
        source_info=model.source_info,
    )
    return plan.graph
