"""Android devices over ADB: pick devices, run commands, move files, read device info.

The whole API (units: bytes, seconds; device paths are POSIX strings):

    from handlite.device import connect, push_verified

    [dev] = connect()                        # like adb: ANDROID_SERIAL, else the only device
    devs = connect("all")                    # every ready device
    dev = connect(transport="direct", connect="192.168.1.7:5555")[0]   # no adb server

    r = dev.shell(["ls", "-l", "/data/local/tmp"], timeout=30)  # list: each arg quoted
    r.exit_code, r.stdout, r.stderr          # ShellResult; raise on failure with check=True
    dev.push("m.tflite", "/data/local/tmp/m.tflite", progress=lambda done, total: ...)
    dev.push("benchmark_model", "/data/local/tmp/benchmark_model", mode=0o755)
    dev.pull("/data/local/tmp/out.bin", "out.bin", progress=None)   # written atomically
    dev.stat(path) -> FileStat(path, mode, size, mtime; .exists .is_file .is_dir)
    dev.listdir(path) -> [FileStat]
    dev.info() -> dict                       # model, soc, abis, release, sdk, cpu_clusters,
                                             # thermal_zones, battery, storage (see info.py)
    push_verified(dev, ["m.tflite"], "/data/local/tmp/handlite/") -> [PushResult]

`connect(device=None, *, transport="server", connect=None, adb_servers=(), auth_timeout=10.0)`
- device: a serial, "all", or None (ANDROID_SERIAL, else the only device; several -> an error
  listing them).
- transport "server" (default): through adb servers — `adb_servers` ("HOST:PORT", several for
  device farms), else ADB_SERVER_SOCKET=tcp:HOST:PORT, else ANDROID_ADB_SERVER_PORT (5037).
  `connect` runs `adb connect HOST:PORT` first. Exit codes and stderr come from shell v2
  (devices without it: a sentinel recovers the exit code; stderr merges into stdout).
- transport "direct": adb-shell straight to adbd — TCP with `connect`, else USB (the adb server
  must not be running). Key ~/.android/adbkey. Shell v1 only: stderr merged, exit code kept.
- `list_devices(...)` returns every device with its state (`DeviceEntry`), ready or not;
  `describe(...)` returns `info()` dicts for them (state and hint for devices not ready).

Errors (handlite.errors): DeviceNotFound, DeviceUnauthorized, TransportError (gone, offline),
DeviceCommandError (timeouts, failed commands, permission denied), DeviceStorageFull.
A timed-out command is killed on the device. Paths in shell strings must go through
`handlite.device.shell.quote`/`join` (or pass a list to `shell`).

Tests use the stand-in device `handlite.testing.fake_adbd` instead of a phone.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlite.device.info import entry_info
from handlite.device.push import DEFAULT_DEST, PushResult, push_verified
from handlite.device.transport import Device, DeviceEntry, FileStat, ShellResult, select
from handlite.errors import choice_error

TRANSPORTS = ("server", "direct")

__all__ = ["connect", "list_devices", "describe", "Device", "DeviceEntry", "FileStat", "ShellResult",
           "push_verified", "PushResult", "DEFAULT_DEST", "TRANSPORTS"]


def _backend(transport: str, connect: str | None, adb_servers: Sequence[str],
             auth_timeout: float):
    # the backends load on use: `handlite --help` imports this package (`cli.device`)
    if transport == "server":
        from handlite.device.server import ServerBackend

        return ServerBackend(adb_servers, connect)
    if transport == "direct":
        from handlite.device.direct import DirectBackend

        return DirectBackend(connect, auth_timeout)
    raise choice_error("transport", transport, TRANSPORTS)


def list_devices(*, transport: str = "server", connect: str | None = None,
                 adb_servers: Sequence[str] = (), auth_timeout: float = 10.0
                 ) -> list[DeviceEntry]:
    """Every device the transport sees, in any state (device, unauthorized, offline...)."""
    return _backend(transport, connect, adb_servers, auth_timeout).entries()


def connect(device: str | None = None, *, transport: str = "server",
            connect: str | None = None, adb_servers: Sequence[str] = (),
            auth_timeout: float = 10.0) -> list[Device]:
    """Ready devices chosen like adb does (see the module docstring)."""
    backend = _backend(transport, connect, adb_servers, auth_timeout)
    entries = backend.entries()
    if device is None and connect:
        # `--connect X` alone means "that device", even with others attached.
        device = getattr(backend, "connected_serial", None) or \
            (entries[0].serial if len(entries) == 1 else None)
    return [backend.open(e) for e in select(entries, device)]


def describe(device: str | None = None, *, transport: str = "server", connect: str | None = None,
             adb_servers: Sequence[str] = (), auth_timeout: float = 10.0) -> list[dict]:
    """Info for every listed device (or only `device`: serials "A,B"); devices that are not
    ready get null fields, their state and a hint — `handlite devices`."""
    backend = _backend(transport, connect, adb_servers, auth_timeout)
    entries = backend.entries()
    if device and device != "all":
        wanted = {s.strip() for s in device.split(",")}
        missing = wanted - {e.serial for e in entries}
        if missing:
            select(entries, sorted(missing)[0])  # raises DeviceNotFound with a hint
        entries = [e for e in entries if e.serial in wanted]
    return [backend.open(e).info() if e.state == "device" else entry_info(e) for e in entries]
