"""The emulated Ethos-U delegate's profiling output (`--external_delegate_options` with
`enable_cycle_counter`, `enable_profiling`, `pmu_event0..3`).

The line shapes are the real delegate's: nxp-imx/tflite-ethosu-delegate-imx `ethosu_delegate.cc`,
`EthosuDelegateKernel::Eval` (identical on lf-6.1.22_2.0.0 ... lf-6.6.3_1.0.0, commit 6fb32a1),
which after every inference, for every ethos-u operation, prints to stdout

    Ethos_u PMUs : [ <count per configured event> ]         (any pmu_eventN != 0)
    Ethos-u cycle counter: <cycles>                           (enable_cycle_counter)
    Ethos_u qread profiling data.                             (enable_profiling)
    index:<i>,qread:0x<hex>,status:0x<hex>,cycle count:<cycles>
    Ethos_u profiling_buffer_size is too small, please set a larger number

and `external_delegate_adaptor.cc` turns the cycle counter on with enable_profiling. The
*values* are modelled (assumptions, stated once on stderr as emulated): cycles = the modelled
NPU time of the inference at 1 GHz (the clock NXP's Vela config assumes, NXP_FACTS §4.2; the
BSP's real NPU clock is not established, §4.5); one qread row per operator of the Vela source
model, its cycle count the running total weighted by the operator's MACs, its qread a byte
offset growing by 0x90 per command group, status 0x0; each PMU event counts a fixed share of the
cycles (event 3: 60%, 4: 25%, 5: 10%, 6: 5%, others 1%), so nothing here is a measurement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

NPU_CLOCK_MHZ = 1000.0
EVENT_SHARE = {3: 0.60, 4: 0.25, 5: 0.10, 6: 0.05}
QREAD_STRIDE = 0x90
DEFAULT_BUFFER_SIZE = 2048  # DEFAULT_QREAD_BUFFER_SIZE in ethosu_delegate.h
NOTE = (
    "imxbench emulator: Ethos-U profiling values are modelled, not measured "
    "(cycles = modelled NPU time x 1 GHz; docs/DESIGN.md)"
)


def _flag(options: Mapping[str, str], key: str) -> bool:
    return options.get(key, "").strip().lower() in ("1", "true")


def _int(options: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(options.get(key, default))
    except ValueError:
        return default


def enabled(options: Mapping[str, str]) -> bool:
    """Whether these delegate options make the delegate print anything per inference."""
    return (
        _flag(options, "enable_cycle_counter")
        or _flag(options, "enable_profiling")
        or any(_int(options, f"pmu_event{n}", 0) for n in range(4))
    )


def inference_lines(
    options: Mapping[str, str],
    inference_us: float,
    npu_share: float,
    op_macs: Sequence[int],
    operations: int = 1,
) -> list[str]:
    """What the delegate prints after one inference (`operations`: its ethos-u ops)."""
    profiling = _flag(options, "enable_profiling")
    cycle_counter = _flag(options, "enable_cycle_counter") or profiling
    events = [e for e in (_int(options, f"pmu_event{n}", 0) for n in range(4)) if e != 0]
    buffer_size = _int(options, "profiling_buffer_size", DEFAULT_BUFFER_SIZE)
    per_op = max(1, int(inference_us * max(0.0, min(1.0, npu_share)) * NPU_CLOCK_MHZ))
    per_op //= max(1, operations)
    lines: list[str] = []
    for _ in range(max(1, operations)):
        if events:
            counts = " ".join(str(int(per_op * EVENT_SHARE.get(e, 0.01))) for e in events)
            lines.append(f"Ethos_u PMUs : [ {counts} ]")
        if cycle_counter:
            lines.append(f"Ethos-u cycle counter: {per_op}")
        if profiling:
            rows = _qread_rows(per_op, op_macs)
            if len(rows) >= buffer_size:
                lines.append(
                    "Ethos_u profiling_buffer_size is too small, please set a larger number"
                )
            else:
                lines.append("Ethos_u qread profiling data.")
                lines.extend(rows)
    return lines


def _qread_rows(cycles: int, op_macs: Sequence[int]) -> list[str]:
    weights = [max(1, m) for m in op_macs] or [1]
    total = float(sum(weights))
    rows, running = [], 0.0
    for i, weight in enumerate(weights):
        running += weight
        count = int(cycles * running / total)
        rows.append(f"index:{i},qread:0x{i * QREAD_STRIDE:x},status:0x0,cycle count:{count}")
    return rows
