"""Latency statistics on cases computed by hand."""

import math

import pytest

from handlite.bench.stats import (latency_stats, relative_spread, stats_from_samples,
                                  stats_from_tool)
from handlite.errors import InputError


def test_one_to_ten_by_hand():
    s = latency_stats(list(range(1, 11)))
    assert s["count"] == 10 and s["mean_ms"] == 5.5 and s["median_ms"] == 5.5
    # linear interpolation: rank 0.9 * 9 = 8.1 -> 9 + 0.1 * (10 - 9)
    assert s["p90_ms"] == pytest.approx(9.1)
    assert s["p99_ms"] == pytest.approx(9.91)
    assert s["std_ms"] == pytest.approx(math.sqrt(8.25))  # population variance 8.25
    assert s["mad_ms"] == 2.5  # |x - 5.5| = 4.5 3.5 ... 0.5 -> median 2.5
    assert (s["min_ms"], s["max_ms"], s["outliers"]) == (1, 10, 0)


def test_outlier_rule_median_plus_five_mads():
    # median 10, MAD 1: 15 is exactly 5 MADs away (kept), 15.5 is beyond (outlier)
    s = latency_stats([9, 10, 10, 11, 9, 11, 10, 15, 15.5])
    assert s["median_ms"] == 10 and s["mad_ms"] == 1
    assert s["outliers"] == 1
    # MAD 0: no spread to judge by, nothing is called an outlier
    assert latency_stats([5, 5, 5, 90])["outliers"] == 0


def test_bad_samples_raise_and_empty_is_null():
    assert latency_stats([]) is None and latency_stats(None) is None
    with pytest.raises(InputError):
        latency_stats([1.0, float("nan")])
    with pytest.raises(InputError):
        latency_stats([1.0, -2.0])


def test_fps_basis_pipeline_then_invoke():
    b = stats_from_samples([4, 5, 6], pipeline=[10, 8, 12], init_ms=3.0)
    assert b["fps_basis"] == "pipeline" and b["fps"] == pytest.approx(100.0)
    b = stats_from_samples([4, 5, 6])
    assert b["fps_basis"] == "invoke" and b["fps"] == pytest.approx(200.0)
    assert b["memory_mb"] is None and b["preprocess"] is None
    with pytest.raises(TypeError):
        stats_from_samples([1], bogus=2)


def test_stats_from_tool_summary():
    parsed = {"inference": {"count": 50, "avg": 20000.0, "median": 25000.0, "min": 18000.0,
                            "max": 30000.0, "std": 100.0},
              "init_us": 5000.0, "first_inference_us": 40000.0, "warmup_avg_us": 21000.0,
              "memory": {"overall_mb": 12.0, "peak_mb": 15.0}}
    block, flags = stats_from_tool(parsed)
    assert block["fps"] == pytest.approx(40.0) and flags == []
    assert block["invoke"]["mean_ms"] == 20 and block["invoke"]["p90_ms"] is None
    assert block["init_ms"] == 5 and block["memory_mb"] == 15.0
    del parsed["inference"]["median"]
    block, flags = stats_from_tool(parsed)
    assert block["fps"] == pytest.approx(50.0) and flags == ["fps_from_mean"]
    with pytest.raises(InputError):
        stats_from_tool({"inference": None})


def test_relative_spread():
    assert relative_spread([10, 11, 12]) == pytest.approx(2 / 11)
    assert relative_spread([10]) is None
