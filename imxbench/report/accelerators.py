"""Where a delegate's partitions run, for labels: the NPU, the GPU or the CPU.

The i.MX 8M Plus reaches both its NPU (`vx`) and its GPU (`gpu`) through the same VX delegate
library, so the op profile names both partitions "Vx Delegate": the cell's delegate, not the
node's name, says which processor ran it.
"""

from __future__ import annotations

ACCELERATORS = {"cpu": "CPU", "vx": "NPU", "ethosu": "NPU", "gpu": "GPU"}


def delegate_of(cell: str) -> str:
    """The delegate part of a cell name (`cpu@4t` → `cpu`, `vx:opt` → `vx`)."""
    return cell.split("@", 1)[0].split(":", 1)[0]


def accelerator(delegate: str) -> str:
    """ "NPU", "GPU", "CPU", or "accelerator" for a catalogue delegate this table does not know."""
    return ACCELERATORS.get(delegate_of(delegate), "accelerator")


def partition_label(delegate: str) -> str:
    """The op-placement legend's name for a delegate's partitions, e.g. "gpu delegate on GPU"."""
    name = delegate_of(delegate)
    return f"{name} delegate on {accelerator(name)}"
