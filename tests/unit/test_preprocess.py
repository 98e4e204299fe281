"""Preprocessing from the model's input tensor, and the RGB/BGR + quantization sanity check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from imxbench.accuracy.datasets import CIFAR10_CLASSES, Dataset
from imxbench.accuracy.host_reference import HostModel, dequantize, top_k
from imxbench.accuracy.preprocess import Preprocessing, preprocess, preprocessing_for
from imxbench.accuracy.preprocess_check import VariantScore, check_preprocessing, judge
from imxbench.analysis.model_info import ModelInfo, inspect_model
from imxbench.errors import ConfigError
from tests.dataset_builders import MODEL, generate

REFERENCE = preprocessing_for(inspect_model(MODEL))


def every_pixel_value() -> np.ndarray:
    values = np.arange(256, dtype=np.uint8)
    return np.stack([values, values[::-1], values], axis=-1).reshape(1, 16, 16, 3)


def test_reference_model_preprocessing_is_exactly_p_minus_128() -> None:
    assert (REFERENCE.dtype, REFERENCE.scale, REFERENCE.zero_point) == ("int8", 1.0, -128)
    assert REFERENCE.input_shape == (1, 32, 32, 3) and REFERENCE.channel_order == "rgb"
    pixels = every_pixel_value()
    at_16 = replace(REFERENCE, input_shape=(1, 16, 16, 3))
    out = preprocess(at_16, pixels)
    assert out.dtype == np.int8
    assert np.array_equal(out.astype(np.int16), pixels.astype(np.int16) - 128)
    assert REFERENCE.describe() == (
        "RGB uint8 pixels p -> int8 input 'input_1_int8' [1x32x32x3]: "
        "q = clip(round(p / 1) - 128, -128, 127) = p - 128"
    )


def test_bgr_swaps_channels_and_cast_wraps_around() -> None:
    pixels = every_pixel_value()
    at_16 = replace(REFERENCE, input_shape=(1, 16, 16, 3))
    bgr = preprocess(at_16.variant("bgr", "model"), pixels)
    assert np.array_equal(bgr, preprocess(at_16, pixels[..., ::-1]))
    cast = preprocess(at_16.variant("rgb", "cast"), pixels)
    assert np.array_equal(cast, pixels.view(np.int8))  # 200 -> -56: the naive mistake
    assert "ignores the model's quantization" in at_16.variant("rgb", "cast").formula()


def test_general_quantization_rounds_half_away_from_zero_and_clips() -> None:
    pre = Preprocessing("in", (1, 1, 4, 3), "uint8", 2.0, 10, "rgb", "model")
    pixels = np.array([[[[0, 1, 3], [5, 250, 255], [2, 4, 6], [7, 9, 11]]]], np.uint8)
    out = preprocess(pre, pixels)
    # p/2 = 0, 0.5, 1.5 | 2.5, 125, 127.5 -> round half away: 0, 1, 2 | 3, 125, 128; + 10
    assert out[0, 0, :2].tolist() == [[10, 11, 12], [13, 135, 138]]
    pre8 = Preprocessing("in", (1, 1, 4, 3), "int8", 0.5, 0, "rgb", "model")
    assert preprocess(pre8, pixels).max() == 127  # 255 / 0.5 = 510, clipped


def test_float_input_is_raw_pixels() -> None:
    pre = Preprocessing("in", (1, 16, 16, 3), "float32", None, None)
    out = preprocess(pre, every_pixel_value())
    assert out.dtype == np.float32 and out.max() == 255.0
    assert "raw pixel values 0..255" in pre.describe()


def test_size_mismatch_and_unusable_models_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"images are 16x16 pixels but input 'input_1_int8'"):
        preprocess(REFERENCE, every_pixel_value())
    info = inspect_model(MODEL)
    two = replace(info, inputs=info.inputs * 2)
    with pytest.raises(ConfigError, match="one input, this one has 2"):
        preprocessing_for(two)
    flat = replace(info, inputs=(replace(info.inputs[0], shape=(1, 3072)),))
    with pytest.raises(ConfigError, match=r"has shape \[1, 3072\]; accuracy needs an image input"):
        preprocessing_for(flat)
    unquantized = replace(info, inputs=(replace(info.inputs[0], scale=None, zero_point=None),))
    with pytest.raises(ConfigError, match="no quantization parameters"):
        preprocessing_for(unquantized)


def test_input_quantization_that_does_not_take_raw_pixels_is_refused_not_clipped() -> None:
    """A uint8 input with scale 1/128, zero point 128 (MobileNet-style) represents -1..0.99:
    raw pixels would clip every image to two levels and score a plausible, wrong number."""
    info = inspect_model(MODEL)

    def with_input(dtype: str, scale: float, zero_point: int) -> ModelInfo:
        tensor = replace(info.inputs[0], dtype=dtype, scale=scale, zero_point=zero_point)
        return replace(info, inputs=(tensor,))

    mobilenet = with_input("uint8", 0.0078125, 128)
    clipped = r"represents values -1\.\.0\.992188, but the pixels map to 0\.\.255 \(raw, no mean"
    with pytest.raises(ConfigError, match=clipped):
        preprocessing_for(mobilenet)
    with pytest.raises(ConfigError, match=r"represents values 0\.\.1, but"):
        preprocessing_for(with_input("uint8", 1 / 255, 0))
    # with its normalisation from models.yaml, q = p exactly
    pre = preprocessing_for(mobilenet, mean=(128.0,), norm_scale=(0.0078125,))
    pixels = every_pixel_value()
    out = preprocess(replace(pre, input_shape=(1, 16, 16, 3)), pixels)
    assert out.dtype == np.uint8 and np.array_equal(out, pixels)
    # a uint8 input that takes raw pixels, and the reference model: accepted as before
    assert preprocessing_for(with_input("uint8", 1.0, 0)).formula().endswith("= p + 0")
    # the reference model (raw 0..255) given a -1..1 normalisation in models.yaml: refused
    with pytest.raises(ConfigError, match=r"pixels map to -1\.\.1 \(with models.yaml's mean"):
        preprocessing_for(info, mean=(127.5,), norm_scale=(1 / 127.5,))


def test_host_reference_matches_litert_outputs_dequantized() -> None:
    data = generate(12)
    outputs = HostModel(MODEL).run(preprocess(REFERENCE, data.images))
    assert np.array_equal(outputs.top1, data.model_top1)
    assert outputs.outputs.dtype == np.float32
    assert np.allclose(outputs.outputs.sum(axis=1), 1.0, atol=0.05)  # softmax, 1/256 steps
    raw = np.array([[-128, 127, 0]], np.int8)
    assert dequantize(raw, 1 / 256, -128).tolist() == [[0.0, 255 / 256, 0.5]]
    assert top_k(np.array([[0.1, 0.5, 0.5, 0.2]]), 3).tolist() == [[1, 2, 3]]  # ties: low first


# -- the sanity check -----------------------------------------------------------------------
def scores(rgb: int, bgr: int, n: int = 100) -> tuple[VariantScore, ...]:
    return (
        VariantScore("rgb", "model", n, rgb),
        VariantScore("rgb", "cast", n, 5),
        VariantScore("bgr", "model", n, bgr),
        VariantScore("bgr", "cast", n, 6),
    )


def test_judge_warns_only_when_another_variant_is_clearly_better() -> None:
    assert judge(REFERENCE, scores(85, 71)).warning is None
    assert judge(REFERENCE, scores(85, 87)).warning is None  # within max(2 images, 2%)
    check = judge(REFERENCE, scores(71, 85))
    assert check.best.channel_order == "bgr"
    assert check.warning == (
        "the configured preprocessing (RGB + model quantization) scores 71.0% top-1 on 100 "
        "images, but BGR + model quantization scores 85.0%; the model fits BGR input better "
        "(images read with OpenCV are BGR): rerun with --channel-order bgr"
    )
    cast_best = (VariantScore("rgb", "model", 100, 10), VariantScore("rgb", "cast", 100, 80))
    assert "quantization expects" in (judge(REFERENCE, cast_best).warning or "")


def test_sanity_check_on_generated_images_finds_rgb_and_flags_bgr(tmp_path: Path) -> None:
    data = generate(80)
    good = Dataset(
        data.images, data.labels, tuple(map(str, range(80))), CIFAR10_CLASSES, tmp_path, "x", 80
    )
    host = HostModel(MODEL)
    check = check_preprocessing(host, REFERENCE, good)
    assert check.warning is None and check.best.channel_order == "rgb"
    by = {(s.channel_order, s.quantization): s.top1 for s in check.scores}
    assert by[("rgb", "model")] > by[("bgr", "model")] + 0.2
    assert by[("rgb", "model")] > by[("rgb", "cast")] + 0.2
    stored_bgr = replace(good, images=np.ascontiguousarray(data.images[..., ::-1]))
    flagged = check_preprocessing(host, REFERENCE, stored_bgr)
    assert flagged.best.channel_order == "bgr"
    assert flagged.warning is not None and "--channel-order bgr" in flagged.warning


def test_sanity_check_tries_pixels_scaled_to_0_1_on_a_float_model(tmp_path: Path) -> None:
    """A float input's range is not in the file: raw 0..255 is assumed (right for the MLPerf
    Tiny float model), and a model that takes 0..1 is flagged with the mean/scale to give."""
    float_model = MODEL.parents[2] / "tests/fixtures/models/pretrainedResnet.tflite"
    host = HostModel(float_model)
    pre = preprocessing_for(inspect_model(float_model))
    data = generate(60)
    ids = tuple(map(str, range(60)))
    raw = Dataset(data.images, data.labels, ids, CIFAR10_CLASSES, tmp_path, "x", 60)
    check = check_preprocessing(host, pre, raw)
    assert {(s.channel_order, s.quantization) for s in check.scores} == {
        ("rgb", "model"), ("bgr", "model"), ("rgb", "scaled"), ("bgr", "scaled"),
    }  # fmt: skip
    assert check.warning is None and check.best.quantization == "model"
    scaled = replace(pre, mean=(0.0,), norm_scale=(1 / 255,))
    answers = host.run(preprocess(scaled, data.images)).top1  # as if it took 0..1
    flagged = check_preprocessing(host, pre, replace(raw, labels=answers.astype(np.int64)))
    assert flagged.best.name == "RGB + pixels scaled to 0..1"
    assert flagged.warning is not None and flagged.warning.endswith(
        "give it models.yaml mean: 0, scale: 0.00392156862745098 (1/255)"
    )
    # a models.yaml normalisation the float model does not take: raw pixels score better
    wrong = replace(pre, mean=(127.5,), norm_scale=(1 / 127.5,))
    told = check_preprocessing(host, wrong, raw)
    assert told.best.name == "RGB + raw pixels 0..255"
    assert told.warning is not None and told.warning.endswith("drop models.yaml mean and scale")
