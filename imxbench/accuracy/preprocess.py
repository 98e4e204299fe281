"""Turning uint8 RGB images into a model's input tensor, read from the model itself.

The input tensor's shape, dtype and quantization (scale s, zero point z) decide everything:

* int8 / uint8 with quantization: q = clip(round(p / s) + z, dtype range), rounding half away
  from zero (as TFLite's QUANTIZE does); for the MLPerf Tiny reference model (s = 1, z = -128)
  that is exactly q = p - 128.
* uint8 without quantization: the raw pixels.
* float32: the raw pixel values 0..255 as floats (what the MLPerf Tiny float model expects; a
  float model's normalisation is not written in the file, so this is the one assumption).

A model's normalisation is not written in the .tflite file: models.yaml may give it, `mean` and
`scale` (one value or one per channel, R G B): x = (p - mean) * scale, then the mapping above
on x (float32: x itself; int8/uint8 with quantization: q = clip(round(x / s) + z)).
A quantized input tells its float range, (q_min - z) * s .. (q_max - z) * s: when the pixels'
values (raw, or after mean/scale) miss it by half (e.g. a uint8 input with s = 1/128, z = 128
takes -1..1, not 0..255), it is a ConfigError naming both ranges, never images clipped to a few
levels. A float input's range is not in the file (the sanity check tries pixels / 255 too,
and raw pixels when a mean/scale is given).

The channel order is an option (`rgb`, the data sets' order, or `bgr`). The "cast" quantization
(`p.astype(dtype)`, wrapping around) exists only for the preprocessing sanity check: it is the
common mistake of ignoring the model's quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from imxbench.analysis.model_info import ModelInfo
from imxbench.errors import ConfigError

CHANNEL_ORDERS = ("rgb", "bgr")
QUANTIZATIONS = ("model", "cast")
_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
SUPPORTED_DTYPES = ("int8", "uint8", "float32")


@dataclass(frozen=True)
class Preprocessing:
    """How images become input tensors for one model (see the module docstring)."""

    input_name: str
    input_shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None
    channel_order: str = "rgb"
    quantization: str = "model"
    mean: tuple[float, ...] | None = None
    """models.yaml's normalisation (module docstring): x = (p - mean) * norm_scale."""
    norm_scale: tuple[float, ...] | None = None

    @property
    def normalised(self) -> bool:
        return self.mean is not None or self.norm_scale is not None

    @property
    def height_width(self) -> tuple[int, int]:
        return self.input_shape[1], self.input_shape[2]

    @property
    def is_quantized(self) -> bool:
        return self.dtype in _INT_RANGES and self.scale is not None and self.scale != 0.0

    def variant(self, channel_order: str, quantization: str) -> Preprocessing:
        return replace(self, channel_order=channel_order, quantization=quantization)

    def formula(self) -> str:
        """The per-pixel mapping, e.g. `q = clip(round(p / 1) + -128, -128, 127) = p - 128`."""
        if self.normalised:
            return self._normalised_formula()
        if self.dtype == "float32":
            return "x = float(p), raw pixel values 0..255"
        if self.quantization == "cast":
            return f"q = p cast to {self.dtype} (wrapping; ignores the model's quantization)"
        if not self.is_quantized:
            return "q = p, raw uint8 pixels (the input has no quantization)"
        assert self.scale is not None and self.zero_point is not None
        low, high = _INT_RANGES[self.dtype]
        shift = f"{'-' if self.zero_point < 0 else '+'} {abs(self.zero_point)}"
        text = f"q = clip(round(p / {self.scale:g}) {shift}, {low}, {high})"
        if self.scale == 1.0 and low <= self.zero_point and 255 + self.zero_point <= high:
            text += f" = p {shift}"  # no rounding, no clipping: e.g. the reference model's p - 128
        return text

    def _normalised_formula(self) -> str:
        def values(v: tuple[float, ...] | None, default: float) -> str:
            v = v or (default,)
            return f"{v[0]:g}" if len(v) == 1 else "(" + ", ".join(f"{x:g}" for x in v) + ")"

        x = f"x = (p - {values(self.mean, 0.0)}) * {values(self.norm_scale, 1.0)}"
        if self.dtype == "float32" or self.quantization == "cast":
            return x if self.dtype == "float32" else f"{x}; q = x cast to {self.dtype}"
        assert self.scale is not None and self.zero_point is not None
        low, high = _INT_RANGES[self.dtype]
        return f"{x}; q = clip(round(x / {self.scale:g}) + {self.zero_point}, {low}, {high})"

    def describe(self) -> str:
        """One sentence for reports: order, mapping and the tensor it feeds."""
        shape = "x".join(str(d) for d in self.input_shape)
        return (
            f"{self.channel_order.upper()} uint8 pixels p -> {self.dtype} input "
            f"'{self.input_name}' [{shape}]: {self.formula()}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_name": self.input_name,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
            "channel_order": self.channel_order,
            "quantization": self.quantization,
            "mean": list(self.mean) if self.mean is not None else None,
            "norm_scale": list(self.norm_scale) if self.norm_scale is not None else None,
            "formula": self.formula(),
            "description": self.describe(),
        }


def preprocessing_for(
    info: ModelInfo,
    channel_order: str = "rgb",
    mean: tuple[float, ...] | None = None,
    norm_scale: tuple[float, ...] | None = None,
) -> Preprocessing:
    """The preprocessing the model's (single, NHWC, 3-channel) input tensor asks for;
    `mean`/`norm_scale`: models.yaml's normalisation (float or quantized inputs only)."""
    if channel_order not in CHANNEL_ORDERS:
        raise ConfigError(f"channel order must be one of {', '.join(CHANNEL_ORDERS)}")
    if len(info.inputs) != 1:
        raise ConfigError(
            f"{info.path}: accuracy needs a model with one input, this one has {len(info.inputs)}"
        )
    tensor = info.inputs[0]
    shape = tuple(int(d) for d in tensor.shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] < 1 or shape[2] < 1:
        raise ConfigError(
            f"{info.path}: input '{tensor.name}' has shape {list(shape)}; accuracy needs an "
            "image input [1, height, width, 3]"
        )
    if tensor.dtype not in SUPPORTED_DTYPES:
        raise ConfigError(
            f"{info.path}: input '{tensor.name}' is {tensor.dtype}; accuracy supports "
            f"{', '.join(SUPPORTED_DTYPES)} inputs"
        )
    if tensor.dtype == "int8" and not tensor.is_quantized:
        raise ConfigError(
            f"{info.path}: int8 input '{tensor.name}' has no quantization parameters: "
            "how pixels map to it is unknown"
        )
    pre = Preprocessing(
        input_name=tensor.name,
        input_shape=(1, shape[1], shape[2], 3),
        dtype=tensor.dtype,
        scale=tensor.scale,
        zero_point=tensor.zero_point,
        channel_order=channel_order,
        mean=mean,
        norm_scale=norm_scale,
    )
    if pre.normalised and pre.dtype != "float32" and not pre.is_quantized:
        raise ConfigError(
            f"{info.path}: input '{tensor.name}' takes raw {tensor.dtype} pixels (no "
            "quantization): mean and scale cannot apply to it"
        )
    if pre.is_quantized:
        _check_value_range(pre, info.path)
    return pre


MIN_RANGE_SHARE = 0.5
"""The input values the pixels map to and the values the input's quantization represents must
overlap on at least this share of each: otherwise the model takes another normalisation (e.g. a
uint8 input with scale 1/128, zero point 128 takes (p - 128) / 128, not p) and every image would
clip to a few levels: a plausible, wrong accuracy."""


def _check_value_range(pre: Preprocessing, path: Path) -> None:
    """ConfigError when the pixels' values (after mean/scale) miss the input's float range."""
    assert pre.scale is not None and pre.zero_point is not None
    low_q, high_q = _INT_RANGES[pre.dtype]
    ends_q = ((low_q - pre.zero_point) * pre.scale, (high_q - pre.zero_point) * pre.scale)
    low, high = min(ends_q), max(ends_q)
    mean = np.asarray(pre.mean or (0.0,), dtype=np.float64)
    scale = np.asarray(pre.norm_scale or (1.0,), dtype=np.float64)
    ends = np.concatenate([(0.0 - mean) * scale, (255.0 - mean) * scale])
    x_low, x_high = float(ends.min()), float(ends.max())
    overlap = max(0.0, min(high, x_high) - max(low, x_low))
    if overlap >= MIN_RANGE_SHARE * (x_high - x_low) and overlap >= MIN_RANGE_SHARE * (high - low):
        return
    given = "with models.yaml's mean and scale" if pre.normalised else "raw, no mean/scale"
    raise ConfigError(
        f"{path}: input '{pre.input_name}' ({pre.dtype}, scale {pre.scale:g}, zero point "
        f"{pre.zero_point}) represents values {low:g}..{high:g}, but the pixels map to "
        f"{x_low:g}..{x_high:g} ({given}): the model expects another normalisation",
        f"give models.yaml a mean and scale (x = (p - mean) * scale) that map 0..255 into "
        f"{low:g}..{high:g}",
    )


def preprocess(pre: Preprocessing, images: np.ndarray) -> np.ndarray:
    """uint8 RGB images (N, H, W, 3) -> the model's input values (N, H, W, 3) in its dtype."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ConfigError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    height, width = pre.height_width
    if images.shape[1:3] != (height, width):
        raise ConfigError(
            f"the data set's images are {images.shape[2]}x{images.shape[1]} pixels but input "
            f"'{pre.input_name}' takes {width}x{height}; resize them first"
        )
    pixels = images[..., ::-1] if pre.channel_order == "bgr" else images
    if pre.normalised:
        return _normalised(pre, pixels)
    if pre.dtype == "float32":
        return np.ascontiguousarray(pixels, dtype=np.float32)
    if pre.quantization == "cast" or not pre.is_quantized:
        return np.ascontiguousarray(pixels.astype(np.dtype(pre.dtype)))
    assert pre.scale is not None and pre.zero_point is not None
    scaled = pixels.astype(np.float64) / pre.scale
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)  # half away from zero
    low, high = _INT_RANGES[pre.dtype]
    quantized = np.clip(rounded + pre.zero_point, low, high)
    return np.ascontiguousarray(quantized.astype(np.dtype(pre.dtype)))


def _normalised(pre: Preprocessing, pixels: np.ndarray) -> np.ndarray:
    """x = (p - mean) * norm_scale per channel, then the input's dtype (module docstring)."""
    mean = np.asarray(pre.mean or (0.0,), dtype=np.float64)
    scale = np.asarray(pre.norm_scale or (1.0,), dtype=np.float64)
    x = (pixels.astype(np.float64) - mean) * scale
    if pre.dtype == "float32":
        return np.ascontiguousarray(x, dtype=np.float32)
    if pre.quantization == "cast":
        return np.ascontiguousarray(x.astype(np.int64).astype(np.dtype(pre.dtype)))
    assert pre.scale is not None and pre.zero_point is not None
    scaled = x / pre.scale
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    low, high = _INT_RANGES[pre.dtype]
    quantized = np.clip(rounded + pre.zero_point, low, high)
    return np.ascontiguousarray(quantized.astype(np.dtype(pre.dtype)))
