"""The Ethos-U delegate's profiling output (ethosu_delegate.cc Eval's `cout` lines) parsed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.analysis.npu_profile import QreadRow, parse_npu_profile

# The delegate's option echo and two inferences of its Eval output, line shapes as printed by
# nxp-imx/tflite-ethosu-delegate-imx ethosu_delegate.cc (lf-6.6.3_1.0.0, commit 6fb32a1)
LOG = """\
INFO: Ethosu delegate: enable_cycle_counter set to 1.
INFO: Ethosu delegate: enable_profiling set to 1.
INFO: Ethosu delegate: pmu_event0 set to 3.
INFO: Ethosu delegate: pmu_event1 set to 4.
INFO: Ethosu delegate: pmu_event2 set to 0.
INFO: Ethosu delegate: pmu_event3 set to 6.
EXTERNAL delegate created.
Ethos_u PMUs : [ 1000 200 30 ]
Ethos-u cycle counter: 330000
Ethos_u qread profiling data.
index:0,qread:0x0,status:0x0,cycle count:10
index:1,qread:0x1c,status:0x1,cycle count:120000
INFO: an unrelated line in between
Ethos_u PMUs : [ 1002 210 32 ]
Ethos-u cycle counter: 331000
Ethos_u qread profiling data.
index:0,qread:0x0,status:0x0,cycle count:12
index:1,qread:0x1c,status:0x1,cycle count:121000
index:2,qread:0xa4,status:0x0,cycle count:330990
INFO: Inference timings in us: Init: 1, First inference: 2, Warmup (avg): 2, Inference (avg): 2
"""


def test_cycles_pmu_and_the_last_qread_table() -> None:
    profile = parse_npu_profile(LOG)
    assert profile is not None
    assert profile.cycle_counts == (330000, 331000)
    assert profile.pmu_events == (3, 4, 6)  # pmu_event2 = 0: not configured
    assert profile.pmu_counts == ((1000, 200, 30), (1002, 210, 32))
    assert profile.qread == (
        QreadRow(0, 0x0, 0, 12),
        QreadRow(1, 0x1C, 1, 121000),
        QreadRow(2, 0xA4, 0, 330990),
    )
    assert profile.qread_tables == 2 and not profile.buffer_too_small
    doc = profile.to_dict()
    assert doc["inferences"] == 2 and doc["cycles_median"] == 330500
    assert doc["pmu_median"] == {"event3": 1001, "event4": 205, "event6": 31}
    assert doc["qread"][2] == {"index": 2, "qread": 164, "status": 0, "cycle_count": 330990}


def test_cycle_counter_alone_and_a_too_small_buffer() -> None:
    profile = parse_npu_profile(
        "Ethos-u cycle counter: 5\nEthos_u profiling_buffer_size is too small, please set a "
        "larger number\n"
    )
    assert profile is not None and profile.cycle_counts == (5,) and profile.buffer_too_small
    assert profile.qread == () and profile.to_dict()["pmu_median"] == {}


def test_no_profiling_output_is_none() -> None:
    assert parse_npu_profile("INFO: Ethosu delegate: pmu_event0 set to 0.\n") is None
    assert parse_npu_profile("") is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_total_on_any_text(text: str) -> None:
    parse_npu_profile(text)
    parse_npu_profile(LOG + text)


def test_the_emulated_delegate_prints_what_the_parser_reads() -> None:
    from imxbench.emulator import npu_profiling

    options = {"enable_profiling": "true", "pmu_event0": "3", "pmu_event3": "6"}
    lines = npu_profiling.inference_lines(options, 330.0, 1.0, [100, 300, 0], operations=1)
    assert lines[:2] == ["Ethos_u PMUs : [ 198000 16500 ]", "Ethos-u cycle counter: 330000"]
    assert lines[2] == "Ethos_u qread profiling data."  # enable_profiling forces the counter
    profile = parse_npu_profile("\n".join(lines * 3))
    assert profile is not None and profile.cycle_counts == (330000,) * 3
    assert [r.cycle_count for r in profile.qread] == [82294, 329177, 330000]  # by MACs
    small = npu_profiling.inference_lines(
        {**options, "profiling_buffer_size": "2"}, 330.0, 1.0, [1, 2, 3]
    )
    assert small[-1].startswith("Ethos_u profiling_buffer_size is too small")
    assert npu_profiling.inference_lines({}, 330.0, 1.0, [1]) == []
    assert not npu_profiling.enabled({"pmu_event0": "0"})
