"""The delegate catalogue: one YAML file per delegate in `delegates/` (the file stem is its name).

A delegate says which SoCs it runs on, how a model is prepared for it on the host (`none` or
`vela`), which external delegate library benchmark_model loads, with which options and
environment, and whether it refuses float models. Adding a delegate (say i.MX 95 Neutron) is
adding a file; `delegates/README.md` documents the keys. Every error names the file and key path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from imxbench.config.inventory import SOCS
from imxbench.config.schema import (
    Field,
    Schema,
    Where,
    is_bool,
    is_str,
    list_of,
    load_yaml_mapping,
    one_of,
    str_map,
    type_name,
)
from imxbench.errors import ConfigError
from imxbench.prepare.steps import step_names

PREPARE_STEPS = step_names()
"""The model-preparation steps there are: one module each in imxbench/prepare/."""
ENV_CATALOGUE = "IMXBENCH_DELEGATES"
_PACKAGE = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = (
    _PACKAGE.parent / "delegates"  # a checkout: the editable source of the catalogue
    if (_PACKAGE.parent / "pyproject.toml").is_file() and (_PACKAGE.parent / "delegates").is_dir()
    else _PACKAGE / "catalogue"  # an installed wheel: the same files, shipped as package data
)
WORKDIR_PLACEHOLDER = "{workdir}"
FIRST = "cpu"
"""The delegate listed first for every SoC (the baseline the others are compared with)."""

# Flags the harness sets itself: a catalogue entry must not set them behind its back.
_OWNED_BENCHMARK_FLAGS = {
    "--graph": "the harness passes the model",
    "--external_delegate_path": "use the key external_delegate_path",
    "--external_delegate_options": "use the key delegate_options",
    "--num_threads": "use the key threads",
}
_OWNED_VELA_FLAGS = {
    "--output-dir": "the harness chooses the output folder",
    "--output-format": "the harness needs a .tflite output",
    "--accelerator-config": "use vela.accelerator_config",
    "--config": "use vela.config_file",
    "--system-config": "use vela.system_config",
    "--memory-mode": "use vela.memory_mode",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FLAG = re.compile(r"--[A-Za-z0-9][A-Za-z0-9_-]*(=.*)?\Z")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_ACCELERATOR = re.compile(r"ethos-u\d+-\d+\Z")


@dataclass(frozen=True)
class VelaSettings:
    """How Vela compiles a model for this delegate (the CLI flags, minus input and output)."""

    accelerator_config: str
    system_config: str | None
    memory_mode: str | None
    config_file: str | None
    extra_args: tuple[str, ...]
    compile_on: str = "host"
    """Where the model is compiled: "host" (the host's Vela, with these settings), "board"
    (the board's own Vela, NXP's fork, with NXP's defaults: `vela MODEL`), or "auto" (the board
    when its probe found `vela`, else the host). `--vela-on` overrides it."""

    def args(self) -> list[str]:
        """The Vela command-line arguments these settings stand for, in a fixed order."""
        out = ["--accelerator-config", self.accelerator_config]
        if self.config_file:
            out += ["--config", self.config_file]
        if self.system_config:
            out += ["--system-config", self.system_config]
        if self.memory_mode:
            out += ["--memory-mode", self.memory_mode]
        return out + list(self.extra_args)


@dataclass(frozen=True)
class DelegateSpec:
    """One delegate of the catalogue (`delegates/<name>.yaml`)."""

    name: str
    description: str
    socs: tuple[str, ...]
    prepare: str
    """How the host prepares a model: "none" (deploy as is) or "vela" (compile with Vela)."""
    requires_int: bool
    """Only integer-quantized models: float models are refused before anything is deployed."""
    external_delegate_path: str | None
    delegate_options: dict[str, str]
    """Passed as --external_delegate_options='k:v;k:v' and to load_delegate()."""
    env: dict[str, str]
    """Environment of benchmark_model; values may contain "{workdir}" (the board's workdir)."""
    benchmark_args: tuple[str, ...]
    """Extra "--flag=value" arguments for benchmark_model."""
    threads: tuple[str, ...]
    """Thread counts to run ("1", "all", "2", ...); () means benchmark_model's default."""
    graph_cache_env: str | None
    """The env var naming the NPU graph-cache folder; emptying that folder makes a cold run."""
    vela: VelaSettings | None
    npu_profile: NpuProfile | None = None
    """What `--npu-profile` adds to the cell's profile step (None: the delegate has none)."""


VELA_COMPILE_PLACES = ("host", "board", "auto")


@dataclass(frozen=True)
class NpuProfile:
    """The delegate's own NPU profiling (`npu_profile:` in its file): delegate options and
    environment added to the profile step only, never to the timed steps."""

    delegate_options: dict[str, str]
    env: dict[str, str]


def load_catalogue(folder: Path | None = None) -> dict[str, DelegateSpec]:
    """Load every `*.yaml` of the catalogue folder, validated; keys are delegate names.

    The folder defaults to $IMXBENCH_DELEGATES, else the repository's `delegates/`.
    """
    if folder is None:
        env = os.environ.get(ENV_CATALOGUE)
        folder = Path(env) if env else DEFAULT_FOLDER
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: delegate catalogue folder not found",
            f"point ${ENV_CATALOGUE} at the folder that holds cpu.yaml, vx.yaml, ...",
        )
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{folder}: no delegate files (*.yaml) in the catalogue folder")
    specs = [_load_one(path) for path in files]
    specs.sort(key=lambda s: (s.name != FIRST, s.name))
    return {spec.name: spec for spec in specs}


def delegates_for_soc(catalogue: Mapping[str, DelegateSpec], soc: str) -> list[DelegateSpec]:
    """The delegates that run on `soc`, in the catalogue's order (cpu first)."""
    return [spec for spec in catalogue.values() if soc in spec.socs]


def select_delegates(
    catalogue: Mapping[str, DelegateSpec], soc: str, names: str | None
) -> list[DelegateSpec]:
    """None: every delegate of the SoC; "a,b": those, checked to exist and to run on the SoC."""
    if names is None:
        chosen = delegates_for_soc(catalogue, soc)
        if not chosen:
            raise ConfigError(f"no delegate of the catalogue runs on {soc}")
        return chosen
    wanted = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip()))
    if not wanted:
        raise ConfigError(f"no delegate named in {names!r}; known: {', '.join(catalogue)}")
    out: list[DelegateSpec] = []
    for name in wanted:
        spec = catalogue.get(name)
        if spec is None:
            raise ConfigError(f"unknown delegate {name!r}; known: {', '.join(catalogue)}")
        if soc not in spec.socs:
            on_soc = ", ".join(s.name for s in delegates_for_soc(catalogue, soc)) or "none"
            raise ConfigError(
                f"delegate {name!r} does not run on {soc} (it runs on: {', '.join(spec.socs)});"
                f" delegates for {soc}: {on_soc}"
            )
        out.append(spec)
    return out


def with_vela_on(
    catalogue: Mapping[str, DelegateSpec], place: str | None
) -> dict[str, DelegateSpec]:
    """The catalogue with every Vela delegate compiling on `place` (`--vela-on`); None: as the
    delegate files say (their `vela.compile`)."""
    if place is None:
        return dict(catalogue)
    if place not in VELA_COMPILE_PLACES:
        raise ConfigError(f"--vela-on {place!r}: expected one of {', '.join(VELA_COMPILE_PLACES)}")
    return {
        name: replace(spec, vela=replace(spec.vela, compile_on=place)) if spec.vela else spec
        for name, spec in catalogue.items()
    }


def external_delegate_options(spec: DelegateSpec) -> str:
    """The options in benchmark_model's `--external_delegate_options` syntax: "k:v;k:v"."""
    return ";".join(f"{key}:{value}" for key, value in spec.delegate_options.items())


# -- validation -------------------------------------------------------------------------------
def _load_one(path: Path) -> DelegateSpec:
    data, where = load_yaml_mapping(path, str(path))
    name = path.stem
    if not _NAME.match(name):
        raise where.error(
            f"delegate name {name!r} (the file name) must be lower-case letters, digits, '-', '_'"
        )
    values = _SCHEMA.apply(data, where)
    env = dict(values["env"])
    if values["delegate_options"] and not values["external_delegate_path"]:
        raise where.child("delegate_options").error(
            "options need an external delegate; set external_delegate_path"
        )
    cache_env = values["graph_cache_env"]
    if cache_env is not None and cache_env not in env:
        raise where.child("graph_cache_env").error(
            f"{cache_env!r} is not set in env; name the env var that holds the cache folder"
        )
    if values["prepare"] == "vela" and values["vela"] is None:
        raise where.child("vela").error("required when prepare is vela")
    if values["prepare"] != "vela" and values["vela"] is not None:
        raise where.child("vela").error("only allowed when prepare is vela")
    return DelegateSpec(
        name=name,
        description=values["description"],
        socs=tuple(values["socs"]),
        prepare=values["prepare"],
        requires_int=values["requires_int"],
        external_delegate_path=values["external_delegate_path"],
        delegate_options=dict(values["delegate_options"]),
        env=env,
        benchmark_args=tuple(values["benchmark_args"]),
        threads=tuple(values["threads"]),
        graph_cache_env=cache_env,
        vela=values["vela"],
        npu_profile=_npu_profile_of(values["npu_profile"], values, where),
    )


def _npu_profile_of(
    profile: NpuProfile | None, values: dict[str, Any], where: Where
) -> NpuProfile | None:
    if profile is not None and profile.delegate_options and not values["external_delegate_path"]:
        at = where.child("npu_profile").child("delegate_options")
        raise at.error("options need an external delegate; set external_delegate_path")
    return profile


def _socs(value: Any, where: Where) -> list[str]:
    socs = list_of(one_of(*SOCS))(value, where)
    if not socs:
        raise where.error(f"expected at least one SoC of: {', '.join(SOCS)}")
    if len(set(socs)) != len(socs):
        raise where.error("lists a SoC twice")
    return socs


def _absolute_path(value: Any, where: Where) -> str:
    path = is_str(value, where)
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise where.error(f"must be an absolute path on the board without spaces, got {path!r}")
    return path


def _single_line_map(value: Any, where: Where) -> dict[str, str]:
    out = str_map(value, where)
    for key, text in out.items():
        if "\n" in key or "\0" in key or "\n" in text or "\0" in text:
            raise where.child(key).error("must be a single line")
    return out


def _delegate_options(value: Any, where: Where) -> dict[str, str]:
    out = _single_line_map(value, where)
    for key, text in out.items():
        for part, what in ((key, "key"), (text, "value")):
            bad = sorted({c for c in part if c in ";:"})
            if bad or not part.strip():
                problem = f"contains {' and '.join(repr(c) for c in bad)}" if bad else "is empty"
                raise where.child(key).error(
                    f"option {what} {part!r} {problem}; it would break the 'k:v;k:v' syntax"
                )
    return out


def _env(value: Any, where: Where) -> dict[str, str]:
    out = _single_line_map(value, where)
    for key, text in out.items():
        if not _ENV_NAME.match(key):
            raise where.child(key).error(f"{key!r} is not an environment variable name")
        for placeholder in _PLACEHOLDER.findall(text):
            if placeholder != WORKDIR_PLACEHOLDER:
                raise where.child(key).error(
                    f"unknown placeholder {placeholder}; the only one is {WORKDIR_PLACEHOLDER}"
                )
    return out


def _env_name(value: Any, where: Where) -> str:
    name = is_str(value, where)
    if not _ENV_NAME.match(name):
        raise where.error(f"{name!r} is not an environment variable name")
    return name


def _flag_checker(owned: Mapping[str, str]) -> Callable[[Any, Where], str]:
    def check(value: Any, where: Where) -> str:
        flag = is_str(value, where)
        if not _FLAG.match(flag):
            raise where.error(f"expected one '--flag' or '--flag=value' argument, got {flag!r}")
        name = flag.split("=", 1)[0]
        if name in owned:
            raise where.error(f"{name} is set by the harness: {owned[name]}")
        return flag

    return check


def _thread_count(value: Any, where: Where) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return str(value)
    if value == "all":
        return "all"
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) >= 1:
        return str(int(value))
    raise where.error(f"expected a positive thread count or 'all', got {value!r}")


def _threads(value: Any, where: Where) -> list[str]:
    threads = list_of(_thread_count)(value, where)
    if len(set(threads)) != len(threads):
        raise where.error("lists a thread count twice")
    return threads


def _accelerator(value: Any, where: Where) -> str:
    name = is_str(value, where)
    if not _ACCELERATOR.match(name):
        raise where.error(f"expected a Vela accelerator such as ethos-u65-256, got {name!r}")
    return name


def _vela(value: Any, where: Where) -> VelaSettings:
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping, got {type_name(value)}")
    values = _VELA_SCHEMA.apply(value, where)
    return VelaSettings(
        accelerator_config=values["accelerator_config"],
        system_config=values["system_config"],
        memory_mode=values["memory_mode"],
        config_file=values["config_file"],
        extra_args=tuple(values["extra_args"]),
        compile_on=values["compile"],
    )


def _settings_name(value: Any, where: Where) -> str:
    name = is_str(value, where)
    if name.startswith("-") or any(c.isspace() for c in name):
        raise where.error(f"expected a single Vela setting name, got {name!r}")
    return name


_VELA_SCHEMA = Schema(
    {
        "accelerator_config": Field(_accelerator, required=True),
        "system_config": Field(_settings_name),
        "memory_mode": Field(_settings_name),
        "config_file": Field(_settings_name),
        "extra_args": Field(list_of(_flag_checker(_OWNED_VELA_FLAGS)), default=[]),
        "compile": Field(one_of(*VELA_COMPILE_PLACES), default="host"),
    }
)


def _npu_profile(value: Any, where: Where) -> NpuProfile:
    values = _NPU_PROFILE_SCHEMA.apply(value, where)
    if not values["delegate_options"] and not values["env"]:
        raise where.error("names no delegate_options and no env; remove it or fill one in")
    return NpuProfile(dict(values["delegate_options"]), dict(values["env"]))


_NPU_PROFILE_SCHEMA = Schema(
    {
        "delegate_options": Field(_delegate_options, default={}),
        "env": Field(_env, default={}),
    }
)

_SCHEMA = Schema(
    {
        "description": Field(is_str, required=True),
        "socs": Field(_socs, required=True),
        "prepare": Field(one_of(*PREPARE_STEPS), default="none"),
        "requires_int": Field(is_bool, default=False),
        "external_delegate_path": Field(_absolute_path),
        "delegate_options": Field(_delegate_options, default={}),
        "env": Field(_env, default={}),
        "benchmark_args": Field(list_of(_flag_checker(_OWNED_BENCHMARK_FLAGS)), default=[]),
        "threads": Field(_threads, default=[]),
        "graph_cache_env": Field(_env_name),
        "vela": Field(_vela),
        "npu_profile": Field(_npu_profile),
    }
)
