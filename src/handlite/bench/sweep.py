"""Sweeps: every model x threads x delegate on every device, one record per finished cell.

Devices run in parallel (one worker thread each); cells run in series within a device, so two
benchmarks never share a phone. Each finished or failed cell is appended to the JSONL file at
once (atomically, `bench.store`), so a killed harness leaves a valid file and `resume=True`
skips cells already recorded as ok. When a device drops mid-sweep its current cell fails with
the transport error and, if it does not answer again, its remaining cells fail with
"device SERIAL dropped: ..." while the other devices go on.

The host is one more target: `bench.host.HostRunner` runs the cells on this machine through
the same loop and the same record saving. What differs between a phone and the host is how
their state is read around a cell (a phone's battery, thermal zones and governors; the host's
load average): a `Probe`, which a runner names (`Runner.probe`; None gives `PhoneProbe`).
A runner with `run_interleaved` (the host's) can time a device's cells in turns
(`SweepPlan.interleave`) and repeats them in rounds over all cells: load from other work then
falls on every cell alike.

Times: `wall_s` is the sweep's wall time, `device_s` the summed wall time of the on-device
benchmark commands (what `benchmarks/sweep_overhead.py` compares).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlite.bench import hygiene as hyg
from handlite.bench import rules as run_rules
from handlite.bench import store
from handlite.bench.runners import Cell, Device, RunResult, RunSettings, Runner, sh
from handlite.bench.stats import check_stats
from handlite.errors import BenchmarkError, DeviceError, HandliteError, InputError

_log = logging.getLogger("handlite.bench.sweep")

#: on_event(serial, kind, info): kinds "start", "cell", "done", "skip", "fail", "wait", "end"
EventFn = Callable[[str, str, dict[str, Any]], None]


@dataclass
class SweepPlan:
    models: list[Path]
    threads: list[int]
    delegates: list[str]
    runner: Runner
    settings: RunSettings = field(default_factory=RunSettings)
    hygiene: hyg.HygieneSettings = field(default_factory=hyg.HygieneSettings)
    out: Path | None = None
    resume: bool = False
    pin_big_cores: bool = False
    parity: Any = None  # bench.device_parity.DeviceParity or None
    #: a cell breaking these is recorded `invalid` (None: no rules, the old behaviour)
    rules: run_rules.RunRules | None = None
    #: n > 0 with a runner that has `run_interleaved`: a device's cells are loaded together
    #: and timed in turns of n runs each until all are done; 0 runs them one after another.
    #: Such a runner also repeats cells in rounds over all cells, not cell by cell
    interleave: int = 0

    def cells(self) -> list[Cell]:
        for m in self.models:
            if not Path(m).is_file():
                raise InputError(f"model file not found: {m}")
        return [Cell(Path(m), t, d) for m in self.models for d in self.delegates
                for t in self.threads]


@dataclass
class SweepResult:
    records: list[dict[str, Any]]
    skipped: int
    wall_s: float
    device_s: float

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def invalid(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "invalid"]


def device_target(serial: str, info: dict[str, Any], runtime: dict[str, Any]) -> dict:
    """The record's `target` block for an Android device, from `Device.info()`."""
    release, sdk = info.get("release"), info.get("sdk")
    cores = sum(c["cores"] for c in info.get("cpu_clusters") or []) or None
    return {"kind": "android", "id": serial, "serial": serial, "model": info.get("model"),
            "soc": info.get("soc"), "abi": (info.get("abis") or [None])[0],
            "cpu": None, "cores": cores,
            "os": f"Android {release} (SDK {sdk})" if release else None,
            "runtime": runtime}


def _repeat_value(result: RunResult) -> float | None:
    inv = result.stats.get("invoke") or {}
    return inv.get("median_ms") if inv.get("median_ms") is not None else inv.get("mean_ms")


def _failed_record(cell: Cell, target: dict, plan: SweepPlan, error: str,
                   model: dict) -> dict[str, Any]:
    settings = store.make_settings(plan.runner.name, cell.threads, cell.delegate,
                                   plan.settings.runs, plan.settings.warmup,
                                   plan.settings.min_secs, plan.settings.cpu_mask)
    record = store.make_record(model=model, target=target, settings=settings, status="failed",
                               error=error)
    if plan.rules is not None:  # a failed cell was held to the rules too (they stay failed)
        run_rules.apply(record, plan.rules)
    return record


class Probe:
    """How a sweep reads the place its cells run: the target block once, the state before and
    after each cell, and the record's `hygiene` block and flags from them."""

    def fallback_target(self) -> dict[str, Any]:
        """The target block when `open` failed (records still name where they were to run)."""
        raise NotImplementedError

    def open(self) -> dict[str, Any]:
        """Get ready and return the target block (a HandliteError fails every cell)."""
        raise NotImplementedError

    def settings(self, settings: RunSettings) -> RunSettings:
        """The run settings for this target (e.g. a taskset mask for its big cores)."""
        return settings

    def before(self, cell: Cell) -> Any:
        """The state before `cell` (may wait until the target is fit to measure)."""
        return None

    def after(self, before: Any) -> Any:
        """The state after the cell that `before` started."""
        return None

    def repeat_value(self, result: RunResult) -> float | None:
        """The number repeats of one cell are compared by (the median repeat is kept)."""
        return _repeat_value(result)

    def hygiene(self, cell: Cell, before: Any, after: Any, result: RunResult,
                repeats: list[float | None] | None) -> tuple[dict[str, Any] | None, list[str]]:
        """The record's `hygiene` block and flags for `cell`'s kept `result` (`repeats`: the
        values of 2+ repeats)."""
        return None, []

    def alive(self) -> bool:
        """Whether the target still answers (after a transport error)."""
        return True


class PhoneProbe(Probe):
    """A phone: `Device.info()` once (battery, thermal zones, governors, thermal service),
    then per cell a light battery + thermal reading before and after it, and the thermal
    gate before it (`bench.hygiene`)."""

    def __init__(self, device: Device, plan: SweepPlan, say: Callable[[str], None]):
        self.device, self.plan, self.say = device, plan, say
        self.serial = device.serial
        self.snap: dict[str, Any] = {}
        self._next_before: dict[str, Any] | None = None

    def _shell(self, command: str) -> str:
        return sh(self.device, command)[1]

    def fallback_target(self) -> dict[str, Any]:
        return {"kind": "android", "id": self.serial, "serial": self.serial, "model": None,
                "soc": None, "abi": None, "cpu": None, "cores": None, "os": None,
                "runtime": {"name": self.plan.runner.name, "version": None}}

    def open(self) -> dict[str, Any]:
        plan = self.plan
        # one round trip: props, clusters, governors, thermal, battery, thermal service
        info = self.device.info()
        if info.get("model") is None and info.get("hint"):
            raise DeviceError(info["hint"])
        self.snap = hyg.snapshot_from_info(info)
        plan.runner.prepare(self.device)
        runtime = {"name": plan.runner.name,
                   "version": getattr(plan.runner, "sha", None) and
                   f"sha256:{plan.runner.sha[:12]}"}
        return device_target(self.serial, info, runtime)

    def settings(self, settings: RunSettings) -> RunSettings:
        if self.plan.pin_big_cores:
            mask = hyg.big_core_mask(self.snap["clusters"])
            settings = RunSettings(**{**settings.__dict__, "cpu_mask": mask})
        return settings

    def before(self, cell: Cell) -> tuple[dict[str, Any], dict[str, Any]]:
        # per cell only the cheap readings (battery, thermal zones); governors and the
        # thermal service status come from the device's first snapshot
        light = self._next_before or hyg.light_snapshot(self._shell)
        self._next_before = None
        before = {**self.snap, "battery": light["battery"], "hottest": light["hottest"]}
        readings = iter([before["hottest"]])
        gate = hyg.thermal_gate(lambda: next(readings, None) or hyg.hottest_now(self._shell),
                                self.plan.hygiene, self.say)
        return before, gate

    def after(self, before: Any) -> dict[str, Any] | None:
        after = hyg.light_snapshot(self._shell)
        if self.plan.hygiene.cooldown_s == 0:
            # nothing happens before the next cell: this reading is also its "before"
            self._next_before = after
        return after["hottest"]

    def hygiene(self, cell: Cell, before: Any, after: Any, result: RunResult,
                repeats: list[float | None] | None) -> tuple[dict[str, Any] | None, list[str]]:
        state, gate = before
        block, flags = hyg.hygiene_block(state, after, gate, self.plan.hygiene, repeats)
        if (result.stats.get("invoke") or {}).get("outliers"):
            flags.append("outliers")
        return block, flags

    def alive(self) -> bool:
        try:
            return sh(self.device, "echo alive", timeout=15)[1].strip() == "alive"
        except HandliteError:
            return False


class _DeviceWorker:
    def __init__(self, device: Device, plan: SweepPlan, cells: list[Cell],
                 models: dict[Path, dict], done: set[str], emit: EventFn):
        self.device, self.plan, self.cells = device, plan, cells
        self.models, self.done, self.emit = models, done, emit
        self.records: list[dict[str, Any]] = []
        self.skipped = 0
        self.device_s = 0.0
        self.serial = device.serial
        say = self._say
        make = getattr(plan.runner, "probe", None)
        self.probe: Probe = (make and make(device, plan, say)) or PhoneProbe(device, plan, say)

    def _say(self, message: str) -> None:
        self.emit(self.serial, "wait", {"message": message})

    def _save(self, record: dict[str, Any]) -> None:
        if self.plan.out is not None:
            store.append_record(self.plan.out, record)
        self.records.append(record)

    def _fallback_target(self) -> dict[str, Any]:
        return self.probe.fallback_target()

    def _fail_rest(self, cells: Sequence[Cell], target: dict, reason: str) -> None:
        for cell in cells:
            record = _failed_record(cell, target, self.plan, reason, self.models[cell.model])
            self._save(record)
            self.emit(self.serial, "fail", {"cell": cell, "error": reason, "record": record})

    def _alive(self) -> bool:
        return self.probe.alive()

    def _key(self, cell: Cell, target: dict) -> str:
        return store.cell_key(target["id"], self.models[cell.model]["sha256"],
                              self.plan.runner.name, cell.delegate, cell.threads)

    def run(self) -> None:
        plan = self.plan
        self.emit(self.serial, "start", {"cells": len(self.cells)})
        target = self._fallback_target()
        try:
            target = self.probe.open()
        except HandliteError as exc:
            self._fail_rest(self.cells, target, f"device {self.serial} not usable: {exc}")
            return
        settings = self.probe.settings(plan.settings)
        if hasattr(plan.runner, "run_interleaved") and (plan.interleave
                                                        or plan.hygiene.repeats > 1):
            self._run_turns(target, settings)
            return
        for index, cell in enumerate(self.cells):
            model = self.models[cell.model]
            if self._key(cell, target) in self.done:
                self.skipped += 1
                self.emit(self.serial, "skip", {"cell": cell})
                continue
            self.emit(self.serial, "cell", {"cell": cell, "index": index})
            try:
                record = self._run_cell(cell, model, target, settings)
            except (BenchmarkError, InputError) as exc:
                record = _failed_record(cell, target, plan, str(exc), model)
            except DeviceError as exc:
                record = _failed_record(cell, target, plan, str(exc), model)
                self._save(record)
                self.emit(self.serial, "fail", {"cell": cell, "error": str(exc),
                                                "record": record})
                if not self._alive():
                    self._fail_rest(self.cells[index + 1:], target,
                                    f"device {self.serial} dropped: {exc}")
                    return
                continue
            self._finished(cell, record)
            if index + 1 < len(self.cells):
                hyg.cooldown(plan.hygiene, self._say)

    def _finished(self, cell: Cell, record: dict[str, Any]) -> None:
        self._save(record)
        self.emit(self.serial, "done" if record["status"] == "ok" else "fail",
                  {"cell": cell, "record": record, "error": record["error"]})

    def _run_turns(self, target: dict, settings: RunSettings) -> None:
        """Every cell not yet done, timed in turns of `plan.interleave` runs (0: one cell
        after another); each repeat is one more round over all of them, so a drift in
        the machine's load shows in every cell's repeats alike."""
        plan = self.plan
        todo = []
        for index, cell in enumerate(self.cells):
            if self._key(cell, target) in self.done:
                self.skipped += 1
                self.emit(self.serial, "skip", {"cell": cell})
            else:
                self.emit(self.serial, "cell", {"cell": cell, "index": index})
                todo.append(cell)
        if not todo:
            return
        states = [self.probe.before(cell) for cell in todo]
        rounds = []
        for _ in range(plan.hygiene.repeats):
            start = time.perf_counter()
            rounds.append(plan.runner.run_interleaved(self.device, todo, settings,
                                                      plan.interleave))
            self.device_s += time.perf_counter() - start
        for i, cell in enumerate(todo):
            model = self.models[cell.model]
            results = [r[i] for r in rounds]
            after = self.probe.after(states[i])
            error = next((r for r in results if isinstance(r, BaseException)), None)
            if error is not None:
                record = _failed_record(cell, target, plan, str(error), model)
            else:
                record = self._record(cell, model, target, settings, results, states[i],
                                      after, None)
            self._finished(cell, record)

    def _run_cell(self, cell: Cell, model: dict, target: dict,
                  settings: RunSettings) -> dict[str, Any]:
        plan = self.plan
        before = self.probe.before(cell)
        parity_input = plan.parity.input_for(cell) if plan.parity is not None else None
        results: list[RunResult] = []
        try:
            for _ in range(plan.hygiene.repeats):
                result = plan.runner.run(self.device, cell, settings, parity_input)
                self.device_s += result.device_s
                results.append(result)
        except BaseException:
            if parity_input is not None:
                parity_input.output_local.unlink(missing_ok=True)
            raise
        after = self.probe.after(before)
        return self._record(cell, model, target, settings, results, before, after,
                            parity_input)

    def _record(self, cell: Cell, model: dict, target: dict, settings: RunSettings,
                results: list[RunResult], before: Any, after: Any,
                parity_input: Any) -> dict[str, Any]:
        """One record from a cell's repeats: `invalid` when a repeat's numbers cannot be
        real, else the median repeat with the hygiene block, flags, parity and rules."""
        plan = self.plan
        for r in results:
            if r.invalid is None:
                reasons = check_stats(r.stats)
                r.invalid = "; ".join(reasons) if reasons else None
        run_settings = store.make_settings(plan.runner.name, cell.threads, cell.delegate,
                                           settings.runs, settings.warmup, settings.min_secs,
                                           settings.cpu_mask)
        broken = next((r for r in results if r.invalid), None)
        if broken is not None:
            if parity_input is not None:
                parity_input.output_local.unlink(missing_ok=True)
            target = {**target, "runtime": broken.runtime or target["runtime"]}
            return store.make_record(model=model, target=target, settings=run_settings,
                                     status="invalid", error=f"invalid result: {broken.invalid}")
        values = [self.probe.repeat_value(r) for r in results]
        # keep the repeat whose result is the median one: a real measurement, not a blend
        order = sorted(range(len(results)), key=lambda i: (values[i] is None, values[i] or 0))
        chosen = results[order[(len(order) - 1) // 2]]
        block, flags = self.probe.hygiene(cell, before, after, chosen,
                                          values if len(values) > 1 else None)
        flags += chosen.flags + hyg.delegation_flags(chosen.delegation)
        parity = None
        if parity_input is not None:
            parity = plan.parity.check(cell, parity_input.output_local)
            if not parity.get("passed"):
                flags.append("parity")
        target = {**target, "runtime": chosen.runtime or target["runtime"]}
        record = store.make_record(model=model, target=target, settings=run_settings,
                                   stats=chosen.stats, samples_ms=chosen.samples_ms,
                                   delegation=chosen.delegation, hygiene=block, flags=flags,
                                   parity=parity, op_profile=chosen.op_profile)
        if plan.rules is not None:
            run_rules.apply(record, plan.rules, values)
        return record


def _guarded(worker: _DeviceWorker) -> None:
    # a bug in one worker must not silently drop a device's cells: they fail, with the reason
    try:
        worker.run()
    except Exception as exc:  # noqa: BLE001
        seen = {(r["cell"]) for r in worker.records}
        rest = [c for c in worker.cells if store.cell_key(
            worker.serial, worker.models[c.model]["sha256"], worker.plan.runner.name,
            c.delegate, c.threads) not in seen]
        worker._fail_rest(rest, worker._fallback_target(),
                          f"internal error on {worker.serial}: {type(exc).__name__}: {exc}")


def run_sweep(plan: SweepPlan, devices: Sequence[Device],
              on_event: EventFn | None = None) -> SweepResult:
    """Run `plan` on `devices` (see module docstring). Returns every record written."""
    cells = plan.cells()
    models = {cell.model: store.model_info(cell.model) for cell in cells}
    done = store.finished_cells(plan.out) if (plan.resume and plan.out) else set()
    lock = threading.Lock()

    def emit(serial: str, kind: str, info: dict[str, Any]) -> None:
        if on_event is not None:
            with lock:  # the view is updated from every worker
                try:
                    on_event(serial, kind, info)
                except Exception:  # noqa: BLE001
                    # a broken view must not fail the next healthy cell as "internal error";
                    # the records are the result, the view only shows them
                    _log.warning("progress view failed on a %s event", kind, exc_info=True)

    start = time.perf_counter()
    workers = [_DeviceWorker(d, plan, cells, models, done, emit) for d in devices]
    threads = [threading.Thread(target=_guarded, args=(w,), name=f"bench-{w.serial}",
                                daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        emit(w.serial, "end", {})
    return SweepResult(records=[r for w in workers for r in w.records],
                       skipped=sum(w.skipped for w in workers),
                       wall_s=time.perf_counter() - start,
                       device_s=sum(w.device_s for w in workers))
