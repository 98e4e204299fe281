"""Inspect a .tflite file on the host: I/O, dtypes, quantization, operators, MACs.

The flatbuffer is read directly (tflite_flatbuffer.py), not through an interpreter, so a
Vela-compiled model, whose `ethos-u` custom op no CPU runtime can resolve, is inspected like
any other. Nothing here runs a model; the only I/O is reading the
file once.

Definitions (primary subgraph only; control-flow subgraphs are not followed):

* `macs` -- multiply-accumulates per inference, from tensor shapes:
  CONV_2D `out_elems * kh * kw * in_ch_per_group`; DEPTHWISE_CONV_2D `out_elems * kh * kw`;
  FULLY_CONNECTED `out_elems * in_features`; TRANSPOSE_CONV `in_elems * kh * kw * out_ch`;
  BATCH_MATMUL `out_elems * K`; CONV_3D `out_elems * kd * kh * kw * in_ch`;
  AVERAGE_POOL_2D `out_elems * filter_h * filter_w` (one accumulate per window element, as
  Vela counts it). Every other operator counts 0, and so does a Vela `ethos-u` custom op: its
  work lives in an opaque command stream (inspect the source model instead).
* `is_fully_int` -- every model input and output is int8 or uint8 *with* quantization
  parameters, and no operator reads or writes a floating-point tensor (float16, bfloat16,
  float32, float64). int32 biases and shape tensors are allowed.
* `is_vela_compiled` -- the graph contains at least one `ethos-u` custom operator.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imxbench.analysis import tflite_flatbuffer as fb
from imxbench.analysis.tflite_flatbuffer import Table
from imxbench.errors import ConfigError

ETHOS_U_CUSTOM_OP = "ethos-u"

_TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    8: "complex64",
    9: "int8",
    10: "float64",
    11: "complex128",
    12: "uint64",
    13: "resource",
    14: "variant",
    15: "uint32",
    16: "uint16",
    17: "int4",
    18: "bfloat16",
}
FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
INT_QUANT_DTYPES = frozenset({"int8", "uint8"})


@dataclass(frozen=True)
class TensorInfo:
    """One tensor. `scale`/`zero_point` are the first (per-tensor) quantization values."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None
    is_constant: bool

    @property
    def elements(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    @property
    def is_quantized(self) -> bool:
        return self.scale is not None and self.scale != 0.0


@dataclass(frozen=True)
class OperatorInfo:
    """One operator in graph order. `name` is the builtin name or the custom code."""

    index: int
    name: str
    is_custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    macs: int
    uses_float: bool
    output_elements: int


@dataclass(frozen=True)
class ModelInfo:
    """What a .tflite file contains; see the module docstring for the exact definitions."""

    path: Path
    sha256: str
    size_bytes: int
    description: str
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    operators: tuple[OperatorInfo, ...]

    @property
    def op_names(self) -> tuple[str, ...]:
        """Operator names in graph order (custom ops by their custom code)."""
        return tuple(op.name for op in self.operators)

    @property
    def op_counts(self) -> Counter[str]:
        return Counter(self.op_names)

    @property
    def builtin_op_names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.operators if not op.is_custom)

    @property
    def custom_ops(self) -> tuple[str, ...]:
        """Distinct custom op codes, in order of first appearance."""
        return tuple(dict.fromkeys(op.name for op in self.operators if op.is_custom))

    @property
    def is_vela_compiled(self) -> bool:
        return ETHOS_U_CUSTOM_OP in self.custom_ops

    @property
    def is_fully_int(self) -> bool:
        io_ok = all(
            t.dtype in INT_QUANT_DTYPES and t.is_quantized for t in (*self.inputs, *self.outputs)
        )
        return io_ok and not any(op.uses_float for op in self.operators)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.operators)


def inspect_model(path: Path) -> ModelInfo:
    """Read and describe a .tflite file; raises ConfigError naming the file if it is not one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model file: {exc.strerror or exc}") from exc
    return inspect_model_bytes(data, path)


_PARSED: dict[tuple[str, Path], ModelInfo] = {}  # a run checks its model once per delegate


def inspect_model_bytes(data: bytes, path: Path) -> ModelInfo:
    """Like inspect_model, for bytes already in memory (`path` is only used in messages)."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConfigError(f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    key = (hashlib.sha256(data).hexdigest(), Path(path))
    if key in _PARSED:
        return _PARSED[key]  # ModelInfo is immutable
    try:
        info = _parse(data, Path(path), key[0])
    except ConfigError:
        raise
    except Exception as exc:  # a corrupt flatbuffer fails in many ways inside the accessors
        raise ConfigError(f"{path}: corrupt TFLite flatbuffer ({type(exc).__name__})") from exc
    if len(_PARSED) >= 16:
        _PARSED.clear()
    _PARSED[key] = info
    return info


def _parse(data: bytes, path: Path, sha256: str) -> ModelInfo:
    model = Table.root(data)
    subgraphs = model.tables(fb.MODEL_SUBGRAPHS)
    if not subgraphs:
        raise ConfigError(f"{path}: TFLite model has no subgraph")
    opcodes = [_opcode_name(code) for code in model.tables(fb.MODEL_OPERATOR_CODES)]
    buffers = model.tables(fb.MODEL_BUFFERS)
    subgraph = subgraphs[0]
    tensors = tuple(
        _tensor(t, i, buffers) for i, t in enumerate(subgraph.tables(fb.SUBGRAPH_TENSORS))
    )
    operators = tuple(
        _operator(op, i, opcodes, tensors, path)
        for i, op in enumerate(subgraph.tables(fb.SUBGRAPH_OPERATORS))
    )
    inputs = tuple(
        tensors[_checked(i, tensors, path)] for i in subgraph.scalars(fb.SUBGRAPH_INPUTS, "<i")
    )
    outputs = tuple(
        tensors[_checked(i, tensors, path)] for i in subgraph.scalars(fb.SUBGRAPH_OUTPUTS, "<i")
    )
    description = (model.string(fb.MODEL_DESCRIPTION) or b"").decode("utf-8", "replace")
    return ModelInfo(
        path=path,
        sha256=sha256,
        size_bytes=len(data),
        description=description,
        tensors=tensors,
        inputs=inputs,
        outputs=outputs,
        operators=operators,
    )


def _checked(index: int, tensors: tuple[TensorInfo, ...], path: Path) -> int:
    if not 0 <= index < len(tensors):
        raise ConfigError(f"{path}: corrupt TFLite flatbuffer (tensor index {index} out of range)")
    return index


def _opcode_name(opcode: Table) -> tuple[str, bool]:
    code = max(
        int(opcode.scalar(fb.OPCODE_DEPRECATED_BUILTIN_CODE, "<b")),
        int(opcode.scalar(fb.OPCODE_BUILTIN_CODE, "<i")),
    )
    names = fb.builtin_operator_names()
    if names.get(code) == "CUSTOM":
        return (opcode.string(fb.OPCODE_CUSTOM_CODE) or b"").decode("utf-8", "replace"), True
    return names.get(code, f"BUILTIN_{code}"), False


def _tensor(tensor: Table, index: int, buffers: list[Table]) -> TensorInfo:
    shape = tuple(int(n) for n in tensor.scalars(fb.TENSOR_SHAPE, "<i"))
    scale: float | None = None
    zero_point: int | None = None
    quant = tensor.table(fb.TENSOR_QUANTIZATION)
    if quant is not None:
        scales = quant.scalars(fb.QUANT_SCALE, "<f")
        if scales:
            scale = float(scales[0])
            zero_points = quant.scalars(fb.QUANT_ZERO_POINT, "<q")
            zero_point = int(zero_points[0]) if zero_points else 0
    buffer_index = int(tensor.scalar(fb.TENSOR_BUFFER, "<I"))
    is_constant = False
    if 0 < buffer_index < len(buffers):
        buffer = buffers[buffer_index]
        is_constant = (
            buffer.vector_length(fb.BUFFER_DATA, 1) > 0
            or int(buffer.scalar(fb.BUFFER_SIZE, "<Q")) > 0
        )
    dtype_code = int(tensor.scalar(fb.TENSOR_TYPE, "<b"))
    return TensorInfo(
        index=index,
        name=(tensor.string(fb.TENSOR_NAME) or b"").decode("utf-8", "replace"),
        shape=shape,
        dtype=_TENSOR_TYPES.get(dtype_code, f"type{dtype_code}"),
        scale=scale,
        zero_point=zero_point,
        is_constant=is_constant,
    )


def _operator(
    op: Table,
    index: int,
    opcodes: list[tuple[str, bool]],
    tensors: tuple[TensorInfo, ...],
    path: Path,
) -> OperatorInfo:
    opcode_index = int(op.scalar(fb.OPERATOR_OPCODE_INDEX, "<I"))
    if not 0 <= opcode_index < len(opcodes):
        raise ConfigError(f"{path}: corrupt TFLite flatbuffer (opcode index {opcode_index})")
    name, is_custom = opcodes[opcode_index]
    inputs = tuple(int(t) for t in op.scalars(fb.OPERATOR_INPUTS, "<i"))
    outputs = tuple(int(t) for t in op.scalars(fb.OPERATOR_OUTPUTS, "<i"))
    for t in (*inputs, *outputs):
        if t >= 0:
            _checked(t, tensors, path)
    used = [tensors[t] for t in (*inputs, *outputs) if t >= 0]
    return OperatorInfo(
        index=index,
        name=name,
        is_custom=is_custom,
        inputs=inputs,
        outputs=outputs,
        macs=0 if is_custom else _macs(name, op, inputs, outputs, tensors),
        uses_float=any(t.dtype in FLOAT_DTYPES for t in used),
        output_elements=sum(tensors[t].elements for t in outputs if t >= 0),
    )


def _macs(
    name: str,
    op: Table,
    inputs: tuple[int, ...],
    outputs: tuple[int, ...],
    tensors: tuple[TensorInfo, ...],
) -> int:
    def shape(position: int, of: tuple[int, ...] = inputs) -> tuple[int, ...]:
        if position >= len(of) or of[position] < 0:
            return ()
        return tensors[of[position]].shape

    out = shape(0, outputs)
    out_elems = math.prod(out) if out else 0
    weights = shape(1)
    if name == "CONV_2D" and len(weights) == 4:
        return out_elems * weights[1] * weights[2] * weights[3]
    if name == "DEPTHWISE_CONV_2D" and len(weights) == 4:
        return out_elems * weights[1] * weights[2]
    if name == "FULLY_CONNECTED" and len(weights) == 2:
        return out_elems * weights[1]
    if name == "CONV_3D" and len(weights) == 5:
        return out_elems * weights[0] * weights[1] * weights[2] * weights[3]
    if name == "TRANSPOSE_CONV":
        data = shape(2)
        if len(weights) == 4 and data:
            return math.prod(data) * weights[0] * weights[1] * weights[2]
    if name == "BATCH_MATMUL":
        lhs = shape(0)
        if len(lhs) >= 2 and len(out) >= 2:
            inner = lhs[-1] if lhs[-2] == out[-2] else lhs[-2]
            return out_elems * inner
    if name == "AVERAGE_POOL_2D":
        options = op.table(fb.OPERATOR_BUILTIN_OPTIONS)  # a Pool2DOptions
        if options is not None:
            height = int(options.scalar(fb.POOL2D_FILTER_HEIGHT, "<i"))
            width = int(options.scalar(fb.POOL2D_FILTER_WIDTH, "<i"))
            return out_elems * height * width
    return 0
