"""Measurement hygiene: the thermal gate, the cooldown between cells and the repeat spread,
alone with a fake clock and inside a sweep on a fake phone whose temperature we set."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlite.bench import hygiene as hyg
from handlite.bench.hygiene import HygieneSettings, cooldown, hygiene_block, thermal_gate
from handlite.bench.rules import RunRules
from handlite.bench.runners import RunResult, Runner
from handlite.bench.stats import stats_from_samples
from handlite.bench.sweep import SweepPlan, run_sweep
from handlite.device.transport import ShellResult
from handlite.errors import UsageError


class FakeClock:
    """monotonic() and sleep() that only move when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _readings(*temps):
    """read_hottest() giving `temps` in turn (None: no readable zone), then the last again."""
    values = list(temps)

    def read():
        value = values.pop(0) if len(values) > 1 else values[0]
        return None if value is None else {"zone": "cpu-big", "temp_c": value}
    return read


# ------------------------------------------------------------------ thermal gate, alone
def test_gate_waits_until_the_temperature_falls_below_the_threshold():
    clock, said = FakeClock(), []
    gate = thermal_gate(_readings(50.0, 47.5, 44.9), HygieneSettings(threshold_c=45.0,
                                                                     poll_s=5.0),
                        said.append, sleep=clock.sleep, clock=clock)
    assert clock.slept == [5.0, 5.0]  # read, wait, read, wait, read: cool
    assert gate == {"threshold_c": 45.0, "start_c": 50.0, "end_c": 44.9, "waited_s": 10.0,
                    "passed": True}
    assert len(said) == 2 and "cpu-big 50.0 C >= 45.0 C" in said[0]
    assert "waited 5/300 s" in said[1]


def test_gate_at_exactly_the_threshold_still_waits():
    clock = FakeClock()
    gate = thermal_gate(_readings(45.0, 44.0), HygieneSettings(threshold_c=45.0, poll_s=2.0),
                        sleep=clock.sleep, clock=clock)
    assert clock.slept == [2.0] and gate["passed"] and gate["end_c"] == 44.0


def test_gate_gives_up_after_its_maximum_wait_and_says_it_did_not_pass():
    clock, said = FakeClock(), []
    settings = HygieneSettings(threshold_c=45.0, poll_s=5.0, max_wait_s=12.0)
    gate = thermal_gate(_readings(60.0), settings, said.append, sleep=clock.sleep, clock=clock)
    # polls every 5 s, the last sleep only up to the deadline, then no more waiting
    assert clock.slept == [5.0, 5.0, 2.0]
    assert gate["passed"] is False and gate["waited_s"] == 12.0
    assert gate["start_c"] == gate["end_c"] == 60.0
    assert len(said) == 3
    # a gate that timed out flags the record `thermal`
    _, flags = hygiene_block({}, {"zone": "cpu-big", "temp_c": 40.0}, gate, settings)
    assert flags == ["thermal"]


def test_gate_without_a_maximum_wait_measures_at_once():
    clock = FakeClock()
    gate = thermal_gate(_readings(80.0), HygieneSettings(max_wait_s=0.0), sleep=clock.sleep,
                        clock=clock)
    assert clock.slept == [] and gate["passed"] is False and gate["waited_s"] == 0.0


@pytest.mark.parametrize("temps", [(30.0,), (None,)])
def test_a_cool_device_or_one_without_thermal_zones_passes_without_waiting(temps):
    clock = FakeClock()
    gate = thermal_gate(_readings(*temps), HygieneSettings(), sleep=clock.sleep, clock=clock)
    assert clock.slept == [] and gate["passed"] is True
    assert gate["start_c"] == temps[0] and gate["waited_s"] == 0.0


def test_gate_passes_when_the_zones_stop_reading_while_it_waits():
    clock = FakeClock()
    gate = thermal_gate(_readings(50.0, None), HygieneSettings(poll_s=1.0), sleep=clock.sleep,
                        clock=clock)
    assert clock.slept == [1.0] and gate["passed"] and gate["end_c"] is None


# ------------------------------------------------------------------ cooldown, alone
def test_cooldown_sleeps_its_seconds_and_says_so():
    slept, said = [], []
    assert cooldown(HygieneSettings(cooldown_s=90.0), said.append, sleep=slept.append) == 90.0
    assert slept == [90.0] and said == ["cooldown 90 s"]


def test_zero_cooldown_does_not_sleep():
    slept, said = [], []
    assert cooldown(HygieneSettings(cooldown_s=0.0), said.append, sleep=slept.append) == 0.0
    assert slept == [] and said == []


@pytest.mark.parametrize("kwargs", [dict(cooldown_s=-1), dict(max_wait_s=-1), dict(poll_s=-1),
                                    dict(max_spread=-0.1), dict(repeats=0)])
def test_settings_refuse_negative_times_and_no_repeats(kwargs):
    with pytest.raises(UsageError):
        HygieneSettings(**kwargs)


# ------------------------------------------------------------------ repeat spread, alone
def test_spread_above_the_limit_flags_the_record():
    settings = HygieneSettings(max_spread=0.10)
    block, flags = hygiene_block({}, None, None, settings, [10.0, 12.0, 10.5])
    assert flags == ["repeat_spread"]
    assert block["repeats"] == 3 and block["repeat_results_ms"] == [10.0, 12.0, 10.5]
    assert block["repeat_spread"] == pytest.approx(2.0 / 10.5)


def test_spread_within_the_limit_or_at_it_does_not_flag():
    settings = HygieneSettings(max_spread=0.10)
    _, flags = hygiene_block({}, None, None, settings, [10.0, 10.4, 10.2])
    assert flags == []
    _, flags = hygiene_block({}, None, None, settings, [10.0, 11.0, 10.0])  # exactly 10%
    assert flags == []


def test_one_run_has_no_spread():
    block, flags = hygiene_block({}, None, None, HygieneSettings(), None)
    assert flags == [] and block["repeats"] == 1 and block["repeat_spread"] is None


def test_hot_after_the_run_flags_thermal_even_when_the_gate_passed():
    gate = {"threshold_c": 45.0, "start_c": 40.0, "end_c": 40.0, "waited_s": 0.0,
            "passed": True}
    settings = HygieneSettings(threshold_c=45.0)
    _, flags = hygiene_block({}, {"zone": "cpu-big", "temp_c": 45.0}, gate, settings)
    assert flags == ["thermal"]
    _, flags = hygiene_block({}, {"zone": "cpu-big", "temp_c": 44.9}, gate, settings)
    assert flags == []


# ------------------------------------------------------------------ inside a sweep
class FakePhone:
    """A device whose hottest zone reads the next of `temps` at each thermal reading."""

    serial = "fake-phone"

    def __init__(self, temps):
        self.temps = list(temps)
        self.reads = 0

    def info(self):
        return {"model": "Fake", "soc": "F1", "abis": ["arm64-v8a"], "release": "14",
                "sdk": 34, "cpu_clusters": [{"cpus": [0, 1], "cores": 2, "max_khz": 2000000,
                                             "governor": "schedutil"}],
                "thermal_zones": [{"zone": "thermal_zone0", "type": "cpu-big",
                                   "temp_c": self.temps[0]}],
                "battery": {"level_pct": 80, "temp_c": 30.0, "charging": False,
                            "plugged": False},
                "thermal_status": 0}

    def shell(self, command, timeout=None):
        if "thermal_zone" not in command:
            return ShellResult(0, "", "")
        temp = self.temps.pop(0) if len(self.temps) > 1 else self.temps[0]
        self.reads += 1
        zone = f"thermal_zone0|cpu-big|{int(temp * 1000)}\n"
        if "@@battery" in command:
            return ShellResult(0, f"@@battery\n  level: 80\n@@thermal\n{zone}@@end\n", "")
        return ShellResult(0, zone, "")


class FakeRunner(Runner):
    """Each run's invoke samples are `medians[i] * (1, 1, 1)`, run after run."""

    name = "benchmark_model"

    def __init__(self, medians):
        self.medians = list(medians)
        self.calls = 0

    def run(self, device, cell, settings, parity=None):
        value = self.medians[self.calls % len(self.medians)]
        self.calls += 1
        return RunResult(stats=stats_from_samples([value] * 3), device_s=0.0)


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "handlite_32_float32.tflite"
    path.write_bytes(b"not read by the fake runner")
    return path


@pytest.fixture
def fake_time(monkeypatch):
    """The sweep's gate and cooldown on a fake clock (no real sleeping)."""
    clock = FakeClock()
    gate, cool = hyg.thermal_gate, hyg.cooldown
    monkeypatch.setattr(hyg, "thermal_gate", lambda read, settings, progress=None: gate(
        read, settings, progress, sleep=clock.sleep, clock=clock))
    monkeypatch.setattr(hyg, "cooldown", lambda settings, progress=None: cool(
        settings, progress, sleep=clock.sleep))
    return clock


def _sweep(model, phone, runner, threads=(1,), **hygiene):
    plan = SweepPlan(models=[model], threads=list(threads), delegates=["cpu"], runner=runner,
                     hygiene=HygieneSettings(**hygiene))
    events = []
    result = run_sweep(plan, [phone], lambda s, kind, info: events.append((kind, info)))
    return result, [info["message"] for kind, info in events if kind == "wait"]


def test_sweep_waits_for_a_hot_phone_before_the_cell(model, fake_time):
    # the first light reading 52 C, then the gate's polls 49 and 44 C; after the run 41 C
    phone = FakePhone([52.0, 49.0, 44.0, 41.0])
    result, waits = _sweep(model, phone, FakeRunner([5.0]), threshold_c=45.0, poll_s=10.0,
                           cooldown_s=0.0)
    (record,) = result.records
    assert record["status"] == "ok"
    gate = record["hygiene"]["gate"]
    assert gate["start_c"] == 52.0 and gate["end_c"] == 44.0 and gate["passed"]
    assert gate["waited_s"] == 20.0 and fake_time.slept == [10.0, 10.0]
    assert "thermal" not in record["flags"]
    assert len([w for w in waits if w.startswith("cooling")]) == 2


def test_sweep_measures_a_phone_that_stays_hot_and_flags_thermal(model, fake_time):
    phone = FakePhone([70.0])
    result, _ = _sweep(model, phone, FakeRunner([5.0]), threshold_c=45.0, poll_s=5.0,
                       max_wait_s=15.0, cooldown_s=0.0)
    (record,) = result.records
    assert record["status"] == "ok" and "thermal" in record["flags"]
    assert record["hygiene"]["gate"]["passed"] is False
    assert sum(fake_time.slept) == 15.0  # gave up at the maximum wait, then measured


def test_sweep_cools_down_between_cells_but_not_after_the_last(model, fake_time):
    phone = FakePhone([30.0])
    result, waits = _sweep(model, phone, FakeRunner([5.0]), threads=(1, 2, 4),
                           cooldown_s=120.0)
    assert [r["status"] for r in result.records] == ["ok"] * 3
    assert fake_time.slept == [120.0, 120.0]
    assert waits.count("cooldown 120 s") == 2
    assert all(r["hygiene"]["cooldown_s"] == 120.0 for r in result.records)


def test_sweep_repeats_keep_the_median_repeat_and_flag_a_wide_spread(model, fake_time):
    runner = FakeRunner([12.0, 10.0, 11.0])
    result, _ = _sweep(model, FakePhone([30.0]), runner, repeats=3, max_spread=0.10,
                       cooldown_s=0.0)
    (record,) = result.records
    assert runner.calls == 3
    assert record["stats"]["invoke"]["median_ms"] == 11.0  # the median repeat, not a blend
    assert record["hygiene"]["repeats"] == 3
    assert record["hygiene"]["repeat_results_ms"] == [12.0, 10.0, 11.0]
    assert record["hygiene"]["repeat_spread"] == pytest.approx(2.0 / 11.0)
    assert "repeat_spread" in record["flags"] and record["status"] == "ok"


def test_sweep_repeats_that_agree_are_not_flagged(model, fake_time):
    result, _ = _sweep(model, FakePhone([30.0]), FakeRunner([10.0, 10.1, 10.2]), repeats=3,
                       max_spread=0.10, cooldown_s=0.0)
    (record,) = result.records
    assert "repeat_spread" not in record["flags"]
    assert record["hygiene"]["repeat_spread"] == pytest.approx(0.2 / 10.1)


def test_rules_with_a_spread_limit_turn_disagreeing_repeats_invalid(model, fake_time):
    rules = RunRules("strict", min_secs=0.0, min_runs=3, repeats=3, max_spread=0.05)
    plan = SweepPlan(models=[model], threads=[1], delegates=["cpu"],
                     runner=FakeRunner([12.0, 10.0, 11.0]),
                     hygiene=HygieneSettings(repeats=3, cooldown_s=0.0), rules=rules)
    (record,) = run_sweep(plan, [FakePhone([30.0])]).records
    assert record["status"] == "invalid" and "repeats disagree by 18.2% > 5%" in record["error"]
    assert record["stats"]["invoke"]["median_ms"] == 11.0  # the numbers stay, marked
