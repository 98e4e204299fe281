"""A model matrix exits like a one-model run: 1 when a cell failed, else 3 when a board could
not be used, else 0 (cli/main.py's exit codes)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from imxbench.run.matrix import MatrixResult, ModelRun


def matrix_of(*codes: int | None) -> MatrixResult:
    runs: list[Any] = [
        ModelRun(entry=SimpleNamespace(name=f"m{i}"), header=None)  # type: ignore[arg-type]
        if code is None
        else ModelRun(
            entry=SimpleNamespace(name=f"m{i}"),  # type: ignore[arg-type]
            header=None,  # type: ignore[arg-type]
            result=SimpleNamespace(exit_code=code),  # type: ignore[arg-type]
        )
        for i, code in enumerate(codes)
    ]
    return MatrixResult("matrix-x", Path("/nonexistent"), runs=runs)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((0, 0), 0),
        ((0, 3), 3),  # an unreachable board in one model: infrastructure
        ((3, 1), 1),  # a failed cell wins over an unusable board
        ((1, 0, 3), 1),
        ((0, None), 0),  # a model interrupted before its results: Ctrl-C decides (130)
    ],
)
def test_matrix_exit_code_is_the_worst_of_its_models(
    codes: tuple[int | None, ...], expected: int
) -> None:
    assert matrix_of(*codes).exit_code == expected
