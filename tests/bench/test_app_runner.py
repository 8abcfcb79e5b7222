"""The `app` runner on the stand-in with its BenchmarkActivity stand-in (`testing.fake_app`):
the result file is pulled, the logcat line is the fallback, failures are named."""

import json

import pytest

from handlite.bench import store
from handlite.bench.hygiene import HygieneSettings
from handlite.bench.runners import AppRunner, RunSettings
from handlite.bench.sweep import SweepPlan, run_sweep
from handlite.device import connect

FAST = HygieneSettings(threshold_c=90.0, cooldown_s=0.0, max_wait_s=0.0)


def _sweep(device, models, out, threads=(1, 2)):
    plan = SweepPlan(models=list(models), threads=list(threads), delegates=["cpu"],
                     runner=AppRunner(poll_s=0.1), settings=RunSettings(runs=4, warmup=1),
                     hygiene=FAST, out=out)
    return run_sweep(plan, connect(device.serial))


def _knobs(device, **knobs):
    (device.sandbox.state_dir / "app.json").write_text(json.dumps(knobs))


def test_app_sweep_yields_records_from_the_result_file(app_device, handlite_model, tmp_path):
    result = _sweep(app_device, [handlite_model["tflite"]], tmp_path / "r.jsonl")
    records = store.read_records(tmp_path / "r.jsonl")
    assert [r["status"] for r in records] == ["ok", "ok"] and len(result.records) == 2
    for r, threads in zip(records, (1, 2)):
        assert r["settings"] == {**r["settings"], "runner": "app", "threads": threads}
        pipeline = r["stats"]["pipeline"]
        # the app times the whole pipeline; fps comes from its median
        assert pipeline["count"] == 4 and r["stats"]["fps_basis"] == "pipeline"
        assert r["stats"]["fps"] == pytest.approx(1000 / pipeline["median_ms"])
        assert len(r["samples_ms"]["invoke"]) == 4  # the file carries the raw samples
        assert r["target"]["model"] == "Pixel 7" and r["target"]["runtime"]["name"] == "app"
    files = app_device.sandbox.root / "sdcard/Android/data/org.handlite.app/files/handlite"
    assert len(list(files.glob("result_*.json"))) == 2
    assert len(list((files / "models").iterdir())) == 1  # pushed once, kept by hash


def test_logcat_line_is_the_fallback_when_the_file_is_missing(app_device, handlite_model,
                                                              tmp_path):
    _knobs(app_device, no_file=True)
    _sweep(app_device, [handlite_model["tflite"]], tmp_path / "r.jsonl", threads=[1])
    [record] = store.read_records(tmp_path / "r.jsonl")
    assert record["status"] == "ok" and record["stats"]["pipeline"]["count"] == 4
    files = app_device.sandbox.root / "sdcard/Android/data/org.handlite.app/files/handlite"
    assert not list(files.glob("result_*.json"))


def test_app_failures_are_named(app_device, handlite_model, tmp_path):
    _knobs(app_device, fail="GpuDelegate: OpenCL library not found (injected)")
    _sweep(app_device, [handlite_model["tflite"]], tmp_path / "a.jsonl", threads=[1])
    [record] = store.read_records(tmp_path / "a.jsonl")
    assert record["status"] == "failed" and "OpenCL library not found" in record["error"]

    _knobs(app_device, installed=False)
    _sweep(app_device, [handlite_model["tflite"]], tmp_path / "c.jsonl", threads=[1])
    [record] = store.read_records(tmp_path / "c.jsonl")
    assert record["status"] == "failed" and "does not exist" in record["error"]
