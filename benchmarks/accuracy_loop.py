"""P5: the on-board accuracy loop (board/scripts/evaluate.py) versus a bare interpreter loop.

Target: evaluate.py's images/s >= 0.95x a bare `set_tensor / invoke / get_tensor` loop over the
same inputs, on the same runtime and interpreter.

Where: on this host, with LiteRT (`ai_edge_litert`, the runtime evaluate.py falls back to when
`tflite_runtime` is absent; the emulated board's `tflite_runtime` is LiteRT underneath too).
Not on the emulated board, because its `invoke()` sleeps until the modelled board latency has
passed: the sleep would absorb the loop's own cost, and the figure would measure the cost
model. On the host, ResNet-8 (the reference model) takes ~50 us an image with 1 thread, shorter
than any i.MX delegate (the 8M Plus NPU: ~220 us; an A53 core runs the loop's Python ~4x
slower than this host, which scales both sides of 50 us : 220 us alike), so the per-image
overhead of the loop weighs here at least as much as on a board.

Two figures, interleaved rounds, medians:
* the loop: evaluate.py's `run_all` (what it does per image: set_tensor, time the invoke,
  get_tensor into the result array, running top-1 for the progress lines) versus the bare loop,
  in this process, same interpreter (1 thread), same 5000 int8 images with labels;
* end to end: `python evaluate.py --model --data --out` (imports, the .npz, the interpreter,
  the loop, top-5, dequantizing, the result file) versus a bare script doing only imports, the
  .npz, the interpreter and the bare loop, each its own process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "imxbench/board/scripts/evaluate.py"
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
IMAGES = 5000
ROUNDS = 9
BARE_SCRIPT = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
with np.load(sys.argv[2]) as packed:
    inputs = packed["inputs"]
it = Interpreter(model_path=sys.argv[1], num_threads=1)
it.allocate_tensors()
src, dst = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
outputs = []
for i in range(len(inputs)):
    it.set_tensor(src, inputs[i : i + 1])
    it.invoke()
    outputs.append(it.get_tensor(dst))
"""


def load_evaluate() -> Any:
    spec = importlib.util.spec_from_file_location("evaluate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bare_loop(it: Interpreter, inputs: np.ndarray, src: int, dst: int) -> list[np.ndarray]:
    outputs = []
    for i in range(len(inputs)):
        it.set_tensor(src, inputs[i : i + 1])
        it.invoke()
        outputs.append(it.get_tensor(dst))
    return outputs


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    evaluate = load_evaluate()
    rng = np.random.default_rng(0)
    inputs = rng.integers(-128, 128, size=(IMAGES, 32, 32, 3), dtype=np.int8)
    labels = rng.integers(0, 10, size=IMAGES).astype(np.int64)
    it = Interpreter(model_path=str(MODEL), num_threads=1)
    it.allocate_tensors()
    source, target = it.get_input_details()[0], it.get_output_details()[0]
    src, dst = source["index"], target["index"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "inputs.npz"
        np.savez(data, inputs=inputs, labels=labels)
        bare_py = tmp / "bare.py"
        bare_py.write_text(BARE_SCRIPT)
        ev_cmd = [sys.executable, str(SCRIPT), "--model", str(MODEL), "--data", str(data)]
        ev_cmd += ["--out", str(tmp / "out.npz"), "--threads", "1"]
        bare_cmd = [sys.executable, str(bare_py), str(MODEL), str(data)]
        bare_loop(it, inputs[:200], src, dst)  # warm up
        loop_b, loop_e, proc_b, proc_e = [], [], [], []
        for r in range(ROUNDS):
            steps = [
                lambda: loop_b.append(timed(lambda: bare_loop(it, inputs, src, dst))),
                lambda: loop_e.append(
                    timed(lambda: evaluate.run_all(it, inputs, labels, source, target))
                ),
                lambda: proc_b.append(timed(lambda: subprocess.run(bare_cmd, check=True))),
                lambda: proc_e.append(
                    timed(lambda: subprocess.run(ev_cmd, check=True, capture_output=True))
                ),
            ]
            with contextlib.redirect_stderr(io.StringIO()):  # evaluate's progress lines
                for step in steps if r % 2 == 0 else steps[::-1]:  # alternate who goes first
                    step()
    b, e = statistics.median(loop_b), statistics.median(loop_e)
    pb, pe = statistics.median(proc_b), statistics.median(proc_e)
    print(
        f"loop, {IMAGES} images: bare {IMAGES / b:.0f} images/s ({b / IMAGES * 1e6:.1f} us "
        f"each), evaluate.py {IMAGES / e:.0f} images/s: +{(e - b) / IMAGES * 1e6:.1f} us an image"
    )
    print(
        f"end to end (own process each): bare script {pb:.2f} s, evaluate.py {pe:.2f} s: "
        f"ratio {pb / pe:.2f}x"
    )
    print(f"P5: evaluate.py loop at {b / e:.3f}x the bare loop's images/s (target >= 0.95x)")


if __name__ == "__main__":
    main()
