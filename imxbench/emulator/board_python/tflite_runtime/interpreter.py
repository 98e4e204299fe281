"""`tflite_runtime.interpreter` on the emulated board: LiteRT underneath, board behaviour on top.

* `load_delegate(library, options=None)` accepts exactly the delegate libraries listed in the
  board's board.json (and present on disk); anything else, or the `delegate_load_fails`
  fault, raises `ValueError("Failed to load delegate from <library>\\n<dlerror>")` as the real
  module does. A loaded delegate echoes its options on stdout like the NXP delegates
  (`INFO: Vx delegate: ... set to 0.`).
* `Interpreter(..., experimental_delegates=[d])` applies the same claiming rules as the
  emulated benchmark_model (imxbench.emulator.benchmark_tool): VX claims int8/uint8-quantized
  builtin ops, Ethos-U claims `ethos-u` custom ops; a Vela model is executed by running its
  source model found through the provenance file (so it needs `model_path`). Only the first
  delegate is applied. On a board whose TFLite has the Ethos-U op built in (LF5.15 i.MX 93,
  board.json `ethosu_builtin`) a Vela model runs on the NPU without any delegate.
  Input/output details keep the Vela graph's tensor indices.
* `invoke()` runs the model for real, then sleeps until the modelled per-inference latency of
  the board (imxbench.emulator.cost_model: delegate, USE_GPU_INFERENCE, VIV graph cache,
  num_threads, noise and the faults.json `slowdown`) has passed. The first invoke on the
  8M Plus NPU/GPU pays the OpenVX graph compile. Faults `crash`, `hang` and `oom` strike at
  the first invoke.

Python 3.8 syntax on purpose (no match statements, no `X | Y` types at runtime).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ai_edge_litert.interpreter import Interpreter as _LiteRTInterpreter
from ai_edge_litert.interpreter import OpResolverType  # noqa: F401  (re-exported like the real module)

from imxbench.analysis.model_info import inspect_model_bytes as _inspect_model_bytes
from imxbench.emulator import benchmark_tool as _board
from imxbench.emulator import cost_model as _cost
from imxbench.errors import ConfigError as _ConfigError


class Delegate:
    """A loaded (emulated) external delegate library."""

    def __init__(self, library: str, options: dict[str, str], kind: str) -> None:
        self._library = library
        self._options = options
        self._kind = kind

    def _get_native_delegate_pointer(self) -> int:
        return id(self)


def load_delegate(library: str, options: dict[str, Any] | None = None) -> Delegate:
    """Load one of the board's delegate libraries (see the module docstring)."""
    board = _board.load_board()
    faults = _board.load_faults(board)
    error = _board.delegate_load_error(board, faults, library)
    if error is not None:
        raise ValueError(f"Failed to load delegate from {library}\n{error}")
    kind = _board.delegate_kind(board, library)
    text_options = {str(k): str(v) for k, v in (options or {}).items()}
    for line in _board.delegate_echo_lines(kind, text_options):
        sys.stdout.write("INFO: " + line + "\n")
    sys.stdout.flush()
    return Delegate(library, text_options, kind)


class Interpreter:
    """tflite_runtime.interpreter.Interpreter with the emulated board's delegates and timing."""

    def __init__(
        self,
        model_path: str | None = None,
        model_content: bytes | None = None,
        experimental_delegates: list[Any] | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._board = _board.load_board()
        self._faults = _board.load_faults(self._board)
        path = Path(model_path) if model_path is not None else None
        data, info = self._read(path, model_content, num_threads, kwargs)
        delegate = None
        for candidate in experimental_delegates or []:
            if isinstance(candidate, Delegate):
                delegate = candidate
                break
        self._kind = delegate._kind if delegate is not None else None
        self._options = delegate._options if delegate is not None else {}
        builtin = (
            self._kind != "ethos-u"
            and self._board.ethosu_builtin
            and any(op.name == _board.ETHOS_U_CUSTOM_OP for op in info.operators)
        )
        try:
            if builtin:  # LF5.15 i.MX 93: TFLite runs the ethos-u custom op itself
                plan, execute_path, unit = _board.ethosu_plan(
                    info, path, _board.ETHOS_U_CUSTOM_OP, True
                )
            else:
                plan, execute_path, unit = _board.delegate_plan(info, self._kind, path, os.environ)
        except _board.EmulatorError as exc:
            raise RuntimeError(
                "imxbench emulator: cannot execute Ethos-U command streams without the source"
                f" model ({exc})"
            ) from None
        self._unit: _cost.Unit = unit
        if self._kind == "ethos-u":
            sys.stderr.write(
                f"INFO: {_board.ETHOSU_NODE_TYPE}: {plan.claimed} nodes delegated out of"
                f" {plan.total_ops} nodes with {plan.partitions} partitions.\n"
            )
            sys.stderr.flush()
        self._plan = plan
        self._info = info
        with _board.quiet_native_stderr():
            if execute_path is not None:
                self._inner = _LiteRTInterpreter(
                    model_path=str(execute_path), num_threads=num_threads, **kwargs
                )
            else:
                self._inner = _LiteRTInterpreter(
                    model_content=data, num_threads=num_threads, **kwargs
                )
        self._index_map = self._map_io(info, execute_path, path)
        self._threads = num_threads if num_threads is not None else -1
        self._noise = _cost.Noise(self._board.noise_pct, _board.invocation_seed(self._board))
        self._invoked = False
        self._allocated = False

    # -- construction helpers ---------------------------------------------------------------

    @staticmethod
    def _read(
        path: Path | None, content: bytes | None, num_threads: Any, kwargs: dict[str, Any]
    ) -> tuple[bytes, Any]:
        try:
            if path is not None:
                data = path.read_bytes()
            elif content is not None:
                data = bytes(content)
            else:
                raise ValueError("Can't both provide `model_path` and `model_content`")
            return data, _inspect_model_bytes(data, path or Path("<model_content>"))
        except (OSError, _ConfigError):
            # Let LiteRT say what the real runtime says about this file.
            _LiteRTInterpreter(
                model_path=str(path) if path is not None else None,
                model_content=content,
                num_threads=num_threads,
                **kwargs,
            )
            raise ValueError("The model is not a valid Flatbuffer buffer") from None

    def _map_io(self, info: Any, execute_path: Path | None, path: Path | None) -> dict[int, int]:
        """Vela graph tensor index -> executed (source) model tensor index, for the I/O."""
        if execute_path is None or path is None or execute_path == path:
            return {}
        mapping = {}
        inner_in = [d["index"] for d in self._inner.get_input_details()]
        inner_out = [d["index"] for d in self._inner.get_output_details()]
        for outer, inner in zip([t.index for t in info.inputs], inner_in):  # noqa: B905
            mapping[outer] = inner
        for outer, inner in zip([t.index for t in info.outputs], inner_out):  # noqa: B905
            mapping[outer] = inner
        return mapping

    def _inner_index(self, index: int) -> int:
        return self._index_map.get(index, index)

    def _outer_details(
        self, details: list[dict[str, Any]], outer: list[int]
    ) -> list[dict[str, Any]]:
        if not self._index_map:
            return details
        result = []
        for detail, index in zip(details, outer):  # noqa: B905 (Python 3.8 has no strict=)
            detail = dict(detail)
            detail["index"] = index
            result.append(detail)
        return result

    # -- the tflite_runtime API -------------------------------------------------------------

    def allocate_tensors(self) -> None:
        with _board.quiet_native_stderr():
            self._inner.allocate_tensors()
        if not self._allocated and not self._plan.fully_delegated:
            # The runtime applies its default XNNPACK delegate to what stays on the CPU.
            sys.stderr.write("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
            sys.stderr.flush()
        self._allocated = True

    def get_input_details(self) -> list[dict[str, Any]]:
        return self._outer_details(
            self._inner.get_input_details(), [t.index for t in self._info.inputs]
        )

    def get_output_details(self) -> list[dict[str, Any]]:
        return self._outer_details(
            self._inner.get_output_details(), [t.index for t in self._info.outputs]
        )

    def set_tensor(self, tensor_index: int, value: Any) -> None:
        self._inner.set_tensor(self._inner_index(tensor_index), value)

    def get_tensor(self, tensor_index: int, subgraph_index: int = 0) -> Any:
        return self._inner.get_tensor(self._inner_index(tensor_index), subgraph_index)

    def tensor(self, tensor_index: int) -> Any:
        return self._inner.tensor(self._inner_index(tensor_index))

    def resize_tensor_input(self, input_index: int, tensor_size: Any, strict: bool = False) -> None:
        self._inner.resize_tensor_input(self._inner_index(input_index), tensor_size, strict)

    def get_tensor_details(self) -> list[dict[str, Any]]:
        return self._inner.get_tensor_details()

    def get_signature_list(self) -> dict[str, Any]:
        return self._inner.get_signature_list()

    def get_signature_runner(self, signature_key: str | None = None) -> Any:
        return self._inner.get_signature_runner(signature_key)

    def reset_all_variables(self) -> None:
        self._inner.reset_all_variables()

    def invoke(self) -> None:
        """Run for real, then wait out the board's modelled latency for this invoke."""
        start = time.monotonic()
        first = not self._invoked
        if first:
            self._first_invoke_faults()
        if first:
            with _board.quiet_native_stderr():
                self._inner.invoke()
        else:
            self._inner.invoke()
        self._invoked = True
        target_us = self._latency_us(first) * float(self._noise.factors(1)[0])
        _wait_until(start + target_us / 1e6)

    # -- timing -------------------------------------------------------------------------

    def _first_invoke_faults(self) -> None:
        faults = _board.load_faults(self._board)
        if faults.hang:
            while True:
                time.sleep(3600)
        for flag, sig in ((faults.crash, signal.SIGSEGV), (faults.oom, signal.SIGKILL)):
            if flag:
                sys.stdout.flush()
                sys.stderr.flush()
                if sig != signal.SIGKILL:
                    signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

    def _latency_us(self, first: bool) -> float:
        soc, placement = self._board.soc, self._plan.placement
        slowdown = self._faults.slowdown
        if not first:
            return _cost.inference_us(soc, placement, self._threads, slowdown)
        cache_file = None
        if self._kind == "vx" and self._plan.partitions > 0:
            cache_file = _board.graph_cache_file(
                os.environ, self._options, self._info.sha256, self._unit
            )
        warm = cache_file is not None and cache_file.exists()
        latency = _cost.first_inference_us(
            soc, placement, self._threads, graph_cache_warm=warm, slowdown=slowdown
        )
        if cache_file is not None and not warm:
            _board.write_graph_cache(cache_file, self._info.sha256, self._unit)
        return latency


_SPIN_S = 0.0002


def _wait_until(deadline: float) -> None:
    """Sleep until `deadline` (time.monotonic), spinning only the last 0.2 ms: time.sleep
    overshoots by tens of µs, too much for sub-millisecond NPU latencies."""
    remaining = deadline - time.monotonic()
    if remaining > _SPIN_S:
        time.sleep(remaining - _SPIN_S)
    while time.monotonic() < deadline:
        pass
