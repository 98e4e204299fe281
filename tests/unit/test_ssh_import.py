"""imxbench/board/ssh_import.py: paramiko without invoke and without importlib.metadata."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from imxbench.board.ssh_import import _PackageVersion


def test_paramiko_knows_its_version_without_importlib_metadata() -> None:
    code = (
        "import importlib, sys; import imxbench.board.ssh_import as s; "
        "print(s.paramiko.__version__, s.paramiko.transport.Transport._CLIENT_ID, "
        "'importlib.metadata' in sys.modules, hasattr(importlib, 'metadata'), "
        "sys.modules.get('invoke', 'absent'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    version = metadata.version("paramiko")
    assert out == [version, f"paramiko_{version}", "False", "False", "absent"]


def test_the_stand_in_hands_the_rest_to_importlib_metadata() -> None:
    stand_in = _PackageVersion()
    assert stand_in.version("paramiko") == metadata.version("paramiko")
    assert stand_in.version("types-paramiko") == metadata.version("types-paramiko")  # no package
    with pytest.raises(metadata.PackageNotFoundError):
        stand_in.version("no-such-distribution-imxbench")
    assert stand_in.PackageNotFoundError is metadata.PackageNotFoundError
