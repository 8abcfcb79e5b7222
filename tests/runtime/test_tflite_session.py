"""The one TFLite session layer: loading errors, tensors by role, (de)quantisation, dumps;
parity's input path is the runtime's."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SIZE, dot_image
from handlite.errors import ModelError
from handlite.tflite_session import (TFLiteSession, dequantize, output_role, quantize,
                                     tensor_to_float)


def test_a_corrupt_or_missing_file_is_one_model_error(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a TFLite model"):
        TFLiteSession(junk)
    with pytest.raises(ModelError, match="model file not found"):
        TFLiteSession(tmp_path / "missing.tflite")
    # the identifier is there but the flatbuffer behind it is cut short
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 24)
    with pytest.raises(ModelError) as info:
        TFLiteSession(cut)
    assert str(cut) in str(info.value) and "\n" not in str(info.value)


def test_roles_by_rank_are_one_table():
    assert output_role((1, 56, 56, 22)) == "heatmaps"
    assert output_role((1, 21, 2)) == "keypoints"
    assert output_role((1, 21)) == "scores"
    assert output_role((5,), "logits") == "logits"


def test_quantize_rounds_half_away_from_zero_and_clamps():
    q = quantize(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0]), np.int8, 1.0, 0)
    assert q.tolist() == [1, 2, 3, -1, -2, 127, -128]
    assert quantize(np.array([0.0, 1.0]), np.uint8, 0.5, 10).tolist() == [10, 12]
    raw = np.array([-68, 0, 127], np.int8)
    assert np.allclose(dequantize(raw, 0.01, -68), [0.0, 0.68, 1.95])
    detail = {"dtype": np.int8, "quantization": (0.01, -68)}
    assert tensor_to_float(raw, detail).dtype == np.float32


def test_session_reads_roles_and_splits_a_dump(dot_models):
    session = TFLiteSession(dot_models["int8"])
    assert [int(v) for v in session.image_input["shape"]] == [1, SIZE, SIZE, 3]
    assert list(session.output_roles()) == ["heatmaps"]
    session.set_input(np.full((1, SIZE, SIZE, 3), 128, np.uint8))
    session.invoke()
    out = session.read_outputs()["heatmaps"]
    d = session.outputs[0]
    raw = session.interpreter.get_tensor(d["index"])
    assert np.array_equal(out, dequantize(raw, *d["quantization"]))
    split = session.split_output_dump(raw.tobytes())
    assert np.array_equal(split["heatmaps"], out)
    with pytest.raises(ModelError, match="100 bytes"):
        session.split_output_dump(b"\0" * 100)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_parity_feeds_what_the_runtime_feeds(dot_models, precision):
    """Parity's input tensor is the runtime's for the same crop: one input path."""
    from handlite.parity import ParityCandidate
    from handlite.runtime import HandRuntime

    crop = dot_image((SIZE, SIZE), [(20.3, 30.1), (40.0, 12.5), (33.3, 50.0)])
    candidate = ParityCandidate(dot_models[precision], threads=1)
    given = candidate.input_tensor(crop)
    rt = HandRuntime(dot_models[precision])
    rt.preprocess(crop)
    assert np.array_equal(given, rt.session.input_array())
    maps = candidate.run(crop[None])["heatmaps"]
    rt.invoke()
    assert np.array_equal(maps[0], rt.session.read_outputs()["heatmaps"][0])


def test_runtime_exposes_the_raw_heatmaps(dot_models):
    from handlite.runtime import HandRuntime

    rt = HandRuntime(dot_models["int8"])
    scale, zero_point = rt.output_quantization
    rt.predict(np.full((80, 80, 3), 128, np.uint8))
    raw = rt.heatmap_tensor()
    assert raw.dtype == np.int8 and raw.shape[1:3] == (SIZE // 4, SIZE // 4)
    assert np.allclose(dequantize(raw, scale, zero_point), rt.session.read_outputs()["heatmaps"])
    assert HandRuntime(dot_models["float32"]).output_quantization is None
