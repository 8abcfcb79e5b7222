"""Device-side parsers are bounded and total: absurd or malformed values are None with a note,
never a crash or a huge allocation (hypothesis feeds them random and hostile text)."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings, strategies as st

from handlite.device import info as di

HOSTILE = st.sampled_from(["0-5000000", "0-4000000000", "9" * 40, "1.2.3G", "-5", "nan",
                           "|", "\n", "[/]", "\x1b[2J", "Free", "Available", "level: ",
                           "temperature: ", "status: ", " ", "1e30", "0-3", "4,5", "K", "G"])
TEXT = st.one_of(st.text(max_size=200), st.lists(HOSTILE, max_size=30).map("".join))


def test_huge_cpu_ranges_cost_nothing():
    notes: list[str] = []
    tracemalloc.start()
    text = "p|related_cpus|0-4000000000\np|cpuinfo_max_freq|" + "9" * 40
    clusters = di.parse_cpufreq(text, notes)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000
    assert clusters == [] and any("cpu list" in n for n in notes)
    notes = []
    [c] = di.parse_cpufreq("policy0|related_cpus|0-5000000\npolicy0|cpuinfo_max_freq|"
                           + "9" * 40, notes)
    assert c["cpus"] == [0] and c["max_khz"] is None and len(notes) == 2


def test_df_with_malformed_size_is_none_with_a_note():
    notes: list[str] = []
    text = "Filesystem  Size  Used  Free  Blksize\n/data  1.2.3G  1G  1.2.3G  4096\n"
    assert di.parse_df_free(text, notes) is None and notes
    assert di.parse_df_free("Filesystem Size Used Free\n/data 8G 1G 9e999G\n") is None


def test_battery_and_thermal_ranges():
    notes: list[str] = []
    assert di.parse_battery("level: 840\ntemperature: 99999\nstatus: 2\n", notes) == {
        "level_pct": None, "temp_c": None, "charging": True, "plugged": False}
    [z] = di.parse_thermal("thermal_zone0|cpu|1000000000000000", notes)
    assert z["temp_c"] is None and len(notes) == 3


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_fuzz_every_device_parser(text):
    notes: list[str] = []
    lines = "\n".join(f"policy{i}|{name}|{text}" for i, name in enumerate(
        ("related_cpus", "cpuinfo_max_freq", "scaling_cur_freq")))
    for c in di.parse_cpufreq(lines + "\n" + text, notes):
        assert len(c["cpus"]) <= di.MAX_CPUS
        for key in ("min_khz", "max_khz", "cur_khz"):
            assert c[key] is None or di.FREQ_KHZ[0] <= c[key] <= di.FREQ_KHZ[1]
    for z in di.parse_thermal(f"thermal_zone0|t|{text}\n{text}", notes):
        assert z["temp_c"] is None or di.TEMP_C[0] <= z["temp_c"] <= di.TEMP_C[1]
    b = di.parse_battery(text, notes)
    assert b is None or b["level_pct"] is None or 0 <= b["level_pct"] <= 100
    free = di.parse_df_free(f"Filesystem Size Used Free\n/data {text} 1 {text}", notes)
    assert free is None or 0 <= free <= di.MAX_BYTES
    free = di.parse_df_free(text, notes)
    assert free is None or 0 <= free <= di.MAX_BYTES
    di.parse_getprop(text)
    assert len(notes) <= 64
