"""Benchmark records (`handlite.bench/1`, docs/CONTRACTS.md): build, append, read, export.

One JSON object per line, one line per finished or failed cell. Appends are atomic at the
line level: a record is serialised first, then written with one `write` on an O_APPEND file
descriptor under a lock (a thread lock for the sweep's device workers, `flock` for other
processes), flushed and fsync'ed. A writer killed mid-write can leave at most one partial line;
the next append starts a fresh line after it, and readers skip such a line with a warning.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from handlite.bench.stats import empty_stats
from handlite.errors import InputError, UsageError, choice_error
from handlite.io import to_json_line, utc_now
from handlite.metadata import sniff_metadata
from handlite.variants import PRECISIONS  # as in file names like handlite_224_int8.tflite

SCHEMA = "handlite.bench/1"
RUNNERS = ("host", "benchmark_model", "app")
#: gpu: the GPU delegate as benchmark_model runs it by default (fp16 arithmetic allowed);
#: gpu-fp32: the same with --gpu_precision_loss_allowed=false (full float precision)
DELEGATES = ("cpu", "xnnpack", "gpu", "gpu-fp32", "nnapi")
#: ok: measured; failed: did not run or could not be read; invalid: ran, but the tool printed
#: numbers that cannot be real (negative, non-finite, min > max...): kept with the reason
STATUSES = ("ok", "failed", "invalid")

_log = logging.getLogger("handlite.bench.store")
_append_lock = threading.Lock()
_VARIANT_RE = re.compile(r"(?P<size>\d{2,4})_(?P<precision>" + "|".join(PRECISIONS) + r")\b")

Warn = Callable[[str], None]


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The record's `model` block: path, name, sha256, size, and the variant when known.

    Variant, input size and precision come from the model's embedded metadata, else from a
    file name like `handlite_224_int8.tflite`, else stay null.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"model file not found: {p}")
    data = p.read_bytes()
    info: dict[str, Any] = {"path": str(p), "name": p.name,
                            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                            "variant": None, "input_size": None, "precision": None}
    meta = sniff_metadata(data)
    if meta:
        info["variant"] = meta.get("variant")
        info["input_size"] = meta.get("input_size")
        info["precision"] = meta.get("precision")
    else:
        match = _VARIANT_RE.search(p.stem)
        if match:
            info["variant"] = f"{match['size']}_{match['precision']}"
            info["input_size"] = int(match["size"])
            info["precision"] = match["precision"]
    return info


def cell_key(target_id: str, model_sha256: str, runner: str, delegate: str, threads: int) -> str:
    """Stable key of what ran where (the contract's `cell`)."""
    return f"{target_id}|{model_sha256[:12]}|{runner}|{delegate}|t{int(threads)}"


def make_settings(runner: str, threads: int, delegate: str = "cpu", runs: int | None = None,
                  warmup: int | None = None, min_secs: float | None = 0.0,
                  cpu_mask: str | None = None) -> dict[str, Any]:
    if runner not in RUNNERS:
        raise choice_error("runner", runner, RUNNERS)
    if delegate not in DELEGATES:
        raise choice_error("delegate", delegate, DELEGATES)
    if int(threads) <= 0:
        raise UsageError(f"threads must be positive, got {threads}")
    return {"runner": runner, "threads": int(threads), "delegate": delegate, "runs": runs,
            "warmup": warmup, "min_secs": min_secs, "cpu_mask": cpu_mask}


def make_record(*, model: Mapping[str, Any], target: Mapping[str, Any],
                settings: Mapping[str, Any], stats: Mapping[str, Any] | None = None,
                samples_ms: Mapping[str, list[float]] | None = None,
                delegation: Mapping[str, Any] | None = None,
                hygiene: Mapping[str, Any] | None = None, flags: Iterable[str] = (),
                parity: Mapping[str, Any] | None = None, status: str = "ok",
                error: str | None = None, time_utc: str | None = None,
                op_profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble one `handlite.bench/1` record (a plain dict, ready for `append_record`).

    `model` is a `model_info` block, `target` the target block (its `id` names where it ran),
    `settings` a `make_settings` block, `stats` a block from `bench.stats`. A failed cell
    (`status="failed"`) must say why in `error`.
    """
    if status not in STATUSES:
        raise choice_error("status", status, STATUSES)
    if status in ("failed", "invalid") and not error:
        raise UsageError(f"a {status} record needs an error message")
    for key in ("runner", "threads", "delegate"):
        if key not in settings:
            raise UsageError(f"settings lack {key!r}")
    if not target.get("id"):
        raise UsageError("target lacks an id")
    if not model.get("sha256"):
        raise UsageError("model lacks a sha256")
    delegation = dict(delegation or {"delegated_nodes": None, "total_nodes": None,
                                     "partial": False})
    samples = {"invoke": [], "preprocess": [], "decode": []}
    samples.update({k: list(map(float, v)) for k, v in (samples_ms or {}).items()})
    return {
        "schema": SCHEMA,
        "id": uuid.uuid4().hex,
        "cell": cell_key(target["id"], model["sha256"], settings["runner"],
                         settings["delegate"], settings["threads"]),
        "time_utc": time_utc or utc_now(),
        "status": status,
        "error": error,
        "model": dict(model),
        "target": dict(target),
        "settings": dict(settings),
        "stats": dict(stats) if stats is not None else empty_stats(),
        "samples_ms": samples,
        "delegation": delegation,
        "hygiene": dict(hygiene) if hygiene is not None else None,
        "flags": sorted(set(flags)),
        "parity": dict(parity) if parity is not None else None,
        # `bench.op_profile.parse_op_profile` (benchmark_model --enable_op_profiling)
        "op_profile": dict(op_profile) if op_profile is not None else None,
    }


def _encode(record: Mapping[str, Any]) -> bytes:
    line = to_json_line(record)  # the one NaN/numpy policy for all JSON handlite writes
    if "\n" in line:  # cannot happen with json.dumps, but a split record would be torn
        raise InputError("record serialises to more than one line")
    return (line + "\n").encode("utf-8")


def append_record(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Append one record as one whole line, flushed and fsync'ed before returning."""
    if record.get("schema") != SCHEMA:
        raise UsageError(f"not a {SCHEMA} record")
    data = _encode(record)
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    with _append_lock:
        created = not p.exists()
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size:
                # a writer killed mid-line left no newline: start ours on a fresh line
                with open(p, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        data = b"\n" + data
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the flock
        if created:
            dir_fd = os.open(p.parent if str(p.parent) else ".", os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def read_records(path: str | os.PathLike, warn: Warn | None = None) -> list[dict[str, Any]]:
    """All records of a JSONL file, in file order.

    Lines that are not JSON (a record torn by a killed writer) are skipped with a warning
    through `warn` (default: the `handlite.bench.store` logger). A JSON line of another schema
    is an error: mixing formats would be read wrongly, not partially.
    """
    warn = warn or _log.warning
    p = Path(path)
    if not p.is_file():
        raise InputError(f"results file not found: {p}")
    records: list[dict[str, Any]] = []
    skipped = 0
    with open(p, "rb") as fh:
        lines = fh.read().split(b"\n")
    last = len(lines)
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            skipped += 1
            where = "last line" if number >= last - 1 else f"line {number}"
            warn(f"{p}: skipped a torn or unreadable record ({where})")
            continue
        if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
            found = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
            raise InputError(f"{p}:{number}: not a {SCHEMA} record (schema {found!r})")
        records.append(obj)
    if skipped and not records:
        raise InputError(f"{p}: no readable {SCHEMA} records")
    return records


def finished_cells(path: str | os.PathLike, warn: Warn | None = None) -> set[str]:
    """Cells with an `ok` record in `path` (for --resume); empty if the file does not exist.

    Failed cells are not finished: a resumed sweep tries them again.
    """
    if not Path(path).exists():
        return set()
    return {r["cell"] for r in read_records(path, warn) if r.get("status") == "ok"}


# --------------------------------------------------------------------------- CSV
_LAT = ("count", "mean_ms", "median_ms", "p90_ms", "p99_ms", "std_ms", "min_ms", "max_ms",
        "mad_ms", "outliers")
CSV_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id", ("id",)), ("cell", ("cell",)), ("time_utc", ("time_utc",)),
    ("status", ("status",)), ("error", ("error",)),
    ("model", ("model", "name")), ("variant", ("model", "variant")),
    ("precision", ("model", "precision")), ("input_size", ("model", "input_size")),
    ("model_sha256", ("model", "sha256")), ("model_bytes", ("model", "bytes")),
    ("target_kind", ("target", "kind")), ("target", ("target", "id")),
    ("device_model", ("target", "model")), ("soc", ("target", "soc")),
    ("os", ("target", "os")), ("runtime", ("target", "runtime", "name")),
    ("runtime_version", ("target", "runtime", "version")),
    ("runner", ("settings", "runner")), ("delegate", ("settings", "delegate")),
    ("threads", ("settings", "threads")), ("runs", ("settings", "runs")),
    ("warmup", ("settings", "warmup")), ("cpu_mask", ("settings", "cpu_mask")),
    *((f"invoke_{k}", ("stats", "invoke", k)) for k in _LAT),
    ("pipeline_median_ms", ("stats", "pipeline", "median_ms")),
    ("pipeline_p90_ms", ("stats", "pipeline", "p90_ms")),
    ("fps", ("stats", "fps")), ("fps_basis", ("stats", "fps_basis")),
    ("init_ms", ("stats", "init_ms")), ("first_ms", ("stats", "first_ms")),
    ("warmup_mean_ms", ("stats", "warmup_mean_ms")), ("memory_mb", ("stats", "memory_mb")),
    ("peak_memory_mb", ("stats", "peak_memory_mb")),
    ("delegated_nodes", ("delegation", "delegated_nodes")),
    ("total_nodes", ("delegation", "total_nodes")),
    ("partial_delegation", ("delegation", "partial")),
    ("parity_passed", ("parity", "passed")),
)


def dig(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """record[a][b][c], or None where any level is missing or null."""
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def to_csv(records: Iterable[Mapping[str, Any]]) -> str:
    """Records as CSV text: one row per record, flat columns (`CSV_COLUMNS`), flags joined
    with ';'. Unknown values are empty cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([name for name, _ in CSV_COLUMNS] + ["flags"])
    for record in records:
        row = ["" if (v := dig(record, path)) is None else v for _, path in CSV_COLUMNS]
        writer.writerow(row + [";".join(record.get("flags") or [])])
    return buf.getvalue()
