"""`reports/<matrix-id>/matrix.json`: the parent record of a multi-model run (run/matrix.py).

A model matrix is one ordinary run directory per model (`reports/<run-id>/`, layout.py: the
history, report, nightly and trends read each as any run) plus this record, which lists them:

    {"format": 1, "matrix_id": "matrix-20261204-0630-ab12", "kind": "run" | "nightly",
     "status": "running" | "complete" | "partial", "started": ..., "finished": ...,
     "boards": [...], "delegates": "cpu,vx" | null, "settings": {RunSettings.as_dict},
     "models": [{"name": ..., "path": ..., "sha256": ..., "dataset": ... | null,
                 "skip_delegates": [...], "run_id": ... | null, "status": ... | null}]}

A model's `sha256` is its file's from the start; its `run_id` is null until its run starts;
its `status` is its run.json's at the end (`complete` | `partial`), `running` while it runs
(or when a death cut it), or null when it never ran (an interrupted matrix). `run --resume`
reads it back (run/matrix_resume.py); a record without `settings` (older) is still read. One
writer, one reader, atomic writes; the reader refuses an unknown format, naming the file. The
directory has no run.json, so the readers of run directories pass it by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imxbench.errors import ConfigError
from imxbench.rundir import atomic
from imxbench.rundir.layout import read_json

MATRIX_FORMAT = 1
MATRIX = "matrix.json"
MATRIX_PREFIX = "matrix-"


def matrix_file(matrix_dir: Path) -> Path:
    return matrix_dir / MATRIX


def is_matrix_dir(path: Path) -> bool:
    return (path / MATRIX).is_file()


def write_matrix(matrix_dir: Path, doc: dict[str, Any]) -> Path:
    """Write matrix.json (atomically; the directory is created)."""
    matrix_dir.mkdir(parents=True, exist_ok=True)
    return atomic.write_json(matrix_file(matrix_dir), {**doc, "format": MATRIX_FORMAT})


def read_matrix(matrix_dir: Path) -> dict[str, Any]:
    """matrix.json; ConfigError naming the file when missing, unreadable or of another format."""
    path = matrix_file(matrix_dir)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (not a model matrix directory)")
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != MATRIX_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ConfigError(
            f"{path}: unknown format {found!r}; this imxbench reads format {MATRIX_FORMAT}"
        )
    return doc


def run_dirs_of(matrix_dir: Path, reports_dir: Path | None = None) -> list[Path]:
    """The run directories of the matrix's models that started, in the matrix's order
    (`reports_dir`: where they live; default: the matrix directory's parent)."""
    doc = read_matrix(matrix_dir)
    base = reports_dir or matrix_dir.parent
    return [base / m["run_id"] for m in doc.get("models") or [] if m.get("run_id")]
