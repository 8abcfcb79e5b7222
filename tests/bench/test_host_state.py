"""Host records say which CPU features and how much load the timings came with."""

from rich.console import Console

from handlite.bench.host import busy, cpu_features, host_target
from handlite.bench.stats import stats_from_samples
from handlite.bench.store import make_record, make_settings
from handlite.report import results_tables

X86 = """processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni amx_tile amx_int8
"""
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimdhp asimddp i8mm bf16\n"


def test_cpu_features_from_x86_and_arm_cpuinfo():
    assert cpu_features(X86) == ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                                 "avx512vl", "avx512_vnni", "amx_tile", "amx_int8"]
    assert cpu_features(ARM) == ["asimd", "asimdhp", "asimddp", "i8mm", "bf16"]
    assert cpu_features("") == []


def test_busy_is_load_per_core_above_half():
    assert busy(7.4, 7.0, 2) and busy(0.2, 1.2, 2)
    assert not busy(0.9, 1.0, 2) and not busy(None, None, 2) and not busy(5.0, 5.0, None)


def test_host_target_lists_features_and_tables_show_them_and_busy():
    target = host_target()
    assert isinstance(target["cpu_features"], list)
    target = {**target, "cpu": "Xeon 8480+", "cpu_features": cpu_features(X86), "cores": 2}
    model = {"name": "handlite_112_int8.tflite", "sha256": "cd" * 32, "variant": "112_int8"}
    record = make_record(model=model, target=target, settings=make_settings("host", 1),
                         stats=stats_from_samples([5.0, 5.1, 5.2]), flags=["busy"],
                         hygiene={"loadavg_1m_before": 7.4, "loadavg_1m_after": 7.0})
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    for table in results_tables([record]):
        console.print(table)
    text = console.export_text()
    assert "avx512_vnni" in text and "Xeon 8480+" in text
    assert "busy: host load average above 0.5 per core" in text
