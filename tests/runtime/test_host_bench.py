"""Host benchmark records follow `handlite.bench/1`; foreign models run invoke-only."""

from __future__ import annotations

import json

import pytest

from handlite.bench.host import bench_frame, run_host_bench, summary_row
from handlite.bench.stats import LATENCY_KEYS
from handlite.bench.store import SCHEMA, append_record, read_records
from handlite.errors import InputError, UsageError

RECORD_KEYS = {"schema", "id", "cell", "time_utc", "status", "error", "model", "target",
               "settings", "stats", "samples_ms", "delegation", "hygiene", "flags", "parity",
               "op_profile"}


def _check_latency(block, count):
    assert set(block) == set(LATENCY_KEYS)
    assert block["count"] == count
    assert block["min_ms"] <= block["median_ms"] <= block["p90_ms"] <= block["p99_ms"] \
        <= block["max_ms"]


def test_handlite_model_records_time_every_step(dot_models, tmp_path):
    events = []
    records = run_host_bench([dot_models["int8"]], threads=[1, 2], runs=7, warmup=2,
                             progress=lambda event, info: events.append(event))
    assert [r["settings"]["threads"] for r in records] == [1, 2]
    for record in records:
        assert set(record) == RECORD_KEYS and record["schema"] == SCHEMA
        assert record["status"] == "ok" and record["error"] is None
        stats = record["stats"]
        for step in ("invoke", "preprocess", "decode", "pipeline"):
            _check_latency(stats[step], 7)
        samples = record["samples_ms"]
        assert all(len(samples[k]) == 7 for k in ("invoke", "preprocess", "decode"))
        # fps follows the contract: from the pipeline median
        assert stats["fps_basis"] == "pipeline"
        assert stats["fps"] == pytest.approx(1000 / stats["pipeline"]["median_ms"])
        assert stats["pipeline"]["median_ms"] >= stats["invoke"]["median_ms"]
        target = record["target"]
        assert target["kind"] == "host" and target["cores"] >= 1
        assert target["runtime"]["name"] == "ai-edge-litert" and target["runtime"]["version"]
        assert record["model"]["variant"] == "64_int8"
        assert record["cell"].endswith(f"|host|cpu|t{record['settings']['threads']}")
        assert stats["first_ms"] is not None and stats["init_ms"] is not None
        assert stats["memory_mb"] is None  # not measured: null, never 0
    assert events.count("start") == 2 and events.count("done") == 2
    # the records round-trip through the shared JSONL store
    out = tmp_path / "results.jsonl"
    for record in records:
        append_record(out, record)
    assert [r["id"] for r in read_records(out)] == [r["id"] for r in records]
    json.dumps(records, allow_nan=False)


def test_foreign_model_runs_invoke_only(dot_models):
    (record,) = run_host_bench([dot_models["foreign"]], threads=[1], runs=5, warmup=1)
    assert record["status"] == "ok"
    stats = record["stats"]
    _check_latency(stats["invoke"], 5)
    assert stats["preprocess"] is None and stats["decode"] is None and stats["pipeline"] is None
    assert stats["fps_basis"] == "invoke"
    assert "invoke_only" in record["flags"]
    assert record["samples_ms"]["preprocess"] == [] and len(record["samples_ms"]["invoke"]) == 5
    assert record["model"]["variant"] is None


def test_min_secs_extends_the_run(dot_models):
    (record,) = run_host_bench([dot_models["foreign"]], runs=1, warmup=0, min_secs=0.2)
    assert record["stats"]["invoke"]["count"] > 1
    assert sum(record["samples_ms"]["invoke"]) <= 1000 * 0.2 + 1000  # sanity: samples are ms


def test_unloadable_model_gives_a_failed_record(tmp_path, dot_models):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0\0\0\0TFL3 but not really a model")
    records = run_host_bench([bad, dot_models["foreign"]], runs=2, warmup=0)
    assert records[0]["status"] == "failed" and records[0]["error"]
    assert records[1]["status"] == "ok"
    assert summary_row(records[0])["fps"] is None


@pytest.mark.parametrize("kwargs", [dict(runs=0), dict(warmup=-1), dict(min_secs=-1),
                                    dict(threads=[0])])
def test_bad_settings(dot_models, kwargs):
    with pytest.raises(UsageError):
        run_host_bench([dot_models["foreign"]], **kwargs)


def test_missing_model_fails_before_timing(tmp_path):
    with pytest.raises(InputError):
        run_host_bench([tmp_path / "nope.tflite"])


def test_bench_frame_is_deterministic_and_holds_the_box():
    frame, box = bench_frame(112)
    again, _ = bench_frame(112)
    assert (frame == again).all() and frame.shape == (480, 640, 3)
    x, y, w, h = box
    assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 480 and w == round(112 * 1.3)


def test_interleaved_cells_each_get_their_runs(dot_models):
    records = run_host_bench([dot_models["float32"], dot_models["foreign"]], threads=[1],
                             runs=6, warmup=1, interleave=4)
    assert [r["status"] for r in records] == ["ok", "ok"]
    # turns of 4 runs: each cell stops at the first turn that reaches 6
    assert [r["stats"]["invoke"]["count"] for r in records] == [8, 8]
    assert records[0]["stats"]["pipeline"] is not None and records[1]["stats"]["pipeline"] is None
