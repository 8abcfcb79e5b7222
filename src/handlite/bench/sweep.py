"""Sweeps: every model x threads x delegate on every device, one record per finished cell.

Devices run in parallel (one worker thread each); cells run in series within a device, so two
benchmarks never share a phone. Each finished or failed cell is appended to the JSONL file at
once (atomically, `bench.store`), so a killed harness leaves a valid file and `resume=True`
skips cells already recorded as ok. When a device drops mid-sweep its current cell fails with
the transport error and, if it does not answer again, its remaining cells fail with
"device SERIAL dropped: ..." while the other devices go on.

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
    return store.make_record(model=model, target=target, settings=settings, status="failed",
                             error=error)


class _DeviceWorker:
    def __init__(self, device: Device, plan: SweepPlan, cells: list[Cell],
                 models: dict[Path, dict], done: set[str], emit: EventFn):
        self.device, self.plan, self.cells = device, plan, cells
        self.models, self.done, self.emit = models, done, emit
        self.records: list[dict[str, Any]] = []
        self.skipped = 0
        self.device_s = 0.0
        self.serial = device.serial
        self.snap: dict[str, Any] = {}
        self._next_before: dict[str, Any] | None = None

    def _shell(self, command: str) -> str:
        return sh(self.device, command)[1]

    def _save(self, record: dict[str, Any]) -> None:
        if self.plan.out is not None:
            store.append_record(self.plan.out, record)
        self.records.append(record)

    def _fallback_target(self) -> dict[str, Any]:
        return {"kind": "android", "id": self.serial, "serial": self.serial, "model": None,
                "soc": None, "abi": None, "cpu": None, "cores": None, "os": None,
                "runtime": {"name": self.plan.runner.name, "version": None}}

    def _fail_rest(self, cells: Sequence[Cell], target: dict, reason: str) -> None:
        for cell in cells:
            self._save(_failed_record(cell, target, self.plan, reason, self.models[cell.model]))
            self.emit(self.serial, "fail", {"cell": cell, "error": reason})

    def _alive(self) -> bool:
        try:
            return sh(self.device, "echo alive", timeout=15)[1].strip() == "alive"
        except HandliteError:
            return False

    def run(self) -> None:
        plan = self.plan
        self.emit(self.serial, "start", {"cells": len(self.cells)})
        target = self._fallback_target()
        try:
            # one round trip: props, clusters, governors, thermal, battery, thermal service
            info = self.device.info()
            if info.get("model") is None and info.get("hint"):
                raise DeviceError(info["hint"])
            snap = self.snap = hyg.snapshot_from_info(info)
            plan.runner.prepare(self.device)
            runtime = {"name": plan.runner.name,
                       "version": getattr(plan.runner, "sha", None) and
                       f"sha256:{plan.runner.sha[:12]}"}
            target = device_target(self.serial, info, runtime)
        except HandliteError as exc:
            self._fail_rest(self.cells, target, f"device {self.serial} not usable: {exc}")
            return
        settings = plan.settings
        if plan.pin_big_cores:
            mask = hyg.big_core_mask(snap["clusters"])
            settings = RunSettings(**{**settings.__dict__, "cpu_mask": mask})
        for index, cell in enumerate(self.cells):
            model = self.models[cell.model]
            key = store.cell_key(target["id"], model["sha256"], plan.runner.name,
                                 cell.delegate, cell.threads)
            if key in self.done:
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
                self.emit(self.serial, "fail", {"cell": cell, "error": str(exc)})
                if not self._alive():
                    self._fail_rest(self.cells[index + 1:], target,
                                    f"device {self.serial} dropped: {exc}")
                    return
                continue
            self._save(record)
            self.emit(self.serial, "done" if record["status"] == "ok" else "fail",
                      {"cell": cell, "record": record, "error": record["error"]})
            if index + 1 < len(self.cells):
                hyg.cooldown(plan.hygiene, lambda m: self.emit(self.serial, "wait",
                                                               {"message": m}))

    def _run_cell(self, cell: Cell, model: dict, target: dict,
                  settings: RunSettings) -> dict[str, Any]:
        plan = self.plan
        # per cell only the cheap readings (battery, thermal zones); governors and the
        # thermal service status come from the device's first snapshot
        light = self._next_before or hyg.light_snapshot(self._shell)
        self._next_before = None
        before = {**self.snap, "battery": light["battery"], "hottest": light["hottest"]}
        readings = iter([before["hottest"]])
        gate = hyg.thermal_gate(lambda: next(readings, None) or hyg.hottest_now(self._shell),
                                plan.hygiene,
                                lambda m: self.emit(self.serial, "wait", {"message": m}))
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
        after = hyg.light_snapshot(self._shell)
        after_hottest = after["hottest"]
        if plan.hygiene.cooldown_s == 0:
            # nothing happens before the next cell: this reading is also its "before"
            self._next_before = after
        from handlite.bench.stats import check_stats
        for r in results:
            if r.invalid is None:
                reasons = check_stats(r.stats)
                r.invalid = "; ".join(reasons) if reasons else None
        broken = next((r for r in results if r.invalid), None)
        if broken is not None:
            if parity_input is not None:
                parity_input.output_local.unlink(missing_ok=True)
            run_settings = store.make_settings(plan.runner.name, cell.threads, cell.delegate,
                                               settings.runs, settings.warmup,
                                               settings.min_secs, settings.cpu_mask)
            target = {**target, "runtime": broken.runtime or target["runtime"]}
            return store.make_record(model=model, target=target, settings=run_settings,
                                     status="invalid", error=f"invalid result: {broken.invalid}")
        values = [_repeat_value(r) for r in results]
        # keep the repeat whose result is the median one: a real measurement, not a blend
        order = sorted(range(len(results)), key=lambda i: (values[i] is None, values[i] or 0))
        chosen = results[order[(len(order) - 1) // 2]]
        block, flags = hyg.hygiene_block(before, after_hottest, gate,
                                         plan.hygiene,
                                         values if len(values) > 1 else None)
        flags += chosen.flags + hyg.delegation_flags(chosen.delegation)
        if (chosen.stats.get("invoke") or {}).get("outliers"):
            flags.append("outliers")
        parity = None
        if parity_input is not None:
            parity = plan.parity.check(cell, parity_input.output_local)
            if not parity.get("passed"):
                flags.append("parity")
        run_settings = store.make_settings(plan.runner.name, cell.threads, cell.delegate,
                                           settings.runs, settings.warmup, settings.min_secs,
                                           settings.cpu_mask)
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
