"""`handlite predict`: output on a known image, and one-line errors with exit 2."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import CENTRES_TEST as CENTRES, dot_image, expected_keypoints
from handlite.metadata import read_metadata, write_metadata


@pytest.fixture
def dot_png(tmp_path):
    path = tmp_path / "dots.png"
    rgb = dot_image((160, 200), CENTRES, sigma=6)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_predict_json_and_overlay(run_cli, dot_models, dot_png, tmp_path):
    overlay = tmp_path / "overlay.png"
    code, out, err = run_cli("predict", dot_models["float32"], dot_png, "--box", "20,10,140,140",
                             "--out", overlay, "--json")
    assert code == 0, err
    doc = json.loads(out)
    kp = np.array(doc["keypoints"])
    assert kp.shape == (21, 2) and len(doc["scores"]) == 21
    assert np.abs(kp - expected_keypoints(CENTRES)).max() < 1.0
    assert doc["keypoint_names"][0] == "wrist" and doc["crop"]["side"] == 140
    assert set(doc["timings_ms"]) == {"preprocess", "invoke", "decode"}
    drawn = cv2.imread(str(overlay))
    original = cv2.imread(str(dot_png))
    assert drawn.shape == original.shape
    # the skeleton changes pixels at the predicted joints, not in a far corner
    x, y = (int(round(v)) for v in kp[0])
    assert (drawn[y, x] != original[y, x]).any()
    assert (drawn[155, 5] == original[155, 5]).all()


def test_predict_table_for_people(run_cli, dot_models, dot_png):
    code, out, _ = run_cli("predict", dot_models["int8"], dot_png, "--left")
    assert code == 0
    assert "wrist" in out and "pinky_tip" in out and "invoke" in out and "left hand" in out


def _one_line_exit_2(result):
    code, out, err = result
    assert code == 2, (code, out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    return err


def test_unreadable_image(run_cli, dot_models, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    assert "cannot read" in _one_line_exit_2(run_cli("predict", dot_models["float32"], junk))
    missing = tmp_path / "missing.png"
    assert "not found" in _one_line_exit_2(run_cli("predict", dot_models["float32"], missing))


def test_model_without_metadata(run_cli, dot_models, dot_png):
    err = _one_line_exit_2(run_cli("predict", dot_models["foreign"], dot_png))
    assert "no handlite metadata" in err


def test_wrong_input_shape(run_cli, dot_models, dot_png, tmp_path):
    liar = tmp_path / "liar.tflite"
    liar.write_bytes(dot_models["float32"].read_bytes())
    meta = read_metadata(liar)
    meta.update(input_size=32, heatmap_size=8)
    write_metadata(liar, meta)
    err = _one_line_exit_2(run_cli("predict", liar, dot_png))
    assert "input tensor shape [1, 64, 64, 3]" in err


@pytest.mark.parametrize("box", ["1,2,3", "a,b,c,d", "0,0,0,5"])
def test_bad_box(run_cli, dot_models, dot_png, box):
    assert "box" in _one_line_exit_2(run_cli("predict", dot_models["float32"], dot_png,
                                             "--box", box))


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory):
    """The dot model with a NaN bias: every heatmap value is NaN."""
    from conftest import _convert, _dot_keras, _with_metadata

    model = _dot_keras()
    kernel, bias = model.get_layer("heatmaps").get_weights()
    model.get_layer("heatmaps").set_weights([kernel, np.full_like(bias, np.nan)])
    path = tmp_path_factory.mktemp("nan") / "handlite_64_float32.tflite"
    path.write_bytes(bytes(_with_metadata(_convert(model, "float32"), "float32")))
    return path


def test_nan_outputs_are_one_error_exit_1(run_cli, nan_model, dot_png):
    """Before: exit 0 with 21 keypoints at one made-up spot and a numpy RuntimeWarning."""
    code, out, err = run_cli("predict", nan_model, dot_png, "--json")
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "NaN or Inf" in lines[0] and "--allow-nan" in lines[0]
    assert "Warning" not in err and out == ""


def test_allow_nan_decodes_quietly(run_cli, nan_model, dot_png, recwarn):
    code, out, err = run_cli("predict", nan_model, dot_png, "--json", "--allow-nan")
    assert code == 0, err
    assert "Warning" not in err
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert len(json.loads(out)["keypoints"]) == 21


def test_host_bench_fails_the_nan_cell(run_cli, nan_model):
    code, out, err = run_cli("bench", nan_model, "--device", "host", "--rules", "none",
                             "--runs", "3",
                             "--warmup", "1", "--json")
    assert code == 1
    (record,) = json.loads(out)["records"]
    assert record["status"] == "failed" and "NaN or Inf" in record["error"]
    assert "Warning" not in err
    code, out, err = run_cli("bench", nan_model, "--device", "host", "--rules", "none",
                             "--runs", "3",
                             "--warmup", "1", "--json", "--allow-nan")
    assert code == 0, out
    assert "Warning" not in err
