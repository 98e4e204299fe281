"""Host-side model preparation: check a model against a delegate, then run the delegate's
preparation step (prepare/steps.py: `none` deploys it as it is, `vela` compiles it).

`prepare_model` is the entry point: it inspects the source model, refuses combinations that
cannot work (a float model on an integer-only NPU, a Vela-compiled model off the Ethos-U: an
`UnfitModel`, which the job turns into a skipped cell unless every delegate asked for is unfit),
and hands the model to the step the delegate file names.
"""

from __future__ import annotations

from pathlib import Path

from imxbench.analysis.model_info import FLOAT_DTYPES, ModelInfo, OperatorInfo, inspect_model
from imxbench.config.delegates import DelegateSpec
from imxbench.errors import ConfigError
from imxbench.prepare.steps import PreparedModel, step
from imxbench.prepare.vela import default_cache_root


class UnfitModel(ConfigError):
    """This delegate cannot run this model (the model itself is fine: other delegates can).
    `reason` is the message without the model's path, `short` a few words for a table."""

    def __init__(self, model_path: Path, reason: str, short: str) -> None:
        super().__init__(f"{model_path}: {reason}")
        self.reason = reason
        self.short = short


_EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
"""Float<->int conversions at a model's edges: an int8 model with float I/O is still integer."""


def prepare_model(
    model_path: Path, spec: DelegateSpec, cache_root: Path | None = None
) -> PreparedModel:
    """Check `model_path` for `spec`, then prepare it with the delegate's step. ConfigError if
    unfit."""
    model_path = Path(model_path)
    source_info = inspect_model(model_path)
    check_model_for(spec, source_info, model_path)
    return step(spec.prepare)(model_path, spec, source_info, cache_root)


def check_model_for(spec: DelegateSpec, info: ModelInfo, model_path: Path) -> None:
    """Raise a one-line ConfigError if the model is unusable (no operators), an UnfitModel if
    this delegate cannot run it as given."""
    if not info.operators:
        raise ConfigError(f"{model_path}: the model has no operators")
    if info.is_vela_compiled and spec.prepare != "vela":
        raise UnfitModel(
            model_path,
            "already compiled by Vela for the Ethos-U NPU (it contains the ethos-u operator); "
            f"the {spec.name} delegate cannot run it — give the source model",
            "Vela-compiled model",
        )
    if spec.requires_int:
        compute_ops = [op for op in info.operators if op.name not in _EDGE_OPS]
        float_ops = [op for op in compute_ops if op.uses_float]
        if float_ops:
            dtypes = "/".join(sorted(_float_dtypes(info, float_ops)))
            what = (
                f"a {dtypes} model"
                if len(float_ops) == len(compute_ops)
                else f"a partly {dtypes} model ({len(float_ops)} of {len(compute_ops)} "
                "operators compute in floating point)"
            )
            raise UnfitModel(
                model_path,
                f"{what}; the {spec.name} delegate runs only integer-quantized (int8/uint8) "
                "models — quantize it first",
                f"{dtypes} model" if len(float_ops) == len(compute_ops) else f"partly {dtypes}",
            )


def _float_dtypes(info: ModelInfo, ops: list[OperatorInfo]) -> set[str]:
    found = {
        info.tensors[t].dtype
        for op in ops
        for t in (*op.inputs, *op.outputs)
        if 0 <= t < len(info.tensors) and info.tensors[t].dtype in FLOAT_DTYPES
    }
    return found or {"float"}


__all__ = [
    "PreparedModel",
    "UnfitModel",
    "check_model_for",
    "default_cache_root",
    "prepare_model",
]
