"""The device access the benchmark needs, over the adb server (adbutils).

A deliberately small adapter with the interface `bench.runners.Device` names (serial, shell
with exit code, push, pull). It exists so the benchmark could be built and tested before the
device layer (`handlite.device`) landed; `open_devices` prefers that layer when it is
importable and offers `open_bench_device`.

Environment honoured as adb does: ANDROID_SERIAL (default device), ANDROID_ADB_SERVER_PORT,
ADB_SERVER_SOCKET=tcp:HOST:PORT.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from handlite.errors import DeviceError, DeviceNotFound, DeviceUnauthorized, TransportError


def _server_address() -> tuple[str, int]:
    host, port = "127.0.0.1", int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    socket_spec = os.environ.get("ADB_SERVER_SOCKET", "")
    if socket_spec.startswith("tcp:"):
        rest = socket_spec[4:]
        h, _, p = rest.rpartition(":")
        host, port = (h or host), int(p)
    return host, port


class AdbDevice:
    """One device through the adb server: shell with exit codes, push, pull."""

    def __init__(self, device) -> None:
        self._d = device
        self.serial: str = device.serial

    def shell(self, command: str, timeout: float | None = None) -> tuple[int | None, str]:
        import adbutils
        try:
            result = self._d.shell2(command, timeout=timeout, v2=True)
        except adbutils.AdbTimeout:
            raise TransportError(f"{self.serial}: command timed out after {timeout} s: "
                                 f"{command[:80]}") from None
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise TransportError(f"{self.serial}: connection lost ({exc})") from None
        return result.returncode, result.output

    def push(self, local: Path, remote: str) -> None:
        import adbutils
        try:
            self._d.sync.push(str(local), remote)
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise TransportError(f"{self.serial}: push of {Path(local).name} failed ({exc})") \
                from None
        # a push that "succeeded" into a full disk leaves a short file: check the size
        size = Path(local).stat().st_size
        code, out = self.shell(f"wc -c < {shlex.quote(remote)}")
        if out.strip() != str(size):
            raise DeviceError(f"{self.serial}: {remote} has {out.strip() or '?'} bytes after "
                              f"push, expected {size}")

    def pull(self, remote: str, local: Path) -> None:
        import adbutils
        try:
            self._d.sync.pull(remote, str(local))
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise TransportError(f"{self.serial}: pull of {remote} failed ({exc})") from None


def open_devices(spec: str) -> list:
    """'SERIAL', 'A,B' or 'all' -> connected devices (each with the Device interface)."""
    try:
        from handlite.device import open_bench_device  # type: ignore[attr-defined]
    except ImportError:
        open_bench_device = None
    import adbutils
    host, port = _server_address()
    client = adbutils.AdbClient(host=host, port=port)
    try:
        listed = client.list()
    except (adbutils.AdbError, OSError) as exc:
        raise TransportError(f"cannot reach the adb server at {host}:{port} ({exc})",
                             hint="start it with `adb start-server`") from None
    states = {d.serial: d.state for d in listed}
    if spec in ("", None):
        spec = os.environ.get("ANDROID_SERIAL", "")
        if not spec:
            raise DeviceNotFound("no device given", hint="--device SERIAL or --device all")
    if spec == "all":
        serials = [s for s, state in states.items() if state == "device"]
        if not serials:
            raise DeviceNotFound("no device attached (adb devices lists none ready)")
    else:
        serials = [s.strip() for s in spec.split(",") if s.strip()]
    devices = []
    for serial in serials:
        state = states.get(serial)
        if state is None and ":" in serial:
            # a network device not yet attached: like `adb connect`
            try:
                client.connect(serial, timeout=10)
            except (adbutils.AdbError, OSError) as exc:
                raise DeviceNotFound(f"cannot connect to {serial} ({exc})") from None
            states = {d.serial: d.state for d in client.list()}
            state = states.get(serial)
        if state is None:
            from handlite.errors import suggest
            raise DeviceNotFound(f"device {serial!r} not attached",
                                 hint=suggest(serial, states) or "see `adb devices`")
        if state == "unauthorized":
            raise DeviceUnauthorized(f"{serial} has not accepted this computer's key",
                                     hint="unlock the phone and tap Allow")
        if state != "device":
            raise DeviceError(f"{serial} is {state}, not ready")
        if open_bench_device is not None:
            devices.append(open_bench_device(serial))
        else:
            devices.append(AdbDevice(client.device(serial)))
    return devices
