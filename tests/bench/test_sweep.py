"""Sweeps on the stand-in device: real pushes, the stand-in benchmark_model, real records."""

import json
import socket

import pytest

from handlite.bench import store
from handlite.device import connect as open_devices
from handlite.bench.hygiene import HygieneSettings
from handlite.bench.runners import BenchmarkModelRunner, RunSettings
from handlite.bench.sweep import SweepPlan, run_sweep

FAST = HygieneSettings(threshold_c=90.0, cooldown_s=0.0, max_wait_s=0.0)


def _plan(models, binary, out, **kw):
    return SweepPlan(models=list(models), threads=[1, 2], delegates=["cpu"],
                     runner=BenchmarkModelRunner(binary),
                     settings=RunSettings(runs=5, warmup=1), hygiene=FAST, out=out, **kw)


def test_sweep_two_variants_two_threads_gives_four_real_records(standin, tiny_models,
                                                                fake_binary, tmp_path):
    out = tmp_path / "r.jsonl"
    events = []
    result = run_sweep(_plan(tiny_models, fake_binary, out), open_devices(standin.serial),
                       on_event=lambda s, kind, info: events.append(kind))
    records = store.read_records(out)
    assert len(records) == len(result.records) == 4
    assert {r["status"] for r in records} == {"ok"}
    assert {(r["model"]["variant"], r["settings"]["threads"]) for r in records} == {
        ("32_float32", 1), ("32_float32", 2), ("32_dynamic", 1), ("32_dynamic", 2)}
    for r in records:
        inv = r["stats"]["invoke"]
        assert inv["count"] == 5 and 0 < inv["min_ms"] <= inv["median_ms"] <= inv["max_ms"]
        assert r["stats"]["fps"] == pytest.approx(1000 / inv["median_ms"])
        assert r["target"]["model"] == "Pixel 7" and r["target"]["soc"] == "GS201"
        assert r["hygiene"]["battery"]["level_pct"] == 84
        assert r["hygiene"]["thermal_before"]["zone"] == "BIG"
        assert r["hygiene"]["governors"]["policy6"] == "sched_pixel"
    assert events.count("done") == 4
    # the tool binary and each model were pushed once, kept by hash
    listing = sorted(p.name for p in (standin.sandbox.root / "data/local/tmp/handlite/models")
                     .iterdir())
    assert len(listing) == 2
    # resume: nothing left to do, no new record
    again = run_sweep(_plan(tiny_models, fake_binary, out, resume=True),
                      open_devices(standin.serial))
    assert again.records == [] and again.skipped == 4
    assert len(store.read_records(out)) == 4


def test_tool_failure_mid_sweep_keeps_finished_records_and_names_it(standin, tiny_models,
                                                                     fake_binary, tmp_path):
    out = tmp_path / "r.jsonl"
    knobs = standin.sandbox.state_dir / "benchmark_model.json"

    def on_event(serial, kind, info):
        if kind == "done":  # after the first finished cell, the tool starts failing
            knobs.write_text(json.dumps({"fail": "GPU driver crashed (injected)"}))

    run_sweep(_plan(tiny_models[:1], fake_binary, out), open_devices(standin.serial),
              on_event=on_event)
    records = store.read_records(out)
    assert [r["status"] for r in records] == ["ok", "failed"]
    assert "GPU driver crashed (injected)" in records[1]["error"]
    assert store.finished_cells(out) == {records[0]["cell"]}


def test_device_dropping_mid_sweep_fails_its_cells_with_the_reason(standin, tiny_models,
                                                                   fake_binary, tmp_path):
    out = tmp_path / "r.jsonl"

    def on_event(serial, kind, info):
        if kind == "done":  # the cable is pulled and the phone is gone for good
            # stop() alone closes the listener under a blocked accept(), which still takes
            # one more connection (the device layer's reconnect would find the phone again)
            standin._listener.shutdown(socket.SHUT_RDWR)
            standin.stop()

    run_sweep(_plan(tiny_models, fake_binary, out), open_devices(standin.serial),
              on_event=on_event)
    records = store.read_records(out)
    assert len(records) == 4 and records[0]["status"] == "ok"
    assert all(r["status"] == "failed" for r in records[1:])
    assert any("dropped" in r["error"] for r in records[2:])
