"""The device layer on a real phone: `make test-phone` (skipped when no phone is attached).

Uses the adb server as a user's machine has it (ANDROID_SERIAL picks a phone when several are
attached). Set HANDLITE_PHONE_TRANSPORT=direct and HANDLITE_PHONE_CONNECT=HOST:PORT to test the
direct transport against a phone in `adb tcpip` mode instead.
"""

from __future__ import annotations

import os

import pytest

from handlite.device import connect, push_verified
from handlite.errors import DeviceError

pytestmark = pytest.mark.phone


@pytest.fixture(scope="module")
def phone():
    try:
        [dev] = connect(transport=os.environ.get("HANDLITE_PHONE_TRANSPORT", "server"),
                        connect=os.environ.get("HANDLITE_PHONE_CONNECT"))
    except DeviceError as exc:
        pytest.skip(f"no phone: {exc}")
    yield dev
    dev.shell(["rm", "-rf", "/data/local/tmp/handlite-test"], timeout=30)
    dev.close()


def test_phone_info_has_the_basics(phone):
    info = phone.info()
    assert info["model"] and info["soc"] and info["abis"]
    assert info["sdk"] is not None and info["sdk"] >= 21
    assert info["cpu_clusters"] and all(c["cores"] >= 1 for c in info["cpu_clusters"])
    assert info["storage"]["free_bytes"] and info["storage"]["free_bytes"] > 0


def test_phone_shell_exit_codes(phone):
    assert phone.shell("exit 3").exit_code == 3
    assert phone.shell(["echo", "a b;c"]).stdout.strip() == "a b;c"


def test_phone_verified_push_and_pull(phone, tmp_path):
    local = tmp_path / "a b;touch PWNED.tflite"
    local.write_bytes(os.urandom(2_000_000))
    [first] = push_verified(phone, [local], "/data/local/tmp/handlite-test/")
    assert first.status == "pushed" and first.verified_by in ("sha256sum", "md5sum")
    [second] = push_verified(phone, [local], "/data/local/tmp/handlite-test/")
    assert second.status == "skipped"
    assert phone.shell("ls /data/local/tmp/handlite-test | grep -c PWNED").stdout.strip() == "1"
    back = tmp_path / "back.bin"
    phone.pull(first.remote, back)
    assert back.read_bytes() == local.read_bytes()
