"""The report's trends follow the history's series (issue 19): runs are matched by the model's
sha256 (not its file name), the settings without the repetition count, emulated or real, as
model/series.py's SeriesKey keys them for the regression detector."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from imxbench.model.series import SeriesKey, series_settings
from imxbench.report.build import load_report
from imxbench.report.trend_chart import history_chart
from tests.report_fixtures import write_run

DAY0 = datetime(2026, 9, 1, 2, 0, 0)
SHA_A = "a" * 64
SHA_B = "b" * 64


def run_of(root: Path, night: int, *, sha256: str | None, **changes: Any) -> Path:
    """A run of `model.tflite` (whichever folder it came from), run.json naming its sha256."""
    run_id = f"2026090{night + 1}-020000-000{night}"
    out = write_run(root, run_id, DAY0 + timedelta(days=night), model="model.tflite")
    doc = json.loads((out / "run.json").read_text())
    if sha256 is not None:
        doc["model_sha256"] = sha256
    settings = changes.pop("settings", {})
    doc["settings"].update(settings)
    doc.update(changes)
    (out / "run.json").write_text(json.dumps(doc))
    return out


def trend_runs(run: Path) -> list[str]:
    history = load_report([run]).history
    return sorted(set(history.points["run_id"]))


def test_models_of_the_same_file_name_do_not_share_a_trend(tmp_path: Path) -> None:
    run_of(tmp_path, 0, sha256=SHA_A)  # models/a/model.tflite
    b = run_of(tmp_path, 1, sha256=SHA_B)  # models/b/model.tflite (or model.tflite retrained)
    assert trend_runs(b) == [b.name]
    assert history_chart(load_report([b]).history) is None  # one run: no trend line


def test_the_same_model_twice_shares_its_trend(tmp_path: Path) -> None:
    a = run_of(tmp_path, 0, sha256=SHA_A)
    run_of(tmp_path, 1, sha256=SHA_B)
    again = run_of(tmp_path, 2, sha256=SHA_A, settings={"repetitions": 5})
    assert trend_runs(again) == [a.name, again.name]  # more repetitions: the same series
    chart = history_chart(load_report([again]).history)
    assert chart is not None and chart.key == "trend"


def test_the_trend_keeps_apart_what_the_detector_keeps_apart(tmp_path: Path) -> None:
    """Other settings, or an emulated board against a real one: other series, other trends."""
    base = run_of(tmp_path, 0, sha256=SHA_A)
    other_settings = run_of(tmp_path, 1, sha256=SHA_A, settings={"num_runs": 200})
    real = run_of(tmp_path, 2, sha256=SHA_A, emulate=False)
    assert trend_runs(other_settings) == [other_settings.name]
    assert trend_runs(real) == [real.name]
    settings = [
        json.loads((r / "run.json").read_text())["settings"] for r in (base, other_settings)
    ]
    keys = [
        SeriesKey("imx8mp", "cpu@4t", SHA_A, series_settings(s), emulated=True) for s in settings
    ]
    assert keys[0].digest != keys[1].digest  # the detector's series differ the same way


def test_run_json_without_a_sha256_matches_by_file_name_only_among_its_kind(
    tmp_path: Path,
) -> None:
    """A history written before run.json named the model's sha256 keeps its trend by file
    name; a run that names one never joins it."""
    old = run_of(tmp_path, 0, sha256=None)
    older = run_of(tmp_path, 1, sha256=None)
    new = run_of(tmp_path, 2, sha256=SHA_A)
    assert trend_runs(older) == [old.name, older.name]
    assert trend_runs(new) == [new.name]
