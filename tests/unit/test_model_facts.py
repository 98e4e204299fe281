"""Model facts (analysis/model_facts.py) against hand computations: the MLPerf Tiny ResNet-8
reference model and a tiny hand-built model; the delegate shares; GOPS against the published
peaks (model/peaks.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from imxbench.analysis.model_facts import (
    achieved_gops,
    facts_document,
    facts_from_document,
    model_facts,
    percent_of_peak,
    share_by_int_rule,
    share_from_profile,
    share_from_vela,
)
from imxbench.analysis.model_info import inspect_model
from imxbench.model.peaks import PEAKS, peak_for
from tests.conv_models import conv_dw_fc
from tests.locations import FLOAT_MODEL, QUANT_MODEL
from tests.tiny_models import int8_add_tile_add


def conv_macs(out_hw: int, out_ch: int, k: int, in_ch: int) -> int:
    """A square convolution's MACs: every output element is one k x k x in_ch dot product."""
    return out_hw * out_hw * out_ch * k * k * in_ch


def resnet8_by_hand() -> tuple[dict[str, int], int]:
    """MLPerf Tiny's ResNet-8 (mlcommons/tiny benchmark/training/image_classification/
    keras_model.py `resnet_v1_eembc`, with the 16 stem filters of the pretrained model: a 3x3
    stem, three stacks of two 3x3 convs at 16, 32, 64 filters, the 2nd and 3rd halving the
    resolution with a 1x1 strided shortcut, an 8x8 average pool, a dense layer of
    10; batch norms folded). Returns (MACs per op type, parameters)."""
    convs = [
        (32, 16, 3, 3),  # stem
        (32, 16, 3, 16),  # stack 1
        (32, 16, 3, 16),
        (16, 32, 3, 16),  # stack 2, stride 2
        (16, 32, 3, 32),
        (16, 32, 1, 16),  # shortcut 1x1 stride 2
        (8, 64, 3, 32),  # stack 3, stride 2
        (8, 64, 3, 64),
        (8, 64, 1, 32),  # shortcut
    ]
    macs = {
        "CONV_2D": sum(conv_macs(*c) for c in convs),
        "AVERAGE_POOL_2D": 64 * 8 * 8,  # 64 outputs, each the sum of an 8x8 window
        "FULLY_CONNECTED": 10 * 64,
    }
    params = sum(k * k * cin * cout + cout for _, cout, k, cin in convs) + 64 * 10 + 10
    return macs, params


def test_resnet8_macs_and_parameters_match_the_hand_computation() -> None:
    by_op, params = resnet8_by_hand()
    facts = model_facts(inspect_model(QUANT_MODEL))
    assert dict(facts.macs_by_op) == by_op
    assert facts.macs == sum(by_op.values()) == 12_505_728  # MLPerf Tiny: ~12.5 M MACs
    assert facts.parameters == params == 77_706  # MLPerf Tiny: ~78 k parameters
    assert facts.op_histogram[0] == ("CONV_2D", 9) and facts.ops == 16
    assert dict(facts.op_histogram) == {
        "CONV_2D": 9,
        "ADD": 3,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    }
    [inp], [out] = facts.inputs, facts.outputs
    assert (inp.shape, inp.dtype, inp.scale, inp.zero_point) == ((1, 32, 32, 3), "int8", 1.0, -128)
    assert (out.shape, out.dtype, out.scale, out.zero_point) == ((1, 10), "int8", 1 / 256, -128)
    assert facts.is_fully_int and not facts.is_vela_compiled and facts.float_ops == 0


def test_float_resnet8_has_the_same_work_in_float() -> None:
    quant = model_facts(inspect_model(QUANT_MODEL))
    facts = model_facts(inspect_model(FLOAT_MODEL))
    assert (facts.macs, facts.parameters, facts.op_histogram) == (
        quant.macs,
        quant.parameters,
        quant.op_histogram,
    )
    [inp] = facts.inputs
    assert inp.dtype == "float32" and inp.scale is None and inp.zero_point is None
    assert not facts.is_fully_int and facts.float_ops == facts.ops == 16


def test_tiny_model_by_hand(tmp_path: Path) -> None:
    path = conv_dw_fc(tmp_path / "tiny.tflite")
    facts = model_facts(inspect_model(path))
    # CONV_2D 3x3 stride 2 SAME on 8x8x3 -> 4x4x4; DEPTHWISE 3x3 x2 -> 4x4x8; FC 128 -> 5
    assert dict(facts.macs_by_op) == {
        "CONV_2D": 4 * 4 * 4 * (3 * 3 * 3),
        "DEPTHWISE_CONV_2D": 4 * 4 * 8 * (3 * 3),
        "FULLY_CONNECTED": 5 * 128,
    }
    assert facts.macs == 1728 + 1152 + 640
    # weights and biases; RESHAPE's constant int32 shape is not a parameter
    assert facts.parameters == (4 * 27 + 4) + (72 + 8) + (5 * 128 + 5)
    # the shapes used above are the ones LiteRT computes for the graph
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    shapes = {d["name"]: tuple(d["shape"]) for d in interpreter.get_tensor_details()}
    assert shapes["conv_out"] == (1, 4, 4, 4) and shapes["dw_out"] == (1, 4, 4, 8)
    assert shapes["output"] == (1, 5)
    interpreter.set_tensor(
        interpreter.get_input_details()[0]["index"], np.ones((1, 8, 8, 3), np.float32)
    )
    interpreter.invoke()
    assert np.isfinite(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])).all()


def test_document_round_trip_and_refusal(tmp_path: Path) -> None:
    facts = model_facts(inspect_model(QUANT_MODEL))
    assert facts_from_document(facts_document(facts)) == facts
    doc = facts_document(facts)
    del doc["macs"]
    with pytest.raises(ValueError, match="not a model facts document"):
        facts_from_document(doc)


def test_delegate_shares(tmp_path: Path) -> None:
    quant = model_facts(inspect_model(QUANT_MODEL))
    floating = model_facts(inspect_model(FLOAT_MODEL))
    vela = share_from_vela(40.0, 2.0)
    assert vela is not None and (vela.delegated_ops, vela.total_ops, vela.source) == (
        40,
        42,
        "vela",
    )
    assert share_from_vela(None, 0) is None and share_from_vela(0, 0) is None
    full = share_from_profile(quant, [{"node_type": "Vx Delegate", "count": 1, "avg_ms": 0.2}])
    assert full is not None and full.fraction == 1.0 and full.source == "profile"
    # ADD -> TILE -> ADD on the VX delegate: two delegate kernels, TILE on the CPU
    tile = model_facts(inspect_model(int8_add_tile_add(tmp_path / "tile.tflite")))
    partial = share_from_profile(
        tile, [{"node_type": "Vx Delegate", "count": 2}, {"node_type": "TILE", "count": 1}]
    )
    assert partial is not None and (partial.delegated_ops, partial.total_ops) == (2, 3)
    assert share_from_profile(quant, None) is None
    assert share_by_int_rule(floating, requires_int=True).delegated_ops == 0
    assert share_by_int_rule(quant, requires_int=True).fraction == 1.0
    assert share_by_int_rule(floating, requires_int=False).fraction == 1.0


def test_gops_against_the_published_peaks() -> None:
    macs = model_facts(inspect_model(QUANT_MODEL)).macs
    gops = achieved_gops(macs, 0.25)
    assert gops == pytest.approx(2 * macs / 0.25e-3 / 1e9)  # 100.05 GOPS
    npu = peak_for("imx8mp", "NPU")
    assert npu is not None and npu.int8_tops == 2.3
    assert percent_of_peak(gops, npu.int8_tops) == pytest.approx(100 * gops / 2300)
    assert achieved_gops(macs, 0) is None and achieved_gops(0, 1.0) is None
    assert achieved_gops(macs, math.nan) is None and percent_of_peak(None, 2.3) is None
    ethos = peak_for("imx93", "NPU")
    assert ethos is not None and ethos.int8_tops == 0.5
    # Ethos-U65-256 at 1 GHz: 256 MACs x 2 operations per cycle, within the rounding
    assert ethos.int8_tops == pytest.approx(256 * 2 * 1e9 / 1e12, rel=0.03)
    assert peak_for("imx8mp", "GPU") is None and peak_for("imx93", "CPU") is None
    assert all(p.source for p in PEAKS)
