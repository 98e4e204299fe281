"""`run --dry-run`: every command a run would send to each board, in order, quoted as sent,
without connecting to any board.

The plan comes from boards.yaml, the delegate catalogue and the run settings, through the same
functions the run uses (plan.plan_cells, pipeline.step_command, deploy.content_name,
vela_board.compile_plan), so what is printed is what is sent. What only the board's probe can
tell is assumed and each assumption is listed with the board (its core count for `cpu@all`,
the TFLite version in benchmark_model's path, which delegate libraries and which `vela` it has).
The host side is real: the model is checked and, for a host compile, compiled with Vela (cached:
the run reuses it), so graph names on the board are exact.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imxbench.analysis.plan import (
    Cell,
    RunSettings,
    plan_cells,
    resolve_specs,
    route_note,
    route_of,
    vela_place,
)
from imxbench.analysis.sampling import MIN_PROCESSES, SamplingPolicy
from imxbench.board import vela_board
from imxbench.board.deploy import content_name
from imxbench.board.transport import quote_command
from imxbench.config.delegates import DelegateSpec, select_delegates
from imxbench.config.inventory import Board
from imxbench.model.facts import BoardFacts
from imxbench.prepare.model_prep import PreparedModel, UnfitModel
from imxbench.run.job import prepare_models
from imxbench.run.pipeline import step_command

PLAN_FORMAT = 1
SOC_CPUS = {"imx8mp": 4, "imx93": 2, "imx95": 6}
"""Cortex-A cores of each SoC (NXP_FACTS §2.1: 4 on the 8M Plus, 2 on the i.MX 93; the i.MX 95
has 6): what `cpu@all` resolves to when the probe has not counted the online cores."""
TFLITE_PLACEHOLDER = "VERSION"
BOARD_VELA_PLACEHOLDER = "VELA_VERSION"
SENT_AS = (
    "each command runs in its own process group on the board (the transport wraps it in "
    "`setsid ... &` and kills the group on timeout or Ctrl-C: docs/DESIGN.md, the board seam)"
)


@dataclass(frozen=True)
class PlannedCommand:
    """One thing the run does, in order: a command sent to the board (as sent), an upload, or
    a command on the host."""

    phase: str
    """host | probe | setup | deploy | compile | step | end"""
    what: str
    command: str | None = None
    """The shell command line as sent (None for a file transfer)."""
    stdin: str | None = None
    """What is piped to the command's standard input."""
    where: str = "board"
    cell: str | None = None
    kind: str | None = None
    repetition: int | None = None
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    adaptive: Mapping[str, Any] | None = None
    """An adaptive cell's timed step: how it repeats (`adaptive_repeats`); None otherwise."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "phase": self.phase,
            "where": self.where,
            "what": self.what,
            "command": self.command,
        }
        if self.stdin is not None:
            out["stdin"] = self.stdin
        if self.cell is not None:
            out.update(cell=self.cell, kind=self.kind, repetition=self.repetition)
            out.update(argv=list(self.argv), env=dict(self.env))
        if self.adaptive is not None:
            out["adaptive"] = dict(self.adaptive)
        return out


@dataclass(frozen=True)
class BoardPlan:
    board: str
    soc: str
    address: str
    emulated: bool
    assumptions: tuple[str, ...]
    commands: tuple[PlannedCommand, ...]
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "soc": self.soc,
            "address": self.address,
            "emulated": self.emulated,
            "assumptions": list(self.assumptions),
            "skipped": list(self.skipped),
            "commands": [c.to_dict() for c in self.commands],
        }


def plan_document(plans: Sequence[BoardPlan], probed: bool = False) -> dict[str, Any]:
    """`run --dry-run --format json` (`probed`: --dry-run=probe asked the boards' probe)."""
    return {
        "format": PLAN_FORMAT,
        "dry_run": True,
        "connected": probed,
        "probed": probed,
        "sent_as": SENT_AS,
        "boards": [p.to_dict() for p in plans],
    }


def plan_run(
    boards: Sequence[Board],
    model: Path,
    catalogue: Mapping[str, DelegateSpec],
    delegate_names: str | None,
    settings: RunSettings,
    vela_cache: Path,
    facts: Mapping[str, BoardFacts] | None = None,
    skip_delegates: Collection[str] = (),
) -> list[BoardPlan]:
    """The plan of every board. Bad input fails as the run would (a ConfigError, exit 2).
    `facts`: the boards' probe documents (`--dry-run=probe`), which replace the assumptions.
    `skip_delegates`: models.yaml's for this model (shown as skipped cells, as the run does)."""
    every = {b.name: select_delegates(catalogue, b.soc, delegate_names) for b in boards}
    prepared, unfit = prepare_models(model, every, vela_cache, skip_delegates)  # as the run
    return [
        _board_plan(b, every[b.name], prepared, unfit, settings, (facts or {}).get(b.name))
        for b in boards
    ]


def _board_plan(
    board: Board,
    specs: list[DelegateSpec],
    prepared: Mapping[str, PreparedModel],
    unfit: Mapping[str, UnfitModel],
    settings: RunSettings,
    facts: BoardFacts | None = None,
) -> BoardPlan:
    workdir = board.workdir
    runnable = resolve_specs([s for s in specs if s.name in prepared], facts)
    assumptions = _assumptions(board, runnable, settings, facts)
    cpus = int((facts.raw.get("cpu_count") if facts else None) or SOC_CPUS.get(board.soc, 1))
    benchmark_model = (
        board.benchmark_model
        or (facts.benchmark_model if facts else None)
        or f"/usr/bin/tensorflow-lite-{TFLITE_PLACEHOLDER}/examples/benchmark_model"
    )
    board_vela = facts.vela_version if facts else BOARD_VELA_PLACEHOLDER
    commands: list[PlannedCommand] = []
    graphs: dict[str, str] = {}
    compiles: list[PlannedCommand] = []
    uploads: list[PlannedCommand] = []
    failing = _failing(runnable, facts)  # probed: cells that fail without running
    for spec in runnable:
        model = prepared[spec.name]
        place = vela_place(spec, settings)
        on_board = place in ("board", "auto") and not model.source_info.is_vela_compiled
        if on_board and not board_vela:  # probed: the board has no vela
            on_board = False
            if place == "board" or model.vela is None:
                assumptions.append(f"{spec.name}: its cells fail: the board has no `vela`")
                failing.add(spec.name)
            else:
                assumptions.append(f"{spec.name}: no `vela` on the board: the host compiles")
        if model.vela is not None and place != "board" and (not on_board or facts is None):
            commands.append(_host_vela(spec, model))  # host; or auto's fallback, unprobed
        if on_board:
            source = _remote(workdir, model.source, model.source_sha256)
            uploads.append(_upload(model.source, source, model.source_sha256))
            compile_ = vela_board.compile_plan(
                workdir, source, model.source_sha256, board_vela or BOARD_VELA_PLACEHOLDER
            )
            graphs[spec.name] = compile_.graph
            compiles.append(
                PlannedCommand(
                    "compile",
                    f"{spec.name}: the board's Vela compiles the model with NXP's defaults "
                    "(then the graph, its summary CSV and vela.log are fetched back, and its "
                    f"provenance written to {compile_.graph}.json)",
                    compile_.command,
                )
            )
            if facts is None:
                assumptions.append(
                    f"{spec.name}: {BOARD_VELA_PLACEHOLDER} is the board's `vela --version` "
                    + (
                        "(the probe reads it; vela.compile board: no vela on the board fails "
                        "the cells)"
                        if place == "board"
                        else "(vela.compile auto: when the probe finds no vela, the host's "
                        "compile above is deployed instead, with a warning)"
                    )
                )
        else:
            graph = _remote(workdir, model.graph, model.info.sha256)
            graphs[spec.name] = graph
            uploads.append(_upload(model.graph, graph, model.info.sha256))
            if model.provenance_doc:
                source = _remote(workdir, model.source, model.source_sha256)
                uploads.append(_upload(model.source, source, model.source_sha256))
                uploads.append(
                    PlannedCommand(
                        "deploy",
                        f"write the provenance {graph}.json (which model, Vela and settings;"
                        " XXXXXXXX: random hex)",
                        f'mkdir -p "$(dirname {shlex.quote(graph + ".json")})" && cat > '
                        f"{shlex.quote(graph + '.json.part-XXXXXXXX')} && mv -f "
                        f"{shlex.quote(graph + '.json.part-XXXXXXXX')} "
                        f"{shlex.quote(graph + '.json')}",
                        stdin=json.dumps(model.provenance_doc, sort_keys=True),
                    )
                )
    commands += [
        PlannedCommand(
            "probe",
            "the board probe: SoC, BSP, TFLite, delegates, NPU, vela, clocks (one JSON document)",
            quote_command(["sh", "-s", "--", workdir]),
            stdin="imxbench/board/scripts/probe.sh",
        ),
        PlannedCommand(
            "setup",
            "restore a CPU governor an earlier run left changed (nothing when there is none)",
            quote_command(["sh", "-s"]),
            stdin="board/clocks.py restore_governor script",
        ),
        PlannedCommand(
            "setup",
            "check that the workdir is writable",
            f"mkdir -p {shlex.quote(workdir)} && test -w {shlex.quote(workdir)}",
        ),
    ]
    governor = settings.cpu_governor or board.cpu_governor
    if governor:
        source = "--cpu-governor" if settings.cpu_governor else "boards.yaml cpu_governor"
        commands.append(
            PlannedCommand(
                "setup",
                f"set the CPU governor {governor} ({source}); the previous one is kept in "
                f"{workdir}/.imxbench/governor.restore",
                quote_command(["sh", "-s"]),
                stdin=f"board/clocks.py set_governor script ({governor})",
            )
        )
    seen: set[str] = set()
    for upload in uploads:  # deploy_file sends a content-addressed file once
        if upload.what not in seen:
            seen.add(upload.what)
            commands.append(upload)
    commands += compiles
    cells = plan_cells(runnable, graphs, benchmark_model, workdir, cpus, settings)
    commands.append(
        PlannedCommand(
            "step",
            "every step below is sent as one command that takes the clock and thermal snapshot "
            "right before and right after it (board/clocks.py with_snapshots)"
            + (
                f"; with --cooldown {settings.cooldown_c:g}, before each step the snapshot is "
                f"polled every second until the SoC is below it, at most "
                f"{settings.cooldown_timeout_s:g} s"
                if settings.cooldown_c is not None
                else ""
            )
            + "; after a failed step, the dmesg/remoteproc diagnosis",
            quote_command(["sh", "-s"]),
            stdin="board/clocks.py SNAPSHOT_SCRIPT",
        )
    )
    commands += [
        _step(cell, step, settings)
        for cell in cells
        if cell.delegate not in failing
        for step in cell.steps
    ]
    if governor:
        commands.append(
            PlannedCommand(
                "end",
                "restore the CPU governor (also after Ctrl-C; a lost board: the next connection)",
                quote_command(["sh", "-s"]),
                stdin="board/clocks.py restore_governor script",
            )
        )
    skipped = tuple(f"{s.name}: {unfit[s.name].reason}" for s in specs if s.name in unfit)
    address = (
        f"an emulated {board.soc} on 127.0.0.1 (started at run time)"
        if board.emulated
        else f"{board.user}@{board.host or board.place}:{board.port}"
    )
    return BoardPlan(
        board.name,
        board.soc,
        address,
        board.emulated,
        tuple(assumptions),
        tuple(commands),
        skipped,
    )


def _failing(specs: Sequence[DelegateSpec], facts: BoardFacts | None) -> set[str]:
    """Delegates whose library the probe did not find: the run fails their cells unrun."""
    if facts is None:
        return set()
    return {
        s.name
        for s in specs
        if s.external_delegate_path and s.external_delegate_path not in facts.delegate_libraries
    }


def _assumptions(
    board: Board, specs: Sequence[DelegateSpec], settings: RunSettings, facts: BoardFacts | None
) -> list[str]:
    """What the plan takes for granted: without a probe, the facts only the probe knows; with
    one (`--dry-run=probe`), what it found that decides the plan."""
    out: list[str] = []
    if facts is not None:
        libraries = facts.delegate_libraries
        out.append(
            "probed (read-only, nothing written): "
            f"{facts.raw.get('cpu_count')} CPU cores, TFLite {facts.tflite_version}, "
            f"BSP {facts.bsp_version_id}, vela {facts.vela_version or 'none'}, delegate "
            f"libraries {', '.join(libraries) or 'none'}"
        )
        for spec in specs:
            path = spec.external_delegate_path
            if path and path not in libraries:
                out.append(f"{spec.name}: its cells fail: {path} is not on the board")
            note = route_note(route_of(spec), spec.env)
            if note is not None:
                out.append(f"{spec.name}: {note}")
    else:
        cpus = SOC_CPUS.get(board.soc, 1)
        out += [
            "no connection was made: the probe's facts below are assumed; the run decides "
            "them from the probe (--dry-run=probe asks the board)",
            f"{cpus} online CPU cores (the {board.soc}'s Cortex-A cores), for the cpu@all cell",
        ]
        if not board.benchmark_model:
            out.append(
                f"{TFLITE_PLACEHOLDER} in benchmark_model's path is the TFLite version the "
                "probe finds (/usr/bin/tensorflow-lite-*/examples/benchmark_model; e.g. 2.19.0 "
                "on L6.12, NXP_FACTS §1.3); set benchmark_model in boards.yaml to fix it"
            )
        paths = sorted({s.external_delegate_path or "" for s in specs} - {""})
        if paths:
            out.append(
                "the delegate libraries are on the board: " + ", ".join(paths) + " (a "
                "missing one fails its cells; an i.MX 93 on LF5.15 has no "
                "libethosu_delegate.so and runs the Vela graph through TFLite's built-in "
                "ethos-u op, without --external_delegate_path: NXP_FACTS §4.3, §10)"
            )
    precision = getattr(settings, "precision", None)
    if precision is not None:
        out.append(
            f"adaptive sampling (--precision): each cell's `rep 1, 2, ...` command is the first "
            f"timed process; more follow with the --num_runs the sampler chooses, until the "
            f"median's 95% interval is within {precision:.1%} (at least {MIN_PROCESSES}, at "
            f"most {getattr(settings, 'max_repetitions', '?')} processes; the rule is under "
            f"each such command)"
        )
    return out


def _remote(workdir: str, local: Path, sha256: str) -> str:
    return posixpath.join(workdir, "models", content_name(local, sha256))


def _upload(local: Path, remote: str, sha256: str) -> PlannedCommand:
    return PlannedCommand(
        "deploy",
        f"upload {local} ({local.stat().st_size} bytes, sha256 {sha256[:16]}...) to {remote} "
        "on a command's stdin, written as .part and renamed once its size and sha256 check "
        "on the board (not sent when the board has it already)",
    )


def _host_vela(spec: DelegateSpec, model: PreparedModel) -> PlannedCommand:
    assert model.vela is not None
    entry = model.vela.compiled_path.parent
    argv = ["vela", *model.vela.vela_args, "--output-dir", str(entry), str(model.source)]
    cached = "cached: not run again" if model.vela.from_cache else "compiled now, and cached"
    return PlannedCommand(
        "host",
        f"{spec.name}: the host's Vela {model.vela.vela_version} ({cached}; it writes into a "
        "temporary folder renamed to the cache entry)",
        shlex.join(argv),
        where="host",
    )


def _step(cell: Cell, step: Any, settings: RunSettings) -> PlannedCommand:
    label = f"rep {step.repetition}" if step.kind == "timed" else step.kind
    adaptive = None
    if step.kind == "timed" and getattr(settings, "precision", None) is not None:
        adaptive = adaptive_repeats(settings, any(s.kind == "cold" for s in cell.steps))
        label = f"rep 1, 2, ... (adaptive: {MIN_PROCESSES} to {settings.max_repetitions} processes)"
    return PlannedCommand(
        "step",
        f"{cell.name} {label}" + (f" (route: {cell.route})" if cell.route != "cpu" else ""),
        step_command(step),
        cell=cell.name,
        kind=step.kind,
        repetition=step.repetition,
        argv=tuple(step.argv),
        env=dict(step.env),
        adaptive=adaptive,
    )


def adaptive_repeats(settings: RunSettings, has_cold: bool) -> dict[str, Any]:
    """How an adaptive cell's timed step repeats (analysis/sampling.py, docs/DESIGN.md
    "Adaptive sampling"): the fewest and the most processes, the target and the rule."""
    policy = SamplingPolicy(settings.precision or 0.0, settings.max_repetitions)
    cold = " (the cold step above counts as one when its timed phase is steady)"
    rule = (
        f"this command runs again, one process at a time, until the cell has {MIN_PROCESSES} "
        f"to {settings.max_repetitions} processes{cold if has_cold else ''}, at most "
        f"{settings.max_seconds:g} s of them; after each, the 95% interval "
        f"of the median process latency is recomputed and the cell stops at the first n >= "
        f"{MIN_PROCESSES} where it is within {policy.precision:.1%}; the first 3 run "
        f"--num_runs={policy.first_runs} as shown, later ones the --num_runs the sampler "
        f"chooses ({policy.min_runs}..{policy.max_runs}), their warm-up doubled (up to "
        f"{policy.max_warmup_secs:g} s) when the processes start slow"
    )
    return {
        "min_processes": MIN_PROCESSES,
        "max_repetitions": settings.max_repetitions,
        "max_seconds": settings.max_seconds,
        "precision": settings.precision,
        "first_num_runs": policy.first_runs,
        "num_runs_range": [policy.min_runs, policy.max_runs],
        "max_warmup_secs": policy.max_warmup_secs,
        "cold_counts_when_steady": has_cold,
        "stopping_rule": rule,
    }


def render_text(plans: Sequence[BoardPlan], probed: bool = False) -> str:
    """The plan for a terminal: per board, its assumptions and then its commands."""
    said = (
        "only the read-only probe was sent to each board"
        if probed
        else "nothing was sent to any board"
    )
    lines = [
        f"DRY RUN: {said}. The commands each board would get, in order,",
        "exactly as sent (shell-quoted); " + SENT_AS + ".",
    ]
    for plan in plans:
        lines += ["", f"== {plan.board} ({plan.soc}, {plan.address}) =="]
        lines += ["facts:" if probed else "assumptions:"] + [f"  - {a}" for a in plan.assumptions]
        lines += [f"skipped: {s}" for s in plan.skipped]
        phase = None
        for c in plan.commands:
            if c.phase != phase:
                phase = c.phase
                lines.append(f"{phase}:")
            lines.append(f"  # {c.what}")
            if c.adaptive is not None:
                lines.append(f"  #   {c.adaptive['stopping_rule']}")
            if c.command is not None:
                prompt = "host$" if c.where == "host" else "$"
                stdin = f"   < {c.stdin}" if c.stdin and c.phase != "deploy" else ""
                lines.append(f"  {prompt} {c.command}{stdin}")
    return "\n".join(lines)
