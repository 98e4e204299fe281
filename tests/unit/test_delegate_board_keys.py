"""The delegate-file keys of issue 16: `npu_profile` (what --npu-profile adds) and
`vela.compile` (where Vela compiles; `--vela-on` overrides it): validated with the file and key
path, and the shipped catalogue's values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imxbench.config.delegates import load_catalogue, with_vela_on
from imxbench.errors import ConfigError

BASE = {
    "description": "d",
    "socs": ["imx93"],
    "prepare": "vela",
    "external_delegate_path": "/usr/lib/libethosu_delegate.so",
    "vela": {"accelerator_config": "ethos-u65-256"},
}


def load_one(tmp_path: Path, **changes: object) -> object:
    (tmp_path / "npu.yaml").write_text(yaml.safe_dump({**BASE, **changes}))
    return load_catalogue(tmp_path)["npu"]


def test_shipped_npu_profiles_and_vela_compile() -> None:
    catalogue = load_catalogue()
    ethosu = catalogue["ethosu"]
    assert ethosu.npu_profile is not None and ethosu.npu_profile.env == {}
    assert ethosu.npu_profile.delegate_options == {
        "enable_cycle_counter": "true",
        "enable_profiling": "true",
        "pmu_event0": "3",
        "pmu_event1": "4",
        "pmu_event2": "5",
        "pmu_event3": "6",
    }
    assert ethosu.vela is not None and ethosu.vela.compile_on == "host"
    for name in ("vx", "gpu"):
        profile = catalogue[name].npu_profile
        assert profile is not None and profile.env == {"VIV_VX_DEBUG_LEVEL": "1", "CNN_PERF": "1"}
    assert catalogue["cpu"].npu_profile is None


def test_with_vela_on_overrides_every_vela_delegate() -> None:
    catalogue = with_vela_on(load_catalogue(), "board")
    assert catalogue["ethosu"].vela is not None
    assert catalogue["ethosu"].vela.compile_on == "board"
    assert catalogue["vx"].vela is None  # no Vela, unchanged
    assert with_vela_on(load_catalogue(), None) == load_catalogue()
    with pytest.raises(ConfigError, match="--vela-on 'cloud'"):
        with_vela_on(load_catalogue(), "cloud")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"vela": {"accelerator_config": "ethos-u65-256", "compile": "cloud"}},
            "npu.yaml: vela.compile: unknown value 'cloud'; expected one of: host, board, auto",
        ),
        ({"npu_profile": {}}, "npu.yaml: npu_profile: names no delegate_options and no env"),
        (
            {"npu_profile": {"delegate_options": {"pmu_event0": "3;x"}}},
            "npu.yaml: npu_profile.delegate_options.pmu_event0: option value '3;x' contains ';'",
        ),
        (
            {"npu_profile": {"env": {"1BAD": "1"}}},
            "npu.yaml: npu_profile.env.1BAD: '1BAD' is not an environment variable name",
        ),
        (
            {"npu_profile": {"cycles": True}},
            "npu.yaml: npu_profile.cycles: unknown key; known keys: delegate_options, env",
        ),
        (
            {"external_delegate_path": None, "npu_profile": {"delegate_options": {"a": "1"}}},
            "npu.yaml: npu_profile.delegate_options: options need an external delegate",
        ),
    ],
)
def test_bad_keys_name_file_and_key_path(
    tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_one(tmp_path, **changes)
    assert expected in info.value.message.replace(str(tmp_path) + "/", "")


def test_board_compile_and_env_only_profile_load(tmp_path: Path) -> None:
    spec = load_one(
        tmp_path,
        vela={"accelerator_config": "ethos-u65-256", "compile": "auto"},
        npu_profile={"env": {"X_PROFILE": 1}},
    )
    assert spec.vela.compile_on == "auto"  # type: ignore[attr-defined]
    assert spec.npu_profile.env == {"X_PROFILE": "1"}  # type: ignore[attr-defined]
