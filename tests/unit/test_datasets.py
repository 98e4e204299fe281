"""Test-set readers: every format, generated here; malformed input is a one-line ConfigError."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.accuracy.dataset_readers import detect_format, load_dataset
from imxbench.accuracy.datasets import (
    CIFAR10_CLASSES,
    Dataset,
    stratified_sample,
    with_model_labels,
)
from imxbench.errors import ConfigError
from tests.dataset_builders import WRITERS, Generated, smooth_images, write_ic01, write_npy


@pytest.fixture(scope="module")
def data() -> Generated:
    rng = np.random.default_rng(5)
    return Generated(smooth_images(30, seed=5), rng.integers(0, 10, 30), np.zeros(30, np.int64))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_format_reads_back_the_same_images_labels_and_ids(
    fmt: str, data: Generated, tmp_path: Path
) -> None:
    path, ids = WRITERS[fmt](tmp_path / "set", data)
    assert detect_format(path)[0] == fmt
    dataset = load_dataset(path)
    assert dataset.format == fmt and len(dataset) == 30 == dataset.total
    assert dataset.class_names == CIFAR10_CLASSES
    order = [ids.index(i) for i in dataset.ids]  # image folders come back grouped by class
    assert sorted(order) == list(range(30))
    assert np.array_equal(dataset.images, data.images[order])
    assert np.array_equal(dataset.labels, data.labels[order])
    assert dataset.images.dtype == np.uint8 and dataset.images.shape[1:] == (32, 32, 3)


def test_cifar_batch_file_and_folder_above_it_are_found(data: Generated, tmp_path: Path) -> None:
    root, _ = WRITERS["cifar10-python"](tmp_path, data)
    batch = root / "cifar-10-batches-py" / "test_batch"
    assert detect_format(batch) == ("cifar10-python", batch)
    assert detect_format(root / "cifar-10-batches-py") == ("cifar10-python", batch)


def test_npy_x_file_finds_its_y_partner(data: Generated, tmp_path: Path) -> None:
    folder, _ = write_npy(tmp_path / "n", data)
    assert len(load_dataset(folder / "x_test_ic.npy")) == 30


def test_npy_variants_float_pixels_nchw_and_one_hot_labels(data: Generated, tmp_path: Path) -> None:
    np.save(tmp_path / "x_a.npy", data.images.transpose(0, 3, 1, 2).astype(np.float32))
    np.save(tmp_path / "y_a.npy", np.eye(10)[data.labels])
    dataset = load_dataset(tmp_path / "x_a.npy")
    assert np.array_equal(dataset.images, data.images)
    assert np.array_equal(dataset.labels, data.labels)


def test_stratified_limit_keeps_class_shares_and_is_repeatable(tmp_path: Path) -> None:
    labels = np.repeat(np.arange(10), [40, 20, 10, 10, 5, 5, 4, 3, 2, 1])  # 100 images
    images = np.zeros((100, 2, 2, 3), np.uint8)
    full = Dataset(images, labels, tuple(map(str, range(100))), CIFAR10_CLASSES, tmp_path, "x", 100)
    first = stratified_sample(full, 20)
    again = stratified_sample(full, 20)
    assert first.ids == again.ids and len(first) == 20 and first.total == 100
    counts = np.bincount(first.labels, minlength=10)
    assert counts[:4].tolist() == [8, 4, 2, 2]  # exact shares
    assert counts.sum() == 20 and all(np.abs(counts - labels_share(labels, 20)) < 1)
    assert list(first.ids) == sorted(first.ids, key=int)  # data-set order kept
    assert stratified_sample(full, 1000) is full
    assert stratified_sample(full, 20, seed=1).ids != first.ids


def labels_share(labels: np.ndarray, limit: int) -> np.ndarray:
    return np.bincount(labels, minlength=10) * limit / len(labels)


def test_limit_through_load_dataset(data: Generated, tmp_path: Path) -> None:
    folder, _ = write_ic01(tmp_path / "ic", data)
    assert len(load_dataset(folder, limit=7)) == 7


# -- malformed data: one line, naming the file or row -------------------------------------------
def one_line_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_dataset(path, **kwargs)  # type: ignore[arg-type]
    message = info.value.message
    assert "\n" not in message
    return message


def test_missing_and_unknown(tmp_path: Path) -> None:
    assert (
        one_line_error(tmp_path / "nope") == f"{tmp_path / 'nope'}: data set not found (--dataset)"
    )
    (tmp_path / "empty").mkdir()
    assert one_line_error(tmp_path / "empty").startswith(f"{tmp_path / 'empty'}: no data set found")
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a data set file" in one_line_error(tmp_path / "notes.txt")


def test_ic01_bad_rows_name_file_and_row(data: Generated, tmp_path: Path) -> None:
    folder, _ = write_ic01(tmp_path / "ic", data)
    labels = folder / "y_labels.csv"
    text = labels.read_text().splitlines()
    labels.write_text("\n".join([*text[:3], "gen_0003.bin,10"]) + "\n")
    assert one_line_error(folder) == (
        f"{labels}:4: expected 'file,classes,label', got 'gen_0003.bin,10'"
    )
    labels.write_text("\n".join([*text[:1], "gen_0001.bin,10,12"]) + "\n")
    assert one_line_error(folder) == f"{labels}:2: label 12 is not in 0..9"
    (folder / "gen_0001.bin").write_bytes(b"\0" * 100)
    labels.write_text("\n".join(text[:2]) + "\n")
    assert one_line_error(folder) == (
        f"{labels}:2: gen_0001.bin: 100 bytes, expected 3072 (32x32x3 uint8 RGB)"
    )
    (folder / "gen_0001.bin").unlink()
    assert one_line_error(folder).startswith(f"{labels}:2: gen_0001.bin: cannot read:")
    labels.write_text("../../etc/passwd,10,1\n")
    assert "a file name in the folder is expected" in one_line_error(folder)


@pytest.mark.parametrize("fmt", ["ic01", "cifar10-python"])
def test_a_data_set_of_another_class_count_than_the_model_is_refused(
    fmt: str, data: Generated, tmp_path: Path
) -> None:
    """CIFAR-10 (ten classes, ic01's classes column says so too) on a 12-class model: every
    label is a valid output index, so nothing else would stop a plausible, wrong number."""
    path, _ = WRITERS[fmt](tmp_path / "set", data)
    assert len(load_dataset(path, classes=10)) == 30
    assert one_line_error(path, classes=12).endswith(
        "a data set of 10 classes, but the model has 12 output classes: not its test set"
    )


def test_model_labels_in_another_order_are_matched_by_name(data: Generated, tmp_path: Path) -> None:
    """models.yaml `labels` name the model's outputs: a data set that names its classes is
    relabelled by name, not renamed in place (which would score against shuffled classes)."""
    reordered = tuple(sorted(CIFAR10_CLASSES, reverse=True))  # truck, ship, ..., airplane
    for fmt in ("cifar10-python", "image-folder"):
        path, _ = WRITERS[fmt](tmp_path / fmt, data)
        dataset = load_dataset(path)
        relabelled = with_model_labels(dataset, reordered)
        assert relabelled.class_names == reordered
        named = [reordered[i] for i in relabelled.labels]
        assert named == [CIFAR10_CLASSES[i] for i in dataset.labels], fmt
        with pytest.raises(ConfigError, match=r"class '\w+' is not among the model's labels"):
            with_model_labels(dataset, tuple(f"c{i}" for i in range(10)))
    numbered, _ = write_npy(tmp_path / "npy", data)  # class numbers: the model's own numbers
    plain = load_dataset(numbered)
    renamed = with_model_labels(plain, reordered)
    assert np.array_equal(renamed.labels, plain.labels) and renamed.class_names == reordered


def test_cifar_refuses_foreign_pickles_and_bad_shapes(tmp_path: Path) -> None:
    batch = tmp_path / "test_batch"
    batch.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, 2))
    assert one_line_error(tmp_path) == f"{batch}: 2 images but 1 labels"
    batch.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, 2))
    assert "expected N x 3072" in one_line_error(tmp_path)
    batch.write_bytes(pickle.dumps({"data": Path("/")}, 2))  # a class outside the allow-list
    assert "refusing to load pathlib" in one_line_error(tmp_path)
    batch.write_bytes(b"\x80\x02garbage")
    assert one_line_error(tmp_path).startswith(f"{batch}: not a CIFAR-10 python batch")
    # pixels already normalised (or out of range) are refused, not cast to 0/1 or wrapped
    scaled = {b"data": np.full((2, 3072), 0.5, np.float32), b"labels": [1, 2]}
    batch.write_bytes(pickle.dumps(scaled, 2))
    assert one_line_error(tmp_path) == (
        f"{batch}: 'data': float32 values must be whole pixel values 0..255 "
        "(found 0.5..0.5; pixels scaled to 0..1?)"
    )
    batch.write_bytes(pickle.dumps({b"data": [[300] * 3072], b"labels": [1]}, 2))
    assert "(found 300..300)" in one_line_error(tmp_path)
    train = tmp_path / "data_batch_1"  # the training split, named directly: not a test set
    pixels = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [1]}
    train.write_bytes(pickle.dumps({**pixels, b"batch_label": b"training batch 1 of 5"}, 2))
    assert one_line_error(train) == (
        f"{train}: a training batch ('training batch 1 of 5'); accuracy is measured on the "
        "test split (test_batch)"
    )


def test_npy_problems(data: Generated, tmp_path: Path) -> None:
    np.save(tmp_path / "x_t.npy", data.images.astype(np.float32) / 255)
    np.save(tmp_path / "y_t.npy", data.labels)
    assert one_line_error(tmp_path).endswith("(found 0..1; pixels scaled to 0..1?)")
    np.save(tmp_path / "x_t.npy", data.images)
    np.save(tmp_path / "y_t.npy", data.labels[:5])
    assert one_line_error(tmp_path) == f"{tmp_path / 'y_t.npy'}: 5 labels for 30 images"
    np.save(tmp_path / "x_t.npy", np.zeros((3, 32, 32), np.uint8))
    assert "expected N x H x W x 3" in one_line_error(tmp_path)
    (tmp_path / "x_t.npy").write_bytes(b"not numpy")
    assert one_line_error(tmp_path).startswith(f"{tmp_path / 'x_t.npy'}: not a readable .npy")
    np.save(tmp_path / "x_t.npy", data.images)
    soft = np.eye(10)[data.labels]
    soft[3] = 0  # a row of zeros would be argmax'ed to class 0
    np.save(tmp_path / "y_t.npy", soft)
    assert one_line_error(tmp_path) == (
        f"{tmp_path / 'y_t.npy'}: labels are N x 10 but not one-hot (a single 1 per row)"
    )
    np.save(tmp_path / "y_t.npy", np.eye(12)[data.labels])  # its width says 12 classes
    assert load_dataset(tmp_path, classes=12).declared_classes == 12
    assert one_line_error(tmp_path, classes=10).endswith(
        "a data set of 12 classes, but the model has 10 output classes: not its test set"
    )


def test_image_folder_problems(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "cat").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "cat" / "a.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "cat" / "b.png")
    assert one_line_error(tmp_path) == (
        f"{tmp_path / 'cat' / 'b.png'}: 16x16 pixels, but cat/a.png is 32x32; "
        "all images must be one size"
    )
    (tmp_path / "cat" / "b.png").write_bytes(b"not a png")
    assert one_line_error(tmp_path).startswith(f"{tmp_path / 'cat' / 'b.png'}: cannot read image")
    (tmp_path / "cat" / "b.png").unlink()
    (tmp_path / "kangaroo").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "kangaroo" / "k.png")
    assert "class folder names must be CIFAR-10 classes" in one_line_error(tmp_path)
    (tmp_path / "kangaroo" / "k.png").unlink()
    deep = tmp_path / "cat" / "deep.png"  # 16-bit: Pillow's convert("RGB") would clip it
    Image.fromarray((np.arange(1024).reshape(32, 32) * 60).astype(np.uint16)).save(deep)
    assert one_line_error(tmp_path) == (
        f"{deep}: I;16 pixels (16-bit or float); 8-bit images are expected (pixel values 0..255)"
    )
    deep.unlink()
    Image.fromarray(np.full((32, 32), 7, np.uint8), "L").save(tmp_path / "cat" / "grey.png")
    dataset = load_dataset(tmp_path)  # greyscale converts to RGB; the empty folder is ignored
    assert len(dataset) == 2 and set(dataset.labels.tolist()) == {3}
    assert dataset.images[list(dataset.ids).index("cat/grey.png")].tolist()[0][0] == [7, 7, 7]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 9), min_size=1, max_size=200),
    st.integers(1, 250),
    st.integers(0, 3),
)
def test_stratified_sample_properties(labels: list[int], limit: int, seed: int) -> None:
    n = len(labels)
    array = np.array(labels, dtype=np.int64)
    full = Dataset(
        np.zeros((n, 1, 1, 3), np.uint8), array, tuple(map(str, range(n))), CIFAR10_CLASSES,
        Path("."), "x", n,
    )  # fmt: skip
    sample = stratified_sample(full, limit, seed)
    assert len(sample) == min(limit, n)
    chosen = [int(i) for i in sample.ids]
    assert chosen == sorted(set(chosen))  # distinct, in data-set order
    assert np.array_equal(sample.labels, array[chosen])
    share = np.bincount(array, minlength=10) * min(limit, n) / n
    assert np.all(np.abs(np.bincount(sample.labels, minlength=10) - share) < 1)


def test_prepare_scores_models_yaml_labels_by_name(tmp_path: Path) -> None:
    """Through Evaluation.prepare: the host reference is scored against the relabelled set."""
    from imxbench.accuracy.phase import AccuracyRequest, Evaluation
    from imxbench.analysis.accuracy_stats import accuracy_metrics
    from tests.dataset_builders import MODEL, generate

    made = generate(40)
    path, _ = WRITERS["image-folder"](tmp_path / "folders", made)
    reordered = tuple(reversed(CIFAR10_CLASSES))  # the model's output i named CIFAR class 9 - i
    evaluation = Evaluation.prepare(AccuracyRequest(path, labels=reordered), MODEL)
    try:
        ds = evaluation.dataset
        top1 = accuracy_metrics(ds.labels, evaluation.reference.top_k, ds.class_names).top1
    finally:
        evaluation.close()
    assert top1 == pytest.approx(float(np.mean(made.model_top1 == 9 - made.labels)), abs=0)
