"""Run rules: presets, overrides, and a cell that breaks them recorded `invalid`."""

import json

import pytest

from handlite.bench import rules
from handlite.bench.stats import stats_from_samples
from handlite.bench.store import make_record, make_settings
from handlite.errors import UsageError



def _record(samples):
    return make_record(model={"name": "m.tflite", "sha256": "ef" * 32},
                       target={"kind": "host", "id": "host:ci"},
                       settings=make_settings("host", 1), stats=stats_from_samples(samples))


def test_presets_and_overrides():
    assert rules.resolve() == rules.RunRules("quick", 1.0, 50, 1, None)
    ml = rules.resolve("mlperf")
    assert (ml.min_secs, ml.min_runs, ml.repeats, ml.max_spread) == (60.0, 1024, 5, 0.05)
    assert rules.resolve("mlperf", min_secs=5).min_secs == 5
    with pytest.raises(UsageError, match="mlperff"):
        rules.resolve("mlperff")
    assert rules.runs_for(rules.resolve(), None) == 50
    with pytest.raises(UsageError, match="--rules none"):
        rules.runs_for(rules.resolve(), 5)


def test_a_short_cell_is_invalid_with_its_numbers_kept():
    quick = rules.resolve()
    ok = rules.apply(_record([25.0] * 50), quick)  # 50 runs, 1.25 s
    assert ok["status"] == "ok" and ok["settings"]["rules"]["name"] == "quick"
    short = rules.apply(_record([2.0] * 50), quick)  # 0.1 s
    assert short["status"] == "invalid" and "timed 0.10 s < 1 s" in short["error"]
    assert short["stats"]["invoke"]["count"] == 50 and "rules" in short["flags"]
    few = rules.apply(_record([30.0] * 10), quick)
    assert "10 timed runs < 50" in few["error"]


def test_mlperf_repeats_must_agree_within_5_percent():
    ml = rules.resolve("mlperf", min_secs=0, min_runs=3)
    assert rules.violations(stats_from_samples([10.0] * 3), ml, [10, 10.2, 10.1, 10, 10.3]) == []
    (reason,) = rules.violations(stats_from_samples([10.0] * 3), ml, [10, 11, 10, 10, 10])
    assert "repeats disagree by 10.0% > 5%" in reason
    assert "2 repeats < 5" in rules.violations(stats_from_samples([10.0] * 3), ml, [10, 10])[0]


def test_stand_in_phone_records_a_too_short_cell_invalid(standin, tiny_models, fake_binary,
                                                         run_cli):
    args = ["bench", str(tiny_models[0]), "--device", standin.serial, "--benchmark-binary",
            str(fake_binary), "--cooldown", "0", "--thermal-threshold", "90", "--max-wait", "0",
            "--warmup", "1", "--json"]
    # the tool honours --min_secs, so 20 runs over at least 0.2 s keep these rules
    code, stdout, _ = run_cli(*args, "--min-runs", "20", "--min-secs", "0.2")
    doc = json.loads(stdout)
    assert code == 0, doc
    (record,) = doc["records"]
    assert record["status"] == "ok" and record["settings"]["rules"]["min_runs"] == 20
    # a tool that stops early (its --max_secs cap) breaks them: invalid, exit 1
    (standin.sandbox.state_dir / "benchmark_model.json").write_text(
        json.dumps({"max_secs": 0.3}))
    code, stdout, _ = run_cli(*args, "--min-runs", "20", "--min-secs", "2")
    doc = json.loads(stdout)
    assert code == 1
    (record,) = doc["records"]
    assert record["status"] == "invalid" and "< 2 s" in record["error"]
    assert record["stats"]["invoke"]["count"] >= 20  # the numbers stay, marked


def test_host_mlperf_preset_repeats_and_records_rules(tiny_models, run_cli):
    code, stdout, _ = run_cli("bench", str(tiny_models[0]), "--device", "host", "--rules", "mlperf",
                              "--min-secs", "0", "--min-runs", "5", "--warmup", "0", "--json")
    doc = json.loads(stdout)
    (record,) = doc["records"]
    assert record["settings"]["rules"]["name"] == "mlperf"
    assert record["hygiene"]["repeats"] == 5 and len(record["hygiene"]["repeat_results_ms"]) == 5
    # valid only when the 5 repeats agreed within 5%: either way it says which
    assert (record["status"] == "ok") == (record["hygiene"]["repeat_spread"] <= 0.05)
    assert code == (0 if record["status"] == "ok" else 1)
