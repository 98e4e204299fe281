"""A test data set for accuracy: labelled images, and its stratified sample (`--limit`).

Images are uint8 RGB, height x width x 3 (HWC); labels are class numbers. Reading the formats
on disk is dataset_readers.py's work.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from imxbench.errors import ConfigError

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
SAMPLE_SEED = 0
"""The fixed seed of `--limit`'s stratified sample: the same images on every run."""


@dataclass(frozen=True)
class Dataset:
    """Labelled images: `images` uint8 (N, H, W, 3) in RGB order, `labels` int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    """One name per image (file name, or `file[index]`), for per-image reports."""
    class_names: tuple[str, ...]
    source: Path
    format: str
    total: int
    """Images in the data set before any sample was taken."""
    declared_classes: int | None = None
    """The class count the data set states itself (ic01's classes column, CIFAR-10's ten or
    its batches.meta); None when only its labels tell."""
    named: bool = False
    """`class_names` come from the data set itself (CIFAR-10's batches, class folders named
    by class), so its labels can be matched by name to a model's own class names."""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def height_width(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def subset(self, indices: np.ndarray) -> Dataset:
        chosen = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            images=self.images[chosen],
            labels=self.labels[chosen],
            ids=tuple(self.ids[i] for i in chosen),
        )

    def describe(self) -> dict[str, Any]:
        height, width = self.height_width
        return {
            "path": str(self.source),
            "format": self.format,
            "images": len(self),
            "images_in_dataset": self.total,
            "image_size": [height, width],
            "class_names": list(self.class_names),
            "images_per_class": np.bincount(self.labels, minlength=len(self.class_names)).tolist(),
        }


def stratified_sample(dataset: Dataset, limit: int, seed: int = SAMPLE_SEED) -> Dataset:
    """`limit` images keeping each class's share (largest remainders), in data-set order.

    The same data set, limit and seed give the same images every time.
    """
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if limit >= len(dataset):
        return dataset
    classes, counts = np.unique(dataset.labels, return_counts=True)
    exact = counts * limit / len(dataset)
    take = np.floor(exact).astype(np.int64)
    short = limit - int(take.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - take[i]), int(classes[i])))
    for i in order[:short]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(dataset.labels == label), size=int(n), replace=False)
        for label, n in zip(classes, take, strict=True)
        if n
    ]
    return dataset.subset(np.sort(np.concatenate(chosen)))


def with_model_labels(dataset: Dataset, names: tuple[str, ...]) -> Dataset:
    """`dataset` with the model's class names (models.yaml `labels`, in the model's output
    order). A data set that names its classes has its labels matched by name (case aside), so a
    model whose classes are in another order is scored right; ConfigError when one of its
    classes is not among the model's. Numbered classes are taken as the model's numbers."""
    if not dataset.named:
        return replace(dataset, class_names=names)
    index = {name.strip().lower(): i for i, name in enumerate(names)}
    mapping = np.full(len(dataset.class_names), -1, dtype=np.int64)
    for number, name in enumerate(dataset.class_names):
        mapping[number] = index.get(name.strip().lower(), -1)
    used = np.unique(dataset.labels)
    missing = [dataset.class_names[int(c)] for c in used if mapping[c] < 0]
    if missing:
        raise ConfigError(
            f"{dataset.source}: the data set's class '{missing[0]}' is not among the model's "
            f"labels ({', '.join(names)})",
            "name the model's classes as the data set does (models.yaml labels), or give the "
            "data set with class numbers",
        )
    return replace(dataset, labels=mapping[dataset.labels], class_names=names)


def class_names(count: int) -> tuple[str, ...]:
    """CIFAR-10's names for up to 10 classes; class numbers for more."""
    if count <= len(CIFAR10_CLASSES):
        return CIFAR10_CLASSES
    return tuple(str(i) for i in range(count))
