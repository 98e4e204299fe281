#!/usr/bin/env python3
"""imxbench accuracy evaluation, run ON the board: every image through the model, one invoke each.

    python3 evaluate.py --model M.tflite --data INPUTS.npz --out RESULT.npz
                        [--delegate /usr/lib/libvx_delegate.so] [--options 'k:v;k:v']
                        [--threads N]

Needs Python >= 3.8, numpy and `tflite_runtime` (the BSP's runtime; `ai_edge_litert` is the
fallback, with the LiteRT build of the delegate where the board has one: `paired_delegate`).
Nothing from imxbench is imported: this file is copied to the board as it is.

INPUTS.npz holds `inputs` (N, H, W, C), already preprocessed in the model's input dtype, and
optionally `labels` (N,) for the running accuracy in the progress lines.

RESULT.npz (written under a temporary name, then renamed) holds:
  `header`     a JSON document: {"format": 1, "runtime", "runtime_version", "python_version",
               "numpy_version", "model", "delegate", "delegate_options", "threads", "images",
               "input": {...}, "output": {...}, "load_s", "total_s"}
  `top5`       int32 (N, k): class indices, best first (ties: lower index first), k = min(5, C)
  `outputs`    float32 (N, C): dequantized outputs, (q - zero_point) * scale
  `invoke_ns`  int64 (N,): wall time of each invoke() call, in ns

Progress goes to stderr as `imxbench-progress DONE/TOTAL [top1=..]` lines (at most about one a
second). Nothing is printed on stdout: delegates print their own notices there.
Exit status: 0 done; 2 bad arguments or data; 3 the runtime, the delegate or the model failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import zipfile
from typing import Any

import numpy as np

FORMAT = 1
TOP_K = 5
PROGRESS_EVERY_S = 1.0


class Failure(Exception):
    def __init__(self, status: int, message: str) -> None:
        Exception.__init__(self, message)
        self.status = status
        self.message = message


def load_runtime() -> tuple[Any, str, str]:
    """(interpreter module, runtime name, version): tflite_runtime first, then ai_edge_litert."""
    try:
        import tflite_runtime
        from tflite_runtime import interpreter as module

        return module, "tflite_runtime", str(getattr(tflite_runtime, "__version__", "unknown"))
    except ImportError:
        pass
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter as module

        return module, "ai_edge_litert", str(getattr(ai_edge_litert, "__version__", "unknown"))
    except ImportError:
        raise Failure(3, "neither tflite_runtime nor ai_edge_litert can be imported") from None


def parse_options(text: str) -> dict[str, str]:
    """'k:v;k:v' (benchmark_model's --external_delegate_options syntax) -> {k: v}."""
    options = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise Failure(2, f"bad delegate option {item!r}: expected key:value")
        options[key.strip()] = value.strip()
    return options


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_inputs(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as packed:
            inputs = packed["inputs"]
            labels = packed["labels"] if "labels" in packed.files else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # truncated
        raise Failure(2, f"cannot read {path}: {first_line(exc)}") from None
    if inputs.ndim < 2 or len(inputs) == 0:
        raise Failure(2, f"{path}: 'inputs' has shape {inputs.shape}")
    return inputs, labels


def paired_delegate(library: str, runtime_name: str) -> str:
    """The delegate library built for the runtime in use. On L6.12+ NXP builds each delegate
    twice: `lib<name>_delegate.so` against tensorflow-lite (tflite_runtime, benchmark_model) and
    `liblitert_<name>_delegate.so` against LiteRT (ai_edge_litert); loading one into the other
    runtime mixes two builds (NXP_FACTS §1.2). Under ai_edge_litert the LiteRT twin of the
    benchmark's library is taken when the board has it; else the library as given."""
    folder, name = os.path.split(library)
    if (
        runtime_name != "ai_edge_litert"
        or not (name.startswith("lib") and name.endswith("_delegate.so"))
        or name.startswith("liblitert_")
    ):
        return library
    twin = os.path.join(folder, "liblitert_" + name[len("lib") :])
    return twin if os.path.exists(twin) else library


def make_interpreter(runtime: Any, args: argparse.Namespace) -> Any:
    delegates = []
    if args.delegate:
        options = parse_options(args.options or "")
        try:
            delegates.append(runtime.load_delegate(args.delegate, options))
        except (ValueError, RuntimeError, OSError) as exc:
            message = f"cannot load delegate {args.delegate}: {first_line(exc)}"
            raise Failure(3, message) from None
    try:
        interpreter = runtime.Interpreter(
            model_path=args.model,
            experimental_delegates=delegates or None,
            num_threads=args.threads,
        )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise Failure(3, f"cannot load {args.model}: {first_line(exc)}") from None
    return interpreter


def check_input(interpreter: Any, inputs: np.ndarray) -> dict[str, Any]:
    detail = interpreter.get_input_details()[0]
    shape = [int(d) for d in detail["shape"]]
    wanted = [1, *[int(d) for d in inputs.shape[1:]]]
    if shape != wanted and shape[1:] == wanted[1:]:
        interpreter.resize_tensor_input(detail["index"], wanted)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        shape = wanted
    if np.dtype(detail["dtype"]) != inputs.dtype or shape != wanted:
        model_dtype = np.dtype(detail["dtype"]).name
        raise Failure(
            2,
            f"the model's input is {model_dtype} {shape}, "
            f"the data holds {inputs.dtype.name} {wanted}",
        )
    return dict(detail)


def describe(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero_point = detail["quantization"]
    return {
        "name": str(detail["name"]),
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


def run_all(
    interpreter: Any,
    inputs: np.ndarray,
    labels: np.ndarray | None,
    source: dict[str, Any],
    target: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    # The per-image work is kept to the interpreter calls and two clock reads (benchmarks/
    # accuracy_loop.py holds it to a bare loop's pace); the running top-1 of the progress lines
    # is computed only when a line is printed.
    count = len(inputs)
    classes = int(np.prod(target["shape"][1:]))
    raw = np.empty((count, classes), dtype=target["dtype"])
    invoke_ns = np.empty(count, dtype=np.int64)
    src, dst = source["index"], target["index"]
    last = time.monotonic()
    for i in range(count):
        interpreter.set_tensor(src, inputs[i : i + 1])
        started = time.perf_counter_ns()
        try:
            interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise Failure(3, f"invoke failed on input {i}: {first_line(exc)}") from None
        invoke_ns[i] = time.perf_counter_ns() - started
        raw[i] = interpreter.get_tensor(dst).reshape(-1)
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S or i + 1 == count:
            last = now
            accuracy = ""
            if labels is not None:
                correct = int(np.count_nonzero(np.argmax(raw[: i + 1], axis=1) == labels[: i + 1]))
                accuracy = f" top1={correct / (i + 1):.4f}"
            sys.stderr.write(f"imxbench-progress {i + 1}/{count}{accuracy}\n")
            sys.stderr.flush()
    return raw, invoke_ns


def dequantize(raw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if not scale:
        return raw.astype(np.float32)
    shifted = raw.astype(np.float32) - np.float32(zero_point)
    return (shifted * np.float32(scale)).astype(np.float32)


def write_result(
    path: str, header: dict[str, Any], top: np.ndarray, outputs: np.ndarray, invoke_ns: np.ndarray
) -> None:
    """The result file, under a temporary name first: a partial file never has the real name."""
    part = f"{path}.part-{os.getpid()}"
    try:
        with open(part, "wb") as fh:
            np.savez(
                fh,
                header=np.array(json.dumps(header, sort_keys=True)),
                top5=top.astype(np.int32),
                outputs=outputs.astype(np.float32),
                invoke_ns=invoke_ns.astype(np.int64),
            )
        os.replace(part, path)
    except OSError as exc:
        raise Failure(3, f"cannot write {path}: {first_line(exc)}") from None
    finally:
        if os.path.exists(part):
            os.remove(part)


def evaluate(args: argparse.Namespace) -> None:
    runtime, runtime_name, runtime_version = load_runtime()
    if args.delegate:
        args.delegate = paired_delegate(args.delegate, runtime_name)
    inputs, labels = load_inputs(args.data)
    started = time.monotonic()
    interpreter = make_interpreter(runtime, args)
    source = check_input(interpreter, inputs)
    target = interpreter.get_output_details()[0]
    load_s = time.monotonic() - started
    raw, invoke_ns = run_all(interpreter, inputs, labels, source, target)
    scale, zero_point = target["quantization"]
    outputs = dequantize(raw, float(scale), int(zero_point))
    top = np.argsort(-outputs, axis=1, kind="stable")[:, : min(TOP_K, outputs.shape[1])]
    header = {
        "format": FORMAT,
        "runtime": runtime_name,
        "runtime_version": runtime_version,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "model": args.model,
        "delegate": args.delegate,
        "delegate_options": parse_options(args.options or ""),
        "threads": args.threads,
        "images": len(inputs),
        "input": describe(source),
        "output": describe(target),
        "load_s": load_s,
        "total_s": time.monotonic() - started,
    }
    write_result(args.out, header, top, outputs, invoke_ns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="imxbench on-board accuracy evaluation")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--delegate", default=None, help="external delegate library")
    parser.add_argument("--options", default="", help="delegate options 'k:v;k:v'")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        evaluate(args)
    except Failure as exc:
        sys.stderr.write(f"evaluate.py: {exc.message}\n")
        return exc.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
