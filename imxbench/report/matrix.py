"""The model matrix page: several run directories (one per model) as one table, like a model
zoo's: rows are models, columns board x delegate, each cell the steady latency, the speedup
against the board's fastest CPU cell and the accuracy when measured, coloured by speedup; then
one section per model (its facts, its cells' throughput, a link to its own report.html).

The same pipeline as report.html: data (each run through report/data.py's `load_run`, which
reads the run directory through rundir/layout.py) → view (report/matrix_view.py: display
strings) → template (templates/matrix.html.j2, autoescaped; inline CSS, no script, no
external URL). Called by run/matrix.py at the end of a multi-model run, and by
`imxbench report --matrix RUN...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imxbench.errors import ConfigError
from imxbench.report.data import ReportData, is_run_dir, load_run
from imxbench.report.model_facts import CellFacts, cell_facts, keep_model_facts
from imxbench.rundir import atomic

MATRIX_PAGE = "index.html"


@dataclass(frozen=True)
class MatrixModel:
    """One row of the matrix: a model's run."""

    name: str
    data: ReportData
    cells: tuple[CellFacts, ...]

    def emulated(self, board: str) -> bool:
        return board in self.data.emulated_boards or self.data.run.emulated


@dataclass(frozen=True)
class Column:
    """A board x cell column. An emulated board never shares a column with a real board of the
    same name (as it never shares a series)."""

    board: str
    emulated: bool
    cell: str


@dataclass(frozen=True)
class MatrixData:
    models: tuple[MatrixModel, ...]
    columns: tuple[Column, ...]  # boards in run order, each board's cells in plan order


def load_matrix(run_dirs: Sequence[Path], names: Sequence[str | None] = ()) -> MatrixData:
    """The runs (one per model), each named by `names` (None or absent: its model file's name,
    made unique with the run id when two runs have the same file name)."""
    if not run_dirs:
        raise ConfigError("a model matrix needs at least one run directory")
    models = []
    for index, run_dir in enumerate(run_dirs):
        if not is_run_dir(run_dir):
            raise ConfigError(f"{run_dir}: not a run directory (no run.json)")
        data = load_run(run_dir)
        facts = data.model.facts if data.model is not None else None
        cells = cell_facts(facts, data.summary, data.results, data.facts)
        given = names[index] if index < len(names) else None
        models.append(MatrixModel(given or data.run.model or data.run.run_id, data, tuple(cells)))
    return MatrixData(tuple(_unique_names(models)), _columns(models))


def _unique_names(models: list[MatrixModel]) -> list[MatrixModel]:
    seen: dict[str, int] = {}
    for m in models:
        seen[m.name] = seen.get(m.name, 0) + 1
    return [
        MatrixModel(f"{m.name} ({m.data.run.run_id})", m.data, m.cells) if seen[m.name] > 1 else m
        for m in models
    ]


def _columns(models: Sequence[MatrixModel]) -> tuple[Column, ...]:
    boards: list[tuple[str, bool]] = []
    cells: dict[tuple[str, bool], list[str]] = {}
    for m in models:
        for board in (*m.data.run.boards, *(c.board for c in m.cells)):
            key = (board, m.emulated(board))
            if key not in cells:
                boards.append(key)
                cells[key] = []
        for c in m.cells:
            key = (c.board, m.emulated(c.board))
            if c.cell not in cells[key]:
                cells[key].append(c.cell)
    return tuple(
        Column(board, emulated, cell)
        for board, emulated in boards
        for cell in cells[(board, emulated)]
    )


def write_matrix_report(run_dirs: list[Path], out_dir: Path, filename: str = MATRIX_PAGE) -> Path:
    """Write the matrix page of `run_dirs` (one run directory per model) as
    `out_dir/<filename>` (default index.html) and return its path. Each run's model facts are
    kept in its model.json on the way (report/model_facts.py). Model names: the matrix record's
    (`out_dir/matrix.json`, run/matrix.py) when there is one, else the model files' names."""
    from imxbench.report.matrix_view import matrix_view
    from imxbench.report.render import html_environment

    for run_dir in run_dirs:
        if is_run_dir(run_dir):
            keep_model_facts(run_dir)
    data = load_matrix(run_dirs, _names_from_record(run_dirs, out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / filename
    view = matrix_view(data, page.parent)
    html = html_environment().get_template("matrix.html.j2").render(**view)
    return atomic.write_text(page, html)


def resolve_matrix(names: Sequence[str], reports_dir: Path) -> tuple[list[Path], Path]:
    """`imxbench report --matrix NAME...`: (the run directories, the default page directory).
    One NAME that is a model matrix directory (its matrix.json, run/matrix.py): its models'
    runs, and the page goes into it; else each NAME a run (as `report` resolves them), and the
    page goes into `<reports>/models-<first run>-<last run>/`."""
    from imxbench.report.build import resolve_runs

    if len(names) == 1 and (Path(names[0]) / "matrix.json").is_file():
        from imxbench.rundir.matrix import run_dirs_of

        matrix_dir = Path(names[0])
        return run_dirs_of(matrix_dir), matrix_dir
    if not names:
        raise ConfigError(
            "--matrix needs the runs to show (one per model), or a model matrix directory"
        )
    runs = resolve_runs(names, reports_dir)
    return runs, reports_dir / f"models-{runs[0].name}-{runs[-1].name}"


def _names_from_record(run_dirs: Sequence[Path], out_dir: Path) -> list[str | None]:
    """The models' names in out_dir/matrix.json, by run id (none there: no names)."""
    try:  # the multi-model run's record (rundir/matrix.py)
        from imxbench.rundir.matrix import is_matrix_dir, read_matrix
    except ImportError:
        return []
    if not is_matrix_dir(out_dir):
        return []
    try:
        doc = read_matrix(out_dir)
    except ConfigError:
        return []
    by_run = {
        str(m.get("run_id")): str(m["name"])
        for m in doc.get("models") or []
        if isinstance(m, dict) and m.get("run_id") and m.get("name")
    }
    return [by_run.get(run_dir.name) for run_dir in run_dirs]
