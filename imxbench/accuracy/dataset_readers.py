"""Reading test data sets from disk: detect the format, read it into a Dataset (datasets.py).

A data set is labelled uint8 RGB images, height x width x 3 (HWC). Four layouts are read:

* `cifar10-python` -- CIFAR-10's python batches: `cifar-10-batches-py/test_batch` (a pickled
  dict with `data`, N x 3072 uint8 as 1024 R, 1024 G, 1024 B per image, and `labels`); the
  folder, the batch file or a folder holding `cifar-10-batches-py/` may be given. Batches are
  unpickled with an allow-list (dict, list, numpy arrays only): a pickle can run code.
* `ic01` -- the EEMBC / MLPerf Tiny image-classification set: `*.bin` files of 32 x 32 x 3
  uint8, RGB interleaved (HWC), listed in `y_labels.csv` rows `file,classes,label`.
* `npy-pair` -- `x*.npy` images (N x H x W x 3, or N x 3 x H x W) with `y*.npy` labels
  (N, N x 1, or one-hot N x C), e.g. `x_test_ic.npy` / `y_test_ic.npy`; the folder or the x file
  may be given. Non-uint8 pixels must be whole numbers in 0..255.
* `image-folder` -- one sub-folder per class (CIFAR-10 class names or class numbers), holding
  image files (PNG, JPEG, BMP, ...) all of the same size.

Every problem is a one-line ConfigError naming the path, file or row. Inputs are bounded: labels
must be class numbers below the model's class count (`classes`; MAX_CLASSES without one) before
anything is sized by them, and images larger than MAX_IMAGE_PIXELS are refused undecoded
(Pillow's decompression-bomb check, its warning made an error).
"""

from __future__ import annotations

import csv
import io
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from imxbench.accuracy.datasets import (
    CIFAR10_CLASSES,
    SAMPLE_SEED,
    Dataset,
    class_names,
    stratified_sample,
)
from imxbench.errors import ConfigError

FORMATS = ("cifar10-python", "ic01", "npy-pair", "image-folder")
IC01_SIDE = 32
IC01_BYTES = IC01_SIDE * IC01_SIDE * 3
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff"}
)
MAX_CLASSES = 100_000
"""Labels at or above this are refused even when the model's class count is not known (a label
of 2**40 would otherwise size class tables of that many entries)."""
EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
"""Pillow image modes of 8-bit pixels: others (I;16, I, F) are refused, not clipped to 0..255."""
MAX_IMAGE_PIXELS = 16_000_000
"""The largest image (width x height) read from an image folder: classification test images are
small; a larger one is refused as a decompression bomb before it is decoded."""


def load_dataset(
    path: Path, limit: int | None = None, seed: int = SAMPLE_SEED, classes: int | None = None
) -> Dataset:
    """Read the data set at `path` (format detected); with `limit`, a stratified sample.

    `classes`: the model's class count; every label must be below it (ConfigError naming the
    file and the label otherwise), checked before anything is sized by the labels."""
    fmt, where = detect_format(Path(path))
    reader = {
        "cifar10-python": _read_cifar,
        "ic01": _read_ic01,
        "npy-pair": _read_npy_pair,
        "image-folder": _read_image_folder,
    }[fmt]
    bound = MAX_CLASSES if classes is None else min(classes, MAX_CLASSES)
    dataset = reader(where, bound)
    if len(dataset) == 0:
        raise ConfigError(f"{where}: the data set holds no images")
    declared = dataset.declared_classes
    if classes is not None and declared is not None and declared != classes:
        raise ConfigError(
            f"{where}: a data set of {declared} classes, but the model has {classes} output "
            "classes: not its test set"
        )
    return dataset if limit is None else stratified_sample(dataset, limit, seed)


def detect_format(path: Path) -> tuple[str, Path]:
    """(format, the file or folder to read) for `path`; ConfigError when it is none of them."""
    if not path.exists():
        raise ConfigError(f"{path}: data set not found (--dataset)")
    if path.is_file():
        if path.name == "y_labels.csv":
            return "ic01", path.parent
        if path.suffix == ".npy":
            return "npy-pair", path
        if _is_pickle(path):
            return "cifar10-python", path
        raise ConfigError(
            f"{path}: not a data set file (expected a CIFAR-10 python batch such as test_batch, "
            "an x .npy file or y_labels.csv)"
        )
    if (path / "test_batch").is_file():
        return "cifar10-python", path / "test_batch"
    if (path / "cifar-10-batches-py" / "test_batch").is_file():
        return "cifar10-python", path / "cifar-10-batches-py" / "test_batch"
    if (path / "y_labels.csv").is_file():
        return "ic01", path
    if _npy_pairs(path):
        return "npy-pair", path
    if any(_image_files(d) for d in _class_dirs(path)):
        return "image-folder", path
    raise ConfigError(
        f"{path}: no data set found (looked for cifar-10-batches-py/test_batch, y_labels.csv "
        "with .bin files, x*.npy with y*.npy, and class folders of images)"
    )


# -- CIFAR-10 python batches -------------------------------------------------------------------
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocol 2 pickles
}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; refuses every other class."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def _is_pickle(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(1) == b"\x80"


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = _ArraysOnly(fh, encoding="bytes").load()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # a damaged or hostile pickle fails in many ways
        raise ConfigError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a CIFAR-10 python batch (no dict inside)")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in data.items()}


def _read_cifar(batch: Path, bound: int) -> Dataset:
    data = _unpickle(batch)
    if "data" not in data or "labels" not in data:
        missing = [k for k in ("data", "labels") if k not in data]
        raise ConfigError(f"{batch}: not a CIFAR-10 python batch (no {' or '.join(missing)})")
    try:
        values = np.asarray(data["data"])
        labels = np.asarray(data["labels"], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{batch}: malformed CIFAR-10 batch ({exc})") from None
    raw = _whole_pixels(values, f"{batch}: 'data'")  # a cast would wrap 256 and floor 0..1
    if raw.ndim != 2 or raw.shape[1] != IC01_BYTES:
        raise ConfigError(
            f"{batch}: 'data' has shape {raw.shape}, expected N x {IC01_BYTES} (32x32x3 uint8)"
        )
    if len(labels) != len(raw):
        raise ConfigError(f"{batch}: {len(raw)} images but {len(labels)} labels")
    split = data.get("batch_label")
    split = split.decode("utf-8", "replace") if isinstance(split, bytes) else str(split or "")
    if split.lower().startswith("training"):  # data_batch_N: images the model was trained on
        raise ConfigError(
            f"{batch}: a training batch ({split!r}); accuracy is measured on the test split "
            "(test_batch)"
        )
    names = _cifar_meta_names(batch.parent / "batches.meta") or CIFAR10_CLASSES
    _check_labels(labels, min(len(names), bound), str(batch))
    images = raw.reshape(-1, 3, IC01_SIDE, IC01_SIDE).transpose(0, 2, 3, 1)
    files = data.get("filenames")
    if isinstance(files, list) and len(files) == len(raw):
        ids = tuple(f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in files)
    else:
        ids = tuple(f"{batch.name}[{i}]" for i in range(len(raw)))
    return Dataset(
        np.ascontiguousarray(images), labels, ids, names, batch, "cifar10-python", len(labels),
        declared_classes=len(names), named=True,
    )  # fmt: skip


def _cifar_meta_names(meta: Path) -> tuple[str, ...] | None:
    if not meta.is_file():
        return None
    names = _unpickle(meta).get("label_names")
    if not isinstance(names, list) or not names:
        raise ConfigError(f"{meta}: no label_names list")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names)


# -- EEMBC / MLPerf Tiny ic01 -------------------------------------------------------------------
def _read_ic01(folder: Path, bound: int) -> Dataset:
    labels_csv = folder / "y_labels.csv"
    try:
        text = labels_csv.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{labels_csv}: cannot read: {exc.strerror or exc}") from None
    images: list[np.ndarray] = []
    labels: list[int] = []
    ids: list[str] = []
    classes: int | None = None
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        fields = [f.strip() for f in row]
        if not any(fields):
            continue
        where = f"{labels_csv}:{number}"
        if len(fields) != 3 or not fields[0]:
            if number == 1 and len(fields) == 3 and not fields[2].lstrip("-").isdigit():
                continue  # a header row
            raise ConfigError(f"{where}: expected 'file,classes,label', got {','.join(row)!r}")
        name, count, label = fields
        if "/" in name or "\\" in name or name in (".", ".."):
            raise ConfigError(f"{where}: {name!r}: a file name in the folder is expected")
        if not count.isdigit() or not label.lstrip("-").isdigit():
            raise ConfigError(
                f"{where}: classes and label must be integers, got {count!r}, {label!r}"
            )
        if classes is None:
            classes = int(count)
            if classes > bound:
                raise ConfigError(f"{where}: {count} classes; the model has at most {bound}")
        elif int(count) != classes:
            raise ConfigError(f"{where}: {count} classes, earlier rows say {classes}")
        if not 0 <= int(label) < classes:
            raise ConfigError(f"{where}: label {label} is not in 0..{classes - 1}")
        images.append(_read_bin(folder / name, where))
        labels.append(int(label))
        ids.append(name)
    if not labels:
        raise ConfigError(f"{labels_csv}: no rows")
    assert classes is not None
    return Dataset(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        tuple(ids),
        class_names(classes),
        folder,
        "ic01",
        len(labels),
        declared_classes=classes,
    )


def _read_bin(path: Path, where: str) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: {path.name}: cannot read: {exc.strerror or exc}") from None
    if len(data) != IC01_BYTES:
        raise ConfigError(
            f"{where}: {path.name}: {len(data)} bytes, expected {IC01_BYTES} (32x32x3 uint8 RGB)"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(IC01_SIDE, IC01_SIDE, 3)


# -- x / y .npy pairs ---------------------------------------------------------------------------
def _npy_pairs(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for x in sorted(folder.glob("x*.npy")):
        y = x.with_name("y" + x.name[1:])
        if y.is_file():
            pairs.append((x, y))
    return pairs


def _read_npy_pair(where: Path, bound: int) -> Dataset:
    if where.is_file():
        if not where.name.startswith("x"):
            raise ConfigError(f"{where}: name the images file (x*.npy); its labels are y*.npy")
        y = where.with_name("y" + where.name[1:])
        if not y.is_file():
            raise ConfigError(f"{where}: labels file {y.name} not found beside it")
        x = where
    else:
        pairs = _npy_pairs(where)
        if len(pairs) > 1:
            listed = ", ".join(p[0].name for p in pairs)
            raise ConfigError(f"{where}: several x/y .npy pairs ({listed}); name one x file")
        x, y = pairs[0]
    images = _pixels(_load_npy(x), x)
    raw_labels = _load_npy(y)
    labels = _labels(raw_labels, y, len(images))
    _check_labels(labels, bound, str(y))
    ids = tuple(f"{x.name}[{i}]" for i in range(len(images)))
    names = class_names(int(labels.max()) + 1)
    one_hot = raw_labels.ndim == 2 and raw_labels.shape[1] > 1  # its width is the class count
    declared = int(raw_labels.shape[1]) if one_hot else None
    return Dataset(
        images, labels, ids, names, x, "npy-pair", len(labels), declared_classes=declared
    )


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{path}: not a readable .npy array ({_first_line(exc)})") from None


def _pixels(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] != 3 and x.shape[1] == 3:
        x = x.transpose(0, 2, 3, 1)  # N x 3 x H x W
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ConfigError(f"{path}: images have shape {x.shape}, expected N x H x W x 3")
    return _whole_pixels(x, f"{path}: images")


def _whole_pixels(x: np.ndarray, what: str) -> np.ndarray:
    """`x` as uint8, when it holds whole pixel values 0..255 (ConfigError otherwise)."""
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ConfigError(f"{what} are {x.dtype}, expected uint8 pixels")
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if low < 0 or high > 255 or not np.all(np.mod(x, 1) == 0):
        hint = "; pixels scaled to 0..1?" if high <= 1.0 else ""
        raise ConfigError(
            f"{what}: {x.dtype} values must be whole pixel values 0..255 "
            f"(found {low:g}..{high:g}{hint})"
        )
    return np.ascontiguousarray(x.astype(np.uint8))


def _labels(y: np.ndarray, path: Path, count: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
            raise ConfigError(
                f"{path}: labels are N x {y.shape[1]} but not one-hot (a single 1 per row)"
            )
        y = y.argmax(axis=1)  # one-hot
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or not (
        np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
    ):
        raise ConfigError(f"{path}: labels have shape {y.shape} ({y.dtype}), expected N integers")
    if len(y) != count:
        raise ConfigError(f"{path}: {len(y)} labels for {count} images")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0):
        raise ConfigError(f"{path}: labels must be whole class numbers")
    labels = y.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise ConfigError(f"{path}: negative label {int(labels.min())}")
    return labels


# -- a folder of class folders -----------------------------------------------------------------
def _class_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )


def _read_image_folder(folder: Path, bound: int) -> Dataset:
    dirs = [d for d in _class_dirs(folder) if _image_files(d)]
    label_of = _folder_labels(folder, [d.name for d in dirs])
    for name, label in label_of.items():
        if label >= bound:
            raise ConfigError(f"{folder / name}: label {label} is not in 0..{bound - 1}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    ids: list[str] = []
    for d in dirs:
        for file in _image_files(d):
            pixels = _read_image(file)
            if images and pixels.shape != images[0].shape:
                raise ConfigError(
                    f"{file}: {pixels.shape[1]}x{pixels.shape[0]} pixels, but {ids[0]} is "
                    f"{images[0].shape[1]}x{images[0].shape[0]}; all images must be one size"
                )
            images.append(pixels)
            labels.append(label_of[d.name])
            ids.append(f"{d.name}/{file.name}")
    return Dataset(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        tuple(ids),
        class_names(max(labels) + 1),
        folder,
        "image-folder",
        len(labels),
        named=not all(_NUMBERED.match(d.name) for d in dirs),
    )


_NUMBERED = re.compile(r"\d+\Z")


def _folder_labels(folder: Path, names: list[str]) -> dict[str, int]:
    """Class folder name -> label: CIFAR-10 class names, or class numbers."""
    if all(n.lower() in CIFAR10_CLASSES for n in names):
        return {n: CIFAR10_CLASSES.index(n.lower()) for n in names}
    if all(_NUMBERED.match(n) for n in names):
        return {n: int(n) for n in names}
    odd = next(n for n in names if n.lower() not in CIFAR10_CLASSES and not _NUMBERED.match(n))
    raise ConfigError(
        f"{folder / odd}: class folder names must be CIFAR-10 classes "
        f"({', '.join(CIFAR10_CLASSES)}) or class numbers"
    )


def _read_image(path: Path) -> np.ndarray:
    import warnings

    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's bomb check, at our (lower) cap
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.mode not in EIGHT_BIT_MODES:  # convert() would clip 16-bit, floor float
                    raise ConfigError(
                        f"{path}: {image.mode} pixels (16-bit or float); 8-bit images are "
                        "expected (pixel values 0..255)"
                    )
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ConfigError(
            f"{path}: image too large, refused as a decompression bomb "
            f"(more than {MAX_IMAGE_PIXELS} pixels; {_first_line(exc)})"
        ) from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read image ({_first_line(exc)})") from None


# -- shared checks ------------------------------------------------------------------------------
def _check_labels(labels: np.ndarray, classes: int, where: str) -> None:
    bad = labels[(labels < 0) | (labels >= classes)]
    if len(bad):
        raise ConfigError(f"{where}: label {int(bad[0])} is not in 0..{classes - 1}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
