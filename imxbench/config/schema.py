"""A tiny validator for our YAML files: every error names the file and the key path.

Used by the lab inventory (boards.yaml) and the delegate catalogue (delegates/*.yaml).
Unknown keys are errors, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imxbench.errors import ConfigError


@dataclass(frozen=True)
class Where:
    """A location inside a YAML file, for error messages: `boards.yaml: boards.imx8mp.port`."""

    file: str
    path: str = ""

    def child(self, key: str | int) -> Where:
        if isinstance(key, int):
            return Where(self.file, f"{self.path}[{key}]")
        name = str(key)
        if not name or not name.isprintable():  # a key with a newline must not break the line
            name = repr(name)
        return Where(self.file, f"{self.path}.{name}" if self.path else name)

    def error(self, problem: str, hint: str | None = None) -> ConfigError:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return ConfigError(f"{where}: {problem}", hint)


def load_yaml_mapping(path: Path, label: str | None = None) -> tuple[dict[str, Any], Where]:
    """Read a YAML file whose top level must be a mapping; any problem is a ConfigError."""
    import yaml  # imported here: `imxbench --help` should not pay for it

    where = Where(label or str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise where.error("file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise where.error(f"{line}invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise where.error(f"expected a mapping at the top level, got {type_name(data)}")
    return data, where


def type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Field:
    """One allowed key: a checker turns the raw value into a typed one or raises at `where`."""

    check: Callable[[Any, Where], Any]
    required: bool = False
    default: Any = None


@dataclass
class Schema:
    fields: dict[str, Field] = field(default_factory=dict)

    def apply(self, data: Any, where: Where) -> dict[str, Any]:
        """Validate a mapping: unknown keys and missing required keys are errors."""
        if not isinstance(data, Mapping):
            raise where.error(f"expected a mapping, got {type_name(data)}")
        unknown = [k for k in data if k not in self.fields]
        if unknown:
            known = ", ".join(sorted(self.fields))
            raise where.child(str(unknown[0])).error(f"unknown key; known keys: {known}")
        out: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key in data and data[key] is not None:
                out[key] = spec.check(data[key], where.child(key))
            elif spec.required:
                raise where.child(key).error("missing required key")
            else:
                out[key] = spec.default
        return out


def is_str(value: Any, where: Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"expected a non-empty string, got {type_name(value)}")
    if "\n" in value or "\0" in value:
        raise where.error("must be a single line")
    return value


def is_bool(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {type_name(value)}")
    return value


def is_port(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise where.error(f"expected a port number 1-65535, got {value!r}")
    return value


def positive_int(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f"expected a positive integer, got {value!r}")
    return value


def positive_number(value: Any, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise where.error(f"expected a positive number, got {value!r}")
    return float(value)


def one_of(*choices: str) -> Callable[[Any, Where], str]:
    def check(value: Any, where: Where) -> str:
        if value not in choices:
            raise where.error(f"unknown value {value!r}; expected one of: {', '.join(choices)}")
        return str(value)

    return check


def list_of(item: Callable[[Any, Where], Any]) -> Callable[[Any, Where], list[Any]]:
    def check(value: Any, where: Where) -> list[Any]:
        if not isinstance(value, list):
            raise where.error(f"expected a list, got {type_name(value)}")
        return [item(v, where.child(i)) for i, v in enumerate(value)]

    return check


def str_map(value: Any, where: Where) -> dict[str, str]:
    """A mapping of names to scalar values, kept as strings (environment, delegate options)."""
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping, got {type_name(value)}")
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not key:
            raise where.error(f"keys must be non-empty strings, got {key!r}")
        if isinstance(raw, bool):
            out[key] = "true" if raw else "false"
        elif isinstance(raw, int | float | str):
            out[key] = str(raw)
        else:
            raise where.child(key).error(f"expected a scalar value, got {type_name(raw)}")
    return out
