"""A hostile stand-in phone: markup and escape codes in its properties, absurd cpufreq, a df
whose sizes are no numbers. Everything it says is data: listed with exit 0, no escape byte on
the terminal, JSON with the exact values, absurd numbers as None with a note."""

from __future__ import annotations

import json
import time

from handlite.testing.sandbox import PROFILES

MODEL = PROFILES["hostile"].props["ro.product.model"]


def test_devices_lists_the_hostile_phone_as_text(stand_in, run_cli):
    phone = stand_in(profile="hostile")
    start = time.perf_counter()
    code, out, err = run_cli("devices", "--connect", phone.serial)
    assert code == 0, err
    assert time.perf_counter() - start < 20  # before: 0-4000000000 CPUs -> MemoryError
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "Evil[/]Phone]0;pwned[2J" in out and "[bold red]SoC[31m" in out
    assert "note:" in err and "related_cpus" not in out


def test_devices_json_keeps_exact_values_and_bounds_numbers(stand_in, run_cli):
    phone = stand_in(profile="hostile")
    code, out, err = run_cli("devices", "--connect", phone.serial, "--json")
    assert code == 0, err
    [info] = json.loads(out)["devices"]
    assert info["model"] == MODEL  # JSON keeps the device's exact bytes
    first = info["cpu_clusters"][0]
    assert first["cpus"] == [0] and first["max_khz"] is None
    assert info["storage"]["free_bytes"] is None and info["battery"]["level_pct"] is None
    assert any(z["temp_c"] is None for z in info["thermal_zones"])
    notes = " | ".join(info["notes"])
    assert "cpu list" in notes and "df size" in notes and "battery level" in notes
    assert len(out) < 100_000


def test_push_to_a_phone_whose_df_is_junk(stand_in, run_cli, make_file):
    """Before: `Free 1.2.3G` ended `push` in ValueError."""
    phone = stand_in(profile="hostile")
    f = make_file("m.tflite", 5000)
    code, out, err = run_cli("push", str(f), "--connect", phone.serial)
    assert code == 0, err
    assert "\x1b" not in out + err
