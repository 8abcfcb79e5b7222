"""Op profiles: the tool's documented table and CSV layouts, and the stand-in phone's."""

import json

import pytest

from handlite.bench.op_profile import diff_profiles, parse_op_profile, top_ops
from handlite.errors import ParseError

# the newer tab layout (no [start]), with INFO: prefixes, a warm-up profile first
NEW = """INFO: Operator-wise Profiling Info for Warmup Runs:
INFO: ============================== Run Order ==============================
INFO: \t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
INFO: \t                 CONV_2D\t    9.000\t    9.000\t 90.000%\t 90.000%\t     0.000\t        1\t[warm/conv]
INFO: \t                 SOFTMAX\t    1.000\t    1.000\t 10.000%\t100.000%\t     0.000\t        1\t[warm/softmax]
INFO:
INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
INFO: ============================== Run Order ==============================
INFO: \t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
INFO: \t                 CONV_2D\t    2.100\t    2.000\t 50.000%\t 50.000%\t     0.000\t        1\t[net/conv 1]
INFO: \t       DEPTHWISE_CONV_2D\t    1.100\t    1.000\t 25.000%\t 75.000%\t     0.000\t        1\t[net/dw]
INFO: \t                 CONV_2D\t    0.900\t    1.000\t 25.000%\t100.000%\t    12.500\t        1\t[net/conv 2]
INFO:
INFO: ============================== Top by Computation Time ==============================
INFO: \t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
INFO: \t                 CONV_2D\t    2.100\t    2.000\t 50.000%\t 50.000%\t     0.000\t        1\t[net/conv 1]
INFO:
INFO: Number of nodes executed: 3
INFO: ============================== Summary by node type ==============================
INFO: \t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
INFO: \t                 CONV_2D\t        2\t     3.000\t    75.000%\t    75.000%\t    12.500\t        2
INFO: \t       DEPTHWISE_CONV_2D\t        1\t     1.000\t    25.000%\t   100.000%\t     0.000\t        1
INFO:
INFO: Timings (microseconds): count=50 first=4100 curr=4000 min=3900 max=4300 avg=4000 std=80
INFO: Memory (bytes): count=0
INFO: 3 nodes observed
"""

# the older tab layout: a [start] column, no warm-up profile
OLD = """============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t            0.000\t    4.000\t    3.500\t 70.000%\t 70.000%\t     0.000\t        0\t[a/Conv2d_0/Relu6]
\t                 RESHAPE\t            3.500\t    1.500\t    1.500\t 30.000%\t100.000%\t     0.000\t        0\t[a/Reshape]

Timings (microseconds): count=10 first=5500 curr=5000 min=4900 max=5600 avg=5000 std=100
"""

# the CSV layout (--op_profiling_output_mode=csv); a name with a comma
CSV = """============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
CONV_2D, 0.500, 0.400, 80.000%, 80.000%, 0.000, 1, net/conv,fused
ADD, 0.100, 0.100, 20.000%, 100.000%, 0.000, 1, net/add
"""


def test_newer_table_takes_the_regular_runs_and_the_type_summary():
    p = parse_op_profile(NEW)
    assert p["format"] == "table" and p["nodes"] == 3 and p["total_avg_ms"] == 4.0
    assert [o["name"] for o in p["ops"]] == ["net/conv 1", "net/dw", "net/conv 2"]
    assert p["ops"][2]["mem_kb"] == 12.5 and p["ops"][0]["first_ms"] == 2.1
    assert [t["node_type"] for t in p["by_type"]] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert p["by_type"][0]["count"] == 2 and p["by_type"][0]["avg_ms"] == 3.0
    assert top_ops(p, 1)[0]["name"] == "net/conv 1"


def test_older_table_with_start_and_csv():
    old = parse_op_profile(OLD)
    assert old["format"] == "table_start" and old["ops"][1]["start_ms"] == 3.5
    assert old["total_avg_ms"] == 5.0 and old["by_type"] == []
    csv = parse_op_profile(CSV)
    assert csv["format"] == "csv" and csv["ops"][0]["name"] == "net/conv, fused"
    assert csv["ops"][0]["pct"] == 80.0 and csv["total_avg_ms"] == pytest.approx(0.5)


def test_no_profile_and_broken_rows():
    assert parse_op_profile("INFO: count=5 curr=100\n") is None
    broken = OLD.replace("1.500\t 30.000%", "lots\t 30.000%")
    with pytest.raises(ParseError, match="not a number"):
        parse_op_profile(broken)


def test_diff_by_type_and_name():
    a, b = parse_op_profile(NEW), parse_op_profile(NEW.replace("    2.000\t 50", "    3.000\t 50"))
    (first, *_) = diff_profiles(a, b)
    assert first["node_type"] == "CONV_2D" and first["delta_ms"] == pytest.approx(1.0)
    by_name = diff_profiles(a, b, "name")
    assert by_name[0]["name"] == "net/conv 1" and by_name[0]["change"] == pytest.approx(0.5)



def test_stand_in_phone_profile_adds_up_and_shows(standin, tiny_models, fake_binary, tmp_path,
                                                  run_cli):
    out = tmp_path / "r.jsonl"
    args = ["bench", str(tiny_models[0]), "--device", standin.serial, "--benchmark-binary",
            str(fake_binary), "--rules", "none", "--runs", "20", "--warmup", "1",
            "--cooldown", "0", "--thermal-threshold", "90", "--max-wait", "0",
            "--op-profile", "--peak-memory", "--out", str(out)]
    code, stdout, _ = run_cli(*args, "--json")
    assert code == 0
    (record,) = json.loads(stdout)["records"]
    profile = record["op_profile"]
    assert profile["format"] == "table" and profile["nodes"] >= 3
    # the ops add up to the measured invoke time (to the tool's 3 printed decimals)
    assert profile["total_avg_ms"] == pytest.approx(record["stats"]["invoke"]["mean_ms"],
                                                    abs=0.0006 * profile["nodes"] + 1e-6)
    assert {t["node_type"] for t in profile["by_type"]} >= {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert record["stats"]["peak_memory_mb"] > 0

    code, shown, _ = run_cli("results", "show", str(out), "--ops", "--top", "2")
    assert code == 0
    assert "top 2 of" in shown and "CONV_2D" in shown and "peak MB" in shown
    assert run_cli(*args)[0] == 0  # a second run: compare the profiles
    code, stdout, _ = run_cli("results", "compare", str(out), str(out), "--ops", "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["op_diffs"] and doc["op_diffs"][0]["by"] == "node_type"


def test_op_profile_needs_benchmark_model_on_a_device(tiny_models, run_cli):
    code, _, stderr = run_cli("bench", str(tiny_models[0]), "--device", "host", "--op-profile")
    assert code == 2
    assert "--runner benchmark_model" in stderr
