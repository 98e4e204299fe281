"""board/scripts/evaluate.py as a board runs it: under the BSP's tflite-runtime 2.14 with
numpy<2 (the .venv-bsp that setup.sh makes), and under LiteRT with numpy 2 (the fallback)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from imxbench.accuracy.files import input_mismatch, pack_inputs, read_board_result
from imxbench.accuracy.host_reference import HostModel, ModelOutputs, dequantize, top_k
from imxbench.accuracy.phase import SCRIPT
from imxbench.accuracy.preprocess import preprocess, preprocessing_for
from imxbench.analysis.accuracy_stats import agreement
from imxbench.analysis.model_info import inspect_model
from tests.dataset_builders import MODEL, REPO, generate

BSP_PYTHON = REPO / ".venv-bsp/bin/python"
HAVE_BSP = BSP_PYTHON.exists() and any(
    REPO.glob(".venv-bsp/lib/python3*/site-packages/tflite_runtime")
)
NO_BSP = ".venv-bsp (tflite-runtime 2.14 + numpy<2) is absent: setup.sh creates it"
IMAGES = 40


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    data = generate(IMAGES)
    inputs = preprocess(preprocessing_for(inspect_model(MODEL)), data.images)
    path = tmp_path_factory.mktemp("packed") / "inputs.npz"
    pack_inputs(path, inputs, data.labels)
    return path, inputs, data.labels


def evaluate(
    python: Path | str, data: Path, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [
            str(python),
            str(SCRIPT),
            "--model",
            str(MODEL),
            "--data",
            str(data),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",  # nothing of the repository on sys.path: the script stands alone
    )


def check_result(
    done: subprocess.CompletedProcess[str], out: Path, runtime: str
) -> tuple[dict[str, object], np.ndarray, np.ndarray, np.ndarray]:
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    progress = [line for line in done.stderr.splitlines() if line.startswith("imxbench-progress")]
    assert progress and progress[-1].startswith(f"imxbench-progress {IMAGES}/{IMAGES} top1=")
    result = read_board_result(out, IMAGES, 10)
    header = result.header
    assert header["runtime"] == runtime and header["images"] == IMAGES
    assert header["input"]["dtype"] == "int8" and header["output"]["zero_point"] == -128
    # the host checks the board's graph took the inputs as they were prepared (q = p - 128)
    prepared = preprocessing_for(inspect_model(MODEL))
    assert input_mismatch(header, prepared) is None
    other = replace(prepared, dtype="uint8", zero_point=0)  # e.g. another model on the board
    assert input_mismatch(header, other) == (
        "the board's graph takes int8 input (scale 1.0, zero point -128), the inputs were "
        "prepared for uint8 (scale 1.0, zero point 0)"
    )
    assert result.top_k.shape == (IMAGES, 5) and (result.invoke_ns > 0).all()
    assert not list(out.parent.glob("*.part-*"))
    return header, result.top_k, result.outputs, result.invoke_ns


def test_script_is_python38_and_standalone() -> None:
    source = SCRIPT.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported <= {
        "__future__",
        "argparse",
        "json",
        "os",
        "platform",
        "sys",
        "time",
        "typing",
        "zipfile",  # numpy's own .npz reader needs it: on the board wherever np.load works
        "numpy",
        "tflite_runtime",
        "ai_edge_litert",
    }


def test_falls_back_to_ai_edge_litert_and_equals_the_host_reference(
    packed: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    data, inputs, _ = packed
    out = tmp_path / "result.npz"
    header, top, outputs, _ = check_result(
        evaluate(sys.executable, data, out), out, "ai_edge_litert"
    )
    assert header["numpy_version"].startswith("2.")
    reference = HostModel(MODEL).run(inputs)
    assert np.array_equal(top, reference.top_k)
    assert np.array_equal(outputs, reference.outputs)


@pytest.mark.skipif(not HAVE_BSP, reason=NO_BSP)
def test_runs_under_the_bsp_runtime_tflite_runtime_2_14_numpy_1(
    packed: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    data, inputs, labels = packed
    out = tmp_path / "result.npz"
    header, top, outputs, invoke_ns = check_result(
        evaluate(BSP_PYTHON, data, out, "--threads", "1"), out, "tflite_runtime"
    )
    assert header["runtime_version"] == "2.14.0"
    assert header["numpy_version"].startswith("1.") and header["threads"] == 1
    # tflite-runtime 2.14 runs this int8 model on its built-in kernels (its XNNPACK takes
    # none of it): LiteRT's built-in kernels give the very same bytes
    builtin = builtin_kernel_outputs(inputs)
    assert np.array_equal(top, builtin.top_k) and np.array_equal(outputs, builtin.outputs)
    # LiteRT's default path is XNNPACK, which rounds differently: on these out-of-distribution
    # images a few top-1 classes flip (models/README.md: 3 of the 200 ic01 images)
    reference = HostModel(MODEL).run(inputs)
    agree = agreement(outputs, top[:, 0], reference.outputs, reference.top1)
    assert 0.7 <= agree.top1_rate < 1.0 and agree.max_abs_diff > 0
    print(
        f"\ntflite-runtime 2.14 vs LiteRT {reference.runtime_version} (XNNPACK) on {IMAGES} "
        f"images: top-1 agreement {agree.top1_rate:.3f}, max |diff| {agree.max_abs_diff:.5f}, "
        f"mean |diff| {agree.mean_abs_diff:.6f}; top-1 vs labels "
        f"{np.mean(top[:, 0] == labels):.3f} (LiteRT {np.mean(reference.top1 == labels):.3f}); "
        f"median invoke {np.median(invoke_ns) / 1e3:.0f} us"
    )


def builtin_kernel_outputs(inputs: np.ndarray) -> ModelOutputs:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(MODEL),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    raw = []
    for i in range(len(inputs)):
        interpreter.set_tensor(source["index"], inputs[i : i + 1])
        interpreter.invoke()
        raw.append(interpreter.get_tensor(target["index"])[0].copy())
    outputs = dequantize(np.array(raw), *target["quantization"])
    return ModelOutputs(outputs, top_k(outputs), "ai_edge_litert", "builtin", 0.0)


@pytest.mark.parametrize("python", [sys.executable, str(BSP_PYTHON)], ids=["litert", "bsp"])
def test_failures_are_one_line_with_an_exit_status_and_no_result(
    python: str, packed: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    if python == str(BSP_PYTHON) and not HAVE_BSP:
        pytest.skip(NO_BSP)
    data, inputs, labels = packed
    out = tmp_path / "result.npz"
    done = evaluate(python, data, out, "--delegate", "/usr/lib/libnothere_delegate.so")
    assert done.returncode == 3 and not out.exists()
    said = [line for line in done.stderr.splitlines() if line.startswith("evaluate.py: ")]
    assert len(said) == 1 and said[0].startswith(
        "evaluate.py: cannot load delegate /usr/lib/libnothere_delegate.so: "
    )
    wrong = tmp_path / "float.npz"
    pack_inputs(wrong, inputs.astype(np.float32), labels)
    done = evaluate(python, wrong, out)
    assert done.returncode == 2 and not out.exists()
    assert done.stderr.splitlines()[-1] == (
        "evaluate.py: the model's input is int8 [1, 32, 32, 3], the data holds float32 "
        "[1, 32, 32, 3]"
    )
    done = evaluate(python, tmp_path / "missing.npz", out)
    assert done.returncode == 2 and "evaluate.py: cannot read" in done.stderr
    truncated = tmp_path / "truncated.npz"  # a cut-short data file: exit 2 and one line, no trace
    truncated.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    done = evaluate(python, truncated, out)
    assert done.returncode == 2 and not out.exists()
    assert done.stderr.splitlines()[-1].startswith(f"evaluate.py: cannot read {truncated}: ")
    done = evaluate(python, data, out, "--delegate", "/x.so", "--options", "novalue")
    assert done.returncode == 2 and "bad delegate option 'novalue'" in done.stderr


def test_under_ai_edge_litert_the_litert_build_of_the_delegate_is_loaded(
    packed: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """NXP_FACTS §1.2: tflite_runtime pairs with lib<name>_delegate.so, ai_edge_litert with
    liblitert_<name>_delegate.so (L6.12+ ship both). Files that are no libraries make the load
    fail, and its one-line message names the library the script tried."""
    data, _, _ = packed
    out = tmp_path / "result.npz"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libvx_delegate.so").write_bytes(b"not an ELF file")
    done = evaluate(sys.executable, data, out, "--delegate", str(lib / "libvx_delegate.so"))
    assert done.returncode == 3  # no LiteRT twin on this "board": the library as given
    assert f"cannot load delegate {lib / 'libvx_delegate.so'}: " in done.stderr
    (lib / "liblitert_vx_delegate.so").write_bytes(b"not an ELF file either")
    done = evaluate(sys.executable, data, out, "--delegate", str(lib / "libvx_delegate.so"))
    assert done.returncode == 3 and not out.exists()
    assert f"cannot load delegate {lib / 'liblitert_vx_delegate.so'}: " in done.stderr


def test_packed_inputs_are_byte_identical_for_the_same_content(tmp_path: Path) -> None:
    inputs = np.arange(24, dtype=np.int8).reshape(2, 2, 2, 3)
    pack_inputs(tmp_path / "a.npz", inputs, np.array([1, 2]))
    pack_inputs(tmp_path / "b.npz", inputs, np.array([1, 2]))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as loaded:
        assert np.array_equal(loaded["inputs"], inputs)
    header = json.dumps({"format": 2})
    np.savez(
        tmp_path / "bad.npz",
        header=np.array(header),
        top5=np.zeros((2, 5)),
        outputs=np.zeros((2, 10)),
        invoke_ns=np.zeros(2),
    )
    with pytest.raises(ValueError, match="result format 2, expected 1"):
        read_board_result(tmp_path / "bad.npz", 2, 10)
