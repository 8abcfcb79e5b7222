"""Compare two result files cell by cell: which cells got significantly slower.

Units: latencies in ms; `change` is relative ((new - old) / old, +0.05 = 5% slower).

Cells are matched on (target id, model name, runner, delegate, threads) rather than on the
record's `cell` key, which holds the model's hash: comparing a rebuilt model against the last
one is the point. The latency compared is the invoke median (the pipeline median when both
records timed the pipeline), else the mean when a tool printed no median. With several
records for one cell in a file, the last one counts.

Noise: a median moves from run to run on a shared machine, so a change alone is no verdict.
Per cell we estimate a 95% confidence interval of the ratio new/old:
- `bootstrap`: both records carry raw samples (>= MIN_SAMPLES each): the percentile interval of
  median(new*) / median(old*) over BOOTSTRAP resamples (fixed seed, so a verdict repeats);
- `normal`: the tool printed only count, mean and std (benchmark_model): a normal interval of
  the log ratio of means, se = sqrt(cv_old^2 / n_old + cv_new^2 / n_new);
- `none`: nothing to estimate noise from: the change alone decides (said in the row).
A cell is a regression only when its change exceeds the threshold AND the interval lies above
1 (no-change excluded); an improvement likewise below; anything else is "no significant
change". Exit status follows regressions only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from handlite.errors import UsageError

#: fewer raw samples than this per side and the bootstrap is not trusted
MIN_SAMPLES = 5
BOOTSTRAP = 2000
CONFIDENCE = 0.95
_Z = 1.959963984540054  # two-sided 95% normal quantile
#: verdicts of a row
VERDICTS = ("regression", "improvement", "no significant change", "unknown")


def parse_threshold(text: str | float) -> float:
    """'5%' or '0.05' or 5 (percent when > 1) -> 0.05."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise UsageError(f"threshold {text!r} is not a number like 5% or 0.05") from None
    if raw.endswith("%") or value > 1:
        value /= 100.0
    if value < 0:
        raise UsageError("threshold must not be negative")
    return value


def match_key(record: Mapping[str, Any]) -> tuple:
    s = record.get("settings") or {}
    return ((record.get("target") or {}).get("id"), (record.get("model") or {}).get("name"),
            s.get("runner"), s.get("delegate"), s.get("threads"))


def latency_ms(record: Mapping[str, Any], basis: str | None = None) -> tuple[float | None, str]:
    stats = record.get("stats") or {}
    for name in ([basis] if basis else ["pipeline", "invoke"]):
        block = stats.get(name) or {}
        for key in ("median_ms", "mean_ms"):
            if block.get(key) is not None:
                return float(block[key]), f"{name}.{key}"
    return None, "none"


def raw_samples(record: Mapping[str, Any], basis: str) -> np.ndarray:
    """The record's raw samples for `basis` ('invoke' or 'pipeline' = the per-run sum)."""
    s = record.get("samples_ms") or {}
    if basis == "pipeline":
        parts = [s.get(k) or [] for k in ("preprocess", "invoke", "decode")]
        n = min(len(p) for p in parts)
        if not n:
            return np.empty(0)
        return np.sum([np.asarray(p[:n], float) for p in parts], axis=0)
    return np.asarray(s.get("invoke") or [], float)


def bootstrap_ratio_ci(old: np.ndarray, new: np.ndarray, n: int = BOOTSTRAP,
                       seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of median(new) / median(old) over `n` paired resamples."""
    rng = np.random.default_rng(seed)
    a = np.median(rng.choice(old, (n, old.size), replace=True), axis=1)
    b = np.median(rng.choice(new, (n, new.size), replace=True), axis=1)
    ratio = b / np.where(a > 0, a, np.nan)
    lo, hi = np.nanpercentile(ratio, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return float(lo), float(hi)


def _summary_ci(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        ma, sa, na = float(a["mean_ms"]), float(a["std_ms"]), int(a["count"])
        mb, sb, nb = float(b["mean_ms"]), float(b["std_ms"]), int(b["count"])
    except (KeyError, TypeError, ValueError):
        return None
    if min(ma, mb) <= 0 or min(na, nb) < 2 or not all(map(math.isfinite, (sa, sb))):
        return None
    se = math.sqrt((sa / ma) ** 2 / na + (sb / mb) ** 2 / nb)
    log_ratio = math.log(mb / ma)
    return math.exp(log_ratio - _Z * se), math.exp(log_ratio + _Z * se)


def ratio_interval(old: Mapping[str, Any], new: Mapping[str, Any],
                   basis: str) -> tuple[tuple[float, float] | None, str]:
    """(interval of new/old or None, method) for one pair of records."""
    sa, sb = raw_samples(old, basis), raw_samples(new, basis)
    if sa.size >= MIN_SAMPLES and sb.size >= MIN_SAMPLES:
        return bootstrap_ratio_ci(sa, sb), "bootstrap"
    ci = _summary_ci((old.get("stats") or {}).get(basis) or {},
                     (new.get("stats") or {}).get(basis) or {})
    return (ci, "normal") if ci else (None, "none")


def verdict(change: float | None, ci: tuple[float, float] | None, threshold: float) -> str:
    if change is None:
        return "unknown"
    if change > threshold and (ci is None or ci[0] > 1.0):
        return "regression"
    if change < -threshold and (ci is None or ci[1] < 1.0):
        return "improvement"
    return "no significant change"


def profile_pairs(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
                  ) -> list[tuple[tuple, Mapping[str, Any], Mapping[str, Any]]]:
    """(key, old record, new record) for cells with an op profile in both (last one counts)."""
    a = {match_key(r): r for r in old if r.get("status") == "ok" and r.get("op_profile")}
    b = {match_key(r): r for r in new if r.get("status") == "ok" and r.get("op_profile")}
    return [(k, a[k], b[k]) for k in sorted(set(a) & set(b),
                                            key=lambda k: tuple(str(x) for x in k))]


def compare(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]],
            threshold: float) -> dict[str, Any]:
    """{'rows': [...], 'regressions': [...], 'only_old': [...], 'only_new': [...]}.

    A row: the cell's key fields, `old_ms`, `new_ms`, `change`, `ci` ([low, high] of the
    ratio new/old, or None), `method`, `verdict` and `regressed` (verdict == regression).
    """
    a = {match_key(r): r for r in old if r.get("status") == "ok"}
    b = {match_key(r): r for r in new if r.get("status") == "ok"}
    rows = []
    for key in sorted(set(a) & set(b), key=lambda k: tuple(str(x) for x in k)):
        both_pipeline = all((r.get("stats") or {}).get("pipeline") for r in (a[key], b[key]))
        basis = "pipeline" if both_pipeline else "invoke"
        old_ms, what = latency_ms(a[key], basis)
        new_ms, _ = latency_ms(b[key], basis)
        change = None if not old_ms or new_ms is None else (new_ms - old_ms) / old_ms
        ci, method = ratio_interval(a[key], b[key], basis)
        v = verdict(change, ci, threshold)
        rows.append({"target": key[0], "model": key[1], "runner": key[2], "delegate": key[3],
                     "threads": key[4], "metric": what, "old_ms": old_ms, "new_ms": new_ms,
                     "change": change, "ci": list(ci) if ci else None, "method": method,
                     "verdict": v, "regressed": v == "regression",
                     "busy": any("busy" in (r.get("flags") or []) for r in (a[key], b[key]))})
    return {"threshold": threshold, "confidence": CONFIDENCE, "rows": rows,
            "regressions": [r for r in rows if r["regressed"]],
            "only_old": [list(k) for k in sorted(set(a) - set(b), key=str)],
            "only_new": [list(k) for k in sorted(set(b) - set(a), key=str)]}
