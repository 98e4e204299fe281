"""Small generated test sets in every format imxbench reads (no CIFAR image is shipped).

Images are smooth random colour fields (a 4x4 grid of random colours, bilinearly enlarged to
32x32, plus noise). Their labels are the reference model's own top-1 class on the RGB image,
computed here independently of imxbench (LiteRT directly, q = p - 128), with a fixed share of
labels then changed to another class, so accuracy is neither 0 nor 100%. Feeding these images
as BGR changes about half of the model's answers: what the preprocessing sanity check needs.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
CLASSES = (
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


@dataclass(frozen=True)
class Generated:
    images: np.ndarray  # uint8 (N, 32, 32, 3), RGB
    labels: np.ndarray  # int64 (N,)
    model_top1: np.ndarray  # the reference model's top-1 on each RGB image (LiteRT, direct)


def smooth_images(count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (count, 4, 4, 3)).astype(np.float64)
    pos = np.linspace(0, 3, 32)
    lo = np.clip(np.floor(pos).astype(int), 0, 2)
    frac = pos - lo
    rows = (
        grid[:, lo] * (1 - frac)[None, :, None, None] + grid[:, lo + 1] * frac[None, :, None, None]
    )
    image = (
        rows[:, :, lo] * (1 - frac)[None, None, :, None]
        + rows[:, :, lo + 1] * frac[None, None, :, None]
    )
    image += rng.normal(0, 10, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def model_outputs(images: np.ndarray) -> np.ndarray:
    """The reference model's int8 outputs for RGB images, straight from LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(MODEL))
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    out = np.empty((len(images), 10), dtype=np.int8)
    for i, image in enumerate(images):
        interpreter.set_tensor(
            source["index"], (image.astype(np.int16) - 128).astype(np.int8)[None]
        )
        interpreter.invoke()
        out[i] = interpreter.get_tensor(target["index"])[0]
    return out


def generate(count: int, wrong_share: float = 0.3, seed: int = 1) -> Generated:
    images = smooth_images(count, seed)
    top1 = model_outputs(images).argmax(axis=1)
    rng = np.random.default_rng(seed + 1000)
    labels = top1.astype(np.int64).copy()
    wrong = rng.random(count) < wrong_share
    labels[wrong] = (labels[wrong] + rng.integers(1, 10, int(wrong.sum()))) % 10
    return Generated(images, labels, top1)


# -- writers: each returns the path to give --dataset and the image id of each generated image --
def write_cifar(folder: Path, data: Generated) -> tuple[Path, list[str]]:
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    names = [f"gen_{i:04d}.png" for i in range(len(data.labels))]
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(v) for v in data.labels],
        b"data": data.images.transpose(0, 3, 1, 2).reshape(len(data.labels), -1),
        b"filenames": [n.encode() for n in names],
    }
    with (batches / "test_batch").open("wb") as fh:
        pickle.dump(batch, fh, protocol=2)
    with (batches / "batches.meta").open("wb") as fh:
        pickle.dump({b"label_names": [c.encode() for c in CLASSES]}, fh, protocol=2)
    return folder, names


def write_ic01(folder: Path, data: Generated) -> tuple[Path, list[str]]:
    folder.mkdir(parents=True)
    names = [f"gen_{i:04d}.bin" for i in range(len(data.labels))]
    with (folder / "y_labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        for name, image, label in zip(names, data.images, data.labels, strict=True):
            (folder / name).write_bytes(image.tobytes())  # HWC, RGB interleaved
            writer.writerow([name, 10, int(label)])
    return folder, names


def write_npy(folder: Path, data: Generated, bgr: bool = False) -> tuple[Path, list[str]]:
    folder.mkdir(parents=True)
    images = data.images[..., ::-1] if bgr else data.images
    np.save(folder / "x_test_ic.npy", np.ascontiguousarray(images))
    np.save(folder / "y_test_ic.npy", data.labels)
    return folder, [f"x_test_ic.npy[{i}]" for i in range(len(data.labels))]


def write_image_folder(folder: Path, data: Generated) -> tuple[Path, list[str]]:
    from PIL import Image

    names = []
    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        sub = folder / CLASSES[int(label)]
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "RGB").save(sub / f"gen_{i:04d}.png")
        names.append(f"{CLASSES[int(label)]}/gen_{i:04d}.png")
    return folder, names


WRITERS = {
    "cifar10-python": write_cifar,
    "ic01": write_ic01,
    "npy-pair": write_npy,
    "image-folder": write_image_folder,
}
