"""A tiny float32 .tflite with one op of each MAC-counting kind, built by hand (ethos-u-vela's
generated TFLite schema code; no TensorFlow), for the model facts' hand computation:

    input [1, 8, 8, 3] -> CONV_2D 3x3 stride 2 SAME, 4 filters -> [1, 4, 4, 4]
    -> DEPTHWISE_CONV_2D 3x3 stride 1 SAME, multiplier 2 -> [1, 4, 4, 8]
    -> RESHAPE [1, 128] (shape: a constant int32 tensor, not a parameter)
    -> FULLY_CONNECTED 5 -> output [1, 5]

Weights: small deterministic floats; LiteRT loads and runs the file (tests check that).
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from ethosu.vela.tflite import (
    Buffer,
    BuiltinOperator,
    BuiltinOptions,
    Conv2DOptions,
    DepthwiseConv2DOptions,
    FullyConnectedOptions,
    Operator,
    OperatorCode,
    Padding,
    ReshapeOptions,
    Tensor,
    TensorType,
)

from tests.tiny_models import _ints, _offsets, finish_model


def conv_dw_fc(path: Path) -> Path:
    """Write the model to `path` and return it."""
    rng = np.random.default_rng(19)

    def weights(*shape: int) -> np.ndarray:
        return rng.uniform(-0.5, 0.5, size=shape).astype(np.float32)

    tensors: list[tuple[str, list[int], np.ndarray | None, int]] = [
        ("input", [1, 8, 8, 3], None, TensorType.TensorType.FLOAT32),
        ("conv_w", [4, 3, 3, 3], weights(4, 3, 3, 3), TensorType.TensorType.FLOAT32),
        ("conv_b", [4], weights(4), TensorType.TensorType.FLOAT32),
        ("conv_out", [1, 4, 4, 4], None, TensorType.TensorType.FLOAT32),
        ("dw_w", [1, 3, 3, 8], weights(1, 3, 3, 8), TensorType.TensorType.FLOAT32),
        ("dw_b", [8], weights(8), TensorType.TensorType.FLOAT32),
        ("dw_out", [1, 4, 4, 8], None, TensorType.TensorType.FLOAT32),
        ("shape", [2], np.array([1, 128], dtype=np.int32), TensorType.TensorType.INT32),
        ("flat", [1, 128], None, TensorType.TensorType.FLOAT32),
        ("fc_w", [5, 128], weights(5, 128), TensorType.TensorType.FLOAT32),
        ("fc_b", [5], weights(5), TensorType.TensorType.FLOAT32),
        ("output", [1, 5], None, TensorType.TensorType.FLOAT32),
    ]
    b = flatbuffers.Builder(4096)
    Buffer.Start(b)
    buffers = [Buffer.End(b)]  # buffer 0: the empty one
    buffer_of: list[int] = []
    for _name, _shape, data, _dtype in tensors:
        if data is None:
            buffer_of.append(0)
            continue
        raw = b.CreateByteVector(data.tobytes())
        Buffer.Start(b)
        Buffer.AddData(b, raw)
        buffers.append(Buffer.End(b))
        buffer_of.append(len(buffers) - 1)
    buffers_vec = _offsets(b, buffers)

    tensor_offsets = []
    for (name, shape, _data, dtype), buffer in zip(tensors, buffer_of, strict=True):
        name_off, shape_off = b.CreateString(name), _ints(b, shape)
        Tensor.Start(b)
        Tensor.AddName(b, name_off)
        Tensor.AddShape(b, shape_off)
        Tensor.AddType(b, dtype)
        Tensor.AddBuffer(b, buffer)
        tensor_offsets.append(Tensor.End(b))

    codes = [
        BuiltinOperator.BuiltinOperator.CONV_2D,
        BuiltinOperator.BuiltinOperator.DEPTHWISE_CONV_2D,
        BuiltinOperator.BuiltinOperator.RESHAPE,
        BuiltinOperator.BuiltinOperator.FULLY_CONNECTED,
    ]
    code_offsets = []
    for code in codes:
        OperatorCode.Start(b)
        OperatorCode.AddDeprecatedBuiltinCode(b, code)
        OperatorCode.AddBuiltinCode(b, code)
        OperatorCode.AddVersion(b, 1)
        code_offsets.append(OperatorCode.End(b))

    Conv2DOptions.Start(b)
    Conv2DOptions.AddPadding(b, Padding.Padding.SAME)
    Conv2DOptions.AddStrideW(b, 2)
    Conv2DOptions.AddStrideH(b, 2)
    Conv2DOptions.AddDilationWFactor(b, 1)
    Conv2DOptions.AddDilationHFactor(b, 1)
    conv_options = Conv2DOptions.End(b)
    DepthwiseConv2DOptions.Start(b)
    DepthwiseConv2DOptions.AddPadding(b, Padding.Padding.SAME)
    DepthwiseConv2DOptions.AddStrideW(b, 1)
    DepthwiseConv2DOptions.AddStrideH(b, 1)
    DepthwiseConv2DOptions.AddDepthMultiplier(b, 2)
    DepthwiseConv2DOptions.AddDilationWFactor(b, 1)
    DepthwiseConv2DOptions.AddDilationHFactor(b, 1)
    dw_options = DepthwiseConv2DOptions.End(b)
    new_shape = _ints(b, [1, 128])
    ReshapeOptions.Start(b)
    ReshapeOptions.AddNewShape(b, new_shape)
    reshape_options = ReshapeOptions.End(b)
    FullyConnectedOptions.Start(b)
    fc_options = FullyConnectedOptions.End(b)

    ops = [
        (0, [0, 1, 2], [3], BuiltinOptions.BuiltinOptions.Conv2DOptions, conv_options),
        (1, [3, 4, 5], [6], BuiltinOptions.BuiltinOptions.DepthwiseConv2DOptions, dw_options),
        (2, [6, 7], [8], BuiltinOptions.BuiltinOptions.ReshapeOptions, reshape_options),
        (3, [8, 9, 10], [11], BuiltinOptions.BuiltinOptions.FullyConnectedOptions, fc_options),
    ]
    op_offsets = []
    for code_index, inputs, outputs, options_type, options in ops:
        ins, outs = _ints(b, inputs), _ints(b, outputs)
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, code_index)
        Operator.AddInputs(b, ins)
        Operator.AddOutputs(b, outs)
        Operator.AddBuiltinOptionsType(b, options_type)
        Operator.AddBuiltinOptions(b, options)
        op_offsets.append(Operator.End(b))

    return finish_model(
        b, path, tensor_offsets, op_offsets, ([0], [11]), code_offsets, buffers_vec,
        "imxbench test model: CONV_2D -> DEPTHWISE -> RESHAPE -> FC",
    )  # fmt: skip
