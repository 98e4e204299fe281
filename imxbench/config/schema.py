"""A tiny validator for our YAML files: every error names the file and the key path.

Used by the lab inventory (boards.yaml) and the delegate catalogue (delegates/*.yaml).
Unknown keys are errors, never silently ignored.
"""

from __future__ import annotations

import math
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


MAX_YAML_BYTES = 1 << 20
"""A boards.yaml or delegate file larger than this (1 MiB) is refused unread."""
MAX_YAML_NODES = 100_000
"""The most values a document may hold once its aliases are expanded (the alias budget): a few
lines of nested aliases ("billion laughs") would otherwise grow without limit when walked."""


def load_yaml_mapping(path: Path, label: str | None = None) -> tuple[dict[str, Any], Where]:
    """Read a YAML file whose top level must be a mapping; any problem is a ConfigError.

    Bounded: at most MAX_YAML_BYTES, and MAX_YAML_NODES values with aliases expanded; a key
    given twice in one mapping is an error (YAML would silently keep the last one)."""
    import yaml  # imported here: `imxbench --help` should not pay for it

    where = Where(label or str(path))
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise where.error(f"larger than {MAX_YAML_BYTES // 1024} KiB; refusing to read it")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise where.error("file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"cannot read: {exc}") from None
    try:
        data = _bounded_yaml(text)
    except _YamlLimit as exc:
        raise where.error(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise where.error(f"{line}invalid YAML: {problem}") from None
    except RecursionError:
        raise where.error("invalid YAML: nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise where.error(f"expected a mapping at the top level, got {type_name(data)}")
    return data, where


class _YamlLimit(Exception):
    """A document over a bound (alias budget, duplicate key): the message names the line."""


def _bounded_yaml(text: str) -> Any:
    """yaml.safe_load, with the alias budget and duplicate keys refused."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults`: explicit keys override merged ones
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the constructor says so below
                    continue
                if duplicate:
                    line = key_node.start_mark.line + 1
                    raise _YamlLimit(f"line {line}: duplicate key {_shown(key)}")
            return super().construct_mapping(node, deep=deep)

    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expanded_size(root: Any) -> None:
    """Refuse a node graph that holds more than MAX_YAML_NODES values with aliases expanded
    (aliases share nodes: sizes are memoized, so this costs one visit per distinct node)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            line = node.start_mark.line + 1
            raise _YamlLimit(f"line {line}: a recursive alias; not supported")
        active.add(key)
        total = 1
        if isinstance(node.value, list):
            for item in node.value:
                if isinstance(item, tuple):  # a mapping's (key, value) pair
                    total += size(item[0]) + size(item[1])
                else:
                    total += size(item)
                if total > MAX_YAML_NODES:
                    break
        active.discard(key)
        sizes[key] = total
        return total

    if size(root) > MAX_YAML_NODES:
        raise _YamlLimit(
            f"more than {MAX_YAML_NODES} values once its aliases are expanded; refusing it"
        )


def _shown(value: object) -> str:
    """A value for an error message: repr, cut short (it may be any size)."""
    import reprlib

    shorter = reprlib.Repr()
    shorter.maxstring = shorter.maxother = 60
    shorter.maxlist = shorter.maxdict = 4
    return shorter.repr(value)


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
        raise where.error(f"expected a port number 1-65535, got {_shown(value)}")
    return value


def positive_int(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f"expected a positive integer, got {_shown(value)}")
    return value


def positive_number(value: Any, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise where.error(f"expected a positive number, got {_shown(value)}")
    if not math.isfinite(value):  # `.nan` fails every comparison; `.inf` waits forever
        raise where.error(f"expected a finite positive number, got {_shown(value)}")
    return float(value)


def one_of(*choices: str) -> Callable[[Any, Where], str]:
    def check(value: Any, where: Where) -> str:
        if value not in choices:
            raise where.error(
                f"unknown value {_shown(value)}; expected one of: {', '.join(choices)}"
            )
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
