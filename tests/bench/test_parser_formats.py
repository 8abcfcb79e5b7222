"""benchmark_model outputs of every era (shapes as quoted in public TensorFlow READMEs and
issues, numbers changed), the validity rules, and fuzzing of the parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from handlite.bench.parser import MAX_COUNT, parse
from handlite.bench.stats import check_stats
from handlite.errors import HandliteError

TF1_FULL = """\
2017-11-27 08:56:45.100000: I tensorflow/tools/benchmark/benchmark_model.cc:291] Running benchmark for max 1000 iterations, max 10 seconds with detailed stat logging
2017-11-27 08:56:45.691915: I tensorflow/tools/benchmark/benchmark_model.cc:324] count=61 first=143000 curr=150000 min=89000 max=256000 avg=165000 std=28000

2017-11-27 08:56:45.692227: I tensorflow/tools/benchmark/benchmark_model.cc:538] Average inference timings in us: Warmup: 169000, no stats: 154000, with stats: 165000
"""

TFLITE_1X = """\
Initialized session in 21.039ms
Running benchmark for 1 iterations
count=1 curr=751000

Running benchmark for 50 iterations
count=50 first=747300 curr=747400 min=747300 max=748500 avg=747700 std=293

Average inference timings in us: Warmup: 751000, Init: 21039, no stats: 747700
"""

PROFILER = """\
Timings (microseconds): count=50 first=79000 curr=81000 min=77000 max=88000 avg=79700 std=1900
Memory (bytes): count=0
31 nodes observed

Average inference timings in us: Warmup: 83000, Init: 38000, Inference: 79760.9
"""

GLOG = ("I1127 08:56:45.691915  1234 benchmark_model.cc:324] count=20 first=10 curr=11 "
        "min=9 max=14 avg=11 std=1\n")

APK_LOGCAT = ("06-01 10:00:00.000  4242  4242 I tflite  : Average inference timings in us: "
              "Warmup: 91000, Init: 4100, Inference: 80660.1\n")

LITERT_2X = """\
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=5 first=4591 curr=4250 min=4200 max=4591 avg=4300.6 std=120 p5=4200 median=4250 p95=4591
INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=236 first=4300 curr=4150 min=4100 max=4900 avg=4213.95 std=90 p5=4120 median=4200 p95=4400
INFO: Inference timings in us: Init: 2529, First inference: 4591, Warmup (avg): 4300.6, Inference (avg): 4213.95
INFO: Memory footprint delta from the start of the tool (MB): init=5.1 overall=9.25
"""


def test_tf1_full_benchmark_model_with_glog_prefix_and_no_stats_items():
    r = parse(TF1_FULL)
    assert r["status"] == "ok"
    assert r["inference"]["count"] == 61 and r["inference_avg_us"] == 154000
    assert r["inference_with_stats_us"] == 165000 and r["warmup_avg_us"] == 169000


def test_tflite_1x_old_banners_and_no_stats():
    r = parse(TFLITE_1X)
    assert r["status"] == "ok" and r["format"] == "old"
    assert r["warmup"]["count"] == 1 and r["inference"]["count"] == 50
    assert r["inference_avg_us"] == 747700 and r["init_us"] == 21039


def test_profiler_timings_line_is_the_run():
    r = parse(PROFILER)
    assert r["inference"]["count"] == 50 and r["inference"]["avg"] == 79700
    assert r["inference_avg_us"] == pytest.approx(79760.9)


def test_glog_prefixed_count_line_and_apk_logcat_summary():
    assert parse(GLOG)["inference"]["count"] == 20
    r = parse(APK_LOGCAT)
    assert r["inference_avg_us"] == pytest.approx(80660.1) and r["init_us"] == 4100


def test_litert_2x_with_percentiles():
    r = parse(LITERT_2X)
    assert r["status"] == "ok" and r["inference"]["median"] == 4200
    assert r["memory"]["overall_mb"] == 9.25


def test_unknown_summary_item_is_kept_not_an_error():
    r = parse("count=3 first=1 curr=1 min=1 max=1 avg=1 std=0\n"
              "Average inference timings in us: Warmup: 5, Frobnicate: 7, Inference: 1\n")
    assert r["summary_other"] == {"Frobnicate": 7.0} and r["status"] == "ok"


@pytest.mark.parametrize("text, why", [
    ("count=50 first=-18200 curr=-18200 min=-18200 max=-18000 avg=-18100 std=1\n",
     "negative"),
    ("Inference timings in us: Init: 1, Inference (avg): nan\n", "not finite"),
    ("Inference timings in us: Init: 1, Inference (avg): inf\n", "not finite"),
    ("Inference timings in us: Init: 1, Inference (avg): 1e999\n", "not finite"),
    ("count=1e30 first=1 curr=1 min=1 max=1 avg=1 std=0\n", "whole number"),
    ("count=2.5 first=1 curr=1 min=1 max=1 avg=1 std=0\n", "whole number"),
    ("count=5 first=10 curr=10 min=20 max=10 avg=15 std=1\n", "min=20 > max=10"),
    ("count=5 first=10 curr=10 min=9 max=12 avg=50 std=1\n", "outside"),
])
def test_impossible_numbers_are_invalid_with_a_reason(text, why):
    r = parse(text)
    assert r["status"] == "invalid"
    assert any(why in reason for reason in r["invalid_reasons"]), r["invalid_reasons"]


def test_check_stats_for_app_records():
    good = {"invoke": {"count": 5, "mean_ms": 2.0, "median_ms": 2.0, "min_ms": 1.0,
                       "max_ms": 3.0}, "fps": 500.0}
    assert check_stats(good) == []
    assert check_stats({"invoke": {**good["invoke"], "min_ms": 4.0}})
    assert check_stats({"invoke": {**good["invoke"], "count": 1.5}})
    assert check_stats({"invoke": {**good["invoke"], "mean_ms": -1.0}})


_WORDS = st.sampled_from(["count=", "first=", "curr=", "min=", "max=", "avg=", "std=",
                          "median=", "nan", "inf", "-", "1e999", "1e30", "0", "7", "3.5",
                          " ", "\n", "(all same)", "Inference timings in us:",
                          "Average inference timings in us:", "Init: ", "Inference (avg): ",
                          "no stats: ", ", ", "Running benchmark for at least 5 iterations\n",
                          "Peak memory footprint (MB): init=", " overall=",
                          "Replacing 3 out of 5 node(s) with delegate (GPU)\n", "STARTING!\n",
                          "INFO: ", "I/tflite( 12): ", "Timings (microseconds): ", "[/]",
                          "\x1b[2J"])


def _assert_sane(result):
    if result["status"] != "ok":
        assert result["invalid_reasons"]
        return
    for key in ("init_us", "first_inference_us", "warmup_avg_us", "inference_avg_us"):
        v = result[key]
        assert v is None or (math.isfinite(v) and v >= 0), (key, v)
    run = result["inference"]
    if run is not None:
        assert isinstance(run["count"], int) and 1 <= run["count"] <= MAX_COUNT
        assert all(v is None or (math.isfinite(v) and v >= 0)
                   for k, v in run.items() if k != "count")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_WORDS, max_size=40).map("".join))
def test_fuzz_structured_text(text):
    try:
        _assert_sane(parse(text))
    except HandliteError:
        pass  # ParseError / BenchmarkError: the project's own one-line errors


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_random_text(text):
    try:
        _assert_sane(parse(text))
    except HandliteError:
        pass
