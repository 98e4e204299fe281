"""benchmark_log: golden tests on every real log, synthetic edge cases, and fuzzing.

The golden values below were read off the log files by hand, not copied from parser output.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imxbench.analysis.benchmark_log import BenchmarkRun, DelegateUse, parse_log, runs_to_json
from tests.locations import BENCHMARK_LOGS

FIXTURES = BENCHMARK_LOGS

# The JSON contract of one run: every key, with the value it has when the log lacks it.
EMPTY_RUN: dict[str, Any] = {
    "status": None,
    "error": None,
    "graph": None,
    "init_us": None,
    "first_inference_us": None,
    "warmup_avg_us": None,
    "inference_avg_us": None,
    "inference_std_us": None,
    "inference_min_us": None,
    "inference_max_us": None,
    "inference_count": None,
    "inference_p5_us": None,
    "inference_median_us": None,
    "inference_p95_us": None,
    "memory_init_mb": None,
    "memory_overall_mb": None,
    "memory_peak_mb": None,
    "delegates": [],
    "op_profile": None,
}


def run(status: str, **fields: Any) -> dict[str, Any]:
    """An expected run: every field not given must be None (or [] for delegates)."""
    unknown = set(fields) - set(EMPTY_RUN)
    assert not unknown, f"not a run field: {unknown}"
    return {**EMPTY_RUN, "status": status, **fields}


def summary(init: float, first: float | None, warmup: float, avg: float) -> dict[str, Any]:
    return {
        "init_us": init,
        "first_inference_us": first,
        "warmup_avg_us": warmup,
        "inference_avg_us": avg,
    }


def regular(count: int, std: float, low: float, high: float, *pcts: float) -> dict[str, Any]:
    """The regular-phase stats; `pcts` is (p5, median, p95) when the log prints them."""
    fields = {
        "inference_count": count,
        "inference_std_us": std,
        "inference_min_us": low,
        "inference_max_us": high,
    }
    if pcts:
        p5, median, p95 = pcts
        fields |= {"inference_p5_us": p5, "inference_median_us": median, "inference_p95_us": p95}
    return fields


def memory(init: float | None, overall: float | None) -> dict[str, Any]:
    return {"memory_init_mb": init, "memory_overall_mb": overall}


def delegate(name: str, execution: str, kernels: int | None) -> dict[str, Any]:
    return {"name": name, "execution": execution, "kernels": kernels}


def op(node_type: str, count: int, avg_ms: float, percent: float) -> dict[str, Any]:
    return {"node_type": node_type, "count": count, "avg_ms": avg_ms, "percent": percent}


MOBILENET_QUANT = "mobilenet_v1_1.0_224_quant/mobilenet_v1_1.0_224_quant.tflite"
SSD_V2_TI = "/usr/share/oob-demo-assets/models/ssd_mobilenet_v2_coco.tflite"
SYNAP_MODEL = "/data/local/tmp/mobilenet_v1_0.25_224_quant.tflite"
YOLOV5 = "/data/local/tmp/yolov5s_int8_640.tflite"

GOLDEN: dict[str, list[dict[str, Any]]] = {
    "01_cpu-tf2.8-qemuriscv64-op-profiling.log": [
        run(
            "ok",
            graph="./mobilenet_v1_1.0_224.tflite",
            **summary(17187, 3512391, 3.51239e06, 2.95034e06),
            **regular(50, 109798, 2727568, 3189954),
            **memory(4.21094, 46.0859),
            op_profile=[
                op("CONV_2D", 15, 2651.853, 89.897),
                op("DEPTHWISE_CONV_2D", 13, 296.919, 10.065),
                op("AVERAGE_POOL_2D", 1, 0.869, 0.029),
                op("SOFTMAX", 1, 0.232, 0.008),
                op("SQUEEZE", 1, 0.016, 0.001),
            ],
        )
    ],
    "02_nnapi-synap-npu-tf2.15-android-full.log": [
        run(
            "ok",
            graph=SYNAP_MODEL,
            **summary(66002, 637079, 637079, 1885.74),
            **regular(520, 870, 1171, 9925),
            **memory(7.40234, 7.83203),
            delegates=[delegate("NNAPI", "full", 1)],
        )
    ],
    "03_nnapi-partial-delegation-fragment.log": [
        run("incomplete", delegates=[delegate("NNAPI", "partial", 2)])
    ],
    # Only a Run Order table: benchmark_model output, but no field to extract.
    "04_nnapi-op-profiling-fragment-no-start-col.log": [run("incomplete")],
    # `Replacing 31 node(s) ...` has no node total: not used for `delegates`.
    "05_nnapi-cache-miss-error-fragment.log": [
        run("ok", **summary(34075, 1599062, 1.59906e06, 1380.86))
    ],
    "06_vx-delegate-synaptics-tf2.15-full-delegation.log": [
        run(
            "ok",
            graph=SYNAP_MODEL,
            **summary(25573, 201009, 1760.78, 1096.48),
            **regular(876, 476, 810, 6334),
            **memory(15.4688, 43.2852),
            delegates=[delegate("EXTERNAL", "full", 1)],
        )
    ],
    # Old summary; the first inference comes from the warm-up line `count=2 first=393500`.
    "07_cpu-2019-zedboard-armv7-op-profiling-no-stats-format.log": [
        run(
            "ok",
            graph="../../tensorflow-models/mobilenet-v1/mobilenet_v1_1.0_224_quant.tflite",
            **summary(18764, 393500, 395037, 394183),
            **regular(50, 4373, 389982, 417669),
            op_profile=[
                op("CONV_2D", 15, 322.055, 81.730),
                op("DEPTHWISE_CONV_2D", 13, 71.644, 18.182),
                op("AVERAGE_POOL_2D", 1, 0.267, 0.068),
                op("SOFTMAX", 1, 0.076, 0.019),
                op("RESHAPE", 1, 0.005, 0.001),
            ],
        )
    ],
    "08_cpu-2020-x86-avx-4threads-op-profiling-peak-mem.log": [
        run(
            "ok",
            graph="/working_dir/tensorflow-models/iccd2020/mobilenet-v1-quant/"
            "mobilenet_v1_1.0_224_quant.tflite",
            **summary(445, 13470, 12306.2, 12280.5),
            **regular(82, 40, 12241, 12506),
            **memory(4.51562, 11.5195),
            op_profile=[
                op("CONV_2D", 15, 8.447, 68.882),
                op("DEPTHWISE_CONV_2D", 13, 3.805, 31.028),
                op("AVERAGE_POOL_2D", 1, 0.009, 0.073),
                op("SOFTMAX", 1, 0.002, 0.016),
                op("RESHAPE", 1, 0.000, 0.000),
            ],
        )
    ],
    "10_cpu-tf2.18-ti-am62x-no-xnnpack-4threads.log": [
        run(
            "ok",
            graph=SSD_V2_TI,
            **summary(6418, 1041765, 1.04176e06, 971535),
            **regular(50, 39112, 911877, 1112273),
            **memory(6.14844, 109.848),
        )
    ],
    "11_xnnpack-tf2.18-ti-am62x-partial-delegation.log": [
        run(
            "ok",
            graph=SSD_V2_TI,
            **summary(592232, 633430, 633430, 602943),
            **regular(50, 27690, 568228, 722188),
            **memory(133.086, 149.531),
            delegates=[delegate("XNNPACK", "partial", 1)],
        )
    ],
    "13_xnnpack-tf2.20-ti-am62x-percentiles.log": [
        run(
            "ok",
            graph=SSD_V2_TI,
            **summary(614333, 905463, 905463, 899641),
            **regular(50, 1549, 898007, 906121, 898333, 899281, 904305),
            **memory(146.363, 150.141),
            delegates=[delegate("XNNPACK", "partial", 1)],
        )
    ],
    # README sample: headless op tables before the old `Warmup:, Init:, Inference:` summary.
    "14_op-profiling-official-readme-sample-android-old-summary.log": [
        run(
            "ok",
            **summary(38467, None, 83235, 79760.9),
            op_profile=[
                op("CONV_2D", 15, 1.406, 89.270),
                op("DEPTHWISE_CONV_2D", 13, 0.169, 10.730),
                op("SOFTMAX", 1, 0.000, 0.000),
                op("RESHAPE", 1, 0.000, 0.000),
                op("AVERAGE_POOL_2D", 1, 0.000, 0.000),
            ],
        )
    ],
    "15_vx-npu-imx8mp-evk-mobilenet-full-delegation-op-profiling.log": [
        run(
            "ok",
            graph=MOBILENET_QUANT,
            **summary(12434, 4625131, 4.62513e06, 2525.59),
            **regular(379, 13, 2471, 2586),
            **memory(7.26953, 34.3164),
            delegates=[delegate("EXTERNAL", "full", 1)],
            op_profile=[op("Vx Delegate", 1, 2.503, 100.000)],
        )
    ],
    "16_vx-gpu-imx8mp-evk-mobilenet-USE_GPU_INFERENCE-op-profiling.log": [
        run(
            "ok",
            graph=MOBILENET_QUANT,
            **summary(12017, 1583707, 1.58371e06, 163347),
            **regular(50, 200, 162823, 163771),
            **memory(7.16016, 35.4844),
            delegates=[delegate("EXTERNAL", "full", 1)],
            op_profile=[op("Vx Delegate", 1, 163.312, 100.000)],
        )
    ],
    "17_cpu-imx8mp-evk-mobilenet-1thread-op-profiling.log": [
        run(
            "ok",
            graph=MOBILENET_QUANT,
            **summary(2409, 169816, 164822, 162980),
            **regular(50, 146, 162744, 163299),
            **memory(4.10156, 10.332),
            op_profile=[
                op("CONV_2D", 15, 143.812, 88.285),
                op("DEPTHWISE_CONV_2D", 13, 18.910, 11.609),
                op("AVERAGE_POOL_2D", 1, 0.148, 0.091),
                op("SOFTMAX", 1, 0.022, 0.014),
                op("RESHAPE", 1, 0.003, 0.002),
            ],
        )
    ],
    "19_vx-npu-imx8mp-evk-unconsumed-flag-warning.log": [
        run(
            "ok",
            graph="ssd_mobilenet_v1_quantized_300x300_coco14_sync_2018_07_18/model.tflite",
            **summary(13718, 8468241, 8.46824e06, 12828.4),
            **regular(77, 40, 12745, 12929),
            **memory(8.33594, 50.3594),
            delegates=[delegate("EXTERNAL", "partial", 1)],
            op_profile=[
                op("Vx Delegate", 1, 10.871, 85.076),
                op("TFLite_Detection_PostProcess", 1, 1.907, 14.924),
            ],
        )
    ],
    "20_vx-npu-imx8mp-evk-yolov3tiny-ldd-and-VIV_VX_PROFILE-noise.log": [
        run(
            "ok",
            graph="yolov3-tiny/qrcode-yolov3.tflite",
            **summary(33147, 13049007, 1.3049e07, 38909.9),
            **regular(50, 1999, 36863, 46431),
            **memory(7.57031, 67.1016),
            delegates=[delegate("EXTERNAL", "full", 1)],
            op_profile=[op("Vx Delegate", 1, 38.864, 100.000)],
        )
    ],
    "22_external-delegate-dlopen-failure-before-tf-pr55383.log": [
        run(
            "failed",
            error="Unable to load external delegate from : /data/local/tmp/libvx_delegate.so",
        )
    ],
    "23_external-delegate-dlopen-failure-after-tf-pr55383.log": [
        run(
            "failed",
            error="Unable to load external delegate from : /data/local/tmp/libvx_delegate.so"
            ' (dlopen failed: library "libtim-vx.so" not found)',
        )
    ],
    "25_nnapi-gpu-tf2.4-android-tail-only-peak-memory.log": [
        run(
            "ok",
            **summary(404292, 188086, 175313, 156669),
            **regular(50, 2352, 149738, 161935),
            **memory(6.80469, 61.0078),
        )
    ],
    "27_nnapi-tf2.4-failed-to-apply-nnapi-delegate-op-failed.log": [
        run(
            "failed",
            graph=YOLOV5,
            error="Node number 248 (TfLiteNnapiDelegate) failed to prepare.\n"
            "Failed to apply NNAPI delegate.\nBenchmarking failed.",
        )
    ],
    "28_nnapi-tf2.4-failed-to-apply-nnapi-delegate-bad-data.log": [
        run("failed", graph=YOLOV5, error="Failed to apply NNAPI delegate.\nBenchmarking failed.")
    ],
    # label_image, not benchmark_model: only the Ethos-U partition report is extracted.
    "29_LABEL_IMAGE-ethosu-imx93-phytec-delegate-init-with-kernel-msgs.log": [
        run("incomplete", delegates=[delegate("EthosuDelegate", "full", 1)])
    ],
    # The label_image runs before the first STARTING! hold nothing benchmark-like: dropped.
    "31_gpu-opencl-qualcomm-qrb2210-linux-cpu-and-gpu-with-set-x-trace.log": [
        run(
            "ok",
            graph="mobilenet_quant_v1_224.tflite",
            **summary(87639, 106436, 106065, 105784),
            **regular(50, 260, 105416, 106528, 105485, 105718, 106281),
            **memory(14.4414, 14.8164),
        ),
        run(
            "ok",
            graph="mobilenet_quant_v1_224.tflite",
            **summary(1361236, 125113, 115344, 115246),
            **regular(50, 1329, 111842, 119614, 112107, 115350, 116620),
            **memory(132.816, 132.816),
            delegates=[delegate("GPU", "full", 1)],
        ),
    ],
    # XNNPACK applied by default (no "Explicitly applied" line): from the Replacing line.
    "32_xnnpack-android-4threads-p5-median-p95.log": [
        run(
            "ok",
            graph="/data/local/tmp/mask_estimator_phy.tflite",
            **summary(102320, 670083, 670083, 699438),
            **regular(50, 325425, 502355, 2270688, 502674, 576856, 1373207),
            **memory(98.0977, 99.2031),
            delegates=[delegate("TfLiteXNNPackDelegate", "full", 1)],
        )
    ],
    "34_peak-memory-periodic-monitoring-and-memory-status-fragment.log": [
        run("incomplete", **memory(2.43359, 8.67578), memory_peak_mb=13.1797)
    ],
    # Cut at "Note: as t": the summary line made it, the memory line did not.
    "36_gpu-opencl-android-4threads-op-profiling-TRUNCATED.log": [
        run(
            "ok",
            graph="/data/local/tmp/tflite/denoising_32bit.tflite",
            **summary(870557, 130565, 122373, 119375),
            **regular(50, 1948, 113737, 124776),
            delegates=[delegate("GPU", "full", 1)],
        )
    ],
    # Cut inside "Though EXTERNAL delegate is explicitly applied, t...": the verdict is kept.
    "37_external-delegate-qnn-zero-nodes-delegated-TRUNCATED.log": [
        run(
            "incomplete",
            graph="/data/local/tmp/models/mobilenet_v1_1.0_224_quantized_1_metadata_1.tflite",
            delegates=[delegate("EXTERNAL", "none", 0)],
        )
    ],
}


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- golden logs


def test_every_fixture_log_has_a_golden_entry() -> None:
    on_disk = sorted(path.name for path in FIXTURES.glob("*.log"))
    missing = sorted(set(on_disk) - set(GOLDEN))
    stale = sorted(set(GOLDEN) - set(on_disk))
    assert not missing, f"new fixture logs without a golden entry: {missing}"
    assert not stale, f"golden entries whose log is gone: {stale}"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_log(name: str) -> None:
    runs = parse_log(read_fixture(name))
    expected = GOLDEN[name]
    assert all(isinstance(parsed, BenchmarkRun) for parsed in runs)
    assert [parsed.status for parsed in runs] == [want["status"] for want in expected]
    assert runs_to_json(runs) == expected
    _assert_well_formed(runs)  # types too: `50 == 50.0`, so equality alone would not catch it


def test_largest_log_parses() -> None:
    # Its speed is measured in benchmarks/parser_speed.py, not asserted here.
    text = read_fixture("20_vx-npu-imx8mp-evk-yolov3tiny-ldd-and-VIV_VX_PROFILE-noise.log")
    assert len(text) > 1_000_000
    assert parse_log(text)[0].status == "ok"


# --------------------------------------------------------------------------- synthetic logs

MODERN = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/home/root/imxbench/mobilenet.tflite]
INFO: External delegate path: [/usr/lib/libvx_delegate.so]
INFO: Loaded model /home/root/imxbench/mobilenet.tflite
INFO: EXTERNAL delegate created.
INFO: Explicitly applied EXTERNAL delegate, and the model graph will be completely executed \
by the delegate.
INFO: The input model file size (MB): 4.27635
INFO: Initialized session in 12.434ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if \
exceeding 150 seconds.
INFO: count=1 curr=4625131

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if \
exceeding 150 seconds.
INFO: count=379 first=2542 curr=2543 min=2471 max=2586 avg=2525.59 std=13 p5=2480 median=2524 \
p95=2570

INFO: Inference timings in us: Init: 12434, First inference: 4625131, Warmup (avg): \
4.62513e+06, Inference (avg): 2525.59
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only \
APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at \
your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=7.26953 overall=34.3164
"""

MODERN_EXPECTED = run(
    "ok",
    graph="/home/root/imxbench/mobilenet.tflite",
    **summary(12434, 4625131, 4.62513e06, 2525.59),
    **regular(379, 13, 2471, 2586, 2480, 2524, 2570),
    **memory(7.26953, 34.3164),
    delegates=[delegate("EXTERNAL", "full", 1)],
)

SUMMARY_LINE = (
    "INFO: Inference timings in us: Init: 12434, First inference: 4625131, Warmup (avg): "
    "4.62513e+06, Inference (avg): 2525.59"
)


def parse_one(text: str) -> dict[str, Any]:
    runs = runs_to_json(parse_log(text))
    assert len(runs) == 1, runs
    return runs[0]


def test_modern_synthetic_log() -> None:
    assert parse_one(MODERN) == MODERN_EXPECTED


def test_each_starting_line_opens_a_run_and_benchmark_text_before_it_is_a_run() -> None:
    tail_of_earlier_run = (
        "count=50 first=157195 curr=159511 min=149738 max=161935 avg=156669 std=2352\n"
        "Inference timings in us: Init: 404292, First inference: 188086, Warmup (avg): 175313,"
        " Inference (avg): 156669\n"
    )
    second = MODERN.replace("mobilenet.tflite", "second.tflite").replace(
        "completely executed", "partially executed"
    )
    runs = parse_log(tail_of_earlier_run + MODERN + "root@imx8mp:~# \n" + second)
    assert [(r.status, r.graph) for r in runs] == [
        ("ok", None),
        ("ok", "/home/root/imxbench/mobilenet.tflite"),
        ("ok", "/home/root/imxbench/second.tflite"),
    ]
    assert runs[0].inference_avg_us == 156669
    assert runs[2].delegates == (DelegateUse("EXTERNAL", "partial", None),)


def test_text_before_first_starting_without_benchmark_lines_is_dropped() -> None:
    ldd = "\tlinux-vdso.so.1 (0x0000ffff9d5bf000)\n\tlibc.so.6 => /lib/libc.so.6\n"
    label_image = "INFO: Loaded model x.tflite\nINFO: Applied GPU delegate.\nINFO: invoked\n"
    assert runs_to_json(parse_log(ldd + label_image + MODERN)) == [MODERN_EXPECTED]


def test_text_without_starting_is_one_run() -> None:
    assert parse_one(MODERN.replace("INFO: STARTING!\n", "")) == MODERN_EXPECTED


@pytest.mark.parametrize(
    "text", ["", "\n\n", "hello world\n", "\tlibc.so.6 => /lib/libc.so.6\n", "\x00\x00"]
)
def test_nothing_benchmark_like_gives_no_run(text: str) -> None:
    assert parse_log(text) == []


def test_starting_alone_is_one_empty_incomplete_run() -> None:
    assert runs_to_json(parse_log("INFO: STARTING!\n")) == [run("incomplete")]


def test_crlf_nul_bytes_and_trailing_blanks_change_nothing() -> None:
    damaged = (
        MODERN.replace("\n", "  \t\r\n").replace("count=", "c\x00ount=").replace("INFO", "IN\x00FO")
    )
    assert parse_one(damaged) == MODERN_EXPECTED
    assert parse_one(MODERN.replace("\n", "\r")) == MODERN_EXPECTED


def test_prompts_prefixes_traces_and_driver_spam_change_nothing() -> None:
    noisy_lines = ["+ ./benchmark_model --graph=mobilenet.tflite --use_gpu=false"]
    for index, line in enumerate(MODERN.splitlines()):
        prefixes = ["", "NFO: ", "root@imx8mp-lpddr4-evk:~/imxbench# ", "", "I"]
        noisy_lines.append(prefixes[index % len(prefixes)] + line.removeprefix("INFO: "))
        noisy_lines.append(f"[  {index:4d}] GPUCYCLES: 543351")
        noisy_lines.append("W [HandleLayoutInfer:257]Op 18: default layout inference pass.")
    assert parse_one("\n".join(noisy_lines)) == MODERN_EXPECTED


def test_timestamped_kernel_message_inside_the_summary_line_is_cut_out() -> None:
    broken = SUMMARY_LINE.replace(
        "First inf",
        "First inf[  123.456789] remoteproc remoteproc0: powering up imx-rproc\n",
    )
    assert parse_one(MODERN.replace(SUMMARY_LINE, broken)) == MODERN_EXPECTED


def test_kernel_message_without_timestamp_loses_the_summary_line_only() -> None:
    broken = SUMMARY_LINE.replace("First inf", "First infremoteproc remoteproc0: powering up\n")
    parsed = parse_one(MODERN.replace(SUMMARY_LINE, broken))
    # The summary is lost, so the run is incomplete; the fallbacks of the module doc fill in:
    # init from "Initialized session in 12.434ms", first/warm-up from `count=1 curr=4625131`,
    # the inference average from the regular `count=` line.
    assert parsed == {
        **MODERN_EXPECTED,
        "status": "incomplete",
        "warmup_avg_us": 4625131,
    }


def test_scientific_notation_everywhere() -> None:
    text = (
        "STARTING!\n"
        "Initialized session in 1.5e+03ms.\n"
        "Running benchmark for at least 1 iterations\n"
        "count=1 curr=1.3049e+07\n"
        "Running benchmark for at least 50 iterations\n"
        "count=50 first=3.1e6 curr=2.9e+06 min=2.72757e+06 max=3.18995E+06 avg=2.95034e+06"
        " std=1.09798e+05\n"
    )
    parsed = parse_one(text)
    assert parsed == run(
        "incomplete",
        init_us=1.5e06,
        first_inference_us=1.3049e07,
        warmup_avg_us=1.3049e07,
        inference_avg_us=2.95034e06,
        **regular(50, 1.09798e05, 2.72757e06, 3.18995e06),
    )


def test_percentiles_are_read_from_the_regular_line_only() -> None:
    text = (
        "INFO: STARTING!\n"
        "INFO: count=1 curr=905463 p5=905463 median=905463 p95=905463\n"
        "INFO: count=50 first=900416 curr=898333 min=898007 max=906121 avg=899641 std=1549"
        " p5=898333 median=899281 p95=904305\n"
        "INFO: Inference timings in us: Init: 614333, First inference: 905463, Warmup (avg):"
        " 905463, Inference (avg): 899641\n"
    )
    parsed = parse_one(text)
    assert (parsed["inference_p5_us"], parsed["inference_median_us"]) == (898333, 899281)
    assert parsed["inference_p95_us"] == 904305


def test_single_run_regular_phase_has_min_max_avg_from_curr() -> None:
    text = (
        "STARTING!\nRunning benchmark for at least 1 iterations\ncount=1 curr=900\n"
        "Running benchmark for at least 1 iterations\ncount=1 curr=800\n"
        "Inference timings in us: Init: 10, First inference: 900, Warmup (avg): 900,"
        " Inference (avg): 800\n"
    )
    assert parse_one(text) == run("ok", **summary(10, 900, 900, 800), **regular(1, 0.0, 800, 800))


def test_log_cut_after_warmup_is_incomplete_without_regular_stats() -> None:
    cut = MODERN[: MODERN.index("INFO: count=379")]
    assert parse_one(cut) == run(
        "incomplete",
        graph="/home/root/imxbench/mobilenet.tflite",
        init_us=12434,
        first_inference_us=4625131,
        warmup_avg_us=4625131,
        delegates=[delegate("EXTERNAL", "full", 1)],
    )


def test_summary_line_cut_short_gives_no_shortened_value() -> None:
    # A serial console or a killed capture cut the summary in the middle of a number: the cut
    # "46251" (of 4625131) must not pass for the first inference; the warm-up line fills in.
    cut = MODERN[: MODERN.index("First inference: 4625131") + len("First inference: 46251")]
    parsed = parse_one(cut)
    assert parsed["status"] == "incomplete"
    assert parsed["init_us"] == 12434  # ended by its comma: whole
    assert parsed["first_inference_us"] == 4625131  # from `count=1 curr=4625131`
    broken = SUMMARY_LINE.replace("Inference (avg): 2525.59", "Inference (avg): 25remoteproc0")
    parsed = parse_one(MODERN.replace(SUMMARY_LINE, broken))
    assert parsed["status"] == "incomplete"
    assert parsed["inference_avg_us"] == 2525.59  # from the regular `count=` line, not 25


@pytest.mark.parametrize(
    ("cut_after", "lost"),
    [
        ("max=25", ["inference_max_us"]),
        ("min=2471 max=2586 avg=2525.5", ["inference_avg_us"]),
        ("std=13 p5=2480 median=25", ["inference_median_us"]),
    ],
)
def test_regular_count_line_cut_short_loses_its_last_value(cut_after: str, lost: list[str]) -> None:
    line = (
        "INFO: count=379 first=2542 curr=2543 min=2471 max=2586 avg=2525.59 std=13 p5=2480"
        " median=2524 p95=2570"
    )
    cut = MODERN[: MODERN.index(line) + line.index(cut_after) + len(cut_after)]
    parsed = parse_one(cut)
    assert parsed["status"] == "incomplete"
    assert parsed["inference_count"] == 379
    assert parsed["inference_min_us"] == 2471
    for key in lost:
        assert parsed[key] is None, key
    # never a shortened number: each value is the log's own or absent
    assert parsed["inference_max_us"] in (None, 2586)
    assert parsed["inference_avg_us"] in (None, 2525.59)
    assert parsed["inference_median_us"] in (None, 2524)


def test_ansi_colours_change_nothing() -> None:
    coloured = "\n".join(f"\x1b[0;32m{line}\x1b[0m" for line in MODERN.splitlines())
    assert parse_one(coloured.replace("Inference (avg)", "\x1b[1mInference (avg)")) == (
        MODERN_EXPECTED
    )


def test_op_profiling_timings_line_is_never_the_regular_phase() -> None:
    text = (
        "STARTING!\nRunning benchmark for at least 1 iterations\ncount=1 curr=5\n"
        "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
        "Timings (microseconds): count=50 first=1 curr=2 min=1 max=3 avg=2 std=1\n"
    )
    parsed = parse_one(text)
    assert parsed["inference_count"] is None
    assert parsed["first_inference_us"] == 5


def test_empty_memory_values_are_none() -> None:
    text = MODERN.replace("init=7.26953 overall=34.3164", "init= overall=")
    assert parse_one(text) == {**MODERN_EXPECTED, **memory(None, None)}


def test_old_peak_memory_line_and_periodic_peak() -> None:
    text = MODERN.replace(
        "Memory footprint delta from the start of the tool (MB): init=7.26953 overall=34.3164",
        "Peak memory footprint (MB): init=1.5 overall=2.5\n"
        "INFO: Overall peak memory footprint (MB) via periodic monitoring: 13.1797",
    )
    assert parse_one(text) == {**MODERN_EXPECTED, **memory(1.5, 2.5), "memory_peak_mb": 13.1797}


# --------------------------------------------------------------------------- delegates

COMPLETE = (
    "Explicitly applied {} delegate, and the model graph will be completely executed by the"
    " delegate."
)
PARTIAL = (
    "Explicitly applied {} delegate, and the model graph will be partially executed by the"
    " delegate w/ {} delegate kernels."
)
NOT_USED = (
    "Though {} delegate is explicitly applied, the model graph will not be executed by the"
    " delegate."
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([COMPLETE.format("XNNPACK")], [delegate("XNNPACK", "full", 1)]),
        ([PARTIAL.format("EXTERNAL", 3)], [delegate("EXTERNAL", "partial", 3)]),
        ([NOT_USED.format("GPU")], [delegate("GPU", "none", 0)]),
        (
            [COMPLETE.format("XNNPACK"), "INFO: " + PARTIAL.format("EXTERNAL", 2)],
            [delegate("XNNPACK", "full", 1), delegate("EXTERNAL", "partial", 2)],
        ),
        # An explicit verdict wins over partition reports.
        (
            [
                "VERBOSE: Replacing 60 out of 64 node(s) with delegate (Vx Delegate) node,"
                " yielding 2 partitions for the whole graph.",
                PARTIAL.format("EXTERNAL", 2),
            ],
            [delegate("EXTERNAL", "partial", 2)],
        ),
        # Without a verdict, partition reports are used.
        (
            [
                "VERBOSE: Replacing 60 out of 64 node(s) with delegate (Vx Delegate) node,"
                " yielding 2 partitions for subgraph 0."
            ],
            [delegate("Vx Delegate", "partial", 2)],
        ),
        (
            [
                "INFO: Replacing 0 out of 12 node(s) with delegate (TfLiteXNNPackDelegate) node,"
                " yielding 0 partitions."
            ],
            [delegate("TfLiteXNNPackDelegate", "none", 0)],
        ),
        (
            ["INFO: EthosuDelegate: 58 nodes delegated out of 60 nodes with 2 partitions."],
            [delegate("EthosuDelegate", "partial", 2)],
        ),
        # Lines that do not say how much ran on the delegate give no entry.
        (
            [
                "INFO: Replacing 31 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1"
                " partitions.",
                "INFO: Applied EXTERNAL delegate.",
                "INFO: EXTERNAL delegate created.",
            ],
            [],
        ),
    ],
)
def test_delegate_lines(lines: list[str], expected: list[dict[str, Any]]) -> None:
    parsed = parse_one("INFO: STARTING!\n" + "\n".join(lines) + "\n")
    assert parsed["delegates"] == expected


# --------------------------------------------------------------------------- failures


def test_crash_after_the_summary_is_failed_with_timings_kept() -> None:
    parsed = parse_one(MODERN + "sh: line 1:  2291 Segmentation fault      (core dumped)\n")
    assert parsed == {
        **MODERN_EXPECTED,
        "status": "failed",
        "error": "Segmentation fault      (core dumped)",
    }


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("ERROR: Disallowed CPU fallback detected.", "Disallowed CPU fallback detected."),
        ("Killed", "Killed"),
        ("Aborted (core dumped)", "Aborted (core dumped)"),
        ("ERROR: Failed to allocate tensors!", "Failed to allocate tensors!"),
        (
            "ERROR: Node number 3 (Vx Delegate) failed to invoke.",
            "Node number 3 (Vx Delegate) failed to invoke.",
        ),
    ],
)
def test_fatal_markers(line: str, error: str) -> None:
    cut = MODERN[: MODERN.index("INFO: Running benchmark")]
    parsed = parse_one(cut + line + "\n")
    assert (parsed["status"], parsed["error"]) == ("failed", error)


def test_unable_to_load_delegate_with_timings_is_ok_but_keeps_the_error() -> None:
    line = "INFO: Unable to load external delegate from : /usr/lib/libvx_delegate.so\n"
    text = MODERN.replace(
        "INFO: EXTERNAL delegate created.\n", line + "INFO: EXTERNAL delegate created.\n"
    )
    parsed = parse_one(text)
    assert parsed == {**MODERN_EXPECTED, "error": line.removeprefix("INFO: ").strip()}


def test_non_fatal_error_lines_are_not_failures() -> None:
    line = "ERROR: File /data/cache.bin couldn't be opened for reading: No such file or directory\n"
    assert parse_one(line + MODERN.replace("INFO: STARTING!\n", "")) == MODERN_EXPECTED


# --------------------------------------------------------------------------- op profiling

INIT_BLOCK = """\
Profiling Info for Benchmark Initialization:
============================== Summary by node type ==============================
\t     [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t AllocateTensors\t        1\t     1.356\t   100.000%\t   100.000%\t     0.000\t        1

Timings (microseconds): count=1 curr=1356
Memory (bytes): count=0
1 nodes observed
"""


def test_initialisation_table_is_never_the_op_profile() -> None:
    regular_heading = "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
    assert parse_one("STARTING!\n" + INIT_BLOCK + regular_heading)["op_profile"] is None
    table = (
        "============================== Summary by node type ==============================\n"
        "  [Node type]  [count]  [avg ms]  [avg %]  [cdf %]  [mem KB]  [times called]\n"
        "  TfLiteGpuDelegateV2  1  9.5  95.000%  95.000%  0.000  1\n"
        "[  12.345678] imx-rproc: kernel noise inside the table\n"
        "  Custom Op  2  0.5  5.000%  100.000%  0.000  2\n"
        "Timings (microseconds): count=50 first=1 curr=2 min=1 max=3 avg=2 std=1\n"
    )
    parsed = parse_one("STARTING!\n" + INIT_BLOCK + regular_heading + table)
    assert parsed["op_profile"] == [
        op("TfLiteGpuDelegateV2", 1, 9.5, 95.0),
        op("Custom Op", 2, 0.5, 5.0),
    ]


def test_summary_heading_without_rows_is_an_empty_profile() -> None:
    text = (
        "STARTING!\nOperator-wise Profiling Info for Regular Benchmark Runs:\n"
        "============================== Summary by node type ==============================\n"
        "\t[Node type]\t[count]\t[avg ms]\t[avg %]\t[cdf %]\t[mem KB]\t[times called]\n\n"
    )
    assert parse_one(text)["op_profile"] == []


def test_old_headless_table_without_times_called_column() -> None:
    text = (
        "STARTING!\n============================== Summary by node type ====\n"
        "\tCONV_2D\t15\t1.406\t89.270%\t89.270%\t0.000\n"
        "\tSOFTMAX\t1\t0.002\t0.100%\t100.000%\t0.000\n"
    )
    assert parse_one(text)["op_profile"] == [
        op("CONV_2D", 15, 1.406, 89.27),
        op("SOFTMAX", 1, 0.002, 0.1),
    ]


# --------------------------------------------------------------------------- the dataclass


def test_run_is_frozen_and_round_trips_to_json() -> None:
    parsed = parse_log(MODERN)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.status = "failed"  # type: ignore[misc]
    assert json.loads(json.dumps(runs_to_json([parsed]))) == [MODERN_EXPECTED]
    assert list(parsed.to_dict()) == list(EMPTY_RUN)


def test_adversarial_long_lines_stay_fast() -> None:
    hostile = "\n".join(
        [
            "Inference timings in us: " + "a" * 200_000,
            "count=1 " + "b" * 200_000,
            "Explicitly applied " + "c " * 100_000,
            "Replacing 1 out of 2 node(s) with delegate (" + "d" * 200_000,
            "x" * 100_000 + "[  1.123456] " + "y" * 100_000,
            "\t".join(["1"] * 100_000),
        ]
    )
    # These once took minutes (regex backtracking); benchmarks/parser_speed.py times them.
    assert parse_log("STARTING!\n" + hostile)[0].status == "incomplete"
    assert isinstance(parse_log("[  1.123456] noise\nab[  1.123456] k\n" * 20_000), list)


# --------------------------------------------------------------------------- fuzzing


def _fuzz_samples() -> list[str]:
    if not FIXTURES.is_dir():
        return [MODERN]
    samples = [MODERN]
    for path in sorted(FIXTURES.glob("*.log")):
        text = path.read_text(encoding="utf-8")
        if len(text) > 100_000:  # keep the examples fast: head and tail of the big one
            lines = text.splitlines(keepends=True)
            text = "".join(lines[:60] + lines[-80:])
        samples.append(text)
    return samples


FUZZ_SAMPLES = _fuzz_samples()
VOCABULARY = [
    "STARTING!", "INFO: ", "count=", "1", "50", "2.95e+06", "-3", ".", "curr=", "first=", "avg=",
    "min=", "std=", "p95=", " ", "\t", "\n", "\r\n", "\x00", "%", ":", ",", "[", "]",
    "[  1.123456] ", "Inference timings in us: ", "Average inference timings in us: ",
    "Init: ", "First inference: ", "Warmup (avg): ", "Inference (avg): ", "no stats: ",
    "Running benchmark for ", "Graph: [", "Initialized session in ", "ms",
    "Peak memory footprint (MB): init=", " overall=", "via periodic monitoring: ",
    "Explicitly applied ", " delegate, and the model graph will be ", "completely",
    "partially", " executed by the delegate w/ ", " delegate kernels.", "Though ",
    " delegate is explicitly applied", "Replacing ", " out of ", " node(s) with delegate (",
    ") node, yielding ", " partitions", " nodes delegated out of ", " nodes with ",
    "Profiling Info for Benchmark Initialization", "Operator-wise Profiling Info for Regular "
    "Benchmark Runs", "Summary by node type", "Timings (microseconds): ", " nodes observed",
    "Benchmarking failed", "Segmentation fault", "Unable to load external delegate",
]  # fmt: skip


def _assert_well_formed(runs: object) -> None:
    """The invariants of every parse: types of the contract, and status "ok" has timings."""
    assert isinstance(runs, list)
    for parsed in runs:
        assert isinstance(parsed, BenchmarkRun)
        assert parsed.status in ("ok", "failed", "incomplete")
        if parsed.status == "ok":
            assert parsed.inference_avg_us is not None
        for item in dataclasses.fields(parsed):
            value = getattr(parsed, item.name)
            if item.name.endswith(("_us", "_mb")):
                assert value is None or type(value) is float, (item.name, value)
        assert parsed.inference_count is None or type(parsed.inference_count) is int
        assert all(type(d.kernels) in (int, type(None)) for d in parsed.delegates)
        assert all(type(row.count) is int for row in parsed.op_profile or ())
    as_json = runs_to_json(runs)
    assert all(list(item) == list(EMPTY_RUN) for item in as_json)
    json.dumps(as_json)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_fuzz_arbitrary_text_never_raises(text: str) -> None:
    _assert_well_formed(parse_log(text))


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=80).map("".join))
def test_fuzz_benchmark_vocabulary_never_raises(text: str) -> None:
    _assert_well_formed(parse_log(text))


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "insert_bytes", "cut_line", "swap"]),
        st.integers(min_value=0, max_value=10**6),
        st.binary(max_size=12),
    ),
    max_size=10,
)


@FUZZ
@given(st.sampled_from(FUZZ_SAMPLES), MUTATIONS, st.floats(min_value=0.0, max_value=1.0))
def test_fuzz_damaged_real_logs_never_raise(
    text: str, mutations: list[tuple[str, int, bytes]], keep_fraction: float
) -> None:
    lines = text.splitlines(keepends=True)
    for kind, position, payload in mutations:
        if not lines:
            break
        index = position % len(lines)
        line = lines[index]
        if kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind == "insert_bytes":
            cut = position % (len(line) + 1)
            noise = (
                payload.decode("latin-1") if position % 2 else payload.decode("utf-8", "replace")
            )
            lines[index] = line[:cut] + noise + line[cut:]
        elif kind == "cut_line":
            lines[index] = line[: position % (len(line) + 1)]
        else:
            other = (position // 7) % len(lines)
            lines[index], lines[other] = lines[other], line
    damaged = "".join(lines)
    _assert_well_formed(parse_log(damaged[: int(len(damaged) * keep_fraction)]))


def test_all_same_phase_keeps_its_count() -> None:
    text = (
        "INFO: STARTING!\nINFO: count=1 curr=296530\n\n"
        "INFO: count=5 curr=220(all same) p5=220 median=220 p95=220\n\n"
        "INFO: Inference timings in us: Init: 12400, First inference: 296530, "
        "Warmup (avg): 296530, Inference (avg): 220\n"
    )
    (run,) = parse_log(text)
    assert run.inference_count == 5
    assert (run.inference_min_us, run.inference_max_us, run.inference_std_us) == (220, 220, 0)
    assert run.inference_median_us == 220
