"""Write models/tiny_int8.tflite and models/tiny_float32.tflite: two tiny image classifiers of
the same graph, built here without TensorFlow (the TFLite schema through ethos-u-vela's
generated flatbuffer code, a dependency of imxbench; weights from numpy with a fixed seed).

    input [1, 32, 32, 3] -> CONV_2D 3x3 stride 2, 8 filters, ReLU -> AVERAGE_POOL_2D 16x16
    -> FULLY_CONNECTED 10 -> output [1, 10]

The int8 model takes pixels like the MLPerf Tiny ResNet-8 (scale 1, zero point -128: q = p - 128)
and is fully integer (CPU, VX and Ethos-U via Vela); the float32 one takes the raw pixel values
0..255 as floats (CPU and GPU; the integer-only NPUs skip it). Their weights are random: their
accuracy on CIFAR-10 is chance (about 10%). They exist to benchmark several models in one run.

    .venv/bin/python models/make_tiny_models.py     # rewrites both files (deterministic)
"""

from __future__ import annotations

import sys
from pathlib import Path

import flatbuffers
import numpy as np
from ethosu.vela.tflite import (
    ActivationFunctionType,
    Buffer,
    BuiltinOperator,
    BuiltinOptions,
    Conv2DOptions,
    FullyConnectedOptions,
    Model,
    Operator,
    OperatorCode,
    Padding,
    Pool2DOptions,
    QuantizationParameters,
    SubGraph,
    Tensor,
    TensorType,
)

HERE = Path(__file__).resolve().parent
SEED = 19
INPUT_HW = 32
FILTERS = 8
CLASSES = 10


def weights() -> dict[str, np.ndarray]:
    """The float weights both models share (fixed seed)."""
    rng = np.random.default_rng(SEED)
    return {
        "conv_w": rng.normal(0, 0.02, (FILTERS, 3, 3, 3)).astype(np.float32),  # OHWI
        "conv_b": rng.normal(0, 0.5, FILTERS).astype(np.float32),
        "fc_w": rng.normal(0, 0.2, (CLASSES, FILTERS)).astype(np.float32),
        "fc_b": rng.normal(0, 0.1, CLASSES).astype(np.float32),
    }


class _Graph:
    """A little builder over the flatbuffer API: buffers, tensors, operators, one subgraph."""

    def __init__(self) -> None:
        self.b = flatbuffers.Builder(4096)
        self.buffers: list[bytes] = [b""]
        self.tensors: list[int] = []
        self.codes: list[int] = []
        self.code_index: dict[int, int] = {}
        self.operators: list[int] = []

    def _vector(self, kind: str, values: list[float] | list[int]) -> int:
        b = self.b
        size = 8 if kind == "long" else 4
        b.StartVector(size, len(values), size)
        for value in reversed(values):
            {"int": b.PrependInt32, "float": b.PrependFloat32, "long": b.PrependInt64}[kind](
                value  # type: ignore[operator]
            )
        return b.EndVector()

    def tensor(
        self,
        name: str,
        shape: list[int],
        dtype: int,
        data: bytes | None = None,
        quant: tuple[list[float], list[int]] | None = None,
    ) -> int:
        buffer = 0
        if data is not None:
            self.buffers.append(data)
            buffer = len(self.buffers) - 1
        b = self.b
        name_off, shape_off = b.CreateString(name), self._vector("int", shape)
        q = None
        if quant is not None:
            scale, zero = self._vector("float", quant[0]), self._vector("long", quant[1])
            QuantizationParameters.Start(b)
            QuantizationParameters.AddScale(b, scale)
            QuantizationParameters.AddZeroPoint(b, zero)
            q = QuantizationParameters.End(b)
        Tensor.Start(b)
        Tensor.AddName(b, name_off)
        Tensor.AddShape(b, shape_off)
        Tensor.AddType(b, dtype)
        Tensor.AddBuffer(b, buffer)
        if q is not None:
            Tensor.AddQuantization(b, q)
        self.tensors.append(Tensor.End(b))
        return len(self.tensors) - 1

    def operator(
        self, code: int, inputs: list[int], outputs: list[int], options: tuple[int, int]
    ) -> None:
        b = self.b
        if code not in self.code_index:
            OperatorCode.Start(b)
            OperatorCode.AddDeprecatedBuiltinCode(b, min(code, 127))
            OperatorCode.AddBuiltinCode(b, code)
            OperatorCode.AddVersion(b, 1)
            self.codes.append(OperatorCode.End(b))
            self.code_index[code] = len(self.codes) - 1
        ins, outs = self._vector("int", inputs), self._vector("int", outputs)
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, self.code_index[code])
        Operator.AddInputs(b, ins)
        Operator.AddOutputs(b, outs)
        Operator.AddBuiltinOptionsType(b, options[0])
        Operator.AddBuiltinOptions(b, options[1])
        self.operators.append(Operator.End(b))

    def _offsets(self, offsets: list[int]) -> int:
        b = self.b
        b.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            b.PrependUOffsetTRelative(offset)
        return b.EndVector()

    def finish(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        b = self.b
        buffers = []
        for data in self.buffers:
            vector = None
            if data:
                b.StartVector(1, len(data), 16)  # 16-byte aligned, as TFLite's writer does
                for byte in reversed(data):
                    b.PrependByte(byte)
                vector = b.EndVector()
            Buffer.Start(b)
            if vector is not None:
                Buffer.AddData(b, vector)
            buffers.append(Buffer.End(b))
        tensors, ops = self._offsets(self.tensors), self._offsets(self.operators)
        ins, outs = self._vector("int", inputs), self._vector("int", outputs)
        name = b.CreateString("main")
        SubGraph.Start(b)
        SubGraph.AddTensors(b, tensors)
        SubGraph.AddInputs(b, ins)
        SubGraph.AddOutputs(b, outs)
        SubGraph.AddOperators(b, ops)
        SubGraph.AddName(b, name)
        subgraph = SubGraph.End(b)
        subgraphs, codes, buffer_vec = (
            self._offsets([subgraph]),
            self._offsets(self.codes),
            self._offsets(buffers),
        )
        desc = b.CreateString(description)
        Model.Start(b)
        Model.AddVersion(b, 3)
        Model.AddOperatorCodes(b, codes)
        Model.AddSubgraphs(b, subgraphs)
        Model.AddDescription(b, desc)
        Model.AddBuffers(b, buffer_vec)
        b.Finish(Model.End(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _options(graph: _Graph, kind: str) -> tuple[int, int]:
    b = graph.b
    relu = ActivationFunctionType.ActivationFunctionType.RELU
    if kind == "conv":
        Conv2DOptions.Start(b)
        Conv2DOptions.AddPadding(b, Padding.Padding.SAME)
        Conv2DOptions.AddStrideW(b, 2)
        Conv2DOptions.AddStrideH(b, 2)
        Conv2DOptions.AddDilationWFactor(b, 1)
        Conv2DOptions.AddDilationHFactor(b, 1)
        Conv2DOptions.AddFusedActivationFunction(b, relu)
        return BuiltinOptions.BuiltinOptions.Conv2DOptions, Conv2DOptions.End(b)
    if kind == "pool":
        side = INPUT_HW // 2
        Pool2DOptions.Start(b)
        Pool2DOptions.AddPadding(b, Padding.Padding.VALID)
        Pool2DOptions.AddStrideW(b, 1)
        Pool2DOptions.AddStrideH(b, 1)
        Pool2DOptions.AddFilterWidth(b, side)
        Pool2DOptions.AddFilterHeight(b, side)
        return BuiltinOptions.BuiltinOptions.Pool2DOptions, Pool2DOptions.End(b)
    FullyConnectedOptions.Start(b)
    return BuiltinOptions.BuiltinOptions.FullyConnectedOptions, FullyConnectedOptions.End(b)


def _float_activations(w: dict[str, np.ndarray]) -> tuple[float, float]:
    """The largest ReLU output of the conv and the largest |logit| on random images (they set
    the int8 model's activation scales)."""
    rng = np.random.default_rng(SEED + 1)
    images = rng.integers(0, 256, (64, INPUT_HW, INPUT_HW, 3)).astype(np.float32)
    padded = np.pad(images, ((0, 0), (0, 1), (0, 1), (0, 0)))  # SAME, stride 2, 3x3
    side = INPUT_HW // 2
    patches = np.stack(
        [
            padded[:, y : y + 2 * side : 2, x : x + 2 * side : 2, :]
            for y in range(3)
            for x in range(3)
        ],
        axis=3,
    )  # (n, side, side, 9, 3)
    kernel = w["conv_w"].reshape(FILTERS, 9, 3)
    conv = np.maximum(np.einsum("nhwkc,okc->nhwo", patches, kernel) + w["conv_b"], 0)
    pooled = conv.mean(axis=(1, 2))
    logits = pooled @ w["fc_w"].T + w["fc_b"]
    return float(conv.max()), float(np.abs(logits).max())


def _int8(values: np.ndarray, scale: float) -> bytes:
    return np.clip(np.round(values / scale), -127, 127).astype(np.int8).tobytes()


def _int32(values: np.ndarray, scale: float) -> bytes:
    return np.round(values / scale).astype(np.int32).tobytes()


def build(dtype: str) -> bytes:
    """The model as .tflite bytes: dtype "int8" or "float32"."""
    w = weights()
    g = _Graph()
    side = INPUT_HW // 2
    if dtype == "float32":
        f32 = TensorType.TensorType.FLOAT32
        x = g.tensor("input", [1, INPUT_HW, INPUT_HW, 3], f32)
        cw = g.tensor("conv/weights", [FILTERS, 3, 3, 3], f32, w["conv_w"].tobytes())
        cb = g.tensor("conv/bias", [FILTERS], f32, w["conv_b"].tobytes())
        conv = g.tensor("conv/relu", [1, side, side, FILTERS], f32)
        pool = g.tensor("pool", [1, 1, 1, FILTERS], f32)
        fw = g.tensor("fc/weights", [CLASSES, FILTERS], f32, w["fc_w"].tobytes())
        fb = g.tensor("fc/bias", [CLASSES], f32, w["fc_b"].tobytes())
        out = g.tensor("output", [1, CLASSES], f32)
    else:
        i8, i32 = TensorType.TensorType.INT8, TensorType.TensorType.INT32
        conv_max, logit_max = _float_activations(w)
        in_s, cw_s = 1.0, float(np.abs(w["conv_w"]).max() / 127)
        act_s = conv_max / 255  # ReLU output 0..max -> -128..127
        fw_s, out_s = float(np.abs(w["fc_w"]).max() / 127), logit_max / 127
        x = g.tensor("input", [1, INPUT_HW, INPUT_HW, 3], i8, quant=([in_s], [-128]))
        cw = g.tensor(
            "conv/weights", [FILTERS, 3, 3, 3], i8, _int8(w["conv_w"], cw_s), ([cw_s], [0])
        )
        cb = g.tensor(
            "conv/bias", [FILTERS], i32, _int32(w["conv_b"], in_s * cw_s), ([in_s * cw_s], [0])
        )
        conv = g.tensor("conv/relu", [1, side, side, FILTERS], i8, quant=([act_s], [-128]))
        pool = g.tensor("pool", [1, 1, 1, FILTERS], i8, quant=([act_s], [-128]))
        fw = g.tensor("fc/weights", [CLASSES, FILTERS], i8, _int8(w["fc_w"], fw_s), ([fw_s], [0]))
        fb = g.tensor(
            "fc/bias", [CLASSES], i32, _int32(w["fc_b"], act_s * fw_s), ([act_s * fw_s], [0])
        )
        out = g.tensor("output", [1, CLASSES], i8, quant=([out_s], [0]))
    ops = BuiltinOperator.BuiltinOperator
    g.operator(ops.CONV_2D, [x, cw, cb], [conv], _options(g, "conv"))
    g.operator(ops.AVERAGE_POOL_2D, [conv], [pool], _options(g, "pool"))
    g.operator(ops.FULLY_CONNECTED, [pool, fw, fb], [out], _options(g, "fc"))
    return g.finish([x], [out], f"imxbench tiny {dtype} classifier (models/make_tiny_models.py)")


def main(out_dir: Path = HERE) -> None:
    for dtype in ("int8", "float32"):
        path = out_dir / f"tiny_{dtype}.tflite"
        path.write_bytes(build(dtype))
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
