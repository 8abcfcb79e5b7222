"""The `app` runner on the stand-in with its BenchmarkActivity stand-in (`testing.fake_app`):
the result file is pulled, the logcat line is the fallback, failures are named."""

import json
import os
import time

import pytest

from handlite.bench import store
from handlite.bench.hygiene import HygieneSettings
from handlite.bench.runners import AppRunner, Cell, ParityInput, RunSettings
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


def test_a_crashing_app_fails_the_cell_within_seconds(app_device, handlite_model, tmp_path):
    """The app process dies before any result (an Error its handler never saw, a native
    crash): the runner notices the dead process and names the crash, long before the
    timeout."""
    _knobs(app_device, crash="java.lang.UnsatisfiedLinkError: dlopen failed: library "
                             "\"libtensorflowlite_jni.so\" not found")
    runner = AppRunner(poll_s=0.1)
    plan = SweepPlan(models=[handlite_model["tflite"]], threads=[1], delegates=["cpu"],
                     runner=runner, settings=RunSettings(runs=4, warmup=1, timeout_s=600),
                     hygiene=FAST, out=tmp_path / "r.jsonl")
    start = time.perf_counter()
    run_sweep(plan, connect(app_device.serial))
    elapsed = time.perf_counter() - start
    [record] = store.read_records(tmp_path / "r.jsonl")
    assert record["status"] == "failed"
    assert "the app died" in record["error"]
    assert "UnsatisfiedLinkError: dlopen failed" in record["error"]
    assert elapsed < 20, f"took {elapsed:.1f} s to notice the crash"


def test_pidof_sees_the_app_only_while_it_runs(app_device):
    [device] = connect(app_device.serial)
    assert device.shell("pidof org.handlite.app").exit_code == 1  # never started
    (app_device.sandbox.state_dir / "app.pid").write_text(str(os.getpid()))
    result = device.shell("pidof org.handlite.app")
    assert result.exit_code == 0 and result.stdout.strip() == str(os.getpid())
    assert device.shell("pidof com.other.app").exit_code == 1


def test_app_runner_feeds_the_parity_input_and_pulls_the_outputs(app_device, handlite_model,
                                                                  tmp_path):
    import numpy as np

    runner = AppRunner(poll_s=0.1)
    given = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    parity = ParityInput("image", given.tobytes(), tmp_path / "out.bin")
    [device] = connect(app_device.serial)
    result = runner.run(device, Cell(handlite_model["tflite"], 1), RunSettings(runs=2, warmup=0),
                        parity)
    assert result.stats["pipeline"]["count"] == 2
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=str(handlite_model["tflite"]))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], given)
    interp.invoke()
    expected = interp.get_tensor(interp.get_output_details()[0]["index"])
    dumped = np.frombuffer(parity.output_local.read_bytes(), np.float32).reshape(expected.shape)
    np.testing.assert_array_equal(dumped, expected)
