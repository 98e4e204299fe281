"""Read a .tflite flatbuffer: the handful of fields model_info.py needs, and nothing else.

Why not the schema classes that ship with ethos-u-vela (what model_info used before): importing
them loads the flatbuffers runtime, numpy and Vela's package, ~0.13 s on the critical path of
every `imxbench run` for a dozen fields. This module uses `struct` only.

The format (flatbuffers' "binary format" doc): little-endian; the file starts with the offset
of the root table. A table starts with a signed offset back to its vtable; the vtable lists,
per field, the field's offset inside the table (0: absent, so the schema's default). A field
holding a table, vector or string holds an unsigned offset to it, relative to the field. A
vector is a uint32 length followed by its elements; a string is a vector of bytes.

Field numbers below are TensorFlow Lite's schema.fbs: a table's fields in declaration order,
from 0. Every read is bounds-checked: a corrupt file raises FlatbufferError; no read goes out of
range and no vector claims more elements than the file can hold.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# TensorFlow Lite schema.fbs field numbers (table: field = number)
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS = 1, 2, 3, 4
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 1, 2, 3, 4
QUANT_SCALE, QUANT_ZERO_POINT = 2, 3
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
OPCODE_DEPRECATED_BUILTIN_CODE, OPCODE_CUSTOM_CODE, OPCODE_BUILTIN_CODE = 0, 1, 3
OPERATOR_OPCODE_INDEX, OPERATOR_INPUTS, OPERATOR_OUTPUTS, OPERATOR_BUILTIN_OPTIONS = 0, 1, 2, 4
POOL2D_FILTER_WIDTH, POOL2D_FILTER_HEIGHT = 3, 4


class FlatbufferError(ValueError):
    """The bytes are not a well-formed flatbuffer where a field was read."""


@dataclass(frozen=True)
class Table:
    """One table of the buffer, at `pos`."""

    buf: bytes
    pos: int

    @classmethod
    def root(cls, buf: bytes) -> Table:
        return cls(buf, _deref(buf, 0))

    def _field(self, field: int) -> int:
        """The absolute position of `field`, or 0 when it is absent."""
        vtable = self.pos - _read(self.buf, "<i", self.pos)
        vtable_size = _read(self.buf, "<H", vtable)
        entry = 4 + 2 * field
        if entry + 2 > vtable_size:
            return 0
        offset = _read(self.buf, "<H", vtable + entry)
        return self.pos + offset if offset else 0

    def scalar(self, field: int, fmt: str, default: Any = 0) -> Any:
        """A scalar field (`fmt`: a struct code, e.g. "<i"), or the schema's default."""
        at = self._field(field)
        return _read(self.buf, fmt, at) if at else default

    def table(self, field: int) -> Table | None:
        at = self._field(field)
        return Table(self.buf, _deref(self.buf, at)) if at else None

    def string(self, field: int) -> bytes | None:
        at = self._field(field)
        if not at:
            return None
        start, length = _vector(self.buf, _deref(self.buf, at), 1)
        return self.buf[start : start + length]

    def scalars(self, field: int, fmt: str) -> tuple[Any, ...]:
        """A vector of scalars (`fmt`: one struct code, e.g. "<i")."""
        at = self._field(field)
        if not at:
            return ()
        size = struct.calcsize(fmt)
        start, length = _vector(self.buf, _deref(self.buf, at), size)
        return struct.unpack_from(f"<{length}{fmt[-1]}", self.buf, start)

    def tables(self, field: int) -> list[Table]:
        """A vector of tables."""
        at = self._field(field)
        if not at:
            return []
        start, length = _vector(self.buf, _deref(self.buf, at), 4)
        return [Table(self.buf, _deref(self.buf, start + 4 * i)) for i in range(length)]

    def vector_length(self, field: int, element_size: int) -> int:
        """The length of a vector field (0 when absent), without reading its elements."""
        at = self._field(field)
        return _vector(self.buf, _deref(self.buf, at), element_size)[1] if at else 0


def _read(buf: bytes, fmt: str, at: int) -> Any:
    if at < 0 or at + struct.calcsize(fmt) > len(buf):
        raise FlatbufferError(f"read of {fmt} at {at} outside the {len(buf)}-byte buffer")
    return struct.unpack_from(fmt, buf, at)[0]


def _deref(buf: bytes, at: int) -> int:
    """The position an unsigned offset stored at `at` points to."""
    return at + _read(buf, "<I", at)


def _vector(buf: bytes, at: int, element_size: int) -> tuple[int, int]:
    """(first element's position, length) of the vector at `at`; its elements must fit."""
    length = _read(buf, "<I", at)
    if at + 4 + length * element_size > len(buf):
        raise FlatbufferError(f"vector of {length} elements at {at} runs past the buffer")
    return at + 4, length


@cache
def builtin_operator_names() -> dict[int, str]:
    """TFLite's BuiltinOperator enum (code -> name), from the schema module that ships in
    ethos-u-vela, loaded by its file: importing it as ethosu.vela.tflite.BuiltinOperator would
    start Vela's package first (50 ms)."""
    enum: Any = None
    spec = importlib.util.find_spec("ethosu")  # a namespace package: finding runs nothing
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "vela" / "tflite" / "BuiltinOperator.py"
        module_spec = importlib.util.spec_from_file_location("_imxbench_builtin_operator", path)
        if path.is_file() and module_spec is not None and module_spec.loader is not None:
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            enum = module.BuiltinOperator
            break
    if enum is None:
        from ethosu.vela.tflite.BuiltinOperator import BuiltinOperator

        enum = BuiltinOperator
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}
