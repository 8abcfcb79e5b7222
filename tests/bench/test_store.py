"""Records: building, atomic appends, torn lines, resume, CSV."""

import csv
import io
import json
import os
import subprocess
import sys
import threading

import pytest

from handlite.bench import store
from handlite.bench.stats import stats_from_samples
from handlite.errors import InputError, UsageError


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "handlite_112_int8.tflite"
    path.write_bytes(b"TFL3" + os.urandom(64))
    return path


def _record(model_file, threads=1, status="ok", error=None):
    return store.make_record(
        model=store.model_info(model_file),
        target={"kind": "host", "id": "host:test"},
        settings=store.make_settings("host", threads, "cpu", runs=3, warmup=1),
        stats=stats_from_samples([1.0, 2.0, 3.0]),
        samples_ms={"invoke": [1.0, 2.0, 3.0]}, status=status, error=error)


def test_model_info_from_file_name_and_embedded_metadata(tmp_path, model_file):
    info = store.model_info(model_file)
    assert (info["variant"], info["input_size"], info["precision"]) == ("112_int8", 112, "int8")
    assert info["bytes"] == 68 and len(info["sha256"]) == 64
    meta = {"format": "handlite.model/1", "variant": "224_float16", "input_size": 224,
            "precision": "float16", "skeleton": [[0, 1]]}
    other = tmp_path / "renamed.tflite"
    other.write_bytes(b"TFL3\x00\x01{junk" + json.dumps(meta).encode() + b"\x00\x00")
    info = store.model_info(other)
    assert (info["variant"], info["input_size"]) == ("224_float16", 224)
    with pytest.raises(InputError):
        store.model_info(tmp_path / "missing.tflite")


def test_make_record_validates(model_file):
    rec = _record(model_file, threads=2)
    assert rec["schema"] == store.SCHEMA and rec["cell"].endswith("|host|cpu|t2")
    assert rec["stats"]["fps"] == pytest.approx(500.0)
    with pytest.raises(UsageError):
        _record(model_file, status="failed")  # no error message
    with pytest.raises(UsageError, match="did you mean"):
        store.make_settings("host", 1, "xnnpak")


def test_append_read_and_torn_last_line(tmp_path, model_file):
    path = tmp_path / "r.jsonl"
    store.append_record(path, _record(model_file, 1))
    store.append_record(path, _record(model_file, 2))
    with open(path, "ab") as fh:  # a writer killed mid-record
        fh.write(b'{"schema": "handlite.bench/1", "id": "abc", "st')
    warnings = []
    records = store.read_records(path, warn=warnings.append)
    assert [r["settings"]["threads"] for r in records] == [1, 2]
    assert len(warnings) == 1 and "last line" in warnings[0]
    # the next append starts on a fresh line, so it is readable and the torn one stays skipped
    store.append_record(path, _record(model_file, 4))
    warnings.clear()
    records = store.read_records(path, warn=warnings.append)
    assert [r["settings"]["threads"] for r in records] == [1, 2, 4]
    assert len(warnings) == 1 and "line 3" in warnings[0]


def test_other_schema_and_garbage_files_are_errors(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"schema": "other/1"}\n')
    with pytest.raises(InputError, match="schema"):
        store.read_records(path)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="no readable"):
        store.read_records(path, warn=lambda m: None)
    with pytest.raises(InputError, match="not found"):
        store.read_records(tmp_path / "none.jsonl")


def test_finished_cells_skip_failed(tmp_path, model_file):
    path = tmp_path / "r.jsonl"
    assert store.finished_cells(path) == set()
    ok, failed = _record(model_file, 1), _record(model_file, 2, "failed", "device dropped")
    store.append_record(path, ok)
    store.append_record(path, failed)
    assert store.finished_cells(path) == {ok["cell"]}


def test_concurrent_appends_from_threads_and_processes_stay_whole(tmp_path, model_file):
    path = tmp_path / "r.jsonl"
    rec = _record(model_file)
    rec["samples_ms"]["invoke"] = [1.5] * 20000  # big lines make interleaving likely
    threads = [threading.Thread(target=lambda: [store.append_record(path, rec)
                                                for _ in range(5)]) for _ in range(4)]
    code = ("import json,sys; from handlite.bench import store; "
            "rec=json.loads(open(sys.argv[2]).read()); "
            "[store.append_record(sys.argv[1], rec) for _ in range(5)]")
    rec_file = tmp_path / "rec.json"
    rec_file.write_text(json.dumps(rec))
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(rec_file)])
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert proc.wait() == 0
    warnings = []
    assert len(store.read_records(path, warn=warnings.append)) == 25 and not warnings


def test_csv_export(model_file):
    rows = list(csv.DictReader(io.StringIO(store.to_csv([_record(model_file, 2)]))))
    assert rows[0]["threads"] == "2" and rows[0]["variant"] == "112_int8"
    assert float(rows[0]["invoke_median_ms"]) == 2.0
    assert rows[0]["init_ms"] == ""  # unknown stays empty, never 0
