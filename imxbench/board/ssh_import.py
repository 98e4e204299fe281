"""`import paramiko`, without paying for what imxbench almost never uses.

paramiko's config module imports `invoke` (~50 ms, a sixth of a short run's overhead budget)
only to run the commands of `Match exec` lines in an ssh config. Here paramiko is imported with
invoke hidden (paramiko then keeps the ImportError for a `Match exec` to raise), and
`enable_match_exec` hands invoke over when an ssh config really has such a line
(inventory.py). Import paramiko through this module.

paramiko's `__init__` also asks `importlib.metadata.version("paramiko")` for its version (its
SSH banner says it): importing importlib.metadata (email, zipfile, ...) and scanning sys.path
cost ~25-30 ms, a twentieth of a 50 MB upload's whole process (P4). `_PackageVersion` answers
from the name of paramiko's `*.dist-info` folder instead, and hands anything else it is asked
to the real importlib.metadata.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from importlib.util import find_spec
from typing import Any


class _PackageVersion(types.ModuleType):
    """`importlib.metadata` as paramiko's `__init__` uses it, for the time of its import."""

    def __init__(self) -> None:
        super().__init__("importlib.metadata")

    def version(self, name: str) -> str:
        spec = find_spec(name)
        folders = spec.submodule_search_locations if spec is not None else None
        if folders:
            site = os.path.dirname(next(iter(folders)))
            prefix, suffix = f"{name}-", ".dist-info"
            found = [
                entry[len(prefix) : -len(suffix)]
                for entry in os.listdir(site)
                if entry.startswith(prefix) and entry.endswith(suffix)
            ]
            if len(found) == 1 and "-" not in found[0]:
                return found[0]
        return str(importlib.import_module("importlib.metadata").version(name))

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module("importlib.metadata"), attr)


_hide = "invoke" not in sys.modules
if _hide:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` raises ImportError
_stand_in = None if hasattr(importlib, "metadata") else _PackageVersion()
if _stand_in is not None:  # what `from importlib import metadata` finds (sys.modules: untouched)
    importlib.metadata = _stand_in  # type: ignore[attr-defined]
try:
    import paramiko
    import paramiko.config
finally:
    if _hide and sys.modules.get("invoke", 0) is None:
        del sys.modules["invoke"]
    if _stand_in is not None and getattr(importlib, "metadata", None) is _stand_in:
        del importlib.metadata  # type: ignore[attr-defined]


def enable_match_exec() -> None:
    """Give paramiko invoke, for `Match exec` (if invoke is installed; else paramiko says so)."""
    if getattr(paramiko.config, "invoke", None) is None:
        try:
            import invoke
        except ImportError:
            return
        setattr(paramiko.config, "invoke", invoke)  # noqa: B010  # (mypy: no stub for it)


__all__ = ["enable_match_exec", "paramiko"]
