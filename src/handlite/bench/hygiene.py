"""Measurement hygiene on a phone: what state it was in, and waiting until it is fit to measure.

Units: temperatures in degrees C, times in seconds, frequencies in kHz, battery level in %.

Recorded with every device result (the record's `hygiene` block): battery level and
temperature, the hottest thermal zone before and after the run, CPU governors per cpufreq
policy, and `dumpsys thermalservice` status when the phone has it. Before a cell the thermal
gate waits (with progress) until the hottest zone is below a threshold or a maximum wait has
passed; between cells a cooldown sleeps (device labs use 60-300 s, MLPerf Mobile among them).
A result is flagged:
- `thermal`: the gate timed out, or the device was above the gate's threshold after the run;
- `partial_delegation`: the delegate took fewer nodes than the graph has;
- `repeat_spread`: repeats of one cell disagree by more than `max_spread` (relative range of
  the per-repeat medians, or means where the tool gives no median).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from handlite.errors import UsageError


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


# One round trip collects everything (each adb shell costs a few ms even on USB). Section
# markers keep the parts apart; paths are fixed strings, nothing user-given is interpolated.
_SNAPSHOT = r"""
echo '##battery'; dumpsys battery 2>/dev/null
echo '##thermal'; for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] && echo "$(cat "$z/type" 2>/dev/null)|$(cat "$z/temp" 2>/dev/null)"; done
echo '##cpufreq'; for p in /sys/devices/system/cpu/cpufreq/policy* /sys/devices/system/cpu/cpu[0-9]*/cpufreq; do [ -r "$p/scaling_governor" ] && echo "$p|$(cat "$p/related_cpus" 2>/dev/null)|$(cat "$p/scaling_governor" 2>/dev/null)|$(cat "$p/cpuinfo_max_freq" 2>/dev/null)|$(cat "$p/scaling_cur_freq" 2>/dev/null)"; done
echo '##thermalservice'; dumpsys thermalservice 2>/dev/null | head -n 40
echo '##end'
""".strip()
_AFTER = "\n".join(line for line in _SNAPSHOT.splitlines()
                   if line.startswith(("echo '##battery'", "echo '##thermal'", "echo '##end'")))
_THERMAL_ONLY = ("for z in /sys/class/thermal/thermal_zone*; do [ -r \"$z/temp\" ] && "
                 "echo \"$(cat \"$z/type\" 2>/dev/null)|$(cat \"$z/temp\" 2>/dev/null)\"; done")

THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical",
                  5: "emergency", 6: "shutdown"}


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("##"):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line.rstrip("\r"))
    return sections


def parse_battery(lines: list[str]) -> dict[str, Any] | None:
    """`dumpsys battery` -> {'level': %, 'temperature_c': C, 'powered': bool} or None."""
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if sep:
            values[key.strip().lower()] = value.strip()
    if "level" not in values:
        return None
    out: dict[str, Any] = {"level": None, "temperature_c": None, "powered": None}
    try:
        out["level"] = int(values["level"])
        if "temperature" in values:
            out["temperature_c"] = int(values["temperature"]) / 10.0  # tenths of a degree
    except ValueError:
        return None
    powered = [values.get(k) for k in ("ac powered", "usb powered", "wireless powered")]
    if any(v is not None for v in powered):
        out["powered"] = any(v == "true" for v in powered)
    return out


def _to_celsius(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    # kernels report millidegrees; some old ones whole degrees
    celsius = value / 1000.0 if abs(value) >= 1000 else value
    # disconnected sensors read -273 or absurd values; they are not the device's heat
    return celsius if -40.0 < celsius < 150.0 else None


def parse_thermal_zones(lines: list[str]) -> list[dict[str, Any]]:
    """`type|temp` lines -> [{'zone': type, 'temp_c': C}, ...] (unreadable zones dropped)."""
    zones = []
    for line in lines:
        kind, sep, raw = line.strip().rpartition("|")
        if not sep:
            continue
        temp = _to_celsius(raw.strip())
        if temp is not None:
            zones.append({"zone": kind.strip() or "?", "temp_c": temp})
    return zones


def hottest(zones: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(zones, key=lambda z: z["temp_c"]) if zones else None


def parse_cpufreq(lines: list[str]) -> list[dict[str, Any]]:
    """`path|related_cpus|governor|max_khz|cur_khz` lines -> one entry per CPU cluster."""
    clusters: dict[tuple[int, ...], dict[str, Any]] = {}
    for line in lines:
        parts = line.strip().split("|")
        if len(parts) != 5:
            continue
        path, related, governor, max_khz, cur_khz = parts
        cpus = tuple(int(c) for c in related.split() if c.isdigit())
        if not cpus:
            match = re.search(r"cpu(\d+)/cpufreq$", path)
            cpus = (int(match.group(1)),) if match else ()
        if not cpus or cpus in clusters:
            continue  # cpuN/cpufreq is often a link to the policy already seen
        clusters[cpus] = {"name": path.rstrip("/").split("/")[-1] if "policy" in path
                          else f"cpu{cpus[0]}", "cpus": list(cpus), "governor": governor or None,
                          "max_khz": int(max_khz) if max_khz.isdigit() else None,
                          "cur_khz": int(cur_khz) if cur_khz.isdigit() else None}
    return sorted(clusters.values(), key=lambda c: c["cpus"][0])


def parse_thermalservice(lines: list[str]) -> dict[str, Any] | None:
    """`dumpsys thermalservice` -> {'status': 0..6, 'status_name': ..} or None if absent."""
    for line in lines:
        match = re.match(r"\s*Thermal Status:\s*(\d+)", line)
        if match:
            code = int(match.group(1))
            return {"status": code, "status_name": THERMAL_STATUS.get(code, "unknown")}
    return None


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


def snapshot(shell: Shell, full: bool = True) -> dict[str, Any]:
    """The device's state now (one shell round trip): battery, thermal, governors, status.

    `full=False` reads only battery and thermal zones (after a run, the cheap part).
    """
    sections = _sections(shell(_SNAPSHOT if full else _AFTER))
    zones = parse_thermal_zones(sections.get("thermal", []))
    clusters = parse_cpufreq(sections.get("cpufreq", []))
    return {
        "battery": parse_battery(sections.get("battery", [])),
        "hottest": hottest(zones),
        "zones": len(zones),
        "clusters": clusters,
        "governors": {c["name"]: c["governor"] for c in clusters},
        "thermal_status": parse_thermalservice(sections.get("thermalservice", [])),
    }


def hottest_now(shell: Shell) -> dict[str, Any] | None:
    return hottest(parse_thermal_zones(shell(_THERMAL_ONLY).splitlines()))


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
    from handlite.bench.stats import relative_spread
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
