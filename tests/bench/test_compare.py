"""Noise-aware `results compare`: synthetic raw samples with known truth."""

import numpy as np
import pytest

from handlite.bench.compare import compare, ratio_interval
from handlite.bench.stats import stats_from_samples
from handlite.bench.store import make_record, make_settings


def _record(samples, flags=(), keep_samples=True):
    model = {"name": "handlite_112_int8.tflite", "sha256": "ab" * 32, "variant": "112_int8"}
    target = {"kind": "host", "id": "host:ci"}
    stats = stats_from_samples(list(samples))
    return make_record(model=model, target=target, settings=make_settings("host", 1),
                       stats=stats, samples_ms={"invoke": list(samples)} if keep_samples
                       else None, flags=flags)


def _noisy(rng, median_ms, n=60):
    # a shared machine: lognormal jitter plus a few long stalls
    base = median_ms * rng.lognormal(0.0, 0.15, n)
    stalls = rng.random(n) < 0.08
    return np.where(stalls, base * rng.uniform(1.5, 3.0, n), base)


def test_noise_alone_is_no_regression():
    """Two runs of the same distribution: across 40 pairs at most one is called a
    regression (the interval is 95%), and never one with a plain median jump."""
    false = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        result = compare([_record(_noisy(rng, 10.0))], [_record(_noisy(rng, 10.0))], 0.05)
        false += len(result["regressions"])
    assert false <= 1


def test_noise_that_moves_the_median_past_the_threshold_passes():
    # few, very noisy samples: the medians differ by more than 5%, the interval covers 1
    rng = np.random.default_rng(3)
    old = 10 * rng.lognormal(0, 0.4, 12)
    new = old[::-1] * 1.08
    result = compare([_record(old)], [_record(new)], 0.05)
    row = result["rows"][0]
    assert row["change"] > 0.05 and row["ci"][0] <= 1.0 <= row["ci"][1]
    assert row["verdict"] == "no significant change" and not result["regressions"]


def test_a_true_20_percent_slowdown_fails():
    rng = np.random.default_rng(1)
    result = compare([_record(_noisy(rng, 10.0))], [_record(_noisy(rng, 12.0))], 0.05)
    row = result["rows"][0]
    assert row["method"] == "bootstrap" and row["verdict"] == "regression"
    assert 0.1 < row["change"] < 0.3 and row["ci"][0] > 1.0
    assert len(result["regressions"]) == 1
    # the other way round is an improvement, not a regression
    back = compare([_record(_noisy(rng, 12.0))], [_record(_noisy(rng, 10.0))], 0.05)
    assert back["rows"][0]["verdict"] == "improvement" and not back["regressions"]


def test_summary_statistics_only_use_a_normal_interval():
    # benchmark_model records: count/mean/std but no raw samples
    rng = np.random.default_rng(2)
    old, new = _noisy(rng, 10.0, 200), _noisy(rng, 12.0, 200)
    a, b = _record(old, keep_samples=False), _record(new, keep_samples=False)
    ci, method = ratio_interval(a, b, "invoke")
    assert method == "normal" and ci[0] > 1.0
    assert compare([a], [b], 0.05)["rows"][0]["verdict"] == "regression"
    same = _record(_noisy(rng, 10.0, 200), keep_samples=False)
    assert compare([a], [same], 0.05)["rows"][0]["verdict"] != "regression"


def test_busy_flag_travels_into_the_row():
    rng = np.random.default_rng(4)
    result = compare([_record(_noisy(rng, 10.0), flags=["busy"])],
                     [_record(_noisy(rng, 10.0))], 0.05)
    assert result["rows"][0]["busy"] is True


@pytest.mark.parametrize("n", [1, 3])
def test_too_few_samples_fall_back_without_crashing(n):
    result = compare([_record([10.0] * n)], [_record([13.0] * n)], 0.05)
    assert result["rows"][0]["method"] in ("normal", "none")
