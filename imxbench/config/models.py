"""The models of a run: `--model A --model B,C` or a models.yaml, as a list of ModelEntry.

models.yaml (format 1; paths are relative to the file):

    models:
      - path: resnet8.tflite            # required
        name: resnet8                   # default: the file's stem
        dataset: data/cifar-10-batches-py   # accuracy on this test set (none: latency only)
        limit: 500                      # a stratified sample of the data set
        channel_order: rgb              # rgb | bgr
        mean: 127.5                     # x = (pixel - mean) * scale, one number or one per
        scale: 0.0078125                #   channel (R, G, B); float or quantized inputs
        labels: [airplane, automobile, ...]   # the model's class names, in output order; a
                                        #   data set naming its classes is matched by name
        skip_delegates: [gpu]           # not run for this model: skipped cells

Validated with config/schema.py: every error is one line naming the file, the key path and the
value. Nothing here touches a board or the model's contents (the job checks the models).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imxbench.config.schema import (
    Field,
    Schema,
    Where,
    is_str,
    list_of,
    load_yaml_mapping,
    one_of,
    positive_int,
    type_name,
)
from imxbench.errors import ConfigError

MODELS_FORMAT = 1
MAX_MODELS = 64
"""More models than this in one run is refused (a matrix of 64 models is already a night)."""
MAX_NAME_CHARS = 64
"""A model's name (models.yaml `name`): a label for people, not a description."""


@dataclass(frozen=True)
class ModelEntry:
    """One model of a run, with what models.yaml says about it."""

    path: Path
    name: str
    dataset: Path | None = None
    limit: int | None = None
    channel_order: str = "rgb"
    mean: tuple[float, ...] | None = None
    """Per channel (R, G, B) or one value: x = (pixel - mean) * scale."""
    scale: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    skip_delegates: tuple[str, ...] = ()
    source: str | None = None
    """Where the entry was given: `models.yaml: models[1]`, or `--model` (for errors)."""

    @property
    def from_models_file(self) -> bool:
        return bool(self.source) and not str(self.source).startswith("--model")


def entries_from_options(
    model_paths: Sequence[Path],
    models_file: Path | None,
    default: Path,
    known_delegates: Collection[str] = (),
) -> list[ModelEntry]:
    """`--model` (repeatable, each possibly a comma list) then `--models FILE`; neither: the
    default model. ConfigError (one line) for a missing file or a name used twice."""
    entries = [
        _given(Path(part.strip()))
        for given in model_paths
        for part in str(given).split(",")
        if part.strip()
    ]
    if models_file is not None:
        entries += load_models_file(models_file, known_delegates)
    if not entries:
        entries = [_given(default)]
    if len(entries) > MAX_MODELS:
        raise ConfigError(f"{len(entries)} models: at most {MAX_MODELS} in one run")
    seen: dict[str, ModelEntry] = {}
    for entry in entries:
        if entry.name in seen:
            raise ConfigError(
                f"{entry.source}: model name {entry.name!r} is used twice "
                f"(also {seen[entry.name].source})",
                "give each model its own name (models.yaml: name)",
            )
        seen[entry.name] = entry
    return entries


def _given(path: Path) -> ModelEntry:
    if path.is_dir():
        raise ConfigError(f"{path}: a directory, not a .tflite model file (--model)")
    if not path.is_file():
        raise ConfigError(f"{path}: model file not found (--model)")
    return ModelEntry(path=path, name=path.stem, source=f"--model {path}")


def load_models_file(path: Path, known_delegates: Collection[str] = ()) -> list[ModelEntry]:
    """The entries of a models.yaml (module docstring); ConfigError naming file, key and value."""
    data, where = load_yaml_mapping(path)
    top = Schema(
        {
            "format": Field(_format),
            "models": Field(list_of(_raw_mapping), required=True),
        }
    ).apply(data, where)
    items = top["models"]
    if not items:
        raise where.child("models").error("no model listed")
    base = path.parent
    schema = _entry_schema(base, known_delegates)
    entries = []
    for index, item in enumerate(items):
        at = where.child("models").child(index)
        values = schema.apply(item, at)
        model = values["path"]
        entries.append(
            ModelEntry(
                path=model,
                name=values["name"] or model.stem,
                dataset=values["dataset"],
                limit=values["limit"],
                channel_order=values["channel_order"],
                mean=values["mean"],
                scale=values["scale"],
                labels=tuple(values["labels"]) if values["labels"] else None,
                skip_delegates=tuple(dict.fromkeys(values["skip_delegates"] or ())),
                source=f"{at.file}: {at.path}",
            )
        )
        if values["dataset"] is None and any(
            values[k] is not None for k in ("limit", "mean", "scale", "labels")
        ):
            key = next(k for k in ("limit", "mean", "scale", "labels") if values[k] is not None)
            raise at.child(key).error("needs a dataset (this model has none: latency only)")
    return entries


def _format(value: Any, where: Where) -> int:
    if value != MODELS_FORMAT or isinstance(value, bool):
        raise where.error(f"unknown format {value!r}; this imxbench reads format {MODELS_FORMAT}")
    return MODELS_FORMAT


def _raw_mapping(value: Any, where: Where) -> Any:
    if not isinstance(value, dict):
        raise where.error(f"expected a mapping (path: ..., name: ...), got {type_name(value)}")
    return value


def _entry_schema(base: Path, known_delegates: Collection[str]) -> Schema:
    def existing_file(value: Any, where: Where) -> Path:
        resolved = _relative(base, is_str(value, where))
        if resolved.is_dir():
            raise where.error(f"{value!r} is a directory, not a .tflite model file")
        if not resolved.is_file():
            raise where.error(f"model file not found: {value!r} (looked for {resolved})")
        return resolved

    def existing_path(value: Any, where: Where) -> Path:
        resolved = _relative(base, is_str(value, where))
        if not resolved.exists():
            raise where.error(f"not found: {value!r} (looked for {resolved})")
        return resolved

    def name(value: Any, where: Where) -> str:
        text = is_str(value, where).strip()
        if not all(c.isalnum() or c in "._-+" for c in text):
            raise where.error(f"{text!r}: use letters, digits and . _ - + only")
        if len(text) > MAX_NAME_CHARS:  # it prefixes every progress line and table
            raise where.error(
                f"{text[:20]!r}...: {len(text)} characters; at most {MAX_NAME_CHARS}"
            )
        return text

    def delegate(value: Any, where: Where) -> str:
        text = is_str(value, where)
        if known_delegates and text not in known_delegates:
            raise where.error(
                f"unknown delegate {text!r}; known: {', '.join(sorted(known_delegates))}"
            )
        return text

    return Schema(
        {
            "path": Field(existing_file, required=True),
            "name": Field(name),
            "dataset": Field(existing_path),
            "limit": Field(positive_int),
            "channel_order": Field(one_of("rgb", "bgr"), default="rgb"),
            "mean": Field(_per_channel(positive=False)),
            "scale": Field(_per_channel(positive=True)),
            "labels": Field(list_of(is_str)),
            "skip_delegates": Field(list_of(delegate)),
        }
    )


def _relative(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _per_channel(positive: bool) -> Any:
    """One finite number, or a list of 3 (R, G, B); `positive`: each above 0."""

    def number(value: Any, where: Where) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or (positive and value <= 0):
            wanted = "a finite number above 0" if positive else "a finite number"
            raise where.error(f"expected {wanted}, got {value!r}")
        return float(value)

    def check(value: Any, where: Where) -> tuple[float, ...]:
        if isinstance(value, list):
            if len(value) != 3:
                raise where.error(f"expected one number or 3 (R, G, B), got {len(value)}")
            return tuple(number(v, where.child(i)) for i, v in enumerate(value))
        return (number(value, where),)

    return check
