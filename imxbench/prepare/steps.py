"""The registry of model-preparation steps: one module of this package per step, named as the
step (`prepare: vela` in a delegate file runs prepare/vela.py). A step module offers

    prepare(model_path, spec, source_info, cache_root) -> PreparedModel

so a new step (say i.MX 95 Neutron's converter) is one new file: `prepare/neutron.py`.
The catalogue (config/delegates.py) accepts exactly the names found here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.analysis.model_info import ModelInfo

if TYPE_CHECKING:
    from imxbench.config.delegates import DelegateSpec
    from imxbench.prepare.vela import VelaResult

NOT_STEPS = frozenset({"steps", "model_prep"})
"""Modules of this package that are not steps."""

Step = Callable[["Path", "DelegateSpec", ModelInfo, "Path | None"], "PreparedModel"]


@dataclass(frozen=True)
class PreparedModel:
    """A model ready for one delegate: `graph` is the file to deploy and benchmark."""

    source: Path
    source_sha256: str
    graph: Path
    provenance: Path | None
    """For a Vela-compiled graph: the provenance JSON (the uploader names it on the board)."""
    provenance_doc: dict[str, Any]
    """`{"source_sha256", "vela_version", "vela_args"}` for a compiled graph, else empty."""
    vela: VelaResult | None
    info: ModelInfo
    source_info: ModelInfo

    @classmethod
    def as_given(cls, model_path: Path, info: ModelInfo) -> PreparedModel:
        """The model deployed as it is."""
        return cls(model_path, info.sha256, model_path, None, {}, None, info, info)


def step_names() -> tuple[str, ...]:
    """The steps there are (module names; nothing is imported)."""
    package = Path(__file__).parent
    return tuple(
        sorted(m.name for m in pkgutil.iter_modules([str(package)]) if m.name not in NOT_STEPS)
    )


def step(name: str) -> Step:
    """The `prepare` function of step `name` (one of step_names())."""
    if name not in step_names():
        raise KeyError(name)
    module: Any = importlib.import_module(f"imxbench.prepare.{name}")
    return module.prepare  # type: ignore[no-any-return]
