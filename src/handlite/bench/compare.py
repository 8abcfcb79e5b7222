"""Compare two result files cell by cell: which cells got slower than a threshold allows.

Units: latencies in ms; `change` is relative ((new - old) / old, +0.05 = 5% slower).

Cells are matched on (target id, model name, runner, delegate, threads) rather than on the
record's `cell` key, which holds the model's hash: comparing a rebuilt model against the last
one is the point. The latency compared is the invoke median (the pipeline median when both
records timed the pipeline), else the mean when a tool printed no median. With several
records for one cell in a file, the last one counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from handlite.errors import UsageError


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


def compare(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]],
            threshold: float) -> dict[str, Any]:
    """{'rows': [...], 'regressions': [...], 'only_old': [...], 'only_new': [...]}."""
    a = {match_key(r): r for r in old if r.get("status") == "ok"}
    b = {match_key(r): r for r in new if r.get("status") == "ok"}
    rows = []
    for key in sorted(set(a) & set(b), key=lambda k: tuple(str(x) for x in k)):
        both_pipeline = all((r.get("stats") or {}).get("pipeline") for r in (a[key], b[key]))
        basis = "pipeline" if both_pipeline else "invoke"
        old_ms, what = latency_ms(a[key], basis)
        new_ms, _ = latency_ms(b[key], basis)
        change = None if not old_ms or new_ms is None else (new_ms - old_ms) / old_ms
        rows.append({"target": key[0], "model": key[1], "runner": key[2], "delegate": key[3],
                     "threads": key[4], "metric": what, "old_ms": old_ms, "new_ms": new_ms,
                     "change": change,
                     "regressed": change is not None and change > threshold})
    return {"threshold": threshold, "rows": rows,
            "regressions": [r for r in rows if r["regressed"]],
            "only_old": [list(k) for k in sorted(set(a) - set(b), key=str)],
            "only_new": [list(k) for k in sorted(set(b) - set(a), key=str)]}
