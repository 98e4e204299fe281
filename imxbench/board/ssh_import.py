"""`import paramiko`, without paying for what imxbench almost never uses.

paramiko's config module imports `invoke` (~50 ms, a sixth of a short run's overhead budget)
only to run the commands of `Match exec` lines in an ssh config. Here paramiko is imported with
invoke hidden (paramiko then keeps the ImportError for a `Match exec` to raise), and
`enable_match_exec` hands invoke over when an ssh config really has such a line
(inventory.py). Import paramiko through this module.
"""

from __future__ import annotations

import sys

_hide = "invoke" not in sys.modules
if _hide:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # `import invoke` raises ImportError
try:
    import paramiko
    import paramiko.config
finally:
    if _hide and sys.modules.get("invoke", 0) is None:
        del sys.modules["invoke"]


def enable_match_exec() -> None:
    """Give paramiko invoke, for `Match exec` (if invoke is installed; else paramiko says so)."""
    if getattr(paramiko.config, "invoke", None) is None:
        try:
            import invoke
        except ImportError:
            return
        setattr(paramiko.config, "invoke", invoke)  # noqa: B010  # (mypy: no stub for it)


__all__ = ["enable_match_exec", "paramiko"]
