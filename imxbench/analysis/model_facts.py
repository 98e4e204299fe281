"""A model's facts for the report: parameters, MACs, I/O, op histogram, where its ops run, and
the throughput a cell achieved against the accelerator's published peak.

Pure: no I/O. `model_facts` takes a ModelInfo (model_info.py reads the file); the delegate
shares take what a run directory already stores (Vela's summary, the op profile's table).

Definitions:

* `parameters` -- elements of the constant weight and bias tensors of the ops that have them
  (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV, CONV_3D, BATCH_MATMUL,
  UNIDIRECTIONAL_SEQUENCE_LSTM, ...: every constant input of a WEIGHTED_OPS op), plus the
  constant float or integer-quantized operands of other ops (a constant ADD operand); the
  int32/int64 constants of other ops are shape and axis arguments, not parameters. A tensor
  shared by several ops counts once.
* `macs` -- model_info.py's per-op MAC count, summed (0 for a Vela-compiled graph's `ethos-u`
  op: its work is an opaque command stream).
* achieved GOPS -- `2 * macs / latency` (one MAC = two operations, as peaks count them), in
  10^9 operations per second; `percent_of_peak` against model/peaks.py.
* the share of ops a delegate takes: for Ethos-U, Vela's own count (`vela_npu_operators` /
  (`npu` + `cpu` operators), Vela's operators after its graph rewrite, not TFLite's); for other
  delegates, the op profile of the cell's profile step: the model's ops minus those the profile
  lists as CPU nodes (builtin op names); without a profile, the delegate's int-only rule (a
  `requires_int` delegate can take only ops without floating-point tensors): a prediction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imxbench.analysis.model_info import ModelInfo, TensorInfo

FACTS_FORMAT = 1
WEIGHTED_OPS = frozenset(
    {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "TRANSPOSE_CONV",
        "CONV_3D",
        "CONV_3D_TRANSPOSE",
        "BATCH_MATMUL",
        "EMBEDDING_LOOKUP",
        "LSTM",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "BIDIRECTIONAL_SEQUENCE_LSTM",
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "SVDF",
    }
)
SHAPE_DTYPES = frozenset({"int32", "int64"})


@dataclass(frozen=True)
class TensorFacts:
    """A model input or output: shape, dtype and (per-tensor) quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None


@dataclass(frozen=True)
class ModelFacts:
    """What the report says about one .tflite file (see the module docstring)."""

    name: str  # the file name
    sha256: str
    size_bytes: int
    parameters: int
    macs: int
    inputs: tuple[TensorFacts, ...]
    outputs: tuple[TensorFacts, ...]
    op_histogram: tuple[tuple[str, int], ...]  # (op, count), most frequent first
    macs_by_op: tuple[tuple[str, int], ...]  # (op, MACs), the ops with MACs, most first
    float_ops: int  # ops reading or writing a floating-point tensor
    is_fully_int: bool
    is_vela_compiled: bool

    @property
    def ops(self) -> int:
        return sum(count for _, count in self.op_histogram)


def model_facts(info: ModelInfo) -> ModelFacts:
    """The facts of a model inspected by model_info.inspect_model."""
    histogram: dict[str, int] = {}
    macs_by_op: dict[str, int] = {}
    for op in info.operators:
        histogram[op.name] = histogram.get(op.name, 0) + 1
        if op.macs:
            macs_by_op[op.name] = macs_by_op.get(op.name, 0) + op.macs
    return ModelFacts(
        name=info.path.name,
        sha256=info.sha256,
        size_bytes=info.size_bytes,
        parameters=count_parameters(info),
        macs=info.macs,
        inputs=tuple(_tensor_facts(t) for t in info.inputs),
        outputs=tuple(_tensor_facts(t) for t in info.outputs),
        op_histogram=_most_first(histogram),
        macs_by_op=_most_first(macs_by_op),
        float_ops=sum(1 for op in info.operators if op.uses_float),
        is_fully_int=info.is_fully_int,
        is_vela_compiled=info.is_vela_compiled,
    )


def count_parameters(info: ModelInfo) -> int:
    """Parameters as the module docstring defines them."""
    counted: set[int] = set()
    for op in info.operators:
        for index in op.inputs:
            if index < 0 or index in counted:
                continue
            tensor = info.tensors[index]
            if not tensor.is_constant:
                continue
            if op.name in WEIGHTED_OPS or tensor.dtype not in SHAPE_DTYPES:
                counted.add(index)
    return sum(info.tensors[i].elements for i in counted)


def _tensor_facts(tensor: TensorInfo) -> TensorFacts:
    return TensorFacts(
        name=tensor.name,
        shape=tensor.shape,
        dtype=tensor.dtype,
        scale=tensor.scale if tensor.is_quantized else None,
        zero_point=tensor.zero_point if tensor.is_quantized else None,
    )


def _most_first(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# -- throughput ------------------------------------------------------------------------------
def achieved_gops(macs: int, latency_ms: float | None) -> float | None:
    """`2 * macs` operations per `latency_ms`, in GOPS; None without MACs or a latency > 0."""
    if macs <= 0 or latency_ms is None or not math.isfinite(latency_ms) or latency_ms <= 0:
        return None
    return 2.0 * macs / (latency_ms * 1e-3) / 1e9


def percent_of_peak(gops: float | None, peak_tops: float | None) -> float | None:
    """Achieved GOPS as a percentage of a peak given in TOPS."""
    if gops is None or not peak_tops or peak_tops <= 0:
        return None
    return 100.0 * gops / (peak_tops * 1000.0)


# -- where the ops run -----------------------------------------------------------------------
@dataclass(frozen=True)
class DelegateShare:
    """How many of a model's ops a delegate takes; `source` says how it is known:
    `vela` (Vela's summary), `profile` (the op profile of the run), `int-only rule` (a
    prediction from the model alone)."""

    delegated_ops: int
    total_ops: int
    source: str

    @property
    def fraction(self) -> float | None:
        return self.delegated_ops / self.total_ops if self.total_ops > 0 else None


def share_from_vela(npu_operators: Any, cpu_operators: Any) -> DelegateShare | None:
    """Vela's placement: its NPU and CPU operator counts (None when either is unknown)."""
    npu, cpu = _count(npu_operators), _count(cpu_operators)
    if npu is None or cpu is None or npu + cpu <= 0:
        return None
    return DelegateShare(npu, npu + cpu, "vela")


def share_from_profile(
    facts: ModelFacts, profile: Sequence[Mapping[str, Any]] | None
) -> DelegateShare | None:
    """From a delegate cell's op profile (rows `{"node_type", "count", ...}`): the model's ops
    minus the ops the profile shows running as themselves (a node named like one of the model's
    ops) on the CPU. None without a profile or ops to count."""
    if not profile or facts.ops <= 0:
        return None
    op_names = {name for name, _ in facts.op_histogram}
    on_cpu = sum(
        _count(row.get("count")) or 0
        for row in profile
        if isinstance(row, Mapping) and row.get("node_type") in op_names
    )
    return DelegateShare(max(0, facts.ops - on_cpu), facts.ops, "profile")


def share_by_int_rule(facts: ModelFacts, requires_int: bool) -> DelegateShare:
    """A prediction: an int-only delegate can take at most the ops without float tensors."""
    taken = facts.ops - facts.float_ops if requires_int else facts.ops
    return DelegateShare(taken, facts.ops, "int-only rule" if requires_int else "all ops")


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


# -- the document (model.json) ---------------------------------------------------------------
def facts_document(facts: ModelFacts) -> dict[str, Any]:
    """The facts as a JSON document (format FACTS_FORMAT; rundir/layout.py writes it)."""
    return {
        "format": FACTS_FORMAT,
        "name": facts.name,
        "sha256": facts.sha256,
        "size_bytes": facts.size_bytes,
        "parameters": facts.parameters,
        "macs": facts.macs,
        "inputs": [_tensor_document(t) for t in facts.inputs],
        "outputs": [_tensor_document(t) for t in facts.outputs],
        "op_histogram": [[name, count] for name, count in facts.op_histogram],
        "macs_by_op": [[name, macs] for name, macs in facts.macs_by_op],
        "float_ops": facts.float_ops,
        "is_fully_int": facts.is_fully_int,
        "is_vela_compiled": facts.is_vela_compiled,
    }


def facts_from_document(doc: Mapping[str, Any]) -> ModelFacts:
    """The inverse of facts_document; ValueError when a field is missing or of the wrong type
    (the caller names the file)."""
    try:
        return ModelFacts(
            name=str(doc["name"]),
            sha256=str(doc["sha256"]),
            size_bytes=int(doc["size_bytes"]),
            parameters=int(doc["parameters"]),
            macs=int(doc["macs"]),
            inputs=tuple(_tensor_from(t) for t in doc["inputs"]),
            outputs=tuple(_tensor_from(t) for t in doc["outputs"]),
            op_histogram=_pairs(doc["op_histogram"]),
            macs_by_op=_pairs(doc["macs_by_op"]),
            float_ops=int(doc["float_ops"]),
            is_fully_int=bool(doc["is_fully_int"]),
            is_vela_compiled=bool(doc["is_vela_compiled"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a model facts document ({type(exc).__name__}: {exc})") from None


def _tensor_document(tensor: TensorFacts) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "shape": list(tensor.shape),
        "dtype": tensor.dtype,
        "scale": tensor.scale,
        "zero_point": tensor.zero_point,
    }


def _tensor_from(doc: Mapping[str, Any]) -> TensorFacts:
    scale, zero_point = doc.get("scale"), doc.get("zero_point")
    return TensorFacts(
        name=str(doc["name"]),
        shape=tuple(int(n) for n in doc["shape"]),
        dtype=str(doc["dtype"]),
        scale=None if scale is None else float(scale),
        zero_point=None if zero_point is None else int(zero_point),
    )


def _pairs(rows: Iterable[Sequence[Any]]) -> tuple[tuple[str, int], ...]:
    return tuple((str(name), int(value)) for name, value in rows)
