"""The `none` preparation step: the model is deployed as it is."""

from __future__ import annotations

from pathlib import Path

from imxbench.analysis.model_info import ModelInfo
from imxbench.config.delegates import DelegateSpec
from imxbench.prepare.steps import PreparedModel


def prepare(
    model_path: Path, spec: DelegateSpec, source_info: ModelInfo, cache_root: Path | None
) -> PreparedModel:
    return PreparedModel.as_given(model_path, source_info)
