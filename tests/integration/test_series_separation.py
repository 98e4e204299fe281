"""Emulated and real boards never share a series or a baseline, through a real SQLite store:
a board's first emulated night has no baseline though the real board of the same name has a
long history, and the other way round; `compare` and named baselines refuse to mix them; an
older history that stored both under one series digest is still kept apart."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from imxbench.history.baselines import BaselinePolicy, compare_runs, judge_run
from imxbench.history.schema import cells
from imxbench.history.store import Store, open_store
from imxbench.model.records import RunRecord
from tests import history_data as data

BOARD_CELLS = [("imx8mp", "cpu@1t"), ("imx8mp", "vx")]


def as_real(rec: RunRecord) -> RunRecord:
    header = dataclasses.replace(rec.header, emulated=False)
    fps = tuple(dataclasses.replace(f, emulated=False) for f in rec.fingerprints)
    return dataclasses.replace(rec, header=header, fingerprints=fps)


def record_night(store: Store, rec: RunRecord, policy: str = "anchored") -> dict[str, str]:
    store.begin_run(rec.header)
    said = judge_run(store, rec, BaselinePolicy.parse(policy))
    store.record_run(rec, said, policy)
    return {v.cell: v.verdict for v in said}


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'history.sqlite'}") as store:
        yield store


def test_emulated_and_real_boards_never_share_a_baseline(store: Store) -> None:
    rng = np.random.default_rng(31)
    real = [as_real(data.record(n, rng=rng, cells=BOARD_CELLS)) for n in range(1, 13)]
    for rec in real:
        record_night(store, rec)
    # the emulated board of the same name, twice as slow: its first night compares nothing
    first = data.record(13, rng=rng, cells=[("imx8mp", "cpu@1t")], slow={("imx8mp", "cpu@1t"): 2})
    said = judge_run(store, first, BaselinePolicy.parse("anchored"))
    assert [(v.cell, v.verdict) for v in said] == [("cpu@1t", "no baseline")]  # and vx not missing
    store.begin_run(first.header)
    store.record_run(first, said, "anchored")
    # a real night after it: judged against the real nights only, the emulated one ignored
    back = as_real(data.record(14, rng=rng, cells=BOARD_CELLS))
    verdicts = {v.cell: v for v in judge_run(store, back, BaselinePolicy.parse("anchored"))}
    assert verdicts["cpu@1t"].verdict == "unchanged"
    assert set(verdicts["cpu@1t"].baseline_run_ids) == {r.header.run_id for r in real}
    # `compare` of an emulated run against a real one: never compared
    found = compare_runs(store, real[-1].header.run_id, first.header.run_id)
    assert [v.verdict for v in found] == ["no baseline", "missing"]
    assert "never compared" in found[0].detail
    # a named baseline on the emulated run is no baseline for a real night
    store.set_baseline("emu", first.header.run_id, "tester@lab")
    named = judge_run(store, back, BaselinePolicy.parse("named:emu"))
    assert {v.verdict for v in named} == {"no baseline"}
    assert "not the same series: emulated -> real boards" in named[0].detail


def test_an_older_history_with_one_digest_for_both_is_kept_apart(store: Store) -> None:
    rng = np.random.default_rng(32)
    emulated = [data.record(n, rng=rng, cells=BOARD_CELLS) for n in range(1, 6)]
    for rec in emulated:
        record_night(store, rec)
    # as an older version stored them: the emulated cells under the real series' digest
    tonight = as_real(data.record(6, rng=rng, cells=BOARD_CELLS))
    with store.transaction() as conn:
        for cell in tonight.cells:
            conn.execute(
                update(cells)
                .where(cells.c.board == cell.board, cells.c.cell == cell.cell)
                .values(series=tonight.series(cell).digest)
            )
    said = judge_run(store, tonight, BaselinePolicy.parse("anchored"))
    assert {v.verdict for v in said} == {"no baseline"}
