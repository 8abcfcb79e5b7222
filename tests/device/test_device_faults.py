"""Each injected fault gives one clear error and leaves the harness usable."""

from __future__ import annotations

import pytest

from handlite.device import connect, push_verified
from handlite.errors import DeviceCommandError, DeviceStorageFull, TransportError

BOTH = ["server", "direct"]


def tmp_file(phone, name):
    return phone.sandbox.root / "data/local/tmp/handlite" / name


@pytest.mark.parametrize("transport", BOTH)
def test_drop_mid_push_removes_the_partial_file(transport, stand_in, make_file):
    phone = stand_in(faults=["drop-push:100000"])
    [dev] = connect(transport=transport, connect=phone.serial)
    local = make_file("big.tflite", 1_000_000)
    with pytest.raises(TransportError) as e:
        push_verified(dev, [local])
    message = str(e.value)
    assert "lost device" in message and "partial file" in message and "removed" in message, \
        message
    partial = tmp_file(phone, "big.tflite")
    assert not partial.exists(), (message, partial.stat().st_size)
    # The fault fired once; the same Device object reconnects and the push now succeeds.
    [r] = push_verified(dev, [local])
    assert r.status == "pushed" and tmp_file(phone, "big.tflite").read_bytes() == \
        local.read_bytes()
    dev.close()


@pytest.mark.parametrize("transport", BOTH)
def test_drop_mid_command(transport, stand_in):
    phone = stand_in(faults=["drop-command:sleep"])
    [dev] = connect(transport=transport, connect=phone.serial)
    with pytest.raises(TransportError, match="lost device"):
        dev.shell("sleep 20; echo never", timeout=15)
    assert dev.shell("echo back").stdout == "back\n"
    dev.close()


@pytest.mark.parametrize("transport", BOTH)
def test_sync_fail_is_reported_with_the_device_message(transport, stand_in, make_file):
    phone = stand_in(faults=["fail-push:fault injected: push refused"])
    [dev] = connect(transport=transport, connect=phone.serial)
    with pytest.raises(DeviceCommandError, match="failed: fault injected: push refused"):
        push_verified(dev, [make_file("m.tflite", 50_000)])
    assert not tmp_file(phone, "m.tflite").exists()
    assert dev.shell("echo usable").stdout == "usable\n"
    dev.close()


@pytest.mark.parametrize("transport", BOTH)
def test_storage_full(transport, stand_in, make_file):
    phone = stand_in(faults=["storage-full:100000"])
    [dev] = connect(transport=transport, connect=phone.serial)
    local = make_file("m.tflite", 300_000)
    # Verified push sees it coming in df and refuses before sending anything...
    with pytest.raises(DeviceStorageFull, match="300000 bytes"):
        push_verified(dev, [local])
    # ... and a raw push that runs out of space mid-way gets the device's ENOSPC, cleaned up.
    with pytest.raises(DeviceStorageFull, match="storage full"):
        dev.push(local, "/data/local/tmp/m.tflite")
    assert not (phone.sandbox.root / "data/local/tmp/m.tflite").exists()
    [r] = push_verified(dev, [make_file("small.tflite", 1000)])
    assert r.status == "pushed"
    dev.close()


@pytest.mark.parametrize("transport", BOTH)
def test_permission_denied(transport, stand_in, make_file):
    phone = stand_in()
    [dev] = connect(transport=transport, connect=phone.serial)
    with pytest.raises(DeviceCommandError, match="permission denied"):
        dev.push(make_file("m.tflite", 10), "/system/m.tflite")
    assert dev.shell("echo usable").stdout == "usable\n"
    dev.close()


@pytest.mark.parametrize("transport", BOTH)
def test_slow_acknowledgements_still_push_correctly(transport, stand_in, make_file):
    phone = stand_in(profile="legacy", faults=["slow-okay:0.002"])
    [dev] = connect(transport=transport, connect=phone.serial)
    local = make_file("m.tflite", 120_000)
    [r] = push_verified(dev, [local])
    assert r.status == "pushed" and r.verified_by == "md5sum"
    assert tmp_file(phone, "m.tflite").read_bytes() == local.read_bytes()
    dev.close()
