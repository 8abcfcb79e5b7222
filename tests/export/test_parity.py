"""Parity: the CLI's exit codes, JUnit, and the comparison function on its own."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from handlite.errors import UsageError
from handlite.parity import compare_outputs
from handlite.variants import tolerances

SIZE = 64


def _file(report, precision):
    (r,) = [r for r in report.results if r.precision == precision]
    return str(Path(report.out_dir) / r.file)


def test_float32_passes_and_matches_keras_to_a_hundredth_of_a_pixel(tiny_model, exported,
                                                                      run_cli, tmp_path):
    import json

    path, _ = tiny_model
    junit = tmp_path / "parity.xml"
    code, out, err = run_cli("parity", path, _file(exported, "float32"), "--count", "12",
                             "--junit", junit, "--json")
    assert code == 0, err
    doc = json.loads(out)
    (v,) = doc["variants"]
    assert v["variant"] == f"{SIZE}_float32" and v["passed"] is True
    assert v["keypoint_epe_max_px"] <= 0.01
    assert v["heatmap_max_abs"] < 1e-3 and v["auc_keras"] is not None
    assert len(v["per_keypoint"]) == 21
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert [c.get("name") for c in cases] == [f"{SIZE}_float32"]
    assert cases[0].find("failure") is None


def test_perturbed_weights_fail_with_exit_1_and_junit_failures(tiny_model, exported, run_cli,
                                                               tmp_path):
    """The exported files no longer match a Keras model whose weights moved: every variant
    must fail, the JUnit file still has one testcase per variant."""
    import keras

    path, model = tiny_model
    perturbed = keras.models.clone_model(model)
    rng = np.random.default_rng(1)
    perturbed.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) * (w.ndim > 1)
                           for w in model.get_weights()])
    bad = tmp_path / "perturbed.keras"
    perturbed.save(bad)
    junit = tmp_path / "parity.xml"
    files = [_file(exported, p) for p in ("float32", "float16", "dynamic", "int8")]
    code, out, err = run_cli("parity", bad, *files, "--count", "8", "--junit", junit)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("error: parity failed for")
    assert "Traceback" not in err
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert sorted(c.get("name") for c in cases) == sorted(
        f"{SIZE}_{p}" for p in ("float32", "float16", "dynamic", "int8"))
    assert all(c.find("failure") is not None for c in cases)


def test_bad_inputs_exit_2(tiny_model, run_cli, tmp_path):
    path, _ = tiny_model
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    code, _, err = run_cli("parity", path, junk)
    assert code == 2 and err.count("\n") == 1 and "not a TFLite model" in err
    code, _, err = run_cli("parity", tmp_path / "missing.keras", junk)
    assert code == 2


def _maps(n=4, h=16, k=21, seed=0):
    """Gaussian peaks at random cells: clean, unambiguous maps."""
    from handlite.codec import HeatmapCodec

    rng = np.random.default_rng(seed)
    codec = HeatmapCodec(h * 4)
    return codec.encode_batch(rng.uniform(4, h * 4 - 5, (n, k, 2)))


def test_compare_outputs_identical_shifted_and_nan():
    ref = _maps()
    same = compare_outputs(ref, ref.copy(), "float32", variant="x")
    assert same.passed and same.keypoint_epe_max_px == 0 and same.cosine_min == pytest.approx(1)
    # moving every map by one heatmap cell (4 px) must fail float32 and report ~4 px
    shifted = np.roll(ref, 1, axis=2)
    moved = compare_outputs(ref, shifted, "float32")
    assert not moved.passed
    assert moved.keypoint_epe_mean_px == pytest.approx(4.0, abs=0.5)
    # NaN fails even with tolerances that accept anything
    loose = {k: 1e9 for k in tolerances("int8").to_dict()} | {"cosine_min": -1.0}
    broken = ref.copy()
    broken[0, 3, 3, 0] = np.nan
    result = compare_outputs(ref, broken, loose)
    assert not result.passed and not result.finite
    assert "NaN or Inf" in result.failures[0]


def test_compare_outputs_dequantises_and_takes_keypoints():
    ref = _maps()
    scale, zero = 1 / 250, 3  # covers [-0.012, 1.008]: no clipping of [0, 1] maps
    q = np.clip(np.rint(ref / scale) + zero, 0, 255).astype(np.uint8)
    result = compare_outputs(ref, q, "int8", quantization=(scale, zero))
    assert result.passed and result.heatmap_max_abs <= scale / 2 + 1e-6
    with pytest.raises(UsageError, match="scale"):
        compare_outputs(ref, q, "int8")
    from handlite.codec import HeatmapCodec

    kp, scores = HeatmapCodec(64).decode(ref)
    direct = compare_outputs(ref, {"keypoints": kp + 0.001, "scores": scores}, "224_float32")
    assert direct.output_kind == "keypoints" and direct.heatmap_max_abs is None
    assert direct.keypoint_epe_max_px == pytest.approx(0.001 * 2 ** 0.5, rel=1e-2)
    assert direct.passed and direct.precision == "float32"


def test_shape_mismatch_is_one_line_and_junit_keeps_every_variant(tiny_model, exported, run_cli,
                                                                  tmp_path):
    """A file whose metadata asks for crops its input does not take: one line naming the file
    and both shapes; the variants that ran (and passed) are still in the JUnit file."""
    import shutil

    from handlite.metadata import read_metadata, write_metadata

    path, _ = tiny_model
    good = _file(exported, "float32")
    odd = tmp_path / "handlite_64_dynamic.tflite"
    shutil.copy(_file(exported, "dynamic"), odd)
    meta = read_metadata(odd, required=True)
    write_metadata(odd, {**meta, "input_size": 32})
    junit = tmp_path / "parity.xml"
    code, out, err = run_cli("parity", path, good, odd, "--count", "4", "--junit", junit)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(odd) in last
    assert "(1, 64, 64, 3)" in last and "(1, 32, 32, 3)" in last
    assert "Traceback" not in err and "ValueError" not in last
    cases = ET.parse(junit).getroot().findall(".//testcase")
    by_name = {c.get("name"): c for c in cases}
    assert len(cases) == 2
    assert by_name[f"{SIZE}_float32"].find("failure") is None
    assert any(c.find("error") is not None for c in cases)
