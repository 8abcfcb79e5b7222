"""Host benchmark: each model x thread count on this machine's CPU with ai-edge-litert.

The host is one more sweep target: `HostRunner` has the phone runners' interface
(`bench.runners.Runner`) and `run_host_bench` drives it through `bench.sweep.run_sweep`, so
host records are built, checked (`bench.stats.check_stats`, run rules) and saved (`--out`:
one atomic append per finished cell, `bench.store`) by the same code as a phone's.
`HostProbe` reads the host's state around a cell (the load average) where a phone's probe
reads battery and thermal zones; there is no thermal gate and no cooldown on the host.

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
  both `runs` runs and `min_secs` seconds are reached; with `interleave` = n > 0 every cell
  is loaded first and the cells are timed in turns of n runs (`HostRunner.run_interleaved`);
- repeats (the run rules' `repeats`) are rounds over all cells, and each record keeps the
  repeat with the median pipeline (else invoke) time, the per-repeat values in `hygiene`;
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

from handlite.bench.hygiene import HygieneSettings
from handlite.bench.runners import Cell, RunResult, RunSettings, Runner
from handlite.bench.stats import relative_spread, stats_from_samples
from handlite.bench.sweep import Probe, SweepPlan, SweepResult, run_sweep
from handlite.errors import BenchmarkError, HandliteError, UsageError
from handlite.runtime import HandRuntime, runtime_version

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
#: the ISA_FEATURES with int8 dot-product instructions, which XNNPACK's int8 kernels need to
#: beat float32 (without them full-int8 measured 0.6x of float32 on an AVX2-only EPYC)
DOT_PRODUCT_FEATURES = ("avx_vnni", "avx512_vnni", "amx_int8", "asimddp", "i8mm")

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
    return {"kind": "host", "id": f"host:{socket.gethostname()}", "serial": None,
            "model": platform.node() or None, "soc": None, "abi": platform.machine() or None,
            "cpu": cpu_model(), "cpu_features": cpu_features(), "cores": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}".strip(),
            "runtime": {"name": "ai-edge-litert", "version": runtime_version()}}


def bench_frame(size: int, seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The fixed benchmark frame (H, W, 3) uint8 RGB and its hand box (x, y, w, h)."""
    from handlite.data import synthetic  # OpenCV, loaded only when a frame is drawn

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

    def finish(self, record: dict[str, Any] | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[
                self._progress.task_ids.index(self._task)].total)
        elif callable(self._progress) and not hasattr(self._progress, "add_task"):
            self._progress("done", {"record": record})


class _Cell:
    """One model loaded at one thread count, with its timing step and collected samples."""

    def __init__(self, path, threads: int, runs: int, warmup: int, min_secs: float,
                 report: _Reporter, allow_nan: bool = False):
        self.path, self.threads = path, int(threads)
        self.allow_nan = allow_nan
        self.runs, self.warmup, self.min_secs = runs, warmup, min_secs
        self.report = report
        self.samples: dict[str, list[float]] = {"invoke": [], "preprocess": [], "decode": []}
        self.extras: dict[str, float | None] = {}
        self.error: str | None = None
        self.runtime = None
        self.metadata = None
        self.seconds = 0.0
        self.started = time.perf_counter()

    def load(self) -> None:
        """Load the model and warm up (a HandliteError becomes this cell's error)."""

        self.started = time.perf_counter()
        self.report.start(f"{Path(self.path).name} t{self.threads}", self.runs)
        try:
            self.runtime = HandRuntime(self.path, self.threads, require_metadata=False,
                                       allow_nan=self.allow_nan)
            self.metadata = self.runtime.metadata
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

    def result(self) -> RunResult:
        """The cell's samples and statistics; BenchmarkError (its message) when it failed."""
        self.runtime = None  # free the interpreter
        if self.error is not None:
            raise BenchmarkError(self.error)
        samples, extras = self.samples, self.extras
        pipeline = self.metadata is not None
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
        return RunResult(stats=stats, samples_ms=samples, flags=flags,
                         device_s=time.perf_counter() - self.started)


class HostDevice:
    """This machine as a sweep's device; `serial` is the target id its records carry."""

    def __init__(self, serial: str | None = None):
        self.serial = serial or f"host:{socket.gethostname()}"


class HostProbe(Probe):
    """The host's state around a cell: the 1-minute load average before and after (a cell
    above BUSY_LOAD_PER_CORE per core is flagged `busy`); nothing to wait for."""

    def __init__(self, device: HostDevice, target: dict[str, Any] | None = None):
        self.device, self.target = device, target

    def fallback_target(self) -> dict[str, Any]:
        return self.target or {"kind": "host", "id": self.device.serial, "serial": None,
                               "model": None, "soc": None, "abi": None, "cpu": None,
                               "cpu_features": [], "cores": os.cpu_count(), "os": None,
                               "runtime": {"name": "ai-edge-litert", "version": None}}

    def open(self) -> dict[str, Any]:
        if self.target is None:
            self.target = host_target()
        return self.target

    def before(self, cell: Cell) -> float | None:
        return _loadavg()

    def after(self, before: Any) -> float | None:
        return _loadavg()

    def repeat_value(self, result: RunResult) -> float | None:
        stats = result.stats
        return (stats.get("pipeline") or stats.get("invoke") or {}).get("median_ms")

    def hygiene(self, cell: Cell, before: Any, after: Any, result: RunResult,
                repeats: list[float | None] | None) -> tuple[dict[str, Any] | None, list[str]]:
        pipeline = "invoke_only" not in result.flags
        block: dict[str, Any] = {
            "loadavg_1m_before": before, "loadavg_1m_after": after,
            "cpu_count": os.cpu_count(), "busy_load_per_core": BUSY_LOAD_PER_CORE,
            "opencv_threads": cell.threads if pipeline else None}
        if repeats:
            block.update({"repeats": len(repeats), "repeat_results_ms": repeats,
                          "repeat_spread": relative_spread([v for v in repeats
                                                            if v is not None])})
        return block, (["busy"] if busy(before, after, os.cpu_count()) else [])


class HostRunner(Runner):
    """This machine's CPU through ai-edge-litert (LiteRT's default CPU path, XNNPACK).

    `progress`: None, a `rich.progress.Progress` (one task per cell run) or a callback
    `(event, info)` with events "start", "advance", "done" (`finish` ends a cell's runs with
    its record). `target` replaces the host's own target block (`host_target()`)."""

    name = "host"

    def __init__(self, progress: Any = None, allow_nan: bool = False,
                 target: dict[str, Any] | None = None):
        self.progress, self.allow_nan, self.target = progress, allow_nan, target
        self._reports: dict[Cell, list[_Reporter]] = {}

    def probe(self, device: Any, plan: Any, say: Any) -> HostProbe:
        return HostProbe(device, self.target)

    def _load(self, cell: Cell, settings: RunSettings) -> _Cell:
        if cell.delegate not in ("cpu", "xnnpack"):
            raise BenchmarkError("the host benchmark runs the CPU (XNNPACK) kernels only")
        report = _Reporter(self.progress)
        self._reports.setdefault(cell, []).append(report)
        timed = _Cell(cell.model, cell.threads, settings.runs, settings.warmup,
                      settings.min_secs, report, self.allow_nan)
        timed.load()
        return timed

    def run(self, device: Any, cell: Cell, settings: RunSettings,
            parity: Any = None) -> RunResult:
        timed = self._load(cell, settings)
        while not timed.done:
            timed.run(1)
        return timed.result()

    def run_interleaved(self, device: Any, cells: Sequence[Cell], settings: RunSettings,
                        turn: int) -> list[RunResult | BenchmarkError]:
        """Load every cell, then time them in turns of `turn` runs each (round robin) until
        all are done; `turn` 0 runs one cell after another (one interpreter at a time).
        A RunResult or the BenchmarkError per cell, in order."""
        if turn <= 0:
            results: list[RunResult | BenchmarkError] = []
            for cell in cells:
                try:
                    results.append(self.run(device, cell, settings))
                except BenchmarkError as exc:
                    results.append(exc)
            return results
        timed = [self._load(cell, settings) for cell in cells]
        while not all(t.done for t in timed):
            for t in timed:
                if not t.done:
                    t.run(turn)
        results = []
        for t in timed:
            try:
                results.append(t.result())
            except BenchmarkError as exc:
                results.append(exc)
        return results

    def finish(self, cell: Cell, record: dict[str, Any] | None) -> None:
        """Close the progress of `cell`'s runs with its record."""
        for report in self._reports.pop(cell, []):
            report.finish(record)


def host_sweep(models: Sequence[str | Path], threads: Sequence[int] = (1,), runs: int = 50,
               warmup: int = 5, min_secs: float = 0.0, progress: Any = None,
               interleave: int = 0, allow_nan: bool = False, rules: Any = None,
               out: str | Path | None = None, resume: bool = False,
               target: dict[str, Any] | None = None) -> SweepResult:
    """`run_host_bench` as a sweep: the `SweepResult` (records, cells skipped by `resume`).

    `out`: each finished or failed cell is appended there at once (`bench.store`);
    `resume`: cells `out` already holds as ok are skipped."""
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
    runner = HostRunner(progress, allow_nan, target)
    plan = SweepPlan(models=[Path(m) for m in models], threads=[int(t) for t in threads],
                     delegates=["cpu"], runner=runner,
                     settings=RunSettings(runs=runs, warmup=warmup, min_secs=min_secs),
                     hygiene=HygieneSettings(cooldown_s=0.0, max_wait_s=0.0,
                                             repeats=rules.repeats if rules else 1),
                     out=Path(out) if out else None, resume=resume, rules=rules,
                     interleave=interleave)

    def on_event(serial: str, kind: str, info: dict[str, Any]) -> None:
        if kind in ("done", "fail") and "cell" in info:
            runner.finish(info["cell"], info.get("record"))

    device = HostDevice(target["id"] if target else None)
    return run_sweep(plan, [device], on_event)


def bench_cell(path: str | Path, threads: int, runs: int, warmup: int, min_secs: float,
               progress: Any = None, target: dict[str, Any] | None = None,
               allow_nan: bool = False) -> dict[str, Any]:
    """One `handlite.bench/1` record for `path` at `threads` (a failed record on error)."""
    (record,) = host_sweep([path], [threads], runs, warmup, min_secs, progress,
                           allow_nan=allow_nan, target=target).records
    return record


def run_host_bench(models: Sequence[str | Path], threads: Sequence[int] = (1,), runs: int = 50,
                   warmup: int = 5, min_secs: float = 0.0, progress: Any = None,
                   interleave: int = 0, allow_nan: bool = False,
                   rules: Any = None, out: str | Path | None = None,
                   resume: bool = False) -> list[dict[str, Any]]:
    """Benchmark every model x thread count on this host; one record per cell, in order.

    `progress` is None, a `rich.progress.Progress` (one task per cell), or a callback
    `(event, info)` with events "start", "advance", "done". A cell that fails (e.g. a model
    LiteRT cannot load) gives a `failed` record and the others still run.

    `rules` (a `bench.rules.RunRules`): each cell runs `rules.repeats` times, the median
    repeat is kept (its spread in `hygiene`), and a cell breaking the rules turns `invalid`.

    `interleave` = n > 0 loads every cell first and then runs them in turns of n runs each
    (round robin) until all are done: on a shared or throttling machine the load then falls
    on every cell alike, so ratios between cells stay fair. 0 runs the cells one after another.

    `out` / `resume`: as `host_sweep` (records appended per cell; finished cells skipped).
    """
    return host_sweep(models, threads, runs, warmup, min_secs, progress, interleave,
                      allow_nan, rules, out, resume).records


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


__all__ = ["run_host_bench", "host_sweep", "bench_cell", "HostRunner", "HostProbe", "HostDevice",
           "host_target", "bench_frame", "summary_row"]
