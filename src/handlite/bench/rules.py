"""Run rules: how long and how often a cell must run before its numbers count.

A cell that breaks its rules is kept, with its numbers, as status `invalid` and the reasons in
`error`: never a silently short result. Rules live in the record (`settings.rules`).

Presets (`--rules`):
- `quick` (default): at least 1 s of timed runs and 50 runs: benchmark_model's own defaults
  (`--min_secs=1`, `--num_runs=50`). Enough for a development loop; too short to publish.
- `mlperf`: MLPerf Mobile's single-stream minimums, at least 60 s and 1024 queries per run
  (the MLPerf Inference rules' single-stream scenario), and the cell repeated 5 times with
  repeat medians that agree within 5% (relative range): run-to-run agreement as device labs
  check it; the repeat count and spread are handlite's choice, not quoted from the rules text.
- `none`: no minimum (smoke tests, CI on a stand-in device).

Duration is the sum of the timed runs (count x mean): a tool's per-run overhead is not counted,
so 10% slack (`DURATION_SLACK`) keeps a tool that stopped right at its `--min_secs` valid.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from handlite.bench.stats import relative_spread
from handlite.errors import UsageError, choice_error

DURATION_SLACK = 0.9


@dataclass(frozen=True)
class RunRules:
    #: preset name the rules started from
    name: str = "quick"
    #: seconds of timed runs at least
    min_secs: float = 1.0
    #: timed runs (queries) at least
    min_runs: int = 50
    #: runs of the whole cell; the record keeps the median one
    repeats: int = 1
    #: repeats must agree within this relative range, else invalid (None: not a rule)
    max_spread: float | None = None

    def __post_init__(self) -> None:
        if self.min_secs < 0 or self.min_runs < 1 or self.repeats < 1:
            raise UsageError("run rules need min-secs >= 0, min-runs >= 1, repeats >= 1")


PRESETS: dict[str, RunRules] = {
    "quick": RunRules("quick", 1.0, 50, 1, None),
    "mlperf": RunRules("mlperf", 60.0, 1024, 5, 0.05),
    "none": RunRules("none", 0.0, 1, 1, None),
}


def resolve(name: str = "quick", min_secs: float | None = None, min_runs: int | None = None,
            repeats: int | None = None) -> RunRules:
    """A preset with the given overrides (None keeps the preset's value)."""
    if name not in PRESETS:
        raise choice_error("rules", name, tuple(PRESETS))
    rules = PRESETS[name]
    changes = {k: v for k, v in (("min_secs", min_secs), ("min_runs", min_runs),
                                 ("repeats", repeats)) if v is not None}
    if changes:
        rules = replace(rules, **changes)
    return rules


def runs_for(rules: RunRules, runs: int | None) -> int:
    """The timed runs to ask for: `runs`, or the rules' minimum; fewer is a usage error."""
    if runs is None:
        return rules.min_runs
    if runs < rules.min_runs:
        raise UsageError(f"--runs {runs} is below the {rules.name} rules' minimum of "
                         f"{rules.min_runs} runs (pass --min-runs {runs}, or --rules none)")
    return runs


def violations(stats: Mapping[str, Any] | None, rules: RunRules,
               repeat_values: Sequence[float | None] | None = None) -> list[str]:
    """Why a cell's numbers break `rules` (empty: they keep them)."""
    reasons: list[str] = []
    stats = stats or {}
    block = stats.get("pipeline") or stats.get("invoke") or {}
    count = block.get("count")
    if count is None or count < rules.min_runs:
        reasons.append(f"{count or 0} timed runs < {rules.min_runs}")
    mean = block.get("mean_ms")
    if rules.min_secs > 0:
        secs = None if count is None or mean is None else count * mean / 1000.0
        if secs is None or secs < DURATION_SLACK * rules.min_secs:
            got = "unknown" if secs is None else f"{secs:.2f} s"
            reasons.append(f"timed {got} < {rules.min_secs:g} s")
    if rules.repeats > 1:
        values = [v for v in (repeat_values or []) if v is not None]
        if len(values) < rules.repeats:
            reasons.append(f"{len(values)} repeats < {rules.repeats}")
        elif rules.max_spread is not None:
            spread = relative_spread(values)
            if spread is not None and spread > rules.max_spread:
                reasons.append(f"repeats disagree by {spread * 100:.1f}% > "
                               f"{rules.max_spread * 100:g}%")
    return reasons


def apply(record: MutableMapping[str, Any], rules: RunRules,
          repeat_values: Sequence[float | None] | None = None) -> MutableMapping[str, Any]:
    """Record the rules in `settings.rules`; an ok record that breaks them turns `invalid`."""
    record.setdefault("settings", {})["rules"] = asdict(rules)
    if record.get("status") != "ok":
        return record
    reasons = violations(record.get("stats"), rules, repeat_values)
    if reasons:
        record["status"] = "invalid"
        record["error"] = f"broke the {rules.name} run rules: " + "; ".join(reasons)
        record["flags"] = sorted(set(record.get("flags") or []) | {"rules"})
    return record
