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
    assert isinstance(doc["host"]["cpu_features"], list) and " cores [" in report
    for key in ("latency_plot", "pck_plot_112", "pck_plot_224", "results"):
        assert (tmp_path / doc["files"][key]).exists() or (out / doc["files"][key]).exists()


def test_demo_sizes_come_from_the_variant_table():
    from handlite.demo import demo_sizes
    from handlite.variants import variants

    assert demo_sizes() == sorted({v.size for v in variants().values()})


def _rows(**speedups):
    return [{"variant": v, "speedup": x} for v, x in speedups.items()]


def test_int8_note_names_the_slow_sizes_and_the_missing_dot_product_instructions():
    from handlite.demo import int8_speed_note

    rows = _rows(**{"112_float32": 1.0, "112_int8": 0.63, "224_float32": 1.0, "224_int8": 1.4,
                    "224_dynamic": 0.8})
    note = int8_speed_note(rows, ["sse4_2", "avx2", "fma"])
    assert "0.63x at 112" in note and "224" not in note
    assert "no int8 dot-product instructions (features: sse4_2 avx2 fma)" in note
    # with VNNI present the slowness is not explained away by the CPU
    vnni = int8_speed_note(rows, ["avx2", "avx512_vnni"])
    assert "0.63x at 112" in vnni and "dot-product" not in vnni
    assert "dot-product" not in int8_speed_note(rows, None)  # features unknown: no claim
    assert int8_speed_note(_rows(**{"112_int8": 1.58, "224_int8": 1.42}), ["avx2"]) is None
    assert int8_speed_note(_rows(**{"112_int8": None}), ["avx2"]) is None  # not measured


def test_demo_table_title_shows_the_cpu_as_data_and_the_int8_note(run_cli, tmp_path,
                                                                  monkeypatch):
    import handlite.demo as demo_mod

    model = tmp_path / "m.keras"
    model.write_bytes(b"x")

    def fake_run_demo(model_path, out, settings, **_):
        rep = demo_mod.DemoReport(model=str(model_path), out_dir=str(out), settings=settings)
        rep.rows = [{"variant": "112_float32", "kb": 7485.0, "parity_epe_px": 0.0,
                     "parity_passed": True, "auc": 0.83, "median_ms": 13.1, "fps": 76.0,
                     "speedup": 1.0},
                    {"variant": "112_int8", "kb": 2344.0, "parity_epe_px": 1.3,
                     "parity_passed": True, "auc": 0.83, "median_ms": 21.0, "fps": 48.0,
                     "speedup": 0.63}]
        # a CPU name with rich markup in it must be shown, not interpreted
        rep.host = {"cpu": "EPYC [bold]x[/bold]", "cpu_features": ["avx2", "fma"]}
        return rep

    monkeypatch.setattr(demo_mod, "run_demo", fake_run_demo)
    code, out, err = run_cli("demo", "--model", model, "--out", tmp_path / "d")
    assert code == 0, err
    assert "EPYC [bold]x[/bold], ? cores [avx2 fma]" in " ".join(out.split())
    assert "note: full-int8 ran slower than float32 on this host (0.63x at 112)" in out


def test_dot_product_features_are_ones_the_host_records_report():
    from handlite.bench.host import DOT_PRODUCT_FEATURES, ISA_FEATURES, cpu_features

    assert set(DOT_PRODUCT_FEATURES) <= set(ISA_FEATURES)  # else never seen, always "missing"
    assert cpu_features("flags\t: fpu avx2 avx512_vnni fma\n") == ["avx2", "fma", "avx512_vnni"]
