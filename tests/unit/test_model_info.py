"""imxbench.analysis.model_info on the reference models, a Vela-compiled model and bad files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.analysis.model_info import inspect_model, inspect_model_bytes
from imxbench.errors import ConfigError
from tests.locations import MODELS

QUANT = MODELS / "pretrainedResnet_quant.tflite"
FLOAT = MODELS / "pretrainedResnet.tflite"
QUANT_SHA256 = "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415"
VELA_MACS = 12_505_748  # Vela 5.2's "Neural network macs" for the reference model
REFERENCE_OPS = (
    "CONV_2D",
    "CONV_2D",
    "CONV_2D",
    "ADD",
    "CONV_2D",
    "CONV_2D",
    "CONV_2D",
    "ADD",
    "CONV_2D",
    "CONV_2D",
    "CONV_2D",
    "ADD",
    "AVERAGE_POOL_2D",
    "RESHAPE",
    "FULLY_CONNECTED",
    "SOFTMAX",
)


def vela_compile(source: Path, out_dir: Path) -> Path:
    """Compile `source` for the i.MX 93 (Ethos-U65-256) with the installed Vela."""
    vela = shutil.which("vela") or str(Path(sys.executable).with_name("vela"))
    subprocess.run(
        [
            vela,
            "--accelerator-config",
            "ethos-u65-256",
            "--system-config",
            "Ethos_U65_High_End",
            "--memory-mode",
            "Dedicated_Sram",
            "--output-dir",
            str(out_dir),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return out_dir / f"{source.stem}_vela.tflite"


@pytest.fixture(scope="module")
def vela_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return vela_compile(QUANT, tmp_path_factory.mktemp("vela"))


def test_reference_model_io_and_quantization() -> None:
    info = inspect_model(QUANT)
    assert info.sha256 == QUANT_SHA256
    assert info.size_bytes == 98_496
    (inp,) = info.inputs
    (out,) = info.outputs
    assert (inp.name, inp.shape, inp.dtype, inp.scale, inp.zero_point) == (
        "input_1_int8",
        (1, 32, 32, 3),
        "int8",
        1.0,
        -128,
    )
    assert (out.name, out.shape, out.dtype, out.scale, out.zero_point) == (
        "Identity_int8",
        (1, 10),
        "int8",
        1 / 256,
        -128,
    )


def test_reference_model_ops_and_macs() -> None:
    info = inspect_model(QUANT)
    assert info.op_names == REFERENCE_OPS
    assert info.builtin_op_names == REFERENCE_OPS
    assert info.op_counts == {
        "CONV_2D": 9,
        "ADD": 3,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    }
    assert info.custom_ops == ()
    # 9 convolutions (12,500,992) + dense 64x10 (640) + 8x8 average pool over 64 channels (4,096)
    assert info.macs == 12_505_728
    assert abs(info.macs - VELA_MACS) / VELA_MACS < 1e-5
    assert [op.macs for op in info.operators][:3] == [32 * 32 * 16 * 27, 2_359_296, 2_359_296]
    assert info.is_fully_int
    assert not info.is_vela_compiled


def test_float_model_is_not_fully_int() -> None:
    info = inspect_model(FLOAT)
    assert info.inputs[0].dtype == "float32"
    assert info.inputs[0].scale is None
    assert info.op_names == REFERENCE_OPS
    assert info.macs == 12_505_728
    assert not info.is_fully_int
    assert all(op.uses_float for op in info.operators)


def test_ops_agree_with_litert() -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(QUANT))
    litert_ops = tuple(op["op_name"] for op in interpreter._get_ops_details())
    assert inspect_model(QUANT).op_names == litert_ops
    shapes = {
        t["index"]: tuple(int(d) for d in t["shape"]) for t in interpreter.get_tensor_details()
    }
    assert {t.index: t.shape for t in inspect_model(QUANT).tensors} == shapes


def test_vela_compiled_model(vela_model: Path) -> None:
    info = inspect_model(vela_model)
    assert info.is_vela_compiled
    assert info.custom_ops == ("ethos-u",)
    assert info.op_names == ("ethos-u",)
    assert info.builtin_op_names == ()
    assert info.macs == 0  # the NPU work is inside the command stream
    assert info.is_fully_int
    assert [t.name for t in info.inputs] == ["input_1_int8"]
    assert info.inputs[0].shape == (1, 32, 32, 3)
    assert info.outputs[0].scale == 1 / 256
    assert info.description.startswith("Vela")


def test_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.tflite"
    with pytest.raises(ConfigError, match=r"absent\.tflite"):
        inspect_model(path)


def test_not_a_tflite_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_text("this is not a model\n")
    with pytest.raises(ConfigError, match=r"model\.tflite: not a TFLite model"):
        inspect_model(path)


def test_truncated_model_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "truncated.tflite"
    path.write_bytes(QUANT.read_bytes()[:4000])
    with pytest.raises(ConfigError, match=r"truncated\.tflite"):
        inspect_model(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512), st.integers(min_value=0, max_value=2**31 - 1))
def test_arbitrary_bytes_raise_only_config_error(payload: bytes, root: int) -> None:
    data = root.to_bytes(4, "little") + b"TFL3" + payload
    try:
        inspect_model_bytes(data, Path("fuzz.tflite"))
    except ConfigError as exc:
        assert "fuzz.tflite" in exc.message


@pytest.mark.parametrize("which", ["quant", "float", "vela"])
def test_reader_agrees_with_the_flatbuffers_schema_classes(which: str, vela_model: Path) -> None:
    """tflite_flatbuffer.py against the flatbuffers runtime's generated classes (those in
    ethos-u-vela), field by field, on every tensor and operator."""
    from ethosu.vela.tflite.Model import Model

    path = {"quant": QUANT, "float": FLOAT, "vela": vela_model}[which]
    data = path.read_bytes()
    ours, theirs = inspect_model_bytes(data, path), Model.GetRootAsModel(data, 0)
    graph = theirs.Subgraphs(0)
    assert len(ours.tensors) == graph.TensorsLength() > 0
    for info, i in zip(ours.tensors, range(graph.TensorsLength()), strict=True):
        tensor = graph.Tensors(i)
        assert info.name == tensor.Name().decode()
        shape = tuple(tensor.ShapeAsNumpy().tolist()) if tensor.ShapeLength() else ()
        assert info.shape == shape
        quant = tensor.Quantization()
        if quant is not None and quant.ScaleLength():
            assert info.scale == pytest.approx(float(quant.Scale(0)), rel=1e-7)
            assert info.zero_point == int(quant.ZeroPoint(0))
        else:
            assert info.scale is None
        buffer = theirs.Buffers(tensor.Buffer())
        assert info.is_constant == (tensor.Buffer() > 0 and buffer.DataLength() > 0)
    assert len(ours.operators) == graph.OperatorsLength() > 0
    for op_info, i in zip(ours.operators, range(graph.OperatorsLength()), strict=True):
        op = graph.Operators(i)
        assert op_info.inputs == tuple(op.InputsAsNumpy().tolist())
        assert op_info.outputs == tuple(op.OutputsAsNumpy().tolist())
    assert [t.index for t in ours.inputs] == graph.InputsAsNumpy().tolist()
    assert ours.description == (theirs.Description() or b"").decode()
