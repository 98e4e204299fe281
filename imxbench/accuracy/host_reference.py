"""The host-CPU reference: the same preprocessed inputs through LiteRT on this machine.

Device results are compared with these outputs (top-1 agreement, output differences). A
Vela-compiled graph cannot run here: pass its source model (what the graph was compiled from).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imxbench.errors import ConfigError
from imxbench.native_stderr import quiet_native_stderr

TOP_K = 5


@dataclass(frozen=True)
class ModelOutputs:
    """Per-image results of one run over a data set."""

    outputs: np.ndarray
    """float32 (N, classes): dequantized outputs (scores or probabilities)."""
    top_k: np.ndarray
    """int (N, k): class indices, best first (ties: lower index first, like argmax)."""
    runtime: str
    runtime_version: str
    seconds_per_image: float

    @property
    def top1(self) -> np.ndarray:
        return self.top_k[:, 0]


def top_k(outputs: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """The k best classes per row, best first; ties keep the lower index first (argmax's rule)."""
    width = min(k, outputs.shape[1])
    return np.argsort(-outputs, axis=1, kind="stable")[:, :width]


def dequantize(raw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """(q - zero_point) * scale as float32; a scale of 0 means "not quantized"."""
    if not scale:
        return raw.astype(np.float32)
    return ((raw.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(
        np.float32
    )


class HostModel:
    """A model loaded once in LiteRT on the host CPU, run over any number of input sets."""

    def __init__(self, model_path: Path, num_threads: int | None = None) -> None:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        self.path = model_path
        self.runtime_version = str(getattr(ai_edge_litert, "__version__", "unknown"))
        try:
            with quiet_native_stderr():  # LiteRT's "Created ... XNNPACK delegate" notice
                self._interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"{model_path}: LiteRT cannot load the model on the host: {_first_line(exc)}"
            ) from None
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]

    def run(self, inputs: np.ndarray) -> ModelOutputs:
        """Every input (N, H, W, C, already preprocessed), one invoke each."""
        source, target = self._input, self._output
        if source["dtype"] != inputs.dtype or tuple(source["shape"][1:]) != inputs.shape[1:]:
            raise ConfigError(
                f"{self.path}: input is {np.dtype(source['dtype'])} {list(source['shape'])}, "
                f"the prepared inputs are {inputs.dtype} {list(inputs.shape)}"
            )
        interpreter = self._interpreter
        raw = np.empty((len(inputs), int(np.prod(target["shape"][1:]))), dtype=target["dtype"])
        started = time.perf_counter()
        for i in range(len(inputs)):
            interpreter.set_tensor(source["index"], inputs[i : i + 1])
            interpreter.invoke()
            raw[i] = interpreter.get_tensor(target["index"]).reshape(-1)
        elapsed = time.perf_counter() - started
        scale, zero_point = target["quantization"]
        outputs = dequantize(raw, scale, zero_point)
        return ModelOutputs(
            outputs=outputs,
            top_k=top_k(outputs),
            runtime="ai_edge_litert",
            runtime_version=self.runtime_version,
            seconds_per_image=elapsed / max(1, len(inputs)),
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
