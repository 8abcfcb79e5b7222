"""handlite.io: atomic writes, the JSON policy and the fd silencer."""

import json
import math
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from handlite import io as hio


def test_atomic_writes_replace_whole_files_and_leave_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    hio.atomic_write_json(target, {"x": np.float32(1.5), "bad": math.nan, "p": tmp_path})
    assert json.loads(target.read_text()) == {"x": 1.5, "bad": None, "p": str(tmp_path)}
    hio.atomic_write_text(target, "second\n")
    hio.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert target.read_text() == "second\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with hio.atomic_open(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("writer died")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(FileNotFoundError):
        with hio.atomic_open(tmp_path / "missing" / "x", mkdir=False):
            pass
    with pytest.raises(ValueError):
        with hio.atomic_open(target, "a"):
            pass


def test_a_tool_may_write_the_temp_path_itself(tmp_path):
    target = tmp_path / "pulled.bin"
    with hio.atomic_open(target) as fh:
        fh.close()
        with open(fh.name, "wb") as other:
            other.write(b"by path")
    assert target.read_bytes() == b"by path"


def test_sha256_and_utc_now(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert hio.sha256_file(path) == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    now = hio.utc_now()
    assert len(now) == 20 and now.endswith("Z") and now[10] == "T"


def test_json_line_is_one_line_and_strict():
    line = hio.to_json_line({"a": [np.int64(3), math.inf], "b": np.arange(2)})
    assert line == '{"a":[3,null],"b":[0,1]}'


_CHILD = """
import os, sys
from handlite.io import quiet, redirect_fds
with quiet((1, 2)):
    os.write(1, b"hidden-out\\n"); os.write(2, b"hidden-err\\n")
with redirect_fds((1,), to=2):
    print("moved-to-err")
print("visible-out")
"""


@pytest.mark.parametrize("debug", [False, True])
def test_silencer_restores_the_descriptors(debug):
    env = {k: v for k, v in os.environ.items() if k != hio.DEBUG_ENV}
    if debug:
        env[hio.DEBUG_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                          env=env, check=True)
    assert done.stdout.splitlines()[-1] == "visible-out"
    assert "moved-to-err" in done.stderr
    assert ("hidden-out" in done.stdout + done.stderr) == debug
