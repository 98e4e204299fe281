"""The package's layering, checked on the source: pure packages do no I/O of SSH, databases,
processes or the command line; reports never reach for the transport; nothing imports the CLI.

Every import counts, at module level, inside functions and under TYPE_CHECKING alike: a lazy
import is still a dependency. The rules are the table in docs/DESIGN.md ("Layers").
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "imxbench"

IO_LIBRARIES = ("paramiko", "sqlalchemy", "psycopg", "click", "subprocess", "labgrid")
UPPER_LAYERS = tuple(
    f"imxbench.{p}"
    for p in ("board", "lab", "run", "history", "report", "cli", "accuracy", "prepare", "emulator")
)
RULES: dict[str, tuple[str, ...]] = {
    # package: module prefixes it must never import
    "model": (*IO_LIBRARIES, *UPPER_LAYERS, "imxbench.analysis", "imxbench.config"),
    "analysis": (*IO_LIBRARIES, *UPPER_LAYERS),
    "report": ("paramiko", "click", "subprocess", "labgrid", "imxbench.board", "imxbench.lab",
               "imxbench.run", "imxbench.cli", "imxbench.emulator"),
    "history": ("paramiko", "click", "labgrid", "imxbench.board.transport", "imxbench.run",
                "imxbench.cli", "imxbench.report", "imxbench.emulator"),
    "config": ("click", "sqlalchemy", "subprocess", "imxbench.run", "imxbench.history",
               "imxbench.report", "imxbench.cli", "imxbench.emulator"),
    "rundir": (*IO_LIBRARIES, *UPPER_LAYERS, "imxbench.analysis", "imxbench.config"),
    "emulator": ("click", "sqlalchemy", "imxbench.board", "imxbench.config", "imxbench.lab",
                 "imxbench.run", "imxbench.history", "imxbench.report", "imxbench.cli",
                 "imxbench.accuracy", "imxbench.prepare"),
}


def imports_of(path: Path) -> set[str]:
    """Every module name the file imports (absolute; relative imports are resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        if "board_python" in path.parts:  # the emulated board's own Python runtime
            continue
        for name in sorted(imports_of(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(REPO)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert violations(package, RULES[package]) == []


def test_nothing_outside_the_cli_imports_it() -> None:
    offenders = [
        f"{path.relative_to(REPO)}"
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts[:1]
        and path.name != "__main__.py"
        and any(n == "imxbench.cli" or n.startswith("imxbench.cli.") for n in imports_of(path))
    ]
    assert offenders == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The rules can fail: a pure module importing paramiko inside a function is caught."""
    probe = PACKAGE / "analysis" / "_layering_probe.py"
    probe.write_text("def f():\n    import paramiko\n    from imxbench.board import transport\n")
    try:
        found = violations("analysis", RULES["analysis"])
    finally:
        probe.unlink()
    assert found == [
        "imxbench/analysis/_layering_probe.py imports imxbench.board",
        "imxbench/analysis/_layering_probe.py imports imxbench.board.transport",
        "imxbench/analysis/_layering_probe.py imports paramiko",
    ]


def test_the_report_loads_no_ssh() -> None:
    """Rendering a report is offline work: importing it loads neither paramiko nor SQLAlchemy."""
    code = (
        "import sys, imxbench.report.build, imxbench.report.view, imxbench.report.data;"
        "print(sorted(m for m in ('paramiko', 'sqlalchemy', 'click') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages (for the catalogue's package-dir): none may be missing."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in PACKAGE.rglob("__init__.py")
        if "board_python" not in p.parts
    }
    assert on_disk | {"imxbench.catalogue"} == listed
