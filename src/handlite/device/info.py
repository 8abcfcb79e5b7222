"""What a device is and what state it is in, from one shell round trip.

`collect(device)` returns (units in the key names; any value the device does not report or
that cannot be read is None, never a crash):

    serial, transport, state ("device"), hint (None),
    model, device, manufacturer, soc, abis [str], release (str "14"), sdk (int 34),
    cpu_clusters [{cpus [int], cores, min_khz, max_khz, cur_khz, governor}],
    thermal_zones [{zone "thermal_zone0", type, temp_c}], thermal_status (int, 0 = none),
    battery {level_pct, temp_c, charging, plugged} | None,
    storage {path "/data/local/tmp", free_bytes},
    notes [str]: values the device printed that were malformed or out of range (each of those
    is None above; bounds in MAX_CPUS, FREQ_KHZ, TEMP_C, BATTERY_TEMP_C, MAX_BYTES)

`entry_info(entry)` gives the same keys (all None) for a device that is not ready, with its
state and a hint.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from handlite.errors import DeviceError, ParseError

if TYPE_CHECKING:  # only for annotations: transport.Device.info() calls collect() from here
    from handlite.device.transport import Device, DeviceEntry

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
    "notes": [],
}


def entry_info(entry: DeviceEntry) -> dict[str, Any]:
    """The info shape for a device that cannot take commands (unauthorized, offline...)."""
    return {"serial": entry.serial, "transport": entry.transport, "where": entry.where,
            "state": entry.state, "hint": entry.hint, **_EMPTY,
            "storage": dict(_EMPTY["storage"]), "notes": []}


def collect(device: Device) -> dict[str, Any]:
    """Everything `handlite devices` shows about a ready device (see the module docstring)."""
    info = {"serial": device.serial, "transport": device.transport,
            "where": getattr(device, "where", None), "state": "device", "hint": None,
            **_EMPTY, "storage": dict(_EMPTY["storage"]), "notes": []}
    try:
        result = device.shell(_SCRIPT, timeout=30)
    except (DeviceError, ParseError) as exc:
        info["hint"] = f"device info unavailable: {exc}"
        return info
    sections = _sections(result.stdout)
    props = parse_getprop(sections.get("props", ""))
    info.update(props_info(props))
    notes: list[str] = info["notes"]
    info["cpu_clusters"] = parse_cpufreq(sections.get("cpufreq", ""), notes) or None
    info["thermal_zones"] = parse_thermal(sections.get("thermal", ""), notes) or None
    # ThermalStatus: NONE 0 .. SHUTDOWN 6
    info["thermal_status"] = _int(_field(sections.get("thermalservice", ""), "Thermal Status"),
                                  0, 6, "thermal status", notes)
    info["battery"] = parse_battery(sections.get("battery", ""), notes)
    info["storage"]["free_bytes"] = parse_df_free(sections.get("df", ""), notes)
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


#: the most CPUs a cpufreq list may name (arm64 kernels build with NR_CPUS <= 4096; phones
#: have up to 12): more is a broken or hostile device, and expanding it would cost memory
MAX_CPUS = 1024
#: plausible ranges: anything outside is reported as None with a note, never trusted
FREQ_KHZ = (1, 100_000_000)       # 1 kHz .. 100 GHz
TEMP_C = (-100.0, 500.0)
BATTERY_TEMP_C = (-100.0, 200.0)
MAX_BYTES = 1 << 60               # 1 EiB of free space
MAX_ZONES = 512
Notes = list  # list[str]: what a parser refused, shown by `devices` (never raised)


def _note(notes: Notes | None, text: str) -> None:
    if notes is not None and len(notes) < 64:
        notes.append(text)


def _short(text: object) -> str:
    text = str(text)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _int(text: str | None, lo: int | None = None, hi: int | None = None,
         what: str | None = None, notes: Notes | None = None) -> int | None:
    """A whole number within [lo, hi], else None (with a note when `what` names it)."""
    if text is None:
        return None
    raw = str(text).strip()
    if not re.fullmatch(r"[-+]?\d{1,19}", raw):
        if raw and what:
            _note(notes, f"{what}: {_short(raw)} is not a whole number")
        return None
    value = int(raw)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if what:
            _note(notes, f"{what}: {value} is outside {lo}..{hi}")
        return None
    return value


def _field(text: str, name: str) -> str | None:
    m = re.search(rf"^[ \t]*{re.escape(name)}:[ \t]*(.*?)[ \t]*$", text, re.M | re.I)
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
        "sdk": _int(get("ro.build.version.sdk"), 1, 10_000),
    }


def _cpu_list(text: str, notes: Notes | None = None) -> list[int]:
    """'0-3 6,7' -> [0, 1, 2, 3, 6, 7]; [] (with a note) when it names more than MAX_CPUS CPUs
    or malformed parts, so '0-4000000000' costs nothing."""
    cpus: set[int] = set()
    for part in text.replace(",", " ").split():
        m = re.fullmatch(r"(\d{1,9})(?:-(\d{1,9}))?", part)
        if not m:
            _note(notes, f"cpu list {_short(text)}: {_short(part)} is not a CPU or range")
            return []
        a, b = int(m[1]), int(m[2] or m[1])
        if b < a or b >= MAX_CPUS or len(cpus) + (b - a + 1) > MAX_CPUS:
            _note(notes, f"cpu list {_short(text)} names CPUs beyond {MAX_CPUS - 1}")
            return []
        cpus.update(range(a, b + 1))
    return sorted(cpus)


def parse_cpufreq(text: str, notes: Notes | None = None) -> list[dict[str, Any]]:
    """Lines "FOLDER|file|value" -> one dict per cluster (CPUs sharing a policy), by first CPU.

    Values outside plausible ranges (FREQ_KHZ) are None with a note in `notes`."""
    folders: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3 and (parts[0] in folders or len(folders) < MAX_CPUS):
            folders.setdefault(parts[0], {})[parts[1]] = parts[2].strip()
    clusters: dict[tuple[int, ...], dict[str, Any]] = {}
    for folder, values in folders.items():
        cpus = _cpu_list(values.get("related_cpus", ""), notes)
        if not cpus:
            m = re.search(r"(?:policy|cpu)(\d{1,9})$", folder)
            cpus = [int(m.group(1))] if m and int(m.group(1)) < MAX_CPUS else []
        if not cpus or tuple(cpus) in clusters:
            continue  # cpuN/cpufreq is usually a link to its policy folder

        def khz(name: str) -> int | None:
            return _int(values.get(name), *FREQ_KHZ, what=f"{folder}/{name} (kHz)",
                        notes=notes)

        governor = values.get("scaling_governor") or None
        clusters[tuple(cpus)] = {
            "cpus": cpus, "cores": len(cpus),
            "min_khz": khz("cpuinfo_min_freq"),
            "max_khz": khz("cpuinfo_max_freq"),
            "cur_khz": khz("scaling_cur_freq"),
            "governor": governor[:64] if governor else None,
        }
    return [clusters[k] for k in sorted(clusters)]


def _celsius(raw: str | None, what: str = "temperature",
             notes: Notes | None = None) -> float | None:
    value = _int(raw, what=what, notes=notes)
    if value is None:
        return None
    # Kernels report millidegrees; some old ones whole degrees. No phone part reaches 1000 C.
    celsius = round(value / 1000, 3) if abs(value) >= 1000 else float(value)
    if not TEMP_C[0] <= celsius <= TEMP_C[1]:
        _note(notes, f"{what}: {celsius:g} C is outside {TEMP_C[0]:g}..{TEMP_C[1]:g} C")
        return None
    return celsius


def parse_thermal(text: str, notes: Notes | None = None) -> list[dict[str, Any]]:
    zones = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0]:
            if len(zones) >= MAX_ZONES:
                _note(notes, f"more than {MAX_ZONES} thermal zones: the rest are not read")
                break
            zones.append({"zone": parts[0][:64], "type": parts[1].strip()[:64] or None,
                          "temp_c": _celsius(parts[2], f"{parts[0][:64]} temperature",
                                             notes)})
    return sorted(zones, key=lambda z: _int(re.sub(r"\D", "", z["zone"])[:9]) or 0)


def parse_battery(text: str, notes: Notes | None = None) -> dict[str, Any] | None:
    """`dumpsys battery` -> level (%), temperature (C, from tenths), charging, plugged."""
    level = _int(_field(text, "level"), 0, 100, "battery level (%)", notes)
    temp = _int(_field(text, "temperature"), int(BATTERY_TEMP_C[0] * 10),
                int(BATTERY_TEMP_C[1] * 10), "battery temperature (0.1 C)", notes)
    status = _int(_field(text, "status"), 1, 7, "battery status", notes)
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


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def _size(text: str, notes: Notes | None = None) -> int | None:
    """'8.4G', '512M', '1024' (bytes) -> bytes; None (with a note) for anything else."""
    m = re.fullmatch(r"(\d{1,15}(?:\.\d{1,6})?)([KMGTP]?)B?", text.strip(), re.I)
    if not m:
        _note(notes, f"df size {_short(text)} is not a size")
        return None
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value > MAX_BYTES:
        _note(notes, f"df size {_short(text)} is beyond {MAX_BYTES} bytes")
        return None
    return value


def parse_df_free(text: str, notes: Notes | None = None) -> int | None:
    """Free bytes from `df PATH`: toybox (1K-blocks ... Available) or old toolbox (Free 8.4G).
    None (with a note) when the line is malformed or the number absurd."""
    lines = [l.split() for l in text.splitlines() if l.strip()]
    if len(lines) < 2:
        return None
    header, row = lines[0], lines[-1]
    for name, unit in (("Available", 1024), ("Avail", 1024), ("Free", None)):
        if name in header:
            i = header.index(name)
            # "Mounted on" is two words in the header, one column in a row: count from start.
            if i >= len(row):
                _note(notes, f"df: no {name} column in {_short(' '.join(row))}")
                return None
            if unit is None:
                return _size(row[i], notes)
            blocks = _int(row[i], 0, MAX_BYTES // unit)
            return blocks * unit if blocks is not None else _size(row[i], notes)
    return None
