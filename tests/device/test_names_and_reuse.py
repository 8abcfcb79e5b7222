"""File names with \\n, \\\\, \\r work (the hash is read from stdin, so GNU escaping cannot shift
it); non-UTF-8 names are refused up front in one line; bench reuses a device copy only after
its sha256 matches."""

from __future__ import annotations

import os

import pytest

from handlite.bench.runners import push_kept
from handlite.device import connect, push_verified
from handlite.errors import UsageError


@pytest.mark.parametrize("name", ["new\nline.tflite", "back\\slash.tflite", "car\rriage.tflite"])
def test_escaped_names_are_verified_and_skipped(stand_in, make_file, name):
    """Before: `sha256sum NAME` printed `\\HASH ...`, the copy was judged different."""
    phone = stand_in()
    [dev] = connect(connect=phone.serial)
    f = make_file(name, 3000)
    [first] = push_verified(dev, [f])
    assert first.status == "pushed" and first.verified_by == "sha256sum"
    [again] = push_verified(dev, [f])
    assert again.status == "skipped"
    dev.close()


def test_non_utf8_name_is_refused_in_one_line(stand_in, run_cli, tmp_path):
    phone = stand_in()
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/m\xff.tflite")
    with open(os.fsencode(bad), "wb") as fh:
        fh.write(b"x" * 10)
    code, out, err = run_cli("push", bad, "--connect", phone.serial)
    assert code == 2 and err.count("\n") == 1 and "not valid UTF-8" in err
    assert "UnicodeEncodeError" not in err
    [dev] = connect(connect=phone.serial)
    with pytest.raises(UsageError):
        push_verified(dev, [bad])
    dev.close()


def test_model_changed_on_the_device_is_pushed_again(stand_in, make_file):
    """Before: same name and size was enough; 4 KB overwritten inside went unnoticed."""
    phone = stand_in()
    [dev] = connect(connect=phone.serial)
    f = make_file("m.tflite", 20_000)
    remote = push_kept(dev, f, "/data/local/tmp/handlite/models")
    host = phone.sandbox.host_path(remote)
    data = bytearray(host.read_bytes())
    data[8000:12096] = b"\0" * 4096
    host.write_bytes(bytes(data))
    known: set = set()
    assert push_kept(dev, f, "/data/local/tmp/handlite/models", known=known) == remote
    assert host.read_bytes() == f.read_bytes()  # the tampered copy was replaced
    assert len(known) == 1
    dev.close()
