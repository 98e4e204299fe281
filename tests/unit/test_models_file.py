"""Several models in one run (issue 19): `--model` lists and models.yaml, checked by the YAML
validator (one line naming the file, the key and the value); the preprocessing it may add."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from imxbench.accuracy.preprocess import Preprocessing, preprocess
from imxbench.config.models import ModelEntry, entries_from_options, load_models_file
from imxbench.errors import ConfigError
from tests.locations import FLOAT_MODEL, IMXBENCH, QUANT_MODEL

REPO = Path(__file__).resolve().parents[2]
DELEGATES = ("cpu", "gpu", "vx", "ethosu")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_models_file(write(tmp_path, text), DELEGATES)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_the_repository_models_yaml_names_the_reference_and_two_tiny_models() -> None:
    entries = load_models_file(REPO / "models/models.yaml", DELEGATES)
    assert [e.name for e in entries] == ["resnet8", "tiny-int8", "tiny-float32"]
    assert entries[0].path.resolve() == (
        REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
    )
    assert all(e.path.is_file() and e.dataset is None for e in entries)


def test_the_tiny_models_are_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    done = subprocess.run(
        [IMXBENCH[0], str(REPO / "models/make_tiny_models.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for name in ("tiny_int8.tflite", "tiny_float32.tflite"):
        assert (tmp_path / name).read_bytes() == (REPO / "models" / name).read_bytes()


def test_a_full_entry_is_read_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "m.tflite").write_bytes(QUANT_MODEL.read_bytes())
    path = write(
        tmp_path,
        "format: 1\nmodels:\n"
        "  - path: m.tflite\n    name: resnet8\n    dataset: data\n    limit: 20\n"
        "    channel_order: bgr\n    mean: [1, 2, 3]\n    scale: 0.5\n"
        "    labels: [a, b]\n    skip_delegates: [gpu, gpu]\n"
        f"  - path: {FLOAT_MODEL}\n",
    )
    first, second = load_models_file(path, DELEGATES)
    assert first == ModelEntry(
        path=tmp_path / "m.tflite",
        name="resnet8",
        dataset=tmp_path / "data",
        limit=20,
        channel_order="bgr",
        mean=(1.0, 2.0, 3.0),
        scale=(0.5,),
        labels=("a", "b"),
        skip_delegates=("gpu",),
        source=f"{path}: models[0]",
    )
    assert second.name == FLOAT_MODEL.stem and second.dataset is None
    assert first.from_models_file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: []\n", "models: no model listed"),
        ("modles: []\n", "modles: unknown key; known keys: format, models"),
        ("format: 2\nmodels: [{path: x}]\n", "format: unknown format 2"),
        (
            "models: [m.tflite]\n",
            "models[0]: expected a mapping (path: ..., name: ...), got a string",
        ),
        ("models: [{name: a}]\n", "models[0].path: missing required key"),
        ("models: [{path: nope.tflite}]\n", "models[0].path: model file not found: 'nope.tflite'"),
        ("models: [{path: m.tflite, size: 3}]\n", "models[0].size: unknown key"),
        (
            "models: [{path: m.tflite, skip_delegates: [npu]}]\n",
            "models[0].skip_delegates[0]: unknown delegate 'npu'; known: cpu, ethosu, gpu, vx",
        ),
        (
            "models: [{path: m.tflite, dataset: d, mean: [1, 2]}]\n",
            "models[0].mean: expected one number or 3 (R, G, B), got 2",
        ),
        (
            "models: [{path: m.tflite, dataset: d, scale: 0}]\n",
            "models[0].scale: expected a finite number above 0, got 0",
        ),
        (
            "models: [{path: m.tflite, dataset: d, scale: .nan}]\n",
            "models[0].scale: expected a finite",
        ),
        ("models: [{path: m.tflite, limit: 5}]\n", "models[0].limit: needs a dataset"),
        (
            "models: [{path: m.tflite, dataset: missing}]\n",
            "models[0].dataset: not found: 'missing'",
        ),
        (
            "models: [{path: m.tflite, channel_order: grb}]\n",
            "models[0].channel_order: unknown value 'grb'; expected one of: rgb, bgr",
        ),
        ("models: [{path: m.tflite, name: 'a b'}]\n", "models[0].name: 'a b': use letters"),
        ("models: [{path: d}]\n", "models[0].path: 'd' is a directory, not a .tflite model"),
        (
            "models: [{path: m.tflite, name: " + "x" * 65 + "}]\n",
            "models[0].name: 'xxxxxxxxxxxxxxxxxxxx'...: 65 characters; at most 64",
        ),
        ("models:\n  - {path: m.tflite}\n  - {path: m.tflite}\n", "model name 'm' is used twice"),
    ],
)
def test_a_bad_models_yaml_is_one_line_naming_file_key_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "m.tflite").write_bytes(QUANT_MODEL.read_bytes())
    (tmp_path / "d").mkdir()
    if "used twice" in expected:
        with pytest.raises(ConfigError) as caught:
            entries_from_options((), write(tmp_path, text), QUANT_MODEL, DELEGATES)
        message = caught.value.message
    else:
        message = refused(tmp_path, text)
    assert message.startswith(str(tmp_path / "models.yaml"))
    assert expected in message


def test_model_options_take_repeats_and_comma_lists_and_default_to_the_reference() -> None:
    both = entries_from_options((Path(f"{QUANT_MODEL},{FLOAT_MODEL}"),), None, QUANT_MODEL)
    assert [e.path for e in both] == [QUANT_MODEL, FLOAT_MODEL]
    assert not both[0].from_models_file
    assert [e.path for e in entries_from_options((), None, QUANT_MODEL)] == [QUANT_MODEL]
    with pytest.raises(ConfigError, match=r"nope\.tflite: model file not found"):
        entries_from_options((QUANT_MODEL, Path("nope.tflite")), None, QUANT_MODEL)
    with pytest.raises(ConfigError, match=r"models: a directory, not a \.tflite model file"):
        entries_from_options((QUANT_MODEL.parent,), None, QUANT_MODEL)


def test_the_cli_refuses_a_bad_models_yaml_in_one_line_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - path: tiny.tflite\n    skip_delegates: [npu]\n")
    (tmp_path / "tiny.tflite").write_bytes(QUANT_MODEL.read_bytes())
    for command in ("run", "nightly"):
        done = subprocess.run(
            [
                *IMXBENCH,
                command,
                "--board",
                "imx8mp",
                "--emulate",
                "--models",
                str(path),
                "--reports",
                str(tmp_path / "reports"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert lines[0] == (
            f"imxbench: {path}: models[0].skip_delegates[0]: unknown delegate 'npu'; "
            "known: cpu, ethosu, gpu, vx"
        ), done.stderr


def normalised(dtype: str, scale: float | None, zero_point: int | None) -> Preprocessing:
    return Preprocessing(
        "input", (1, 1, 2, 3), dtype, scale, zero_point, mean=(127.5,), norm_scale=(1 / 127.5,)
    )


def test_mean_and_scale_map_pixels_before_the_inputs_own_mapping() -> None:
    pixels = np.array([[[[0, 255, 127], [255, 0, 128]]]], dtype=np.uint8)
    floats = preprocess(normalised("float32", None, None), pixels)
    assert floats.dtype == np.float32
    np.testing.assert_allclose(floats, (pixels.astype(np.float64) - 127.5) / 127.5, rtol=1e-6)
    quantized = preprocess(normalised("int8", 1 / 128, 0), pixels)  # x in [-1, 1] -> q = 128 x
    expected = np.clip(np.round((pixels.astype(np.float64) - 127.5) / 127.5 * 128), -128, 127)
    np.testing.assert_array_equal(quantized, expected.astype(np.int8))
    pre = Preprocessing(
        "input", (1, 1, 2, 3), "float32", None, None, mean=(1, 2, 3), norm_scale=(1, 1, 0.5)
    )
    np.testing.assert_allclose(preprocess(pre, pixels)[0, 0, 0], [-1.0, 253.0, 62.0])
    assert pre.formula() == "x = (p - (1, 2, 3)) * (1, 1, 0.5)"
    assert normalised("int8", 1 / 128, 0).as_dict()["mean"] == [127.5]


def test_dataset_is_per_model_and_run_dataset_only_for_model_options(tmp_path: Path) -> None:
    from imxbench.accuracy.phase import AccuracyRequest
    from imxbench.run.matrix import accuracy_request

    run_wide = AccuracyRequest(tmp_path / "cifar", limit=10)
    given = ModelEntry(QUANT_MODEL, "a", source=f"--model {QUANT_MODEL}")
    listed = ModelEntry(QUANT_MODEL, "b", source="models.yaml: models[0]")
    own = ModelEntry(
        QUANT_MODEL, "c", dataset=tmp_path, limit=5, mean=(1.0,), labels=("x",),
        source="models.yaml: models[1]",
    )  # fmt: skip
    assert accuracy_request(given, run_wide) == run_wide
    assert accuracy_request(listed, run_wide) is None  # models.yaml without one: latency only
    assert accuracy_request(own, run_wide) == AccuracyRequest(
        tmp_path, 5, "rgb", (1.0,), None, ("x",)
    )
