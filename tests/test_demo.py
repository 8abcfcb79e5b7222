"""`handlite demo`: bad input fails fast; the whole run (slow tier) writes its report."""

from __future__ import annotations

import json

import pytest


def test_demo_without_a_model_is_one_line_exit_2(run_cli, tmp_path):
    code, out, err = run_cli("demo", "--model", tmp_path / "none.keras", "--out", tmp_path / "d")
    assert code == 2 and out == ""
    assert err.startswith("error: model file not found") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_demo_end_to_end_on_an_untrained_network(run_cli, tmp_path):
    from handlite.model import build_model

    model = tmp_path / "tiny.keras"
    build_model(112).save(model)
    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "--model", model, "--out", out, "--count", "8",
                                "--runs", "3", "--warmup", "1", "--json")
    doc = json.loads(stdout)
    # an untrained network fails lossy parity (maps are noise), which is exit 1, not a crash
    assert code in (0, 1) and code == (0 if doc["ok"] else 1)
    names = [row["variant"] for row in doc["rows"]]
    assert {"112_float32", "224_int8"} <= set(names)
    for row in doc["rows"]:
        assert row["kb"] > 0 and row["median_ms"] > 0 and row["fps"] > 0
        if row["variant"].endswith("float32"):
            assert row["speedup"] == pytest.approx(1.0)
    report = (out / "report.md").read_text()
    assert "| variant | KB |" in report and "3 timed runs" in report
    for key in ("latency_plot", "pck_plot_112", "pck_plot_224", "results"):
        assert (tmp_path / doc["files"][key]).exists() or (out / doc["files"][key]).exists()


def test_demo_sizes_come_from_the_variant_table():
    from handlite.demo import demo_sizes
    from handlite.variants import variants

    assert demo_sizes() == sorted({v.size for v in variants().values()})
