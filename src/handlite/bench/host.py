"""Host benchmark: each model x thread count on this machine's CPU with ai-edge-litert.

Units: ms per run; fps = 1000 / median pipeline time (invoke for foreign models).

Method, per cell (one model at one thread count):
- a fresh `HandRuntime` (LiteRT's default CPU path, which applies XNNPACK - recorded as
  delegate "cpu", the same name the device runners use for the same path);
- handlite models run the whole pipeline on a fixed frame: a synthetic hand (the data module's
  renderer, deterministic) pasted into a 640 x 480 grey frame, cropped by a box 1.3x the input
  size, so preprocessing does a real crop + resize. Preprocess, invoke and decode are timed
  separately and their per-run sum is the pipeline sample;
- foreign models (no handlite metadata) run invoke-only on random inputs of each input's own
  dtype and shape;
- `warmup` untimed runs (the first one's invoke is kept as `first_ms`), then timed runs until
  both `runs` runs and `min_secs` seconds are reached;
- the record carries the raw samples, the statistics of `bench.stats` (median, p90, p99, MAD,
  outliers ...), the CPU model, core count, OS, runtime version, and the 1-minute load average
  before and after (`hygiene`): a busy host shows there rather than hiding in a median, and
  a cell above BUSY_LOAD_PER_CORE per core carries the flag `busy`;
- the target block names the CPU's ISA features (`cpu_features`: avx2, avx512_vnni, amx...):
  int8 is barely faster than float32 without VNNI / dot-product kernels, so a number means
  little without them.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handlite.bench.stats import stats_from_samples
from handlite.bench.store import make_record, make_settings, model_info
from handlite.errors import HandliteError, UsageError

FRAME_SHAPE = (480, 640, 3)
#: the benchmark box is this many times the model's input size (a typical tracker margin)
BOX_FACTOR = 1.3
#: more outliers than this fraction of the timed runs flags the record
OUTLIER_FLAG_FRACTION = 0.05
#: a 1-minute load average above this per core (before or after a cell) flags it `busy`:
#: other work then shares the cores the timings came from
BUSY_LOAD_PER_CORE = 0.5
#: ISA features that change which kernels XNNPACK picks (x86 /proc/cpuinfo `flags`, Arm
#: `Features`); int8 speed in particular hangs on VNNI / dot-product instructions
ISA_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw",
                "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                "amx_int8", "amx_bf16", "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve",
                "sve2", "sme")

Progress = Callable[[str, dict[str, Any]], None]


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def cpu_features(cpuinfo: str | None = None) -> list[str]:
    """The `ISA_FEATURES` this CPU has, in that order (from /proc/cpuinfo text)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            return []
    have: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            have.update(value.split())
    return [f for f in ISA_FEATURES if f in have]


def busy(load_before: float | None, load_after: float | None, cores: int | None) -> bool:
    """True when either load average exceeds BUSY_LOAD_PER_CORE per core."""
    loads = [v for v in (load_before, load_after) if v is not None]
    return bool(cores and loads and max(loads) / cores > BUSY_LOAD_PER_CORE)


def host_target() -> dict[str, Any]:
    """The record's `target` block for this machine."""
    from handlite.runtime import runtime_version
    return {"kind": "host", "id": f"host:{socket.gethostname()}", "serial": None,
            "model": platform.node() or None, "soc": None, "abi": platform.machine() or None,
            "cpu": cpu_model(), "cpu_features": cpu_features(), "cores": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}".strip(),
            "runtime": {"name": "ai-edge-litert", "version": runtime_version()}}


def bench_frame(size: int, seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The fixed benchmark frame (H, W, 3) uint8 RGB and its hand box (x, y, w, h)."""
    from handlite.data import synthetic

    frame = np.full(FRAME_SHAPE, 128, np.uint8)
    side = min(int(round(size * BOX_FACTOR)), min(FRAME_SHAPE[:2]))
    hand = synthetic.sample(seed, 0, size=side).image
    if hand.shape[:2] != (side, side):  # the renderer may round sizes; never crash on that
        import cv2
        hand = cv2.resize(hand, (side, side), interpolation=cv2.INTER_LINEAR)
    y0 = (FRAME_SHAPE[0] - side) // 2
    x0 = (FRAME_SHAPE[1] - side) // 2
    frame[y0:y0 + side, x0:x0 + side] = hand
    return frame, (x0, y0, side, side)


def _cv2_threads(n: int) -> None:
    import cv2

    if cv2.getNumThreads() != n:
        cv2.setNumThreads(n)


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


class _Reporter:
    """Adapts `progress` (None, a rich Progress, or a callback(event, info)) to one call."""

    def __init__(self, progress: Any):
        self._progress = progress
        self._task = None

    def start(self, label: str, total: int) -> None:
        if hasattr(self._progress, "add_task"):
            self._task = self._progress.add_task(label, total=total)
        elif callable(self._progress):
            self._progress("start", {"label": label, "total": total})

    def advance(self, done: int, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done, total=total)
        elif callable(self._progress) and not hasattr(self._progress, "add_task"):
            self._progress("advance", {"done": done, "total": total})

    def finish(self, record: dict[str, Any]) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[
                self._progress.task_ids.index(self._task)].total)
        elif callable(self._progress) and not hasattr(self._progress, "add_task"):
            self._progress("done", {"record": record})


class _Cell:
    """One model loaded at one thread count, with its timing step and collected samples."""

    def __init__(self, path, threads: int, runs: int, warmup: int, min_secs: float,
                 progress: Any, target: dict[str, Any], allow_nan: bool = False):
        self.path, self.threads = path, int(threads)
        self.allow_nan = allow_nan
        self.runs, self.warmup, self.min_secs = runs, warmup, min_secs
        self.info = model_info(path)
        self.target = target
        self.settings = make_settings("host", self.threads, "cpu", runs=runs, warmup=warmup,
                                      min_secs=min_secs)
        self.report = _Reporter(progress)
        self.samples: dict[str, list[float]] = {"invoke": [], "preprocess": [], "decode": []}
        self.extras: dict[str, float | None] = {}
        self.error: str | None = None
        self.runtime = None
        self.seconds = 0.0
        self.load_before = _loadavg()

    def load(self) -> None:
        """Load the model and warm up (a HandliteError becomes this cell's error)."""
        from handlite.runtime import HandRuntime

        self.report.start(f"{self.info['name']} t{self.threads}", self.runs)
        try:
            self.runtime = HandRuntime(self.path, self.threads, require_metadata=False,
                                       allow_nan=self.allow_nan)
            self._prepare()
            first, warm = None, []
            for i in range(self.warmup):
                t = self._step()
                if i == 0:
                    first = t["invoke"]
                else:
                    warm.append(t["invoke"])
            self.extras = {"init_ms": self.runtime.init_ms, "first_ms": first,
                           "warmup_mean_ms": float(np.mean(warm)) if warm else None}
        except HandliteError as exc:
            self.error = str(exc)

    def _prepare(self) -> None:
        rt = self.runtime
        if rt.metadata is not None:
            frame, box = bench_frame(rt.input_size)
            self._step = lambda: rt.predict(frame, box=box).timings_ms  # noqa: E731
        else:
            rt.fill_inputs()

            def step() -> dict[str, float]:
                t0 = time.perf_counter_ns()
                rt.invoke()
                return {"invoke": (time.perf_counter_ns() - t0) / 1e6}

            self._step = step

    @property
    def done(self) -> bool:
        return self.error is not None or (len(self.samples["invoke"]) >= self.runs
                                          and self.seconds >= self.min_secs)

    def run(self, n: int) -> None:
        """Time `n` more runs."""
        if self.runtime is not None and self.runtime.metadata is not None:
            # preprocessing gets the cell's thread count too: OpenCV would otherwise spread a
            # 224 px resize over every core (slower here: 124 vs 86 us) and a "1 thread"
            # pipeline would not be one
            _cv2_threads(self.threads)
        start = time.perf_counter()
        try:
            for _ in range(n):
                for key, value in self._step().items():
                    self.samples[key].append(value)
        except HandliteError as exc:  # e.g. NaN outputs: this cell fails, the others run
            self.error = str(exc)
        self.seconds += time.perf_counter() - start
        count = len(self.samples["invoke"])
        self.report.advance(count, max(self.runs, count))

    def record(self) -> dict[str, Any]:
        if self.error is not None:
            record = make_record(model=self.info, target=self.target, settings=self.settings,
                                 status="failed", error=self.error)
            self.report.finish(record)
            return record
        samples, extras = self.samples, self.extras
        pipeline = self.runtime.metadata is not None
        if pipeline:
            pipe = [a + b + c for a, b, c in zip(samples["preprocess"], samples["invoke"],
                                                 samples["decode"])]
            stats = stats_from_samples(samples["invoke"], samples["preprocess"],
                                       samples["decode"], pipe, **extras)
        else:
            stats = stats_from_samples(samples["invoke"], **extras)
        flags = []
        inv = stats["invoke"]
        if inv and inv["outliers"] > OUTLIER_FLAG_FRACTION * inv["count"]:
            flags.append("outliers")
        if not pipeline:
            flags.append("invoke_only")
        load_after = _loadavg()
        hygiene = {"loadavg_1m_before": self.load_before, "loadavg_1m_after": load_after,
                   "cpu_count": os.cpu_count(), "busy_load_per_core": BUSY_LOAD_PER_CORE,
                   "opencv_threads": self.threads if pipeline else None}
        if busy(self.load_before, load_after, os.cpu_count()):
            flags.append("busy")
        record = make_record(model=self.info, target=self.target, settings=self.settings,
                             stats=stats, samples_ms=samples, hygiene=hygiene, flags=flags)
        self.report.finish(record)
        self.runtime = None  # free the interpreter
        return record


def bench_cell(path: str | Path, threads: int, runs: int, warmup: int, min_secs: float,
               progress: Any = None, target: dict[str, Any] | None = None,
               allow_nan: bool = False) -> dict[str, Any]:
    """One `handlite.bench/1` record for `path` at `threads` (a failed record on error)."""
    cell = _Cell(path, threads, runs, warmup, min_secs, progress, target or host_target(),
                 allow_nan)
    cell.load()
    while not cell.done:
        cell.run(1)
    return cell.record()


def run_host_bench(models: Sequence[str | Path], threads: Sequence[int] = (1,), runs: int = 50,
                   warmup: int = 5, min_secs: float = 0.0, progress: Any = None,
                   interleave: int = 0, allow_nan: bool = False,
                   rules: Any = None) -> list[dict[str, Any]]:
    """Benchmark every model x thread count on this host; one record per cell, in order.

    `progress` is None, a `rich.progress.Progress` (one task per cell), or a callback
    `(event, info)` with events "start", "advance", "done". A cell that fails (e.g. a model
    LiteRT cannot load) gives a `failed` record and the others still run.

    `rules` (a `bench.rules.RunRules`): each cell runs `rules.repeats` times, the median
    repeat is kept (its spread in `hygiene`), and a cell breaking the rules turns `invalid`.

    `interleave` = n > 0 loads every cell first and then runs them in turns of n runs each
    (round robin) until all are done: on a shared or throttling machine the load then falls
    on every cell alike, so ratios between cells stay fair. 0 runs the cells one after another.
    """
    if not models:
        raise UsageError("no models to benchmark")
    if runs <= 0:
        raise UsageError(f"runs must be positive, got {runs}")
    if warmup < 0:
        raise UsageError(f"warmup must be >= 0, got {warmup}")
    if min_secs < 0:
        raise UsageError(f"min-secs must be >= 0, got {min_secs}")
    if interleave < 0:
        raise UsageError(f"interleave must be >= 0, got {interleave}")
    threads = list(threads) or [1]
    for t in threads:
        if int(t) <= 0:
            raise UsageError(f"threads must be positive, got {t}")
    for m in models:
        model_info(m)  # a missing file fails before any timing starts
    if rules is not None:
        from handlite.bench import rules as run_rules
        rounds = [run_host_bench(models, threads, runs, warmup, min_secs, progress, interleave,
                                 allow_nan) for _ in range(rules.repeats)]
        chosen = []
        for repeats in zip(*rounds):
            values = [(r["stats"].get("pipeline") or r["stats"].get("invoke") or {})
                      .get("median_ms") if r["status"] == "ok" else None for r in repeats]
            order = sorted(range(len(repeats)),
                           key=lambda i: (values[i] is None, values[i] or 0))
            record = repeats[order[(len(order) - 1) // 2]]
            if len(repeats) > 1 and record.get("hygiene") is not None:
                from handlite.bench.stats import relative_spread
                record["hygiene"].update({"repeats": len(repeats),
                                          "repeat_results_ms": values,
                                          "repeat_spread": relative_spread(
                                              [v for v in values if v is not None])})
            chosen.append(run_rules.apply(record, rules, values if len(values) > 1 else None))
        return chosen
    target = host_target()
    if not interleave:
        return [bench_cell(m, int(t), runs, warmup, min_secs, progress, target, allow_nan)
                for m in models for t in threads]
    cells = [_Cell(m, int(t), runs, warmup, min_secs, progress, target, allow_nan)
             for m in models for t in threads]
    for cell in cells:
        cell.load()
    while not all(cell.done for cell in cells):
        for cell in cells:
            if not cell.done:
                cell.run(interleave)
    return [cell.record() for cell in cells]


def summary_row(record: dict[str, Any]) -> dict[str, Any]:
    """The numbers a table shows for one record (ms medians, fps), None where unknown."""
    stats = record.get("stats") or {}

    def med(key):
        block = stats.get(key)
        return None if not block else block.get("median_ms")

    return {"model": record["model"]["name"], "variant": record["model"].get("variant"),
            "threads": record["settings"]["threads"], "status": record["status"],
            "preprocess_ms": med("preprocess"), "invoke_ms": med("invoke"),
            "decode_ms": med("decode"), "pipeline_ms": med("pipeline"),
            "p90_ms": (stats.get("pipeline") or stats.get("invoke") or {}).get("p90_ms"),
            "fps": stats.get("fps"), "error": record.get("error")}


__all__ = ["run_host_bench", "bench_cell", "host_target", "bench_frame", "summary_row"]
