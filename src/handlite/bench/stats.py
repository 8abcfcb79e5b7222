"""Latency statistics: raw samples (or a tool's summary) -> the `stats` block of a record.

Units: every value is in milliseconds unless its name says otherwise (`_us` = microseconds);
fps is frames per second.

Method (outlier-robust, as device labs report latency):
- percentiles use linear interpolation between closest ranks (numpy's default), so the p90 of
  [1, 2, ..., 10] is 9.1;
- `std_ms` is the population standard deviation (ddof=0), the same estimator
  `benchmark_model` prints as `std=`;
- `mad_ms` is the raw median absolute deviation, median(|x - median(x)|), not scaled to a
  normal sigma;
- a sample is an outlier when |x - median| > 5 * MAD. With MAD = 0 (more than half the samples
  identical) there is no spread to judge against, so nothing is called an outlier;
- fps = 1000 / median (the median resists the odd slow run a mean would absorb). When only a
  tool's summary is available and it has no median (older `benchmark_model`), fps comes from
  the mean and the record carries the flag `fps_from_mean`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from handlite.errors import InputError

#: |x - median| > OUTLIER_MADS * MAD marks a sample as an outlier.
OUTLIER_MADS = 5.0

#: keys of one latency block, in the order the contract lists them.
LATENCY_KEYS = ("count", "mean_ms", "median_ms", "p90_ms", "p99_ms", "std_ms", "min_ms",
                "max_ms", "mad_ms", "outliers")


def latency_stats(samples_ms: Sequence[float] | np.ndarray | None) -> dict[str, Any] | None:
    """One latency block from raw samples (ms). None when there are no samples.

    Raises InputError on NaN/inf or negative samples: a timing that cannot be real must not
    quietly shift a median.
    """
    if samples_ms is None:
        return None
    x = np.asarray(samples_ms, dtype=np.float64).ravel()
    if x.size == 0:
        return None
    if not np.all(np.isfinite(x)):
        raise InputError("latency samples contain NaN or infinity")
    if np.any(x < 0):
        raise InputError(f"latency samples contain a negative time ({x.min():g} ms)")
    median = float(np.median(x))
    mad = float(np.median(np.abs(x - median)))
    outliers = int(np.sum(np.abs(x - median) > OUTLIER_MADS * mad)) if mad > 0 else 0
    p90, p99 = (float(v) for v in np.percentile(x, [90, 99]))
    return {
        "count": int(x.size),
        "mean_ms": float(x.mean()),
        "median_ms": median,
        "p90_ms": p90,
        "p99_ms": p99,
        "std_ms": float(x.std()),
        "min_ms": float(x.min()),
        "max_ms": float(x.max()),
        "mad_ms": mad,
        "outliers": outliers,
    }


def fps_from_ms(ms: float | None) -> float | None:
    """1000 / ms, or None when the time is unknown or not positive."""
    if ms is None or not math.isfinite(ms) or ms <= 0:
        return None
    return 1000.0 / ms


def empty_stats() -> dict[str, Any]:
    """A stats block with every value unknown (null, never 0)."""
    return {"invoke": None, "preprocess": None, "decode": None, "pipeline": None,
            "fps": None, "fps_basis": None, "init_ms": None, "first_ms": None,
            "warmup_mean_ms": None, "memory_mb": None, "peak_memory_mb": None}


def stats_from_samples(invoke: Sequence[float] | None,
                       preprocess: Sequence[float] | None = None,
                       decode: Sequence[float] | None = None,
                       pipeline: Sequence[float] | None = None,
                       **extra: float | None) -> dict[str, Any]:
    """The record's `stats` block from raw samples (ms per run).

    `extra` fills the scalar fields (`init_ms`, `first_ms`, `warmup_mean_ms`, `memory_mb`).
    fps follows the contract: from the pipeline median when the pipeline was timed, else from
    the invoke median.
    """
    block = empty_stats()
    unknown = set(extra) - set(block)
    if unknown:
        raise TypeError(f"unknown stats fields: {sorted(unknown)}")
    block.update(extra)
    block["invoke"] = latency_stats(invoke)
    block["preprocess"] = latency_stats(preprocess)
    block["decode"] = latency_stats(decode)
    block["pipeline"] = latency_stats(pipeline)
    for basis in ("pipeline", "invoke"):
        if block[basis] is not None:
            block["fps"] = fps_from_ms(block[basis]["median_ms"])
            block["fps_basis"] = basis
            break
    return block


def _us_to_ms(value: float | None) -> float | None:
    return None if value is None else value / 1000.0


def stats_from_tool(parsed: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The `stats` block from a parsed `benchmark_model` output (see `bench.parser`).

    The tool prints a summary, not the samples, so what it does not print stays null (p90, p99,
    MAD, outliers; the median too on older builds). Returns (stats, flags).
    """
    flags: list[str] = []
    block = empty_stats()
    run = parsed.get("inference") or {}
    mean_us = run.get("avg", parsed.get("inference_avg_us"))
    median_us = run.get("median")
    if mean_us is None and median_us is None:
        raise InputError("the benchmark output has no inference timing")
    block["invoke"] = {
        "count": run.get("count"),
        "mean_ms": _us_to_ms(mean_us),
        "median_ms": _us_to_ms(median_us),
        "p90_ms": None,
        "p99_ms": None,
        "std_ms": _us_to_ms(run.get("std")),
        "min_ms": _us_to_ms(run.get("min")),
        "max_ms": _us_to_ms(run.get("max")),
        "mad_ms": None,
        "outliers": None,
    }
    if median_us is not None:
        block["fps"] = fps_from_ms(_us_to_ms(median_us))
    else:
        block["fps"] = fps_from_ms(_us_to_ms(mean_us))
        flags.append("fps_from_mean")
    block["fps_basis"] = "invoke"
    block["init_ms"] = _us_to_ms(parsed.get("init_us"))
    block["first_ms"] = _us_to_ms(parsed.get("first_inference_us"))
    block["warmup_mean_ms"] = _us_to_ms(parsed.get("warmup_avg_us"))
    memory = parsed.get("memory") or {}
    # the periodic monitor sees the true peak; the footprint lines are deltas at two moments
    block["memory_mb"] = memory.get("peak_mb", memory.get("overall_mb"))
    # only the periodic monitor (--report_peak_memory_footprint) measures a peak
    block["peak_memory_mb"] = memory.get("peak_mb")
    return block, flags


def check_stats(stats: Mapping[str, Any] | None) -> list[str]:
    """Why a stats block (from any runner: the tool, the app, the host) cannot be real:
    non-finite or negative times, a count that is not a whole number, min > max, a mean or
    median outside min..max. Empty when it can be."""
    reasons: list[str] = []
    if not isinstance(stats, Mapping):
        return ["no stats block"]
    for name in ("invoke", "preprocess", "decode", "pipeline"):
        block = stats.get(name)
        if block is None:
            continue
        if not isinstance(block, Mapping):
            reasons.append(f"{name} is not a latency block")
            continue
        count = block.get("count")
        if count is not None and not (isinstance(count, int) and not isinstance(count, bool)
                                      and count >= 0):
            reasons.append(f"{name} count {count!r} is not a whole number")
        bad = False
        for key in LATENCY_KEYS[1:-1]:
            value = block.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                reasons.append(f"{name} {key} {value!r} is not a finite number")
                bad = True
            elif value < 0:
                reasons.append(f"{name} {key} {value:g} is negative")
                bad = True
        lo, hi = block.get("min_ms"), block.get("max_ms")
        if bad or lo is None or hi is None:
            continue
        if lo > hi:
            reasons.append(f"{name} min {lo:g} ms > max {hi:g} ms")
            continue
        slack = 1e-5 * max(abs(hi), 1.0) + 1e-3  # printed values are rounded
        for key in ("mean_ms", "median_ms", "p90_ms", "p99_ms"):
            value = block.get(key)
            if value is not None and not lo - slack <= value <= hi + slack:
                reasons.append(f"{name} {key} {value:g} is outside min..max "
                               f"({lo:g}..{hi:g} ms)")
    for key in ("fps", "init_ms", "first_ms", "warmup_mean_ms"):
        value = stats.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            reasons.append(f"{key} {value!r} is not a finite non-negative number")
    return reasons


def relative_spread(values: Sequence[float]) -> float | None:
    """(max - min) / median of positive values, e.g. per-repeat medians; None if undefined."""
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size < 2:
        return None
    median = float(np.median(x))
    if median <= 0:
        return None
    return float((x.max() - x.min()) / median)
