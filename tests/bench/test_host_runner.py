"""The host benchmark as a sweep runner: records saved per cell, resume, turns, one loop."""

from __future__ import annotations

import json

import pytest

from handlite.bench import store
from handlite.bench.host import HostDevice, HostRunner, host_sweep, run_host_bench
from handlite.bench.hygiene import HygieneSettings
from handlite.bench.runners import Cell, RunSettings
from handlite.bench.sweep import SweepPlan, run_sweep



def test_each_cell_is_in_the_file_before_the_next_one_starts(tiny_models, tmp_path):
    out = tmp_path / "host.jsonl"
    seen = []

    def progress(event, info):
        if event == "start":  # what a kill at this moment would leave behind
            seen.append(len(store.read_records(out)) if out.exists() else 0)

    records = run_host_bench(tiny_models, threads=[1, 2], runs=3, warmup=0, progress=progress,
                             out=out)
    assert seen == [0, 1, 2, 3]
    assert [r["id"] for r in store.read_records(out)] == [r["id"] for r in records]
    assert {r["status"] for r in records} == {"ok"}


def test_resume_skips_host_cells_already_ok(tiny_models, tmp_path):
    out = tmp_path / "host.jsonl"
    first = host_sweep(tiny_models[:1], [1], runs=3, warmup=0, out=out)
    again = host_sweep(tiny_models, [1], runs=3, warmup=0, out=out, resume=True)
    assert again.skipped == 1 and len(again.records) == 1
    assert again.records[0]["model"]["name"] == tiny_models[1].name
    assert len(store.read_records(out)) == 2 and first.records[0]["status"] == "ok"


def test_host_runner_in_a_plain_sweep_plan(tiny_models):
    # the same SweepPlan / run_sweep a phone gets; the host probe gives its hygiene block
    plan = SweepPlan(models=list(tiny_models), threads=[1], delegates=["cpu"],
                     runner=HostRunner(), settings=RunSettings(runs=4, warmup=1),
                     hygiene=HygieneSettings(cooldown_s=0.0, max_wait_s=0.0), interleave=2)
    result = run_sweep(plan, [HostDevice()])
    assert [r["stats"]["invoke"]["count"] for r in result.records] == [4, 4]
    for record in result.records:
        assert record["settings"]["runner"] == "host" and record["target"]["kind"] == "host"
        assert set(record["hygiene"]) == {"loadavg_1m_before", "loadavg_1m_after", "cpu_count",
                                          "busy_load_per_core", "opencv_threads"}
        assert record["hygiene"]["opencv_threads"] is None  # invoke-only: no OpenCV step
        assert "invoke_only" in record["flags"]
    assert result.device_s > 0


def test_a_failing_cell_in_turns_fails_alone(tiny_models, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0\0\0\0TFL3 but not really a model")
    records = run_host_bench([bad, tiny_models[0]], runs=3, warmup=0, interleave=2)
    assert [r["status"] for r in records] == ["failed", "ok"]
    assert records[0]["error"] and records[1]["stats"]["invoke"]["count"] == 4


def test_host_runner_refuses_gpu_cells(tiny_models):
    from handlite.errors import BenchmarkError
    with pytest.raises(BenchmarkError, match="CPU"):
        HostRunner().run(HostDevice(), Cell(tiny_models[0], 1, "gpu"), RunSettings(runs=1))


def test_cli_host_out_and_resume(tiny_models, tmp_path, run_cli):
    out = tmp_path / "r.jsonl"
    args = ["bench", str(tiny_models[0]), "--device", "host", "--rules", "none", "--runs", "3",
            "--warmup", "0", "--out", str(out), "--json"]
    code, out_text, _ = run_cli(*args)
    assert code == 0
    doc = json.loads(out_text)
    assert set(doc) == {"out", "records"} and len(store.read_records(out)) == 1
    code, out_text, _ = run_cli(*args, "--resume")
    assert code == 0
    doc = json.loads(out_text)
    assert doc["records"] == [] and doc["skipped"] == 1
    assert len(store.read_records(out)) == 1


def test_host_repeats_are_rounds_over_all_cells(tiny_models):
    from handlite.bench.rules import RunRules
    labels = []
    records = run_host_bench(tiny_models, runs=3, warmup=0,
                             rules=RunRules("none", 0.0, 1, 3, None),
                             progress=lambda event, info: labels.append(info["label"])
                             if event == "start" else None)
    a, b = (f"{m.name} t1" for m in tiny_models)
    assert labels == [a, b, a, b, a, b]
    for record in records:
        assert record["hygiene"]["repeats"] == 3
        assert len(record["hygiene"]["repeat_results_ms"]) == 3
        assert record["settings"]["rules"]["repeats"] == 3
