"""The preprocessing sanity check: is the configured preprocessing the best one?

On a small stratified subset, the model runs on the host with every variant of channel order
(RGB, BGR) and quantization (the model's, a naive cast). A float model has no cast, but its
input range is not in the file: it tries pixels / 255 and, given a mean/scale, raw pixels.
When another variant beats the configured one clearly, a warning says so: a data set stored as
BGR costs the MLPerf Tiny ResNet-8 about 13 points of top-1 (models/README.md), and NXP's own
model-zoo figure for it (0.75 int8 vs 0.87 float) most likely comes from exactly that mistake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from imxbench.accuracy.datasets import Dataset, stratified_sample
from imxbench.accuracy.host_reference import HostModel
from imxbench.accuracy.preprocess import CHANNEL_ORDERS, Preprocessing, preprocess

SANITY_IMAGES = 200
SCALED = "scaled"
"""The variant x = p / 255 of a float model (a float input's range is not in the file)."""
RAW = "raw"
"""The variant x = p of a float model given a mean/scale in models.yaml."""
MARGIN_IMAGES = 2
MARGIN_SHARE = 0.02
"""A variant is "clearly better" when it gets more than max(2 images, 2% of the subset) right."""


@dataclass(frozen=True)
class VariantScore:
    channel_order: str
    quantization: str
    images: int
    top1_correct: int

    @property
    def top1(self) -> float:
        return self.top1_correct / self.images if self.images else 0.0

    @property
    def name(self) -> str:
        if self.quantization == SCALED:
            return f"{self.channel_order.upper()} + pixels scaled to 0..1"
        if self.quantization == RAW:
            return f"{self.channel_order.upper()} + raw pixels 0..255"
        return f"{self.channel_order.upper()} + {self.quantization} quantization"

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel_order": self.channel_order,
            "quantization": self.quantization,
            "images": self.images,
            "top1_correct": self.top1_correct,
            "top1": self.top1,
        }


@dataclass(frozen=True)
class SanityCheck:
    configured: VariantScore
    scores: tuple[VariantScore, ...]
    best: VariantScore
    warning: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "configured": self.configured.as_dict(),
            "best": self.best.as_dict(),
            "variants": [s.as_dict() for s in self.scores],
            "warning": self.warning,
        }


def check_preprocessing(
    model: HostModel,
    pre: Preprocessing,
    dataset: Dataset,
    images: int = SANITY_IMAGES,
) -> SanityCheck:
    """Score every preprocessing variant on `images` images of `dataset` (host CPU)."""
    subset = stratified_sample(dataset, images) if len(dataset) > images else dataset
    quantizations: tuple[str, ...] = ("model", "cast") if pre.dtype != "float32" else ("model",)
    if pre.dtype == "float32":  # a float input's range is not in the file: try 0..1 (and 0..255)
        quantizations += (SCALED, RAW) if pre.normalised else (SCALED,)
    scores = []
    for order in CHANNEL_ORDERS:
        for quantization in quantizations:
            variant = pre.variant(order, quantization)
            if quantization in (SCALED, RAW):
                norm = ((0.0,), (1 / 255,)) if quantization == SCALED else (None, None)
                variant = replace(pre.variant(order, "model"), mean=norm[0], norm_scale=norm[1])
            predicted = model.run(preprocess(variant, subset.images)).top1
            correct = int(np.sum(predicted == subset.labels))
            scores.append(VariantScore(order, quantization, len(subset), correct))
    return judge(pre, tuple(scores))


def judge(pre: Preprocessing, scores: tuple[VariantScore, ...]) -> SanityCheck:
    """Pick the best variant and word the warning when it is not the configured one."""
    configured = next(
        s
        for s in scores
        if s.channel_order == pre.channel_order and s.quantization == pre.quantization
    )
    best = max(scores, key=lambda s: (s.top1_correct, s is configured))
    margin = max(MARGIN_IMAGES, math.ceil(MARGIN_SHARE * configured.images))
    warning = None
    if best.top1_correct - configured.top1_correct > margin:
        warning = (
            f"the configured preprocessing ({configured.name}) scores {configured.top1:.1%} "
            f"top-1 on {configured.images} images, but {best.name} scores {best.top1:.1%}"
            f"{_hint(configured, best)}"
        )
    return SanityCheck(configured, scores, best, warning)


def _hint(configured: VariantScore, best: VariantScore) -> str:
    if best.quantization == SCALED:
        return (
            "; the float model seems to take pixels scaled to 0..1: give it models.yaml "
            "mean: 0, scale: 0.00392156862745098 (1/255)"
        )
    if best.quantization == RAW:
        return "; the float model seems to take raw pixels 0..255: drop models.yaml mean and scale"
    if best.channel_order != configured.channel_order:
        return (
            f"; the model fits {best.channel_order.upper()} input better (images read with "
            f"OpenCV are BGR): rerun with --channel-order {best.channel_order}"
        )
    return "; are the pixels in the range the model's quantization expects?"
