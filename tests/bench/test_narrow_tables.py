"""Tables stay whole at 80 columns through a pipe (CI logs): no cell cut to `…`."""

import os
import subprocess
import sys
from pathlib import Path

from handlite.bench.stats import stats_from_samples
from handlite.bench.store import append_record, make_record, make_settings

NAMES = ["handlite_112_float16_with_a_long_suffix.tflite",
         "handlite_112_float32_with_a_long_suffix.tflite"]
TARGET = "host:a-rather-long-ci-runner-hostname-0001"


def _file(path: Path, scale: float) -> Path:
    for i, name in enumerate(NAMES):
        record = make_record(model={"name": name, "sha256": f"{i:02d}" * 32},
                             target={"kind": "host", "id": TARGET, "model": "ci-runner"},
                             settings=make_settings("host", 1),
                             stats=stats_from_samples([scale * (10 + i)] * 20),
                             samples_ms={"invoke": [scale * (10 + i + 0.01 * k)
                                                    for k in range(20)]}, flags=["busy"])
        append_record(path, record)
    return path


def _cli(*args):
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "handlite", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_show_and_compare_keep_every_cell_whole_in_a_pipe(tmp_path):
    old = _file(tmp_path / "old.jsonl", 1.0)
    new = _file(tmp_path / "new.jsonl", 1.3)
    show = _cli("results", "show", str(old))
    assert show.returncode == 0, show.stderr
    compare = _cli("results", "compare", str(old), str(new))
    assert compare.returncode == 1, compare.stderr
    for text in (show.stdout, compare.stdout):
        assert "…" not in text
        for name in NAMES:
            assert name in text  # whole, on one line
        assert TARGET in text
    assert "regression" in compare.stdout and "busy" in show.stdout
    # a markdown layout: every table row is one line starting with '|'
    rows = [line for line in show.stdout.splitlines() if NAMES[0] in line]
    assert rows and all(line.startswith("|") for line in rows)
