"""inspect on our exports, on a foreign model, and on files that are not models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlite.errors import ModelError
from handlite.tflite_info import inspect_tflite


@pytest.fixture(scope="module")
def foreign_tflite(tmp_path_factory):
    """keras.applications MobileNetV2 (alpha 0.35, 96 px, random weights) -> .tflite."""
    import keras
    import tensorflow as tf

    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                           classes=10)
    fn = tf.function(lambda x: model(x, training=False),
                     input_signature=[tf.TensorSpec([1, 96, 96, 3], tf.float32)])
    data = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()]).convert()
    path = tmp_path_factory.mktemp("foreign") / "mobilenet_v2_035_96.tflite"
    path.write_bytes(data)
    return path, model


def test_inspect_export_counts_macs_like_the_model(exported, tiny_model):
    from handlite.model import count_macs

    _, model = tiny_model
    (r,) = [r for r in exported.results if r.precision == "int8"]
    info = inspect_tflite(Path(exported.out_dir) / r.file)
    assert info.macs == count_macs(model)
    assert info.metadata["variant"] == "64_int8"
    assert "handlite" in info.metadata_names
    assert info.ops["CONV_2D"] > 30 and info.ops["TRANSPOSE_CONV"] == 2
    assert info.inputs[0].shape == [1, 64, 64, 3]
    assert info.gpu_unsupported == []  # conv, depthwise, transpose conv, add, leaky relu


def test_inspect_foreign_model(foreign_tflite, run_cli):
    from handlite.model import count_macs

    path, model = foreign_tflite
    code, out, err = run_cli("inspect", path, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["metadata"] is None
    assert info["outputs"][0]["shape"] == [1, 10]
    assert "FULLY_CONNECTED" in info["ops"] and "DEPTHWISE_CONV_2D" in info["ops"]
    # BatchNorm folds into the convolutions, so the file has fewer parameters than Keras
    # counts (no moving statistics, no separate gamma/beta), but all the conv/dense ones
    assert 0.9 * model.count_params() < info["parameters"] <= model.count_params()
    assert info["macs"] == count_macs(model)
    assert info["sha256"] and info["bytes"] == path.stat().st_size


@pytest.mark.parametrize("how", ["truncated", "corrupt", "text", "empty", "folder"])
def test_broken_files_exit_2_with_one_line(exported, run_cli, tmp_path, how):
    good = next(Path(exported.out_dir).glob("*.tflite")).read_bytes()
    path = tmp_path / "broken.tflite"
    if how == "truncated":
        path.write_bytes(good[: len(good) // 3])
    elif how == "corrupt":
        path.write_bytes(good[:8] + bytes(b ^ 0x5A for b in good[8:4096]) + good[4096:])
    elif how == "text":
        path.write_text("name,score\nhand,1\n")
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path = tmp_path
    code, out, err = run_cli("inspect", path)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    with pytest.raises(ModelError):
        inspect_tflite(path)
