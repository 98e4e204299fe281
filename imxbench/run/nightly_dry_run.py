"""`nightly --dry-run`: a night's plan without running it.

Per board of the nightly's selection, the commands it would send, from run/dry_run.py's
`plan_run` with the nightly's own settings (its fixed repetitions, `--delegate`, ...); then what
each planned cell would be judged against: the results history (`--db`), the baseline policy,
each cell's series and its earlier nights and baseline nights (history/preview.py, through the
same `series_histories` the nightly's `judge_run` reads). Read only: the history is opened with
`create=False, upgrade=False`, so an absent history (no SQLite file, an empty PostgreSQL
database) or an older schema is said, never created or migrated; nothing is written (no run
directory, no lock, no history row).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imxbench.config.inventory import Board
from imxbench.errors import ConfigError
from imxbench.history.preview import MissingPreview, SeriesPreview, preview_night
from imxbench.history.store import NoHistory, history_location, open_store
from imxbench.model.facts import BoardFacts
from imxbench.model.records import CellRecord, RunRecord
from imxbench.run.dry_run import BoardPlan, plan_document, plan_run, render_text
from imxbench.run.nightly import NightlyConfig
from imxbench.run.recording import new_header


@dataclass(frozen=True)
class NightPlan:
    """One model's night, planned: the boards' commands and what its cells are judged
    against."""

    model: Path
    model_sha256: str
    settings: Mapping[str, Any]
    plans: tuple[BoardPlan, ...]
    history: str
    """Where the results history is (`--db`, password hidden)."""
    history_found: bool
    history_note: str
    """Why there is nothing to read ('' when the history was read)."""
    policy: str
    alpha: float
    min_effect: float
    series: tuple[SeriesPreview, ...]
    missing: tuple[MissingPreview, ...]

    def to_dict(self, probed: bool) -> dict[str, Any]:
        return {
            "model": str(self.model),
            "model_sha256": self.model_sha256,
            "nightly": True,
            "settings": dict(self.settings),
            **plan_document(self.plans, probed=probed),
            "judged_against": {
                "history": self.history,
                "history_found": self.history_found,
                "history_note": self.history_note,
                "baseline": self.policy,
                "alpha": self.alpha,
                "min_effect": self.min_effect,
                "series": [s.to_dict() for s in self.series],
                "missing": [m.to_dict() for m in self.missing],
            },
        }


def plan_night(
    boards: Sequence[Board],
    config: NightlyConfig,
    db_url: str | None,
    facts: Mapping[str, BoardFacts] | None = None,
    skip_delegates: Collection[str] = (),
) -> NightPlan:
    """The night of `config.model` on `boards`. Bad input fails as the nightly would (a
    ConfigError, exit 2: a model no delegate can run, `--baseline named:X` with no such
    baseline)."""
    plans = plan_run(
        boards,
        config.model,
        config.catalogue,
        config.delegate_names,
        config.settings,
        config.vela_cache,
        facts,
        skip_delegates,
    )
    header = new_header(
        "nightly", config.model, config.settings, config.reports_dir, emulated=bool(config.emulate)
    )
    cells = tuple(CellRecord(p.board, cell, delegate="") for p in plans for cell in cells_of(p))
    record = RunRecord(header, cells=cells)
    where = history_location(db_url, config.reports_dir)
    try:
        with open_store(db_url, config.reports_dir, create=False, upgrade=False) as store:
            if config.policy.kind == "named" and store.baseline_run(config.policy.name) is None:
                raise _no_named(config)
            series, missing = preview_night(store, record, config.policy, config.thresholds)
        found, note = True, ""
    except NoHistory as exc:
        if config.policy.kind == "named":
            raise _no_named(config) from None
        series = tuple(_first_night(record, c) for c in record.cells)
        missing, found, note = (), False, f"{exc.message}: the nightly would create it"
    return NightPlan(
        model=config.model,
        model_sha256=header.model_sha256,
        settings=header.settings,
        plans=tuple(plans),
        history=where,
        history_found=found,
        history_note=note,
        policy=str(config.policy),
        alpha=config.thresholds.alpha,
        min_effect=config.thresholds.min_effect,
        series=series,
        missing=missing,
    )


def cells_of(plan: BoardPlan) -> list[str]:
    """The cells a board's plan benchmarks, in plan order."""
    return list(dict.fromkeys(c.cell for c in plan.commands if c.cell is not None))


def _first_night(record: RunRecord, cell: CellRecord) -> SeriesPreview:
    return SeriesPreview(
        board=cell.board,
        cell=cell.cell,
        series=record.series(cell).digest,
        nights=0,
        newest_run_id=None,
        newest_started_at=None,
        baseline_run_ids=(),
        baseline_latency_us=None,
        frozen=False,
        note="no baseline: no results history yet (a first night)",
    )


def _no_named(config: NightlyConfig) -> ConfigError:
    """What `run_nightly` says of `--baseline named:X` without such a baseline."""
    return ConfigError(
        f"--baseline {config.policy}: no baseline named {config.policy.name!r}",
        f"set one first: imxbench baseline set RUN --name {config.policy.name}",
    )


def render_night_text(nights: Sequence[NightPlan], probed: bool = False) -> str:
    """Each model's night for a terminal: the boards' commands (run/dry_run.py's text), then
    what its cells would be judged against."""
    out: list[str] = []
    for night in nights:
        if len(nights) > 1:
            out.append(f"\n##### model {night.model}")
        settings = ", ".join(f"{k} {v}" for k, v in night.settings.items())
        out += [
            f"NIGHTLY DRY RUN of {night.model} (sha256 {night.model_sha256[:12]}): the nightly's "
            f"settings: {settings}.",
            render_text(night.plans, probed=probed),
            "",
            f"== judged against: {night.history} (baseline {night.policy}, alpha "
            f"{night.alpha:g}, min effect {night.min_effect:.0%}) ==",
        ]
        if not night.history_found:
            out.append(f"  {night.history_note}")
        for s in night.series:
            newest = f", newest {s.newest_run_id}" if s.newest_run_id else ""
            out.append(
                f"  {s.board} {s.cell}: series {s.series[:12]}, {s.nights} earlier "
                f"night(s){newest}: {s.expect}"
            )
        for m in night.missing:
            out.append(f"  {m.board} {m.cell}: missing (in {m.baseline_run_id}, not planned)")
        out.append(
            "nothing was written: no run directory, no lock, no history row "
            "(the history was only read)"
        )
    return "\n".join(out)
