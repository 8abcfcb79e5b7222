"""handlite's two transports do what the real clients do, on both profiles."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from handlite.device import connect, list_devices
from handlite.errors import DeviceCommandError, DeviceNotFound, UsageError
from handlite.testing.adbtools import free_port, kill_adb_server

TRANSPORTS = ["server", "direct"]


def open_one(phone, transport):
    [dev] = connect(transport=transport, connect=phone.serial)
    return dev


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("profile", ["pixel7", "legacy"])
def test_shell_push_pull_stat_list(transport, profile, stand_in, make_file, tmp_path):
    phone = stand_in(profile=profile)
    with open_one(phone, transport) as dev:
        r = dev.shell("echo out; echo err >&2; exit 3")
        assert r.exit_code == 3
        if transport == "server" and profile == "pixel7":  # shell v2 keeps stderr apart
            assert (r.stdout, r.stderr) == ("out\n", "err\n")
        else:  # shell v1: merged, but the exit code still comes back
            assert r.stdout == "out\nerr\n" and r.stderr == ""
        # `exit` inside the command must not swallow the exit-code sentinel
        assert dev.shell("exit 7").exit_code == 7
        assert dev.shell(["echo", "a b;touch PWNED"]).stdout == "a b;touch PWNED\n"
        with pytest.raises(DeviceCommandError, match="exit code 1"):
            dev.shell("false", check=True)

        local = make_file("m.tflite", 200_000, seed=2)
        seen = []
        assert dev.push(local, "/data/local/tmp/d/m.tflite",
                        progress=lambda done, total: seen.append((done, total))) == 200_000
        assert seen and seen[-1] == (200_000, 200_000)
        assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
        st = dev.stat("/data/local/tmp/d/m.tflite")
        assert st.is_file and st.size == 200_000
        assert not dev.stat("/data/local/tmp/d/missing").exists
        assert dev.stat("/data/local/tmp/d").is_dir
        assert [e.name for e in dev.listdir("/data/local/tmp/d")] == ["m.tflite"]

        back = tmp_path / "back.bin"
        pulled = []
        dev.pull("/data/local/tmp/d/m.tflite", back,
                 progress=lambda done, total: pulled.append(done))
        assert back.read_bytes() == local.read_bytes() and pulled[-1] == 200_000
        with pytest.raises(DeviceCommandError):
            dev.pull("/data/local/tmp/d/missing", tmp_path / "nothing.bin")
        assert not (tmp_path / "nothing.bin").exists()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_kills_the_command_on_the_device(transport, stand_in):
    phone = stand_in()
    with open_one(phone, transport) as dev:
        pidfile = phone.sandbox.root / "data/local/tmp/pid"
        with pytest.raises(DeviceCommandError, match="timed out"):
            dev.shell("echo $$ > /data/local/tmp/pid; exec sleep 30", timeout=1)
        pid = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the timed-out command still runs on the device")
        assert dev.shell("echo alive").stdout == "alive\n"  # the harness stays usable


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_device_info_reads_the_pixel7(transport, stand_in):
    phone = stand_in()
    with open_one(phone, transport) as dev:
        info = dev.info()
    assert (info["model"], info["device"], info["soc"]) == ("Pixel 7", "panther", "GS201")
    assert (info["abis"], info["release"], info["sdk"]) == (["arm64-v8a"], "14", 34)
    assert [c["cpus"] for c in info["cpu_clusters"]] == [[0, 1, 2, 3], [4, 5], [6, 7]]
    assert info["cpu_clusters"][2]["max_khz"] == 2850000
    assert info["cpu_clusters"][0]["governor"] == "sched_pixel"
    assert {"type": "battery", "zone": "thermal_zone5", "temp_c": 32.6} in info["thermal_zones"]
    assert info["battery"] == {"level_pct": 84, "temp_c": 32.6, "charging": True,
                               "plugged": True}
    assert info["storage"]["free_bytes"] > 10**9


def test_info_is_null_where_the_device_says_nothing(stand_in):
    phone = stand_in(profile="legacy")
    # A phone without thermal zones or battery service output.
    import shutil
    shutil.rmtree(phone.sandbox.root / "sys/class/thermal")
    (phone.sandbox.root / "system/bin/dumpsys").write_text("#!/bin/sh\nexit 1\n")
    with open_one(phone, "direct") as dev:
        info = dev.info()
    assert info["model"] == "Nexus 5" and info["soc"] == "msm8974"
    assert info["thermal_zones"] is None and info["battery"] is None
    assert info["thermal_status"] is None
    assert info["cpu_clusters"][0]["cpus"] == [0, 1, 2, 3]  # from cpuN/cpufreq, deduplicated
    assert info["storage"]["free_bytes"] > 10**9  # old toolbox df format


def test_several_adb_servers_and_selection(stand_in, adb_env, monkeypatch):
    phones = [stand_in(), stand_in(profile="legacy")]
    other = free_port()
    try:
        # Two "hosts": this test's server and a second one, each with its own device.
        connect(transport="server", connect=phones[0].serial)
        connect(transport="server", adb_servers=[f"127.0.0.1:{adb_env}"])  # no start here
        with pytest.raises(Exception, match="no adb server"):
            list_devices(adb_servers=[f"127.0.0.1:{other}"])
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(other))
        connect(transport="server", connect=phones[1].serial)  # starts the second server
        servers = [f"127.0.0.1:{adb_env}", f"127.0.0.1:{other}"]
        entries = list_devices(adb_servers=servers)
        assert {(e.serial, e.where) for e in entries} == {
            (phones[0].serial, servers[0]), (phones[1].serial, servers[1])}
        with pytest.raises(DeviceNotFound, match="more than one device"):
            connect(adb_servers=servers)
        both = connect("all", adb_servers=servers)
        assert sorted(d.shell("getprop ro.product.model").stdout for d in both) == [
            "Nexus 5\n", "Pixel 7\n"]
        monkeypatch.setenv("ANDROID_SERIAL", phones[1].serial)
        [dev] = connect(adb_servers=servers)
        assert dev.serial == phones[1].serial
        with pytest.raises(DeviceNotFound, match="not found") as e:
            connect(phones[1].serial[:-1] + "0", adb_servers=servers)
        assert "did you mean" in str(e.value)
        monkeypatch.setenv("ADB_SERVER_SOCKET", f"tcp:127.0.0.1:{other}")
        assert [e.serial for e in list_devices()] == [phones[1].serial]
        monkeypatch.setenv("ADB_SERVER_SOCKET", "localfilesystem:/tmp/x")
        with pytest.raises(UsageError):
            list_devices()
    finally:
        kill_adb_server(other)


def test_direct_transport_sets_tcp_nodelay_and_pushes_fast_on_small_payloads(stand_in,
                                                                            make_file):
    phone = stand_in(profile="legacy")  # 4 KiB packets: Nagle would stall every header
    local = make_file("m.bin", 1_000_000)
    with open_one(phone, "direct") as dev:
        dev.push(local, "/data/local/tmp/m.bin")
        sock = dev._dev._io_manager._transport._connection
        import socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    on_device = phone.sandbox.root / "data/local/tmp/m.bin"
    assert hashlib.sha256(on_device.read_bytes()).digest() == \
        hashlib.sha256(local.read_bytes()).digest()
