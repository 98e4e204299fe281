"""Bounded inputs (issue 15): YAML alias budget, size cap and duplicate keys, non-finite numbers,
data-set labels against the class count, image decompression bombs. Each is a one-line
ConfigError naming the file (and key or label), quickly and in bounded memory."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from imxbench.accuracy.dataset_readers import MAX_IMAGE_PIXELS, load_dataset
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import load_inventory
from imxbench.config.schema import MAX_YAML_BYTES
from imxbench.errors import ConfigError

LEVELS = "abcdefghi"


def billion_laughs(field: str = "port", levels: int = 9) -> str:
    """`levels` levels of 9 aliases: 9**levels strings once expanded (9: 387 million), in one
    line. The in-process tests use 6 (531441: over the budget, yet harmless should the budget
    ever go); the command-line test the whole bomb, under a memory limit."""
    rows = ["[" + ", ".join(["lol"] * 9) + "]"]
    for prev in LEVELS[: levels - 1]:
        rows.append("[" + ", ".join([f"*{prev}"] * 9) + "]")
    anchored = ", ".join(f"&{name} {row}" for name, row in zip(LEVELS, rows, strict=False))
    return f"boards:\n  b:\n    soc: imx8mp\n    host: h\n    {field}: [{anchored}]\n"


@pytest.mark.parametrize("field", ["port", "soc", "connect_timeout_s", "tags"])
def test_billion_laughs_in_a_typed_field_is_refused_at_once(tmp_path: Path, field: str) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(billion_laughs(field, levels=6))
    started = time.monotonic()
    with pytest.raises(ConfigError, match="aliases are expanded") as info:
        load_inventory(path, ssh_config=tmp_path / "none")
    assert time.monotonic() - started < 5
    assert str(path) in info.value.message and "\n" not in info.value.message


def test_aliases_and_merge_keys_within_the_budget_still_work(tmp_path: Path) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(
        "boards:\n  a: &d {soc: imx8mp, host: a, port: 2222, tags: [lab]}\n"
        "  b:\n    <<: *d\n    host: b\n"
    )
    inventory = load_inventory(path, ssh_config=tmp_path / "none")
    assert inventory.boards["b"].port == 2222 and inventory.boards["b"].host == "b"


def test_a_recursive_alias_and_a_huge_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text("boards:\n  b: &x\n    soc: imx8mp\n    host: h\n    tags: [*x]\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        load_inventory(path, ssh_config=tmp_path / "none")
    path.write_text("boards: {}\n" + "#" * MAX_YAML_BYTES)
    with pytest.raises(ConfigError, match="larger than"):
        load_inventory(path, ssh_config=tmp_path / "none")


def test_duplicate_keys_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text(
        "boards:\n  evk:\n    soc: imx8mp\n    host: a\n  evk:\n    soc: imx93\n    host: b\n"
    )
    with pytest.raises(ConfigError) as info:
        load_inventory(path, ssh_config=tmp_path / "none")
    assert info.value.message == f"{path}: line 5: duplicate key 'evk'"
    path.write_text("boards:\n  evk:\n    soc: imx8mp\n    host: a\n    host: b\n")
    with pytest.raises(ConfigError, match="line 5: duplicate key 'host'"):
        load_inventory(path, ssh_config=tmp_path / "none")


def test_duplicate_keys_in_a_delegate_file(tmp_path: Path) -> None:
    (tmp_path / "cpu.yaml").write_text("description: a\ndescription: b\nsocs: [imx8mp]\n")
    with pytest.raises(ConfigError, match=r"cpu.yaml: line 2: duplicate key 'description'"):
        load_catalogue(tmp_path)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
def test_non_finite_numbers_are_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "boards.yaml"
    for key in ("connect_timeout_s", "keepalive_s"):
        path.write_text(f"boards:\n  b:\n    soc: imx8mp\n    host: h\n    {key}: {value}\n")
        with pytest.raises(ConfigError, match=rf"boards\.b\.{key}: expected a"):
            load_inventory(path, ssh_config=tmp_path / "none")


def test_a_board_list_of_only_commas_names_no_board(tmp_path: Path) -> None:
    path = tmp_path / "boards.yaml"
    path.write_text("boards:\n  b: {soc: imx8mp, host: h}\n")
    with pytest.raises(ConfigError, match="names no board"):
        load_inventory(path, ssh_config=tmp_path / "none").select(",")


# -- data sets --------------------------------------------------------------------------------
def _npy_pair(folder: Path, labels: np.ndarray) -> Path:
    folder.mkdir()
    np.save(folder / "x_test.npy", np.zeros((len(labels), 8, 8, 3), dtype=np.uint8))
    np.save(folder / "y_test.npy", labels)
    return folder


def test_a_huge_label_is_refused_before_anything_is_sized_by_it(tmp_path: Path) -> None:
    folder = _npy_pair(tmp_path / "npy", np.array([0, 1, 2**40], dtype=np.int64))
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_dataset(folder)
    assert time.monotonic() - started < 5
    assert "y_test.npy" in info.value.message and "label 1099511627776" in info.value.message
    with pytest.raises(ConfigError, match=r"y_test.npy: label 1099511627776 is not in 0\.\.9$"):
        load_dataset(folder, classes=10)


def test_labels_checked_against_the_models_class_count(tmp_path: Path) -> None:
    folder = _npy_pair(tmp_path / "npy", np.array([0, 1, 10], dtype=np.int64))
    assert len(load_dataset(folder)) == 3  # without a class count: within the hard bound
    with pytest.raises(ConfigError, match=r"label 10 is not in 0\.\.9"):
        load_dataset(folder, classes=10)


def test_ic01_and_image_folder_huge_class_counts(tmp_path: Path) -> None:
    ic01 = tmp_path / "ic01"
    ic01.mkdir()
    (ic01 / "a.bin").write_bytes(bytes(32 * 32 * 3))
    (ic01 / "y_labels.csv").write_text(f"a.bin,{2**40},3\n")
    with pytest.raises(ConfigError, match=r"y_labels.csv:1: 1099511627776 classes"):
        load_dataset(ic01)
    folders = tmp_path / "folders"
    (folders / str(2**40)).mkdir(parents=True)
    _png(folders / str(2**40) / "a.png", 8, 8)
    with pytest.raises(ConfigError, match=r"1099511627776: label 1099511627776 is not in"):
        load_dataset(folders)


def _png(path: Path, width: int, height: int, pixels: bool = True) -> None:
    """A greyscale PNG written by hand; without `pixels` only its header is real (a bomb's
    declared size costs nothing to write)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\0" + bytes(width) for _ in range(height)) if pixels else b"\0"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("side", "pixels"),
    [(40_000, False), (5_000, True)],  # Pillow's own error (> 2x its default); our lower cap
)
def test_a_decompression_bomb_is_refused_naming_the_file(
    tmp_path: Path, side: int, pixels: bool
) -> None:
    assert side * side > MAX_IMAGE_PIXELS
    cat = tmp_path / "set" / "cat"
    cat.mkdir(parents=True)
    _png(cat / "bomb.png", side, side, pixels)
    with pytest.raises(ConfigError) as info:
        load_dataset(tmp_path / "set")
    assert str(cat / "bomb.png") in info.value.message
    assert "decompression bomb" in info.value.message
