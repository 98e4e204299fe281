"""The delegate catalogue: the shipped files load, selection per SoC, errors name file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.config.delegates import (
    DelegateSpec,
    delegates_for_soc,
    external_delegate_options,
    load_catalogue,
    select_delegates,
)
from imxbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

VALID_VX: dict[str, Any] = {
    "description": "i.MX 8M Plus NPU",
    "socs": ["imx8mp"],
    "prepare": "none",
    "requires_int": True,
    "external_delegate_path": "/usr/lib/libvx_delegate.so",
    "delegate_options": {"allowed_cache_mode": True, "cache_file_path": "/tmp/vx.nb"},
    "env": {"USE_GPU_INFERENCE": 0, "VIV_VX_CACHE_BINARY_GRAPH_DIR": "{workdir}/cache/vx-npu"},
    "benchmark_args": ["--use_xnnpack=false"],
    "graph_cache_env": "VIV_VX_CACHE_BINARY_GRAPH_DIR",
}


def write_catalogue(folder: Path, files: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        (folder / name).write_text(text)
    return folder


def error_of(folder: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_catalogue(folder)
    assert "\n" not in info.value.message
    return info.value.message


# -- the shipped catalogue --------------------------------------------------------------------
def test_shipped_catalogue_loads_with_nxp_settings() -> None:
    catalogue = load_catalogue()
    assert list(catalogue) == ["cpu", "ethosu", "gpu", "vx"]
    cpu, ethosu, gpu, vx = (catalogue[n] for n in ("cpu", "ethosu", "gpu", "vx"))

    assert cpu.threads == ("1", "all") and cpu.external_delegate_path is None
    assert set(cpu.socs) == {"imx8mp", "imx93", "imx95"} and not cpu.requires_int

    assert vx.external_delegate_path == gpu.external_delegate_path == "/usr/lib/libvx_delegate.so"
    assert vx.env == {
        "USE_GPU_INFERENCE": "0",
        "VIV_VX_ENABLE_CACHE_GRAPH_BINARY": "1",
        "VIV_VX_CACHE_BINARY_GRAPH_DIR": "{workdir}/cache/vx-npu",
    }
    assert gpu.env["USE_GPU_INFERENCE"] == "1"
    assert gpu.env["VIV_VX_CACHE_BINARY_GRAPH_DIR"] == "{workdir}/cache/vx-gpu"
    assert vx.graph_cache_env == gpu.graph_cache_env == "VIV_VX_CACHE_BINARY_GRAPH_DIR"
    assert vx.requires_int and not gpu.requires_int
    assert vx.socs == gpu.socs == ("imx8mp",) and vx.threads == gpu.threads == ()

    assert ethosu.socs == ("imx93",) and ethosu.prepare == "vela" and ethosu.requires_int
    assert ethosu.external_delegate_path == "/usr/lib/libethosu_delegate.so"
    assert ethosu.vela is not None
    args = ethosu.vela.args()
    assert args[:2] == ["--accelerator-config", "ethos-u65-256"]  # never upstream's U55 default
    assert "Ethos_U65_High_End" in args and "Dedicated_Sram" in args
    assert all(spec.vela is None for spec in (cpu, gpu, vx))


def test_catalogue_folder_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_catalogue(tmp_path / "mine", {"vx.yaml": VALID_VX})
    monkeypatch.setenv("IMXBENCH_DELEGATES", str(folder))
    assert list(load_catalogue()) == ["vx"]


def test_delegates_per_soc_cpu_first() -> None:
    catalogue = load_catalogue()
    assert [s.name for s in delegates_for_soc(catalogue, "imx8mp")] == ["cpu", "gpu", "vx"]
    assert [s.name for s in delegates_for_soc(catalogue, "imx93")] == ["cpu", "ethosu"]
    assert [s.name for s in delegates_for_soc(catalogue, "imx95")] == ["cpu"]
    assert [s.name for s in select_delegates(catalogue, "imx93", None)] == ["cpu", "ethosu"]


def test_select_named_delegates_in_the_order_given() -> None:
    catalogue = load_catalogue()
    chosen = select_delegates(catalogue, "imx8mp", " vx, cpu,vx ")
    assert [s.name for s in chosen] == ["vx", "cpu"]


def test_select_unknown_delegate_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown delegate 'npu'; known: cpu, ethosu, gpu, vx"):
        select_delegates(load_catalogue(), "imx8mp", "cpu,npu")


def test_select_delegate_of_another_soc_names_soc_and_its_socs() -> None:
    with pytest.raises(ConfigError) as info:
        select_delegates(load_catalogue(), "imx93", "vx")
    assert "delegate 'vx' does not run on imx93 (it runs on: imx8mp)" in info.value.message
    assert "delegates for imx93: cpu, ethosu" in info.value.message


def test_select_nothing_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no delegate named"):
        select_delegates(load_catalogue(), "imx8mp", " , ")


def test_external_delegate_options_syntax(tmp_path: Path) -> None:
    spec = load_catalogue(write_catalogue(tmp_path / "delegates", {"vx.yaml": VALID_VX}))["vx"]
    assert isinstance(spec, DelegateSpec)
    assert external_delegate_options(spec) == "allowed_cache_mode:true;cache_file_path:/tmp/vx.nb"
    assert spec.env["USE_GPU_INFERENCE"] == "0"
    assert external_delegate_options(load_catalogue()["vx"]) == ""


# -- validation: every error names file and key path ------------------------------------------
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, "colour: unknown key; known keys: benchmark_args, delegate_options"),
        ({"description": None}, "description: missing required key"),
        ({"requires_int": "yes"}, "requires_int: expected true or false, got a string"),
        ({"socs": ["imx8mq"]}, "socs[0]: unknown value 'imx8mq'; expected one of: imx8mp, imx93"),
        ({"socs": []}, "socs: expected at least one SoC"),
        ({"socs": "imx8mp"}, "socs: expected a list, got a string"),
        ({"prepare": "tvm"}, "prepare: unknown value 'tvm'; expected one of: none, vela"),
        (
            {"external_delegate_path": "libvx_delegate.so"},
            "external_delegate_path: must be an absolute path",
        ),
        ({"external_delegate_path": 3}, "external_delegate_path: expected a non-empty string"),
        (
            {"delegate_options": {"cache_file_path": "a;b"}},
            "delegate_options.cache_file_path: option value 'a;b' contains ';'",
        ),
        (
            {"delegate_options": {"cache_file_path": "c:/x"}},
            "delegate_options.cache_file_path: option value 'c:/x' contains ':'",
        ),
        (
            {"delegate_options": {"device:id": "0"}},
            "delegate_options.device:id: option key 'device:id' contains ':'",
        ),
        ({"delegate_options": ["a:b"]}, "delegate_options: expected a mapping, got a list"),
        (
            {"env": {"USE_GPU_INFERENCE": [0]}},
            "env.USE_GPU_INFERENCE: expected a scalar value, got a list",
        ),
        (
            {"env": {"USE_GPU_INFERENCE": "0", "VIV_VX_CACHE_BINARY_GRAPH_DIR": "{work_dir}/c"}},
            "env.VIV_VX_CACHE_BINARY_GRAPH_DIR: unknown placeholder {work_dir}",
        ),
        ({"env": {"1BAD": "x"}}, "env.1BAD: '1BAD' is not an environment variable name"),
        (
            {"env": {"USE_GPU_INFERENCE": "0"}},
            "graph_cache_env: 'VIV_VX_CACHE_BINARY_GRAPH_DIR' is not set in env",
        ),
        (
            {"benchmark_args": ["--num_threads=4"]},
            "benchmark_args[0]: --num_threads is set by the harness: use the key threads",
        ),
        (
            {"benchmark_args": ["num_runs=4"]},
            "benchmark_args[0]: expected one '--flag' or '--flag=value' argument",
        ),
        ({"threads": [0]}, "threads[0]: expected a positive thread count or 'all', got 0"),
        ({"threads": ["1", 1]}, "threads: lists a thread count twice"),
        ({"prepare": "vela"}, "vela: required when prepare is vela"),
        ({"vela": {"accelerator_config": "ethos-u65-256"}}, "vela: only allowed when prepare is"),
        (
            {"prepare": "vela", "vela": {"accelerator_config": "u65"}},
            "vela.accelerator_config: expected a Vela accelerator such as ethos-u65-256",
        ),
        (
            {"prepare": "vela", "vela": {"accelerator_config": "ethos-u65-256", "x": 1}},
            "vela.x: unknown key",
        ),
        (
            {
                "prepare": "vela",
                "vela": {"accelerator_config": "ethos-u65-256", "extra_args": ["--output-dir=x"]},
            },
            "vela.extra_args[0]: --output-dir is set by the harness",
        ),
        ({"prepare": "vela", "vela": "ethos-u65-256"}, "vela: expected a mapping, got a string"),
        ({"external_delegate_path": None}, "delegate_options: options need an external delegate"),
    ],
)
def test_errors_name_file_and_key_path(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    data = {**VALID_VX, **change}
    data = {k: v for k, v in data.items() if v is not None}
    folder = write_catalogue(tmp_path / "delegates", {"vx.yaml": data})
    message = error_of(folder)
    assert message.startswith(f"{folder / 'vx.yaml'}: ")
    assert f"delegates/vx.yaml: {expected}" in message


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("vx.yaml", "socs: [imx8mp\n", "delegates/vx.yaml: line"),
        ("vx.yaml", "- a list\n", "delegates/vx.yaml: expected a mapping at the top level"),
        ("Big NPU.yaml", yaml.safe_dump(VALID_VX), "delegates/Big NPU.yaml: delegate name"),
    ],
)
def test_file_level_errors(tmp_path: Path, name: str, text: str, expected: str) -> None:
    folder = write_catalogue(tmp_path / "delegates", {name: text})
    assert expected in error_of(folder)


def test_missing_or_empty_catalogue_folder(tmp_path: Path) -> None:
    assert "delegate catalogue folder not found" in error_of(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "no delegate files" in error_of(tmp_path / "empty")


def test_loaded_specs_do_not_share_mutable_defaults(tmp_path: Path) -> None:
    bare = {"description": "x", "socs": ["imx93"]}
    catalogue = load_catalogue(write_catalogue(tmp_path / "d", {"a.yaml": bare, "b.yaml": bare}))
    catalogue["a"].env["X"] = "1"
    assert catalogue["b"].env == {} and load_catalogue(tmp_path / "d")["a"].env == {}


KEYS = [*VALID_VX, "threads", "vela", "accelerator_config", "extra_args", "socs", "x"]


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
        ),
        max_leaves=14,
    )
)
def test_loader_never_raises_anything_but_config_error(tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "vx.yaml").write_text(yaml.safe_dump(data))
    try:
        load_catalogue(folder)
    except ConfigError as exc:
        assert "\n" not in exc.message


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([*VALID_VX, "threads", "vela", "prepare"]),
    st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=6) | st.sampled_from(KEYS), children, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_one_bad_value_in_a_valid_file_is_a_config_error(tmp_path_factory, key, value) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "vx.yaml").write_text(yaml.safe_dump({**VALID_VX, key: value}))
    try:
        load_catalogue(folder)
    except ConfigError as exc:
        assert "\n" not in exc.message
        assert exc.message.startswith(str(folder / "vx.yaml"))
