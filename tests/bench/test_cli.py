"""The bench and results commands end to end on the stand-in device."""

import json

import pytest

from handlite.cli.main import main

FAST = ["--rules", "none", "--cooldown", "0", "--thermal-threshold", "90", "--max-wait", "0",
        "--runs", "5",
        "--warmup", "1"]


def _run(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bench_then_results_show_plot_compare_flags_injected_slowdown(
        standin, tiny_models, fake_binary, tmp_path, capsys):
    r1, r2 = tmp_path / "r1.jsonl", tmp_path / "r2.jsonl"
    models = [str(m) for m in tiny_models]
    code, stdout, _ = _run(capsys, "bench", *models, "--device", standin.serial, "--threads",
                           "1,2", "--benchmark-binary", str(fake_binary), "--out", str(r1),
                           *FAST, "--json")
    assert code == 0
    doc = json.loads(stdout)
    assert len(doc["records"]) == 4 and doc["device_s"] > 0

    code, stdout, _ = _run(capsys, "results", "show", str(r1))
    assert code == 0 and "Pixel 7" in stdout and "4 records, 0 failed" in stdout
    code, stdout, _ = _run(capsys, "results", "plot", str(r1), "--out", str(tmp_path / "plots"),
                           "--json")
    assert code == 0
    assert {p.rsplit("/", 1)[1] for p in json.loads(stdout)["files"]} == {"fps.png",
                                                                          "latency.png"}
    assert (tmp_path / "plots" / "fps.png").stat().st_size > 1000

    # the same sweep with every invoke made 10x slower on the phone (a wide margin: a shared
    # CI machine can make one baseline cell noisy)
    (standin.sandbox.state_dir / "benchmark_model.json").write_text(json.dumps({"slowdown": 10}))
    code, _, _ = _run(capsys, "bench", *models, "--device", standin.serial, "--threads", "1,2",
                      "--benchmark-binary", str(fake_binary), "--out", str(r2), *FAST)
    assert code == 0
    code, stdout, stderr = _run(capsys, "results", "compare", str(r1), str(r2),
                                "--threshold", "50%", "--json")
    assert code == 1
    result = json.loads(stdout)
    assert len(result["regressions"]) == 4 and "slower than 50%" in stderr
    # and the other way round is no regression
    code, _, _ = _run(capsys, "results", "compare", str(r2), str(r1), "--threshold", "50%")
    assert code == 0

    code, stdout, _ = _run(capsys, "results", "export", str(r1), "--csv")
    assert code == 0 and len(stdout.strip().splitlines()) == 5


def test_bench_parse_json_and_errors(capsys):
    from pathlib import Path
    fixtures = Path(__file__).parent / "fixtures"
    code, stdout, _ = _run(capsys, "bench", "parse", str(fixtures / "old_summary.txt"), "--json")
    assert code == 0 and json.loads(stdout)["inference_avg_us"] == 79732
    code, stdout, stderr = _run(capsys, "bench", "parse", str(fixtures / "unrelated.txt"))
    assert code == 2 and stdout == "" and "no benchmark_model timings" in stderr


def test_missing_binary_and_bad_delegate_are_usage_errors(tiny_models, tmp_path, capsys):
    code, _, stderr = _run(capsys, "bench", str(tiny_models[0]), "--device", "x:1",
                           "--delegate", "gpuu", "--benchmark-binary", str(tmp_path / "nope"))
    assert code == 2 and "error:" in stderr


@pytest.mark.parametrize("threshold, value", [("5%", 0.05), ("0.1", 0.1), ("20", 0.2)])
def test_threshold_parsing(threshold, value):
    from handlite.bench.compare import parse_threshold
    assert parse_threshold(threshold) == pytest.approx(value)


def test_bench_over_the_direct_transport(standin, tiny_models, fake_binary, capsys):
    # the shared device options: no adb server in the path, adb-shell straight to adbd
    code, stdout, _ = _run(capsys, "bench", str(tiny_models[0]), "--transport", "direct",
                           "--connect", standin.serial, "--benchmark-binary", str(fake_binary),
                           *FAST, "--json")
    assert code == 0
    [record] = json.loads(stdout)["records"]
    assert record["status"] == "ok" and record["stats"]["invoke"]["count"] == 5
    assert record["target"]["model"] == "Pixel 7"
    assert record["target"]["id"].endswith(standin.serial.rsplit(":", 1)[1])
