"""What a device is and what state it is in, from one shell round trip.

`collect(device)` returns (units in the key names; any value the device does not report or
that cannot be read is None, never a crash):

    serial, transport, state ("device"), hint (None),
    model, device, manufacturer, soc, abis [str], release (str "14"), sdk (int 34),
    cpu_clusters [{cpus [int], cores, min_khz, max_khz, cur_khz, governor}],
    thermal_zones [{zone "thermal_zone0", type, temp_c}], thermal_status (int, 0 = none),
    battery {level_pct, temp_c, charging, plugged} | None,
    storage {path "/data/local/tmp", free_bytes} 

`entry_info(entry)` gives the same keys (all None) for a device that is not ready, with its
state and a hint.
"""

from __future__ import annotations

import re
from typing import Any

from handlite.device.transport import Device, DeviceEntry
from handlite.errors import DeviceError, ParseError

TMP_DIR = "/data/local/tmp"

# One shell call: each section starts with a marker line. `$(cat ...)` keeps a missing file
# from shifting lines; cpuN/cpufreq covers kernels without policyN folders.
_SCRIPT = (
    "echo @@props; getprop; "
    "echo @@cpufreq; for p in /sys/devices/system/cpu/cpufreq/policy* "
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq; do [ -d \"$p\" ] || continue; "
    "for n in related_cpus cpuinfo_min_freq cpuinfo_max_freq scaling_cur_freq "
    "scaling_governor; do echo \"$p|$n|$(cat \"$p/$n\" 2>/dev/null)\"; done; done; "
    "echo @@thermal; for z in /sys/class/thermal/thermal_zone*; do [ -d \"$z\" ] || continue; "
    "echo \"${z##*/}|$(cat \"$z/type\" 2>/dev/null)|$(cat \"$z/temp\" 2>/dev/null)\"; done; "
    "echo @@battery; dumpsys battery 2>/dev/null; "
    "echo @@thermalservice; dumpsys thermalservice 2>/dev/null; "
    f"echo @@df; df {TMP_DIR} 2>/dev/null; "
    "echo @@end"
)

_EMPTY: dict[str, Any] = {
    "model": None, "device": None, "manufacturer": None, "soc": None, "abis": None,
    "release": None, "sdk": None, "cpu_clusters": None, "thermal_zones": None,
    "thermal_status": None, "battery": None, "storage": {"path": TMP_DIR, "free_bytes": None},
}


def entry_info(entry: DeviceEntry) -> dict[str, Any]:
    """The info shape for a device that cannot take commands (unauthorized, offline...)."""
    return {"serial": entry.serial, "transport": entry.transport, "where": entry.where,
            "state": entry.state, "hint": entry.hint, **_EMPTY,
            "storage": dict(_EMPTY["storage"])}


def collect(device: Device) -> dict[str, Any]:
    """Everything `handlite devices` shows about a ready device (see the module docstring)."""
    info = {"serial": device.serial, "transport": device.transport,
            "where": getattr(device, "where", None), "state": "device", "hint": None,
            **_EMPTY, "storage": dict(_EMPTY["storage"])}
    try:
        result = device.shell(_SCRIPT, timeout=30)
    except (DeviceError, ParseError) as exc:
        info["hint"] = f"device info unavailable: {exc}"
        return info
    sections = _sections(result.stdout)
    props = parse_getprop(sections.get("props", ""))
    info.update(props_info(props))
    info["cpu_clusters"] = parse_cpufreq(sections.get("cpufreq", "")) or None
    info["thermal_zones"] = parse_thermal(sections.get("thermal", "")) or None
    info["thermal_status"] = _int(_field(sections.get("thermalservice", ""), "Thermal Status"))
    info["battery"] = parse_battery(sections.get("battery", ""))
    info["storage"]["free_bytes"] = parse_df_free(sections.get("df", ""))
    return info


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("@@"):
            current = line[2:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _field(text: str, name: str) -> str | None:
    m = re.search(rf"^\s*{re.escape(name)}:\s*(.*?)\s*$", text, re.M | re.I)
    return m.group(1) if m else None


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` output ("[key]: [value]" lines) -> dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.M))


def props_info(props: dict[str, str]) -> dict[str, Any]:
    def get(*keys: str) -> str | None:
        for k in keys:
            if props.get(k, "").strip():
                return props[k].strip()
        return None

    abis = get("ro.product.cpu.abilist", "ro.product.cpu.abi")
    return {
        "model": get("ro.product.model"),
        "device": get("ro.product.device"),
        "manufacturer": get("ro.product.manufacturer"),
        "soc": get("ro.soc.model", "ro.board.platform", "ro.hardware"),
        "abis": [a for a in abis.split(",") if a] if abis else None,
        "release": get("ro.build.version.release"),
        "sdk": _int(get("ro.build.version.sdk")),
    }


def _cpu_list(text: str) -> list[int]:
    cpus: list[int] = []
    for part in text.replace(",", " ").split():
        a, _, b = part.partition("-")
        if a.isdigit() and (not b or b.isdigit()):
            cpus.extend(range(int(a), int(b or a) + 1))
    return cpus


def parse_cpufreq(text: str) -> list[dict[str, Any]]:
    """Lines "FOLDER|file|value" -> one dict per cluster (CPUs sharing a policy), by first CPU."""
    folders: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            folders.setdefault(parts[0], {})[parts[1]] = parts[2].strip()
    clusters: dict[tuple[int, ...], dict[str, Any]] = {}
    for folder, values in folders.items():
        cpus = _cpu_list(values.get("related_cpus", ""))
        if not cpus:
            m = re.search(r"(?:policy|cpu)(\d+)", folder)
            cpus = [int(m.group(1))] if m else []
        if not cpus or tuple(cpus) in clusters:
            continue  # cpuN/cpufreq is usually a link to its policy folder
        clusters[tuple(cpus)] = {
            "cpus": cpus, "cores": len(cpus),
            "min_khz": _int(values.get("cpuinfo_min_freq")),
            "max_khz": _int(values.get("cpuinfo_max_freq")),
            "cur_khz": _int(values.get("scaling_cur_freq")),
            "governor": values.get("scaling_governor") or None,
        }
    return [clusters[k] for k in sorted(clusters)]


def _celsius(raw: str | None) -> float | None:
    value = _int(raw)
    if value is None:
        return None
    # Kernels report millidegrees; some old ones whole degrees. No phone part reaches 1000 C.
    return round(value / 1000, 3) if abs(value) >= 1000 else float(value)


def parse_thermal(text: str) -> list[dict[str, Any]]:
    zones = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0]:
            zones.append({"zone": parts[0], "type": parts[1].strip() or None,
                          "temp_c": _celsius(parts[2])})
    return sorted(zones, key=lambda z: _int(re.sub(r"\D", "", z["zone"])) or 0)


def parse_battery(text: str) -> dict[str, Any] | None:
    """`dumpsys battery` -> level (%), temperature (C, from tenths), charging, plugged."""
    level = _int(_field(text, "level"))
    temp = _int(_field(text, "temperature"))
    status = _int(_field(text, "status"))
    powered = [(_field(text, f"{k} powered") or "").lower() == "true"
               for k in ("AC", "USB", "Wireless")]
    if level is None and temp is None and status is None:
        return None
    return {
        "level_pct": level,
        "temp_c": temp / 10 if temp is not None else None,
        # BatteryManager.BATTERY_STATUS_CHARGING == 2
        "charging": status == 2 if status is not None else any(powered),
        "plugged": any(powered),
    }


_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _size(text: str) -> int | None:
    m = re.fullmatch(r"([\d.]+)([KMGT]?)B?", text.strip(), re.I)
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS.get(m.group(2).upper(), 1))


def parse_df_free(text: str) -> int | None:
    """Free bytes from `df PATH`: toybox (1K-blocks ... Available) or old toolbox (Free 8.4G)."""
    lines = [l.split() for l in text.splitlines() if l.strip()]
    if len(lines) < 2:
        return None
    header, row = lines[0], lines[-1]
    for name, unit in (("Available", 1024), ("Avail", 1024), ("Free", None)):
        if name in header:
            i = header.index(name)
            # "Mounted on" is two words in the header, one column in a row: count from start.
            if i >= len(row):
                return None
            if unit is None:
                return _size(row[i])
            blocks = _int(row[i])
            return blocks * unit if blocks is not None else _size(row[i])
    return None
