"""The benchmark_model parser on every output format listed in DESIGN.md (fixtures here)."""

from pathlib import Path

import pytest

from handlite.bench.parser import parse, parse_count_line, parse_file, parse_runs, strip_prefixes
from handlite.errors import BenchmarkError, ParseError

FIX = Path(__file__).parent / "fixtures"


def test_new_format_with_percentiles_and_info_prefix():
    r = parse_file(FIX / "new_percentiles_info.txt")
    assert r["format"] == "new"
    assert r["init_us"] == 41718 and r["first_inference_us"] == 33104
    assert r["warmup_avg_us"] == pytest.approx(28033.6)
    assert r["inference_avg_us"] == pytest.approx(27802.4)
    inf = r["inference"]
    assert (inf["count"], inf["min"], inf["max"], inf["std"]) == (50, 27411, 29877, 412)
    assert (inf["p5"], inf["median"], inf["p95"]) == (27450, 27701, 28760)
    assert r["warmup"]["count"] == 18
    assert r["memory"] == {"init_mb": 21.5898, "overall_mb": 29.0039, "wording": "delta",
                           "peak_mb": None}
    assert r["delegation"]["partial"] is False
    assert r["delegation"]["delegated_nodes"] == r["delegation"]["total_nodes"] == 66


def test_old_summary_without_percentiles():
    r = parse_file(FIX / "old_summary.txt")
    assert r["format"] == "old"
    assert (r["warmup_avg_us"], r["init_us"], r["inference_avg_us"]) == (80014.6, 43412, 79732)
    assert r["inference"]["median"] is None and r["inference"]["avg"] == 79732
    assert r["warmup"]["first"] == 83185 and r["first_inference_us"] == 83185
    assert r["memory"]["wording"] == "peak" and r["memory"]["overall_mb"] == 13.2891
    assert r["delegation"] is None


def test_logcat_threadtime_scientific_single_warmup_partial_gpu():
    r = parse_file(FIX / "logcat_threadtime_gpu_partial.txt")
    assert r["init_us"] == pytest.approx(1.47462e6)
    assert r["first_inference_us"] == pytest.approx(2.95034e6)
    # `count=1 curr=X`: one warm-up run, its value is every statistic
    assert r["warmup"]["count"] == 1 and r["warmup"]["avg"] == 2950340
    assert r["inference"]["median"] == 36702
    assert r["memory"]["peak_mb"] == 135.129 and r["memory"]["overall_mb"] == 121.414
    d = r["delegation"]
    assert (d["delegated_nodes"], d["total_nodes"], d["partial"]) == (52, 66, True)
    assert d["delegate"] == "TfLiteGpuDelegateV2"


def test_logcat_brief_all_same_and_monitor_memory():
    r = parse_file(FIX / "logcat_brief_all_same.txt")
    assert r["warmup"]["avg"] == r["warmup"]["min"] == 4000 and r["warmup"]["std"] == 0
    assert r["inference"]["avg"] == pytest.approx(4031.1)
    assert r["memory"]["peak_mb"] == 48.25 and r["memory"]["wording"] == "monitor"
    assert r["init_us"] == 512500


@pytest.mark.parametrize("name, error, fragment", [
    ("garbled_count.txt", ParseError, ":3:"),
    ("unknown_memory.txt", ParseError, "unknown memory line"),
    ("unrelated.txt", ParseError, "no benchmark_model timings"),
    ("failed_run.txt", BenchmarkError, "Could not open"),
])
def test_unknown_text_is_an_error_never_zero(name, error, fragment):
    with pytest.raises(error, match=None) as info:
        parse_file(FIX / name)
    assert fragment in str(info.value)


def test_count_line_variants():
    assert parse_count_line("count=0")["avg"] is None
    line = parse_count_line("count=3 first=1e+03 curr=2.5E3 min=1000 max=2500 avg=1.75e3 std=7")
    assert line["avg"] == 1750 and line["curr"] == 2500
    with pytest.raises(ParseError, match="unknown timing field"):
        parse_count_line("count=3 first=1 bogus=2")
    with pytest.raises(ParseError):
        parse_count_line("count=3 first=1 min=2 trailing words")


def test_prefix_stripping():
    assert strip_prefixes("11-24 06:00:00.101  8123  8124 I tflite  : count=1 curr=5") == (
        "count=1 curr=5", None)
    assert strip_prefixes("I/tflite  ( 4321): INFO: hello") == ("hello", "INFO")
    assert strip_prefixes("W/tflite: x") == ("x", None)
    assert strip_prefixes("ERROR: Failed") == ("Failed", "ERROR")


def test_count_only_output_and_a_log_with_two_runs():
    single = "count=20 first=10 curr=11 min=9 max=14 avg=11.5 std=1\n"
    assert parse(single)["format"] == "count_lines"
    assert parse(single)["inference_avg_us"] == 11.5
    one = (FIX / "old_summary.txt").read_text()
    two = (FIX / "new_percentiles_info.txt").read_text()
    runs = parse_runs(one + two)
    assert [r["format"] for r in runs] == ["old", "new"]
    assert parse(one + two)["runs_in_log"] == 2


def test_warmup_phase_alone_is_not_an_inference_timing():
    text = ("Running benchmark for at least 1 iterations and at least 0.5 seconds\n"
            "count=4 first=10 curr=11 min=9 max=14 avg=11 std=1\n")
    with pytest.raises(ParseError):
        parse(text)
