"""`imxbench run --dry-run` and `nightly --dry-run`: print the plan (run/dry_run.py,
run/nightly_dry_run.py); write nothing, and connect to no board (`--dry-run=probe`: only the
read-only probe)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imxbench.cli.output import echo
from imxbench.config.inventory import Board
from imxbench.errors import ConfigError
from imxbench.model.facts import BoardFacts

if TYPE_CHECKING:
    from imxbench.analysis.plan import RunSettings
    from imxbench.config.models import ModelEntry
    from imxbench.run.nightly import NightlyConfig


ACCURACY_NOTE = (
    "after each board's benchmark cells, --dataset uploads the packed inputs and "
    "board/scripts/evaluate.py and runs it once per delegate (not expanded here)"
)


def planned_boards(boards: Sequence[Board], emulate: bool) -> list[Board]:
    """The boards as the run would reach them: with --emulate, each an emulated board of its
    SoC on 127.0.0.1 (so the plan names that, not the inventory's address)."""
    if not emulate:
        return list(boards)
    from imxbench.config.inventory import emulated_board

    return [emulated_board(b.name, b.soc, b) for b in boards]


def print_plan(
    boards: Sequence[Board],
    models: Sequence[ModelEntry],
    delegate_names: str | None,
    settings: RunSettings,
    fmt: str,
    resume: Path | None,
    accuracy: bool = False,
    facts: Mapping[str, BoardFacts] | None = None,
) -> None:
    """Every board's commands for every model, as text or (`--format json`) one document."""
    from imxbench.config.delegates import load_catalogue, with_vela_on
    from imxbench.prepare.model_prep import default_cache_root
    from imxbench.run.dry_run import plan_document, plan_run, render_text

    if resume is not None:
        raise ConfigError("--dry-run plans a whole run; it does not take --resume")
    if fmt == "csv":
        raise ConfigError("--dry-run prints text or json (--format text|json)")
    catalogue = with_vela_on(load_catalogue(), settings.vela_on)
    documents = []
    for entry in models:
        model = entry.path
        if not model.is_file():
            raise ConfigError(f"{model}: model file not found (--model)")
        plans = plan_run(
            boards,
            model,
            catalogue,
            delegate_names,
            settings,
            default_cache_root(),
            facts,
            entry.skip_delegates,
        )
        if fmt == "json":
            doc = {"model": str(model), **plan_document(plans, probed=facts is not None)}
            documents.append({**doc, "accuracy_phase": ACCURACY_NOTE} if accuracy else doc)
        else:
            if len(models) > 1:
                click.echo(f"\n##### model {model}")
            echo(render_text(plans, probed=facts is not None))
            if accuracy:
                echo(f"\naccuracy: {ACCURACY_NOTE}")
    if fmt == "json":
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))


def print_night_plan(
    boards: Sequence[Board],
    models: Sequence[ModelEntry],
    config: NightlyConfig,
    db_url: str | None,
    fmt: str,
    facts: Mapping[str, BoardFacts] | None = None,
) -> None:
    """`nightly --dry-run`: each model's night (run/nightly_dry_run.py), as text or json."""
    from dataclasses import replace

    from imxbench.run.nightly_dry_run import plan_night, render_night_text

    nights = []
    for entry in models:
        if not entry.path.is_file():
            raise ConfigError(f"{entry.path}: model file not found (--model)")
        night = replace(config, model=entry.path)
        nights.append(plan_night(boards, night, db_url, facts, entry.skip_delegates))
    if fmt == "json":
        documents = [n.to_dict(probed=facts is not None) for n in nights]
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        echo(render_night_text(nights, probed=facts is not None))


def probe_boards(boards: Sequence[Board], emulation: Any) -> dict[str, BoardFacts]:
    """`--dry-run=probe`: each board's probe document and nothing else (the probe is a
    read-only `sh -s`; no restore, no upload, no lock). Emulated boards are started for it."""
    from imxbench.board.connect import emulated_boards
    from imxbench.board.probe import probe_board
    from imxbench.board.transport import BoardSession

    placed = [b.name for b in boards if b.place and not b.emulated]
    if placed and not emulation:
        raise ConfigError(
            f"--dry-run=probe does not reserve labgrid places ({', '.join(placed)})",
            "use --dry-run (no connection) for boards behind a place",
        )
    facts: dict[str, BoardFacts] = {}
    with emulated_boards(list(boards), emulation) as targets:
        for board in targets:
            session = BoardSession.connect(board)
            try:
                facts[board.name] = probe_board(session)
            finally:
                session.close()
    return facts
