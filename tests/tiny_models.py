"""Tiny hand-built .tflite models for the emulator tests (TFLite schema via ethos-u-vela's
generated flatbuffer code; no TensorFlow needed).

`int8_add_tile_add()`: int8 ADD -> TILE -> ADD. The VX delegate has no TILE mapper, so on the
emulated 8M Plus it runs as two delegate kernels with TILE on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
from ethosu.vela.tflite import (
    AddOptions,
    Buffer,
    BuiltinOperator,
    BuiltinOptions,
    Model,
    Operator,
    OperatorCode,
    QuantizationParameters,
    SubGraph,
    Tensor,
    TensorType,
)


def _ints(builder: flatbuffers.Builder, values: list[int]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependInt32(value)
    return builder.EndVector()


def _floats(builder: flatbuffers.Builder, values: list[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(value)
    return builder.EndVector()


def _longs(builder: flatbuffers.Builder, values: list[int]) -> int:
    builder.StartVector(8, len(values), 8)
    for value in reversed(values):
        builder.PrependInt64(value)
    return builder.EndVector()


def _offsets(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def int8_add_tile_add(path: Path) -> Path:
    """Write the ADD -> TILE -> ADD model to `path` and return it."""
    b = flatbuffers.Builder(1024)
    multiples = b.CreateByteVector(bytes([1, 0, 0, 0, 2, 0, 0, 0]))  # int32 [1, 2]
    Buffer.Start(b)
    empty = Buffer.End(b)
    Buffer.Start(b)
    Buffer.AddData(b, multiples)
    data = Buffer.End(b)
    buffers = _offsets(b, [empty, data])

    def quant() -> int:
        scale, zero = _floats(b, [0.05]), _longs(b, [0])
        QuantizationParameters.Start(b)
        QuantizationParameters.AddScale(b, scale)
        QuantizationParameters.AddZeroPoint(b, zero)
        return QuantizationParameters.End(b)

    def tensor(name: str, shape: list[int], dtype: int, buffer: int, quantized: bool) -> int:
        name_off, shape_off = b.CreateString(name), _ints(b, shape)
        q = quant() if quantized else None
        Tensor.Start(b)
        Tensor.AddName(b, name_off)
        Tensor.AddShape(b, shape_off)
        Tensor.AddType(b, dtype)
        Tensor.AddBuffer(b, buffer)
        if q is not None:
            Tensor.AddQuantization(b, q)
        return Tensor.End(b)

    int8 = TensorType.TensorType.INT8
    tensors = [
        tensor("input", [1, 8], int8, 0, True),
        tensor("added", [1, 8], int8, 0, True),
        tensor("multiples", [2], TensorType.TensorType.INT32, 1, False),
        tensor("tiled", [1, 16], int8, 0, True),
        tensor("output", [1, 16], int8, 0, True),
    ]

    def opcode(code: int) -> int:
        OperatorCode.Start(b)
        OperatorCode.AddDeprecatedBuiltinCode(b, min(code, 127))
        OperatorCode.AddBuiltinCode(b, code)
        OperatorCode.AddVersion(b, 1)
        return OperatorCode.End(b)

    add_code = opcode(BuiltinOperator.BuiltinOperator.ADD)
    tile_code = opcode(BuiltinOperator.BuiltinOperator.TILE)

    def operator(code_index: int, inputs: list[int], outputs: list[int], add: bool) -> int:
        ins, outs = _ints(b, inputs), _ints(b, outputs)
        options = None
        if add:
            AddOptions.Start(b)
            options = AddOptions.End(b)
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, code_index)
        Operator.AddInputs(b, ins)
        Operator.AddOutputs(b, outs)
        if options is not None:
            Operator.AddBuiltinOptionsType(b, BuiltinOptions.BuiltinOptions.AddOptions)
            Operator.AddBuiltinOptions(b, options)
        return Operator.End(b)

    operators = [
        operator(0, [0, 0], [1], True),
        operator(1, [1, 2], [3], False),
        operator(0, [3, 3], [4], True),
    ]
    return finish_model(
        b, path, tensors, operators, ([0], [4]), [add_code, tile_code], buffers,
        "imxbench test model: int8 ADD -> TILE -> ADD",
    )  # fmt: skip


def finish_model(
    b: flatbuffers.Builder,
    path: Path,
    tensors: list[int],
    operators: list[int],
    io: tuple[list[int], list[int]],
    codes: list[int],
    buffers: int,
    description: str,
) -> Path:
    """One subgraph "main" of these tensors and operators (inputs, outputs by tensor index),
    the model around it, written to `path`."""
    tensors_vec, ops_vec = _offsets(b, tensors), _offsets(b, operators)
    inputs_vec, outputs_vec = _ints(b, io[0]), _ints(b, io[1])
    name = b.CreateString("main")
    SubGraph.Start(b)
    SubGraph.AddTensors(b, tensors_vec)
    SubGraph.AddInputs(b, inputs_vec)
    SubGraph.AddOutputs(b, outputs_vec)
    SubGraph.AddOperators(b, ops_vec)
    SubGraph.AddName(b, name)
    subgraph = SubGraph.End(b)
    subgraphs, codes_vec = _offsets(b, [subgraph]), _offsets(b, codes)
    text = b.CreateString(description)
    Model.Start(b)
    Model.AddVersion(b, 3)
    Model.AddOperatorCodes(b, codes_vec)
    Model.AddSubgraphs(b, subgraphs)
    Model.AddDescription(b, text)
    Model.AddBuffers(b, buffers)
    model = Model.End(b)
    b.Finish(model, file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return path
