"""Measurement hygiene on a phone: what state it was in, and waiting until it is fit to measure.

Units: temperatures in degrees C, times in seconds, frequencies in kHz, battery level in %.

Recorded with every device result (the record's `hygiene` block): battery level and
temperature, the hottest thermal zone before and after the run, CPU governors per cpufreq
policy, and `dumpsys thermalservice` status when the phone has it. Before a cell the thermal
gate waits (with progress) until the hottest zone is below a threshold or a maximum wait has
passed; between cells a cooldown sleeps (device labs use 60-300 s, MLPerf Mobile among them).
Readings come from the device layer: the full picture once per device from `Device.info()`
(`handlite.device.info` parses cpufreq, thermal zones, battery and the thermal service), and a
light battery + thermal reading in the same line formats before and after each cell.
A result is flagged:
- `thermal`: the gate timed out, or the device was above the gate's threshold after the run;
- `partial_delegation`: the delegate took fewer nodes than the graph has;
- `repeat_spread`: repeats of one cell disagree by more than `max_spread` (relative range of
  the per-repeat medians, or means where the tool gives no median).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from handlite.errors import UsageError
from handlite.bench.stats import relative_spread
from handlite.device.info import parse_battery, parse_thermal


@dataclass(frozen=True)
class HygieneSettings:
    """How carefully to measure. Tests set cooldown_s=0 and a generous threshold."""

    #: the thermal gate: wait until the hottest zone is below this (deg C) before a cell
    threshold_c: float = 45.0
    #: give up waiting after this long and measure anyway (the result is flagged `thermal`)
    max_wait_s: float = 300.0
    #: how often the gate reads the temperature
    poll_s: float = 5.0
    #: sleep between cells on one device (MLPerf Mobile uses 60-300 s)
    cooldown_s: float = 60.0
    #: repeats per cell; the record keeps the repeat with the median result
    repeats: int = 1
    #: relative spread (max - min) / median of repeat results above which `repeat_spread`
    max_spread: float = 0.10

    def __post_init__(self) -> None:
        for name in ("max_wait_s", "poll_s", "cooldown_s", "max_spread"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must not be negative")
        if self.repeats < 1:
            raise UsageError("repeats must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


class Shell(Protocol):
    def __call__(self, command: str) -> str: ...


# The per-cell reading: battery and thermal zones in one round trip, in the line formats of
# `handlite.device.info` (whose parsers read them); the full picture (governors, clusters,
# thermal service) comes once per device from `Device.info()`.
_LIGHT = ("echo @@battery; dumpsys battery 2>/dev/null; echo @@thermal; "
          "for z in /sys/class/thermal/thermal_zone*; do [ -r \"$z/temp\" ] || continue; "
          "echo \"${z##*/}|$(cat \"$z/type\" 2>/dev/null)|$(cat \"$z/temp\" 2>/dev/null)\"; "
          "done; echo @@end")
_THERMAL_ONLY = _LIGHT[_LIGHT.index("for z"):_LIGHT.index(" echo @@end")]

THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical",
                  5: "emergency", 6: "shutdown"}


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line.rstrip("\r"))
    return {k: "\n".join(v) for k, v in sections.items()}


def hottest(zones: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The hottest readable zone as {'zone': its type (or name), 'temp_c'}, or None.

    Disconnected sensors read -273 C or absurd values; they are not the device's heat."""
    readable = [z for z in zones or [] if z.get("temp_c") is not None
                and -40.0 < z["temp_c"] < 150.0]
    if not readable:
        return None
    top = max(readable, key=lambda z: z["temp_c"])
    return {"zone": top.get("type") or top["zone"], "temp_c": top["temp_c"]}


def big_core_mask(clusters: list[dict[str, Any]]) -> str | None:
    """taskset mask (hex) of the fastest cluster, or None when there is only one cluster."""
    known = [c for c in clusters if c.get("max_khz")]
    if len(known) < 2:
        return None
    top = max(c["max_khz"] for c in known)
    mask = 0
    for cluster in known:
        if cluster["max_khz"] == top:
            for cpu in cluster["cpus"]:
                mask |= 1 << cpu
    return f"{mask:x}"


def snapshot_from_info(info: dict[str, Any]) -> dict[str, Any]:
    """The device's state from `Device.info()` (`handlite.device.info.collect`): battery,
    hottest zone, CPU clusters, governors per cpufreq policy, thermal service status."""
    clusters = info.get("cpu_clusters") or []
    status = info.get("thermal_status")
    return {
        "battery": info.get("battery"),
        "hottest": hottest(info.get("thermal_zones")),
        "zones": len(info.get("thermal_zones") or []),
        "clusters": clusters,
        # kernels name a policy after its first CPU
        "governors": {f"policy{c['cpus'][0]}": c["governor"] for c in clusters if c["cpus"]},
        "thermal_status": None if status is None else
        {"status": status, "status_name": THERMAL_STATUS.get(status, "unknown")},
    }


def light_snapshot(shell: Shell) -> dict[str, Any]:
    """Battery and hottest zone now (one shell round trip; before and after each cell)."""

    sections = _sections(shell(_LIGHT))
    return {"battery": parse_battery(sections.get("battery", "")),
            "hottest": hottest(parse_thermal(sections.get("thermal", "")))}


def hottest_now(shell: Shell) -> dict[str, Any] | None:

    return hottest(parse_thermal(shell(_THERMAL_ONLY)))


def thermal_gate(read_hottest: Callable[[], dict[str, Any] | None], settings: HygieneSettings,
                 progress: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Wait until the hottest zone is below the threshold or `max_wait_s` has passed.

    Returns {'threshold_c', 'start_c', 'end_c', 'waited_s', 'passed'}; a device without
    readable thermal zones passes at once (`start_c` None): there is nothing to wait for.
    """
    start = clock()
    first = current = read_hottest()
    while current is not None and current["temp_c"] >= settings.threshold_c:
        waited = clock() - start
        if waited >= settings.max_wait_s:
            break
        if progress:
            progress(f"cooling: {current['zone']} {current['temp_c']:.1f} C >= "
                     f"{settings.threshold_c:.1f} C, waited {waited:.0f}/"
                     f"{settings.max_wait_s:.0f} s")
        sleep(min(settings.poll_s, max(settings.max_wait_s - waited, 0.0)) or 0.01)
        current = read_hottest()
    passed = current is None or current["temp_c"] < settings.threshold_c
    return {"threshold_c": settings.threshold_c,
            "start_c": first["temp_c"] if first else None,
            "end_c": current["temp_c"] if current else None,
            "waited_s": round(clock() - start, 3), "passed": passed}


def cooldown(settings: HygieneSettings, progress: Callable[[str], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> float:
    """Sleep the configured cooldown between cells; returns the seconds slept."""
    if settings.cooldown_s <= 0:
        return 0.0
    if progress:
        progress(f"cooldown {settings.cooldown_s:.0f} s")
    sleep(settings.cooldown_s)
    return settings.cooldown_s


def hygiene_block(before: dict[str, Any], after_hottest: dict[str, Any] | None,
                  gate: dict[str, Any] | None,
                  settings: HygieneSettings, repeats: list[float] | None = None
                  ) -> tuple[dict[str, Any], list[str]]:
    """The record's `hygiene` block and the flags it implies (`thermal`, `repeat_spread`)."""
    flags: list[str] = []
    spread = relative_spread(repeats or [])
    if spread is not None and spread > settings.max_spread:
        flags.append("repeat_spread")
    hot_after = after_hottest["temp_c"] if after_hottest else None
    if (gate is not None and not gate["passed"]) or (
            hot_after is not None and hot_after >= settings.threshold_c):
        flags.append("thermal")
    block = {
        "battery": before.get("battery"),
        "thermal_before": before.get("hottest"),
        "thermal_after": after_hottest,
        "thermal_status": before.get("thermal_status"),
        "governors": before.get("governors") or None,
        "gate": gate,
        "cooldown_s": settings.cooldown_s,
        "repeats": len(repeats) if repeats else 1,
        "repeat_results_ms": repeats or None,
        "repeat_spread": spread,
    }
    return block, flags


def delegation_flags(delegation: dict[str, Any] | None) -> list[str]:
    return ["partial_delegation"] if delegation and delegation.get("partial") else []
