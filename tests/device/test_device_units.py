"""The pure pieces: output parsers, quoting, selection, addresses, sandbox path mapping."""

from __future__ import annotations

import pytest

from handlite.device import info, shell
from handlite.device.server import parse_address, server_addresses
from handlite.device.transport import DeviceEntry, select
from handlite.errors import (DeviceNotFound, DeviceUnauthorized, ParseError, TransportError,
                             UsageError)
from handlite.testing.sandbox import PROFILES, Sandbox


def test_df_formats():
    toybox = ("Filesystem        1K-blocks     Used Available Use% Mounted on\n"
              "/dev/block/dm-45  115084868 20450244  94503552  18% /data\n")
    assert info.parse_df_free(toybox) == 94503552 * 1024
    toolbox = ("Filesystem               Size     Used     Free   Blksize\n"
               "/data/local/tmp         12.5G     4.1G     8.4G   4096\n")
    assert info.parse_df_free(toolbox) == int(8.4 * 1024**3)
    human = "Filesystem Size Used Avail Use% Mounted on\n/dev/dm-1 110G 20G 90G 18% /data\n"
    assert info.parse_df_free(human) == 90 * 1024**3
    assert info.parse_df_free("df: /nope: No such file or directory") is None
    assert info.parse_df_free("") is None


def test_cpufreq_groups_by_policy_and_drops_links():
    text = "\n".join([
        "/sys/devices/system/cpu/cpufreq/policy0|related_cpus|0 1 2 3",
        "/sys/devices/system/cpu/cpufreq/policy0|cpuinfo_max_freq|1803000",
        "/sys/devices/system/cpu/cpufreq/policy0|scaling_governor|",
        "/sys/devices/system/cpu/cpu0/cpufreq|related_cpus|0 1 2 3",  # link to policy0
        "/sys/devices/system/cpu/cpufreq/policy4|related_cpus|4-5",
        "/sys/devices/system/cpu/cpufreq/policy4|cpuinfo_max_freq|garbage",
    ])
    clusters = info.parse_cpufreq(text)
    assert [c["cpus"] for c in clusters] == [[0, 1, 2, 3], [4, 5]]
    assert clusters[0]["max_khz"] == 1803000 and clusters[0]["governor"] is None
    assert clusters[1]["max_khz"] is None  # unreadable -> null, not a crash


def test_battery_thermal_and_props():
    battery = "  AC powered: false\n  USB powered: true\n  status: 5\n  level: 100\n" \
              "  temperature: 301\n"
    assert info.parse_battery(battery) == {"level_pct": 100, "temp_c": 30.1,
                                           "charging": False, "plugged": True}
    assert info.parse_battery("Can't find service: battery") is None
    zones = info.parse_thermal("thermal_zone10|cpu|45000\nthermal_zone2|old|38\n"
                               "thermal_zone3||\n")
    assert [(z["zone"], z["temp_c"]) for z in zones] == [
        ("thermal_zone2", 38.0), ("thermal_zone3", None), ("thermal_zone10", 45.0)]
    props = info.parse_getprop("[ro.board.platform]: [gs201]\n[ro.product.model]: [Pixel 7]\n"
                               "[ro.build.version.sdk]: [x]\n")
    got = info.props_info(props)
    assert got["soc"] == "gs201" and got["model"] == "Pixel 7" and got["sdk"] is None
    assert got["abis"] is None and got["release"] is None


def test_exit_sentinel_round_trip_and_missing_marker():
    wrapped, token = shell.with_exit_sentinel("echo hi; exit 4")
    assert wrapped.startswith("sh -c 'echo hi; exit 4';")
    out = b"hi\n" + f"HLEXIT-fake:9\n\n{token}:4\n".encode()
    assert shell.split_exit_sentinel(out, token) == (4, b"hi\nHLEXIT-fake:9\n")
    with pytest.raises(ParseError):
        shell.split_exit_sentinel(b"hi\n", token)
    assert shell.join(["ls", "a b;touch x", "$(id)"]) == "ls 'a b;touch x' '$(id)'"


def entries(*pairs):
    return [DeviceEntry(s, st, "server", "127.0.0.1:5037") for s, st in pairs]


def test_select_like_adb(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    two = entries(("A1", "device"), ("B2", "unauthorized"))
    with pytest.raises(DeviceNotFound, match="no Android device"):
        select([], None)
    with pytest.raises(DeviceNotFound, match=r"more than one device: A1 \(device\), B2"):
        select(two, None)
    assert [e.serial for e in select(two, "A1")] == ["A1"]
    assert [e.serial for e in select(two, "all")] == ["A1"]
    with pytest.raises(DeviceUnauthorized, match="B2"):
        select(two, "B2")
    with pytest.raises(DeviceNotFound, match="did you mean 'A1'"):
        select(two, "A11")
    with pytest.raises(TransportError, match="offline"):
        select(entries(("C", "offline")), None)
    monkeypatch.setenv("ANDROID_SERIAL", "A1")
    assert [e.serial for e in select(two, None)] == ["A1"]


def test_server_addresses(monkeypatch):
    for var in ("ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_PORT", "ANDROID_ADB_SERVER_HOST"):
        monkeypatch.delenv(var, raising=False)
    assert server_addresses() == [("127.0.0.1", 5037, True)]
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "6000")
    assert server_addresses() == [("127.0.0.1", 6000, True)]
    monkeypatch.setenv("ADB_SERVER_SOCKET", "tcp:farm:5037")
    assert server_addresses() == [("farm", 5037, False)]
    assert server_addresses(["h1:1", "7000"]) == [("h1", 1, False), ("127.0.0.1", 7000, False)]
    with pytest.raises(UsageError):
        parse_address("host:port")


def test_sandbox_maps_device_paths_both_ways(tmp_path):
    box = Sandbox(tmp_path, PROFILES["pixel7"])
    root = str(box.root)
    cmd = "cat /data/local/tmp/a '/sys/x y' --graph=/data/m /database /dev/null x/data"
    assert box.translate(cmd) == (f"cat {root}/data/local/tmp/a '{root}/sys/x y' "
                                  f"--graph={root}/data/m /database /dev/null x/data")
    text = f"{root}/data/local/tmp/a and {root}\n".encode()
    for cut in range(1, len(text)):  # the root may be split across any two chunks
        u = box.untranslator()
        assert u.feed(text[:cut]) + u.feed(text[cut:]) + u.flush() == \
            b"/data/local/tmp/a and /\n"
    # `..` cannot climb out of the sandbox: it stops at the device's `/`, as on a phone.
    assert box.host_path("/data/../../etc/passwd") == box.root / "etc/passwd"
    assert box.host_path("/data/../data/local") == box.root / "data/local"
    assert Sandbox.writable("/data/local/tmp/x") and not Sandbox.writable("/data/local/tmpx")
