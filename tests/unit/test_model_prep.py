"""Host-side model preparation: real Vela on the reference model, the cache, the refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from imxbench.analysis.model_info import inspect_model
from imxbench.config.delegates import DelegateSpec, load_catalogue
from imxbench.errors import ConfigError
from imxbench.prepare.model_prep import (
    PreparedModel,
    UnfitModel,
    check_model_for,
    default_cache_root,
    prepare_model,
)
from imxbench.prepare.vela import compile_with_vela, vela_run_count
from tests.locations import FLOAT_MODEL, QUANT_MODEL

INT8_MODEL = QUANT_MODEL
INT8_SHA256 = "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415"



@pytest.fixture(scope="module")
def catalogue() -> dict[str, DelegateSpec]:
    return load_catalogue()


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vela-cache")


@pytest.fixture(scope="module")
def compiled(catalogue: dict[str, DelegateSpec], cache_root: Path) -> PreparedModel:
    return prepare_model(INT8_MODEL, catalogue["ethosu"], cache_root)


def test_reference_model_compiles_entirely_onto_the_ethos_u65(compiled: PreparedModel) -> None:
    assert compiled.vela is not None and not compiled.vela.from_cache
    assert compiled.info.is_vela_compiled and compiled.graph != INT8_MODEL
    assert compiled.graph.name == "pretrainedResnet_quant_vela.tflite"
    summary = compiled.vela.summary
    assert (summary.npu_operators, summary.cpu_operators) == (42, 0)
    assert summary.macs == 12_505_748
    assert summary.accelerator_config == "Ethos_U65_256"
    assert (summary.system_config, summary.memory_mode) == ("Ethos_U65_High_End", "Dedicated_Sram")
    assert summary.core_clock_hz == 1e9
    assert 0 < summary.inference_time_s < 0.01
    assert summary.inference_time_us == pytest.approx(summary.inference_time_s * 1e6)
    assert summary.sram_used_kib > 0 and summary.dram_used_kib > 0
    assert summary.cycles_total >= summary.cycles_npu > 0
    assert compiled.vela.estimated_inference_us == summary.inference_time_us


def test_provenance_names_source_vela_and_arguments(compiled: PreparedModel) -> None:
    assert compiled.vela is not None and compiled.provenance is not None
    assert compiled.source == INT8_MODEL and compiled.source_sha256 == INT8_SHA256
    assert compiled.source_info.sha256 == INT8_SHA256 and not compiled.source_info.is_vela_compiled
    doc = compiled.provenance_doc
    assert doc == {
        "source_sha256": INT8_SHA256,
        "vela_version": compiled.vela.vela_version,
        "vela_args": list(compiled.vela.vela_args),
    }
    assert doc["vela_version"].split(".")[0].isdigit()
    assert doc["vela_args"][:2] == ["--accelerator-config", "ethos-u65-256"]
    assert compiled.provenance.name == f"{compiled.graph.name}.json"
    assert json.loads(compiled.provenance.read_text()) == doc


def test_second_call_is_served_from_the_cache(
    compiled: PreparedModel, catalogue: dict[str, DelegateSpec], cache_root: Path
) -> None:
    runs, mtime_ns = vela_run_count(), compiled.graph.stat().st_mtime_ns
    again = prepare_model(INT8_MODEL, catalogue["ethosu"], cache_root)
    assert vela_run_count() == runs
    assert again.vela is not None and again.vela.from_cache
    assert again.graph == compiled.graph and again.graph.stat().st_mtime_ns == mtime_ns
    assert again.vela.summary == compiled.vela.summary  # type: ignore[union-attr]
    assert [p.name for p in cache_root.iterdir()] == [compiled.graph.parent.name]


def test_other_vela_arguments_make_another_cache_entry(
    compiled: PreparedModel, catalogue: dict[str, DelegateSpec], cache_root: Path
) -> None:
    vela = catalogue["ethosu"].vela
    assert vela is not None
    size_first = dataclasses.replace(vela, extra_args=(*vela.extra_args, "--optimise=Size"))
    runs = vela_run_count()
    result = compile_with_vela(INT8_MODEL, size_first, cache_root)
    assert vela_run_count() == runs + 1 and not result.from_cache
    assert result.compiled_path.parent != compiled.graph.parent
    assert result.vela_args[-1] == "--optimise=Size"


def test_vela_failure_reports_its_output_and_leaves_no_cache_entry(
    catalogue: dict[str, DelegateSpec], tmp_path: Path
) -> None:
    vela = catalogue["ethosu"].vela
    assert vela is not None
    broken = dataclasses.replace(vela, system_config="No_Such_System")
    with pytest.raises(ConfigError) as info:
        compile_with_vela(INT8_MODEL, broken, tmp_path / "cache")
    assert info.value.message == f"{INT8_MODEL}: vela failed (exit status 1)"
    last_line = (info.value.hint or "").splitlines()[-1]
    assert "System_Config.No_Such_System not found in Vela config file" in last_line
    assert list((tmp_path / "cache").iterdir()) == []  # no entry, no temporary folder


@pytest.mark.parametrize("delegate", ["vx", "ethosu"])
def test_float_model_refused_on_integer_only_npus(
    catalogue: dict[str, DelegateSpec], delegate: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        prepare_model(FLOAT_MODEL, catalogue[delegate], tmp_path)
    assert info.value.message == (
        f"{FLOAT_MODEL}: a float32 model; the {delegate} delegate runs only integer-quantized "
        "(int8/uint8) models — quantize it first"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_job_skips_the_unfit_delegates_unless_nothing_is_left(
    catalogue: dict[str, DelegateSpec], tmp_path: Path
) -> None:
    """The refusal is an UnfitModel (reason without the path, a few words for tables): the job
    skips those delegates when others can run the model, and refuses the run (exit 2, the same
    one line) when a board is left with none."""
    from imxbench.run.job import prepare_models

    with pytest.raises(UnfitModel) as info:
        prepare_model(FLOAT_MODEL, catalogue["vx"], tmp_path)
    assert info.value.exit_code == 2 and info.value.short == "float32 model"
    assert info.value.message == f"{FLOAT_MODEL}: {info.value.reason}"
    plans = {"imx8mp": [catalogue[n] for n in ("cpu", "gpu", "vx")]}
    prepared, unfit = prepare_models(FLOAT_MODEL, plans, tmp_path)
    assert set(prepared) == {"cpu", "gpu"} and set(unfit) == {"vx"}
    assert unfit["vx"].reason == info.value.reason
    with pytest.raises(UnfitModel) as refused:
        prepare_models(FLOAT_MODEL, {"imx8mp": [catalogue["vx"]]}, tmp_path)
    assert refused.value.message == info.value.message
    with pytest.raises(ConfigError, match="no operators") as empty:
        check_model_for(catalogue["cpu"], dataclasses.replace(
            inspect_model(FLOAT_MODEL), operators=()), FLOAT_MODEL)  # fmt: skip
    assert not isinstance(empty.value, UnfitModel)  # an unusable model stays fatal


@pytest.mark.parametrize("delegate", ["cpu", "gpu"])
def test_float_model_accepted_on_cpu_and_gpu(
    catalogue: dict[str, DelegateSpec], delegate: str, tmp_path: Path
) -> None:
    prepared = prepare_model(FLOAT_MODEL, catalogue[delegate], tmp_path)
    assert prepared.graph == FLOAT_MODEL and prepared.vela is None
    assert prepared.provenance is None and prepared.provenance_doc == {}
    assert prepared.info == prepared.source_info and not prepared.info.is_fully_int


@pytest.mark.parametrize("delegate", ["cpu", "vx", "ethosu"])
def test_corrupt_model_refused_naming_the_file(
    catalogue: dict[str, DelegateSpec], delegate: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(INT8_MODEL.read_bytes()[:5000])
    runs = vela_run_count()
    with pytest.raises(ConfigError) as info:
        prepare_model(broken, catalogue[delegate], tmp_path / "cache")
    assert info.value.message.startswith(f"{broken}: ")
    assert vela_run_count() == runs


def test_vela_compiled_model_refused_off_the_ethos_u(
    compiled: PreparedModel, catalogue: dict[str, DelegateSpec]
) -> None:
    with pytest.raises(ConfigError, match=r"already compiled by Vela .* the vx delegate cannot"):
        prepare_model(compiled.graph, catalogue["vx"], compiled.graph.parent)


def test_vela_compiled_model_goes_to_the_ethos_u_as_is(
    compiled: PreparedModel, catalogue: dict[str, DelegateSpec], tmp_path: Path
) -> None:
    runs = vela_run_count()
    prepared = prepare_model(compiled.graph, catalogue["ethosu"], tmp_path)
    assert prepared.graph == compiled.graph and prepared.vela is None
    assert vela_run_count() == runs


def test_int8_model_needs_no_preparation_for_vx(
    catalogue: dict[str, DelegateSpec], tmp_path: Path
) -> None:
    prepared = prepare_model(INT8_MODEL, catalogue["vx"], tmp_path)
    assert prepared.graph == INT8_MODEL and prepared.info.is_fully_int


def test_default_cache_root_respects_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_root() == tmp_path / "imxbench" / "vela"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / ".cache" / "imxbench" / "vela"


def test_integer_model_with_float_edges_is_integer_but_float_compute_is_not(
    catalogue: dict[str, DelegateSpec],
) -> None:
    info = inspect_model(INT8_MODEL)
    ops = list(info.operators)
    # float in, QUANTIZE, int8 network, DEQUANTIZE, float out: what NXP's *_uint8_float32 models do
    with_edges = [
        dataclasses.replace(ops[0], name="QUANTIZE", uses_float=True),
        *ops[1:-1],
        dataclasses.replace(ops[-1], name="DEQUANTIZE", uses_float=True),
    ]
    check_model_for(
        catalogue["vx"], dataclasses.replace(info, operators=tuple(with_edges)), INT8_MODEL
    )
    partly = [*ops[:3], dataclasses.replace(ops[3], uses_float=True), *ops[4:]]
    with pytest.raises(ConfigError, match=r"a partly float model \(1 of 16 operators compute"):
        check_model_for(
            catalogue["ethosu"], dataclasses.replace(info, operators=tuple(partly)), INT8_MODEL
        )
