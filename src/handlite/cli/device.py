"""`handlite devices` and `handlite push`, plus the device options other commands reuse.

    @click.command()
    @device_options
    def bench(..., device_opts: DeviceOptions):
        devices = device_opts.open()   # -> list[handlite.device.Device]
        results, failures = on_each_device(devices, lambda dev: ...)
        ...render...; raise_failures("bench", failures, len(devices))
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

import click
from rich.table import Table

from handlite.cli.common import emit_json, err, human, json_option, print_table, progress
from handlite.device import TRANSPORTS, connect, describe, push_verified
from handlite.device.push import DEFAULT_DEST
from handlite.errors import CheckFailed, HandliteError
from handlite.text import one_line, safe


@dataclass(frozen=True)
class DeviceOptions:
    """The parsed -s/--device, --transport, --connect and --adb-server options."""

    device: str | None = None
    transport: str = "server"
    connect: str | None = None
    adb_servers: tuple[str, ...] = ()

    def kwargs(self) -> dict:
        return {"transport": self.transport, "connect": self.connect,
                "adb_servers": self.adb_servers}

    def open(self) -> list:
        """The chosen ready devices (handlite.device.connect)."""
        return connect(self.device, **self.kwargs())


def device_options(f: Callable) -> Callable:
    """Add the shared device options; the command receives them as `device_opts`."""
    @functools.wraps(f)
    def wrapper(*args, device, transport, connect_addr, adb_servers, **kwargs):
        opts = DeviceOptions(device, transport, connect_addr, tuple(adb_servers))
        return f(*args, device_opts=opts, **kwargs)

    for decorate in reversed([
        click.option("-s", "--device", "device", metavar="SERIAL|all",
                     help="Device serial (A,B for several) or 'all'. Default: $ANDROID_SERIAL, "
                          "else the only device."),
        click.option("--transport", type=click.Choice(TRANSPORTS), default="server",
                     show_default=True,
                     help="server: through the adb server; direct: adb-shell straight to "
                          "adbd (TCP with --connect, else USB with no adb server running)."),
        click.option("--connect", "connect_addr", metavar="HOST:PORT",
                     help="Reach a network device first (like `adb connect`)."),
        click.option("--adb-server", "adb_servers", multiple=True, metavar="HOST:PORT",
                     help="adb server(s) to ask (repeatable, e.g. a device farm). Default: "
                          "$ADB_SERVER_SOCKET, else 127.0.0.1:$ANDROID_ADB_SERVER_PORT."),
    ]):
        wrapper = decorate(wrapper)
    return wrapper


def on_each_device(targets: list, fn: Callable) -> tuple[list, list[dict]]:
    """Run fn(device) on each device and close it. With one device its error propagates;
    with several, failures are collected as {"serial", "error"} so the others still run."""
    results, failures = [], []
    for dev in targets:
        try:
            results.append(fn(dev))
        except HandliteError as exc:
            if len(targets) == 1:
                raise
            failures.append({"serial": dev.serial, "error": one_line(exc)})
        finally:
            dev.close()
    return results, failures


def raise_failures(what: str, failures: list[dict], total: int) -> None:
    """One CheckFailed line for the devices `on_each_device` could not serve (if any)."""
    if failures:
        raise CheckFailed(f"{what} failed on {len(failures)} of {total} devices: "
                          + "; ".join(f"{f['serial']}: {f['error']}" for f in failures))


def _ghz(khz: int | None) -> str:
    return "?" if khz is None else f"{khz / 1e6:.2f} GHz"


def _mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f} MB"


@click.command()
@device_options
@json_option
def devices(device_opts: DeviceOptions, as_json: bool) -> None:
    """List devices with model, SoC, ABIs, Android version, CPU clusters, thermal, battery
    and free space (null where a device does not say)."""
    infos = describe(device_opts.device, **device_opts.kwargs())
    if as_json:
        emit_json({"devices": infos})
        return
    con = human(as_json)
    if not infos:
        con.print("no devices (connect one, or --connect HOST:PORT)")
        return
    for i in infos:
        table = Table(show_header=False, title=safe(f"{i['serial']} ({i['state']}, "
                                                    f"{i['transport']})"), title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        clusters = ", ".join(f"{c['cores']} x {_ghz(c['max_khz'])} {c['governor'] or ''}"
                             for c in i["cpu_clusters"] or [])
        zones = ", ".join(f"{z['type']} {z['temp_c']} C" for z in i["thermal_zones"] or [])
        bat = i["battery"]
        rows = {
            "model": i["model"], "device": i["device"], "SoC": i["soc"],
            "ABIs": ", ".join(i["abis"]) if i["abis"] else None,
            "Android": f"{i['release']} (SDK {i['sdk']})" if i["release"] else None,
            "CPU clusters": clusters or None, "thermal": zones or None,
            "battery": f"{bat['level_pct']}%, {bat['temp_c']} C"
                       f"{', charging' if bat['charging'] else ''}" if bat else None,
            "free in " + i["storage"]["path"]: _mb(i["storage"]["free_bytes"])
            if i["storage"]["free_bytes"] is not None else None,
        }
        for key, value in rows.items():
            # every value came from the phone: data, never markup or escape codes
            table.add_row(safe(key), "—" if value is None else safe(value))
        print_table(con, table)
    for i in infos:
        if i["hint"]:
            err.print(safe(f"{i['serial']}: {i['state']} — {i['hint']}"))
        for note in i.get("notes") or []:
            err.print(safe(f"{i['serial']}: note: {note}"))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--dest", default=DEFAULT_DEST, show_default=True,
              help="Device folder to push into (created if missing).")
@click.option("--force", is_flag=True, help="Push even files the device already has.")
@device_options
@json_option
def push(files: tuple[str, ...], dest: str, force: bool, device_opts: DeviceOptions,
         as_json: bool) -> None:
    """Push FILES to device(s), verified by sha256 (else md5, else size) on the device;
    files the device already has with the same hash are skipped."""
    targets = device_opts.open()
    # Bars only on a terminal: in logs and pipes they are noise (and a stray blank line).
    bar = progress(transient=True) if err.is_terminal else None

    def push_to(dev) -> list:
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int) -> None:
            if bar is None:
                return
            if name not in tasks:
                tasks[name] = bar.add_task(safe(f"{dev.serial} {name}"), total=total)
            bar.update(tasks[name], completed=done)
        return push_verified(dev, files, dest, progress=report, force=force)

    with bar or contextlib.nullcontext():
        per_device, failures = on_each_device(targets, push_to)
    results = [r for rs in per_device for r in rs]
    if as_json:
        emit_json({"results": [r.to_dict() for r in results], "errors": failures})
    else:
        table = Table("device", "file", "status", "size", "verified by", "speed", title="push")
        for r in results:
            speed = f"{r.mb_per_s:,.1f} MB/s" if r.mb_per_s else "—"
            table.add_row(safe(r.serial), safe(r.remote), r.status, _mb(r.bytes),
                          safe(r.verified_by), speed)
        print_table(human(as_json), table)
    raise_failures("push", failures, len(targets))
