"""The `vela` preparation step: compile a model for the Ethos-U NPU with the `vela` CLI.

Compilations are cached under `~/.cache/imxbench/vela` ($XDG_CACHE_HOME respected), keyed by the
model's sha256, the Vela version and the exact Vela arguments; an entry is built in a temporary
folder and renamed into place, so a crash never leaves a half-written entry. The command line is

    vela <settings args> --output-dir <entry> <model>

and the entry holds `<stem>_vela.tflite`, Vela's `<stem>_summary_<system config>.csv`, its console
output `vela.log` and the provenance `<stem>_vela.tflite.json`
(`{"source_sha256", "vela_version", "vela_args"}`; `vela_args` are the settings args only).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imxbench.analysis.model_info import ModelInfo, inspect_model
from imxbench.config.delegates import DelegateSpec, VelaSettings
from imxbench.errors import ConfigError, ImxbenchError, InfrastructureError
from imxbench.prepare.steps import PreparedModel
from imxbench.rundir.atomic import file_sha256

VELA_TIMEOUT_S = 900.0
LOG_NAME = "vela.log"
TAIL_LINES = 12
_OPERATOR_COUNT = re.compile(r"^\s*(CPU|NPU) operators\s*=\s*(\d+)", re.MULTILINE)

_vela_runs = 0


def default_cache_root() -> Path:
    """`$XDG_CACHE_HOME/imxbench/vela`, or `~/.cache/imxbench/vela`."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "imxbench" / "vela"


def vela_run_count() -> int:
    """How many times this process has run a Vela compilation (cache hits do not count)."""
    return _vela_runs


@dataclass(frozen=True)
class VelaSummary:
    """Vela's estimate for one compiled network (its summary CSV plus the operator split)."""

    network: str
    accelerator_config: str
    system_config: str
    memory_mode: str
    core_clock_hz: float
    inference_time_s: float
    inference_time_us: float
    inferences_per_second: float
    npu_operators: int | None
    """Operators Vela placed on the NPU (from its console summary; None if not printed)."""
    cpu_operators: int | None
    sram_used_kib: float
    dram_used_kib: float
    macs: int
    cycles_npu: int
    cycles_total: int
    raw: dict[str, str]
    """Every column of the CSV, as Vela wrote it."""


@dataclass(frozen=True)
class VelaResult:
    """One compilation (or cache hit): the compiled graph and what Vela said about it."""

    compiled_path: Path
    vela_version: str
    vela_args: tuple[str, ...]
    """The settings arguments (the command adds `--output-dir DIR MODEL`)."""
    summary: VelaSummary
    provenance_path: Path
    from_cache: bool

    @property
    def estimated_inference_us(self) -> float:
        """Vela's estimated time per inference at its modelled NPU clock, in µs."""
        return self.summary.inference_time_us


def provenance_document(
    source_sha256: str, vela_version: str, args: tuple[str, ...]
) -> dict[str, Any]:
    """What sits beside a compiled graph: which model, which Vela, which settings."""
    return {"source_sha256": source_sha256, "vela_version": vela_version, "vela_args": list(args)}


# -- Vela ------------------------------------------------------------------------------------
def find_vela() -> Path:
    """The `vela` next to this interpreter (our venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "vela"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("vela")
    if found is None:
        raise InfrastructureError(
            "vela not found next to the Python interpreter nor on PATH",
            "install it with `pip install ethos-u-vela`",
        )
    return Path(found)


def vela_version(vela: Path) -> str:
    """`vela --version`, remembered per executable (and its modification time)."""
    return _vela_version(str(vela), vela.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _vela_version(vela: str, _mtime_ns: int) -> str:
    own = _installed_vela_version(Path(vela))
    if own is not None:
        return own
    try:
        proc = subprocess.run(
            [vela, "--version"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"cannot run `{vela} --version`: {exc}") from None
    version = proc.stdout.strip().splitlines()[-1:] if proc.returncode == 0 else []
    if not version:
        raise InfrastructureError(
            f"`{vela} --version` failed (exit status {proc.returncode})",
            _tail(proc.stdout + proc.stderr) or None,
        )
    return version[0].strip()


def _installed_vela_version(vela: Path) -> str | None:
    """The version of the ethos-u-vela installed with this interpreter when `vela` is that
    distribution's own console script: what `vela --version` prints (Vela reports its package
    metadata), without starting a Python that imports Vela (~0.2 s, on every ethosu run)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("ethos-u-vela")
    except metadata.PackageNotFoundError:
        return None
    target = vela.resolve()
    for file in dist.files or ():
        if file.name == "vela" and Path(str(file.locate())).resolve() == target:
            return dist.version
    return None


def cache_key(model_sha256: str, version: str, args: list[str]) -> str:
    doc = json.dumps([model_sha256, version, args], separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def compile_with_vela(
    model_path: Path, settings: VelaSettings, cache_root: Path | None = None
) -> VelaResult:
    """Compile with Vela unless the same (model, Vela version, arguments) is cached already."""
    model_path = Path(model_path)
    cache_root = cache_root or default_cache_root()
    vela = find_vela()
    version = vela_version(vela)
    args = settings.args()
    model_sha = file_sha256(model_path)
    entry = cache_root / cache_key(model_sha, version, args)
    found = _read_entry(entry)
    if found is not None:
        graph, summary = found
        return VelaResult(graph, version, tuple(args), summary, _provenance_of(graph), True)
    if entry.exists():  # damaged by hand (entries are renamed into place whole): rebuild it
        shutil.rmtree(entry, ignore_errors=True)
    _build_entry(
        vela, model_path, args, entry, provenance_document(model_sha, version, tuple(args))
    )
    found = _read_entry(entry)
    if found is None:
        raise ImxbenchError(f"{entry}: Vela cache entry is incomplete after compiling")
    graph, summary = found
    return VelaResult(graph, version, tuple(args), summary, _provenance_of(graph), False)


def _provenance_of(graph: Path) -> Path:
    return graph.with_name(graph.name + ".json")


def _build_entry(
    vela: Path, model_path: Path, args: list[str], entry: Path, provenance: dict[str, Any]
) -> None:
    global _vela_runs
    entry.parent.mkdir(parents=True, exist_ok=True)
    temp = entry.parent / f".tmp-{entry.name[:16]}-{secrets.token_hex(4)}"
    temp.mkdir()
    try:
        command = [str(vela), *args, "--output-dir", str(temp), str(model_path.resolve())]
        _vela_runs += 1
        try:
            proc = subprocess.run(
                command,
                cwd=temp,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=VELA_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ImxbenchError(
                f"{model_path}: vela did not finish within {VELA_TIMEOUT_S:.0f} s"
            ) from None
        except OSError as exc:
            raise InfrastructureError(f"cannot run {vela}: {exc}") from None
        if proc.returncode != 0:
            status = (
                f"killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exit status {proc.returncode}"
            )
            raise ConfigError(f"{model_path}: vela failed ({status})", _tail(proc.stdout) or None)
        (temp / LOG_NAME).write_text(proc.stdout, encoding="utf-8")
        graphs = list(temp.glob("*_vela.tflite"))
        if len(graphs) != 1 or not list(temp.glob("*_summary_*.csv")):
            raise ImxbenchError(
                f"{model_path}: vela succeeded but wrote no compiled model and summary",
                _tail(proc.stdout) or None,
            )
        _provenance_of(graphs[0]).write_text(json.dumps(provenance, indent=2) + "\n")
        try:
            temp.rename(entry)
        except OSError:
            if _read_entry(entry) is None:  # not a concurrent compile that won the race
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _read_entry(entry: Path) -> tuple[Path, VelaSummary] | None:
    """The compiled graph and parsed summary of a complete cache entry, else None."""
    if not entry.is_dir():
        return None
    graphs = list(entry.glob("*_vela.tflite"))
    csvs = list(entry.glob("*_summary_*.csv"))
    if len(graphs) != 1 or len(csvs) != 1 or not _provenance_of(graphs[0]).is_file():
        return None
    log = entry / LOG_NAME
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return graphs[0], parse_vela_summary(csvs[0], text)


def parse_vela_summary(csv_path: Path, console: str = "") -> VelaSummary:
    """Parse Vela's summary CSV (one row) plus the operator split from its console output."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ImxbenchError(f"{csv_path}: empty Vela summary")
    row = {k: (v or "") for k, v in rows[-1].items() if k is not None}
    counts = {kind: int(n) for kind, n in _OPERATOR_COUNT.findall(console)}

    def number(key: str) -> float:
        try:
            return float(row.get(key, "nan"))
        except ValueError:
            return float("nan")

    def integer(key: str) -> int:
        value = number(key)
        return int(value) if value == value else 0

    time_s = number("inference_time")
    return VelaSummary(
        network=row.get("network", ""),
        accelerator_config=row.get("accelerator_configuration", ""),
        system_config=row.get("system_config", ""),
        memory_mode=row.get("memory_mode", ""),
        core_clock_hz=number("core_clock"),
        inference_time_s=time_s,
        inference_time_us=time_s * 1e6,
        inferences_per_second=number("inferences_per_second"),
        npu_operators=counts.get("NPU"),
        cpu_operators=counts.get("CPU"),
        sram_used_kib=number("sram_memory_used"),
        dram_used_kib=number("dram_memory_used"),
        macs=integer("nn_macs"),
        cycles_npu=integer("cycles_npu"),
        cycles_total=integer("cycles_total"),
        raw=row,
    )


def _tail(output: str) -> str:
    """The last lines of Vela's output, without its per-tensor batch-size notices."""
    lines = [
        line
        for line in output.splitlines()
        if line.strip() and "has a dynamic signature" not in line
    ]
    return "\n".join(lines[-TAIL_LINES:])


def prepare(
    model_path: Path, spec: DelegateSpec, source_info: ModelInfo, cache_root: Path | None
) -> PreparedModel:
    """The step: the Vela-compiled graph of `model_path` (a model already compiled by Vela is
    deployed as it is)."""
    if source_info.is_vela_compiled:
        return PreparedModel.as_given(model_path, source_info)
    if spec.vela is None:  # the catalogue loader guarantees it; keep mypy and readers sure
        raise ConfigError(f"delegate {spec.name!r}: prepare is vela but no vela settings")
    if spec.vela.compile_on == "board":  # the board's own Vela compiles it (board/vela_board.py)
        return PreparedModel.as_given(model_path, source_info)
    result = compile_with_vela(model_path, spec.vela, cache_root)
    info = inspect_model(result.compiled_path)
    if not info.is_vela_compiled:
        raise ConfigError(
            f"{model_path}: Vela placed none of its operators on the NPU; "
            f"the {spec.name} delegate would run it all on the CPU",
            "run `vela --show-cpu-operations` to see why",
        )
    return PreparedModel(
        source=model_path,
        source_sha256=source_info.sha256,
        graph=result.compiled_path,
        provenance=result.provenance_path,
        provenance_doc=provenance_document(
            source_info.sha256, result.vela_version, result.vela_args
        ),
        vela=result,
        info=info,
        source_info=source_info,
    )
