"""Every file under `reports/<run-id>/`, in one place: its path, its format version, one writer
and one reader.

Versions. `run.json` carries `"format"`: the version of the run directory as a whole, which also
covers the tables (`results.json`, `summary.json`: lists of rows, kept as lists so that scripts
can read them as they always have) and `verdicts.json`. The other JSON documents carry their own
`"format"`: `accuracy.json`, `facts/<board>.json` (the probe's document), `model.json` (the
model's facts). A reader refuses a
version it does not know, naming the file, instead of guessing. Run directories written before
versions existed have no `"format"`: they are read as format 1, whose layout they have.

Every write is atomic (atomic.py). Nothing here imports SSH, the database or the command line:
the report reads run directories with it, offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imxbench.errors import ConfigError
from imxbench.rundir import atomic

RUN_FORMAT = 1
ACCURACY_FORMAT = 1
MODEL_FORMAT = 1  # analysis/model_facts.py's FACTS_FORMAT
FACTS_FORMAT = 1  # board/scripts/probe.sh's own "format"

RUN = "run.json"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
SUMMARY = "summary.json"
BOARDS = "boards.json"
ACCURACY = "accuracy.json"
VERDICTS = "verdicts.json"
NIGHT = "night.json"
REPORT_HTML = "report.html"
JUNIT = "junit.xml"
SUMMARY_MD = "summary.md"
FACTS_DIR = "facts"
LOGS_DIR = "logs"
STEPS_DIR = "steps"
BOARD_VELA_DIR = "vela"
ACCURACY_DIR = "accuracy"
MODEL = "model.json"


def read_json(path: Path) -> Any:
    """The JSON document at `path`; ConfigError naming the file when unreadable."""
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def read_optional_json(path: Path) -> Any:
    """read_json, or None when the file does not exist."""
    return read_json(path) if path.is_file() else None


def check_format(path: Path, doc: Any, known: int) -> None:
    """Refuse a document whose `format` this version of imxbench does not know."""
    version = doc.get("format", 1) if isinstance(doc, dict) else 1
    if version != known:
        raise ConfigError(
            f"{path}: format {version!r} is not one this imxbench reads (it reads {known}); "
            "use the imxbench version that wrote it"
        )


@dataclass(frozen=True)
class RunDir:
    """One run directory. Paths are properties; each JSON file has a writer and a reader."""

    path: Path

    # -- paths ------------------------------------------------------------------------------
    @property
    def run_json(self) -> Path:
        return self.path / RUN

    @property
    def results_json(self) -> Path:
        return self.path / RESULTS_JSON

    @property
    def results_csv(self) -> Path:
        return self.path / RESULTS_CSV

    @property
    def summary_json(self) -> Path:
        return self.path / SUMMARY

    @property
    def boards_json(self) -> Path:
        return self.path / BOARDS

    @property
    def accuracy_json(self) -> Path:
        return self.path / ACCURACY

    @property
    def verdicts_json(self) -> Path:
        return self.path / VERDICTS

    @property
    def model_json(self) -> Path:
        """model.json: the model's facts (analysis/model_facts.py), kept so that a report
        written after the model file moved still has them."""
        return self.path / MODEL

    @property
    def night_json(self) -> Path:
        return self.path / NIGHT

    @property
    def report_html(self) -> Path:
        return self.path / REPORT_HTML

    @property
    def junit_xml(self) -> Path:
        return self.path / JUNIT

    @property
    def summary_md(self) -> Path:
        return self.path / SUMMARY_MD

    def facts_json(self, board: str) -> Path:
        return self.path / FACTS_DIR / f"{board}.json"

    def log_file(self, board: str, cell: str, step_kind: str, repetition: int) -> Path:
        return self.path / LOGS_DIR / board / f"{cell}-{step_kind}{repetition or ''}.log"

    def board_vela(self, board: str, delegate: str) -> Path:
        """vela/<board>/<delegate>/: what the board's own Vela compiled (--vela-on board),
        fetched back: the graph, its provenance, Vela's summary CSV and console log."""
        return self.path / BOARD_VELA_DIR / board / delegate

    def journal(self, board: str) -> Path:
        """steps/<board>.jsonl: one line per finished step, appended and fsynced as it ends
        (run/pipeline.py journal_step), so that --resume survives any death."""
        return self.path / STEPS_DIR / f"{board}.jsonl"

    def journals(self) -> list[Path]:
        return sorted((self.path / STEPS_DIR).glob("*.jsonl"))

    def accuracy_file(self, board: str, delegate: str, suffix: str) -> Path:
        """accuracy/<board>/<delegate>.<suffix> (npz: evaluate.py's result; csv: per image)."""
        return self.path / ACCURACY_DIR / board / f"{delegate}.{suffix}"

    def accuracy_journal(self, board: str) -> Path:
        """accuracy/<board>.jsonl: one line per finished accuracy evaluation, appended and
        fsynced as it ends (accuracy/journal.py), so that --resume keeps it."""
        return self.path / ACCURACY_DIR / f"{board}.jsonl"

    def is_run(self) -> bool:
        return self.run_json.is_file()

    # -- run.json ---------------------------------------------------------------------------
    def write_run(self, doc: dict[str, Any]) -> None:
        atomic.write_json(self.run_json, {"format": RUN_FORMAT, **doc}, indent=2)

    def read_run(self) -> dict[str, Any]:
        doc = read_json(self.run_json)
        if not isinstance(doc, dict):
            raise ConfigError(f"{self.run_json}: expected a JSON object")
        check_format(self.run_json, doc, RUN_FORMAT)
        return doc

    # -- tables (rows as lists; versioned by run.json) ----------------------------------------
    def write_tables(self, results_csv: str, results_json: str, summary_json: str) -> None:
        atomic.write_text(self.results_csv, results_csv)
        atomic.write_text(self.results_json, results_json)
        atomic.write_text(self.summary_json, summary_json)

    def read_results(self) -> list[dict[str, Any]] | None:
        return self._rows(self.results_json)

    def read_summary(self) -> list[dict[str, Any]] | None:
        return self._rows(self.summary_json)

    def write_boards(self, rows: list[dict[str, Any]]) -> None:
        atomic.write_json(self.boards_json, rows, indent=2)

    # -- facts/<board>.json -----------------------------------------------------------------
    def write_facts(self, board: str, doc: dict[str, Any]) -> None:
        atomic.write_json(self.facts_json(board), doc, indent=2)

    def read_facts(self) -> dict[str, dict[str, Any]]:
        found = {}
        for path in sorted((self.path / FACTS_DIR).glob("*.json")):
            doc = read_json(path)
            if not isinstance(doc, dict):
                raise ConfigError(f"{path}: expected a JSON object")
            check_format(path, doc, FACTS_FORMAT)
            found[path.stem] = doc
        return found

    # -- accuracy.json ----------------------------------------------------------------------
    def write_accuracy(self, doc: dict[str, Any]) -> Path:
        return atomic.write_json(self.accuracy_json, {"format": ACCURACY_FORMAT, **doc})

    def read_accuracy(self) -> dict[str, Any] | None:
        doc = read_optional_json(self.accuracy_json)
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise ConfigError(f"{self.accuracy_json}: expected a JSON object")
        check_format(self.accuracy_json, doc, ACCURACY_FORMAT)
        return doc

    # -- model.json -------------------------------------------------------------------------
    def write_model_facts(self, doc: dict[str, Any]) -> Path:
        return atomic.write_json(self.model_json, {**doc, "format": MODEL_FORMAT}, indent=1)

    def read_model_facts(self) -> dict[str, Any] | None:
        doc = read_optional_json(self.model_json)
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise ConfigError(f"{self.model_json}: expected a JSON object")
        check_format(self.model_json, doc, MODEL_FORMAT)
        return doc

    # -- verdicts.json, night.json ----------------------------------------------------------
    def write_verdicts(self, rows: list[dict[str, Any]]) -> None:
        atomic.write_json(self.verdicts_json, rows)

    def read_verdicts(self) -> list[dict[str, Any]] | None:
        return self._rows(self.verdicts_json)

    def write_night(self, doc: dict[str, Any]) -> None:
        atomic.write_json(self.night_json, doc)

    def read_night(self) -> dict[str, Any] | None:
        doc = read_optional_json(self.night_json)
        return doc if isinstance(doc, dict) else None

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _rows(path: Path) -> list[dict[str, Any]] | None:
        doc = read_optional_json(path)
        if doc is None:
            return None
        if not isinstance(doc, list):
            raise ConfigError(f"{path}: expected a JSON list of rows")
        return doc
