"""Device tools of the stand-in phone that a host cannot provide: dumpsys, df, am, logcat.

(getprop is a generated shell script, see `Sandbox`.) Each sandbox's `system/bin/<name>` runs
`main()`, which dispatches on its own name and reads the sandbox state from
`$HANDLITE_DEVICE_ROOT/.device/`. Output formats follow what Android prints (toybox/toolbox,
BatteryService, ThermalManagerService).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


#: Total size of the sandbox's /data when no storage fault limits it (a 128 GB phone).
DEFAULT_CAPACITY = 118 * 1024**3


def data_used(root: Path) -> int:
    """Bytes held by files under ROOT/data (what the phone's /data partition holds)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root / "data"):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _root() -> Path:
    return Path(os.environ["HANDLITE_DEVICE_ROOT"])


def _profile() -> dict:
    return json.loads((_root() / ".device" / "profile.json").read_text())


def _battery(p: dict) -> None:
    b = p["battery"]
    print("Current Battery Service state:")
    print(f"  AC powered: {str(b.get('ac', False)).lower()}")
    print(f"  USB powered: {str(b.get('usb', False)).lower()}")
    print("  Wireless powered: false")
    print("  Max charging current: 500000")
    print(f"  status: {b.get('status', 3)}")
    print("  health: 2")
    print("  present: true")
    print(f"  level: {b.get('level', 50)}")
    print("  scale: 100")
    print("  voltage: 4123")
    print(f"  temperature: {b.get('temperature', 300)}")
    print("  technology: Li-ion")


def _thermalservice(p: dict) -> None:
    print("IsStatusOverride: false")
    print("ThermalEventListeners:")
    print("\tcallbacks: 1")
    print("Thermal Status: 0")
    print("HAL Ready: true")
    print("Current temperatures from HAL:")
    for kind, temp in p["thermal"]:
        value = temp / 1000 if abs(temp) >= 1000 else float(temp)
        print(f"\tTemperature{{mValue={value}, mType=0, mName={kind}, mStatus=0}}")


def dumpsys(args: list[str]) -> int:
    p = _profile()
    services = {"battery": _battery, "thermalservice": _thermalservice}
    if not args:
        for name, fn in services.items():
            print(f"DUMP OF SERVICE {name}:")
            fn(p)
        return 0
    fn = services.get(args[0])
    if args[0] == "thermalservice" and int(p["props"].get("ro.build.version.sdk", 0)) < 29:
        fn = None  # ThermalManagerService arrived with Android 10
    if fn is None:
        print(f"Can't find service: {args[0]}", file=sys.stderr)
        return 0  # dumpsys exits 0 on unknown services on real phones too
    fn(p)
    return 0


def _human(n: float) -> str:
    for unit in ("K", "M", "G", "T"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f}{unit}"
    return f"{n:.1f}P"


def df(args: list[str]) -> int:
    root = _root()
    capacity = json.loads((root / ".device" / "storage.json").read_text())["capacity"]
    used = data_used(root)
    total = capacity if capacity is not None else DEFAULT_CAPACITY
    free = max(total - used, 0)
    paths = [a for a in args if not a.startswith("-")] or ["/data"]
    if _profile()["df_style"] == "hostile":  # a toolbox df whose sizes are no numbers
        print("Filesystem               Size     Used     Free   Blksize")
        for p in paths:
            print(f"{p:<20} 1.2.3G 9e999G 1.2.3G   4096")
        return 0
    if _profile()["df_style"] == "toolbox":
        print("Filesystem               Size     Used     Free   Blksize")
        for p in paths:
            print(f"{p:<20} {_human(total):>8} {_human(used):>8} {_human(free):>8}   4096")
    else:
        print("Filesystem        1K-blocks     Used Available Use% Mounted on")
        pct = round(100 * used / total) if total else 0
        for _p in paths:
            print(f"/dev/block/dm-45 {total // 1024:>10} {used // 1024:>8} {free // 1024:>9} "
                  f"{pct:>3}% /data")
    return 0


def am(args: list[str]) -> int:
    # A stub point: records the intent in logcat. Another command in ROOT/bin/am overrides it.
    line = " ".join(args)
    with open(_root() / ".device" / "logcat.txt", "a") as f:
        f.write(f"I ActivityManager: am {line}\n")
    if args and args[0] == "start":
        print(f"Starting: Intent {{ {line} }}")
    return 0


def logcat(args: list[str]) -> int:
    path = _root() / ".device" / "logcat.txt"
    if "-c" in args:
        path.write_text("")
        return 0
    sys.stdout.write(path.read_text() if path.exists() else "")
    return 0


TOOLS = {"dumpsys": dumpsys, "df": df, "am": am, "logcat": logcat}


def main() -> None:
    name = os.path.basename(sys.argv[0])
    sys.exit(TOOLS[name](sys.argv[1:]))
