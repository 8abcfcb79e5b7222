"""Verified push on both transports and profiles: hashes, skips, hostile names, clean failures."""

from __future__ import annotations

import hashlib
import os

import pytest

from handlite.device import connect, push_verified
from handlite.errors import InputError, UsageError

HOSTILE = "a b;touch PWNED.tflite"


@pytest.mark.parametrize("transport", ["server", "direct"])
@pytest.mark.parametrize("profile", ["pixel7", "legacy"])
def test_verified_push_skips_unchanged_and_survives_hostile_names(transport, profile, stand_in,
                                                                  make_file):
    phone = stand_in(profile=profile)
    [dev] = connect(transport=transport, connect=phone.serial)
    files = [make_file("m.tflite", 150_000, seed=3), make_file(HOSTILE, 5_000, seed=4),
             make_file("it's $(id) `x`.tflite", 100, seed=5)]
    first = push_verified(dev, files)
    # The legacy phone has no sha256sum: verification falls back to md5sum.
    tool = "sha256sum" if profile == "pixel7" else "md5sum"
    assert [(r.status, r.verified_by) for r in first] == [("pushed", tool)] * 3
    dest = phone.sandbox.root / "data/local/tmp/handlite"
    for f in files:
        assert (dest / f.name).read_bytes() == f.read_bytes()
    assert first[0].sha256 == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert not list(phone.sandbox.root.rglob("PWNED*")), "a file name ran as a command"

    again = push_verified(dev, files)
    assert [r.status for r in again] == ["skipped"] * 3
    files[0].write_bytes(b"changed" + files[0].read_bytes()[7:])  # same size, new content
    third = push_verified(dev, files)
    assert [r.status for r in third] == ["pushed", "skipped", "skipped"]
    assert (dest / "m.tflite").read_bytes() == files[0].read_bytes()
    assert push_verified(dev, files[1:2], force=True)[0].status == "pushed"
    # An executable stays executable (a benchmark_model build must run after the push).
    tool_file = make_file("tool", 64, seed=6)
    tool_file.write_bytes(b"#!/bin/sh\necho ran $1\n")
    tool_file.chmod(0o755)
    push_verified(dev, [tool_file])
    assert dev.shell("/data/local/tmp/handlite/tool ok").stdout == "ran ok\n"
    assert not os.access(dest / "m.tflite", os.X_OK)
    dev.close()


def test_push_refuses_bad_input_before_touching_the_device(stand_in, make_file, tmp_path):
    phone = stand_in()
    [dev] = connect(transport="direct", connect=phone.serial)
    with pytest.raises(InputError, match="no such file"):
        push_verified(dev, [tmp_path / "missing.tflite"])
    with pytest.raises(UsageError, match="absolute"):
        push_verified(dev, [make_file("m.tflite", 10)], dest="relative/dir")
    assert not (phone.sandbox.root / "data/local/tmp/handlite").exists()
    dev.close()
