"""Foreign (MediaPipe-style) landmark models scored on handlite's crops: I/O discovery, the
input scaling, the mapping back to crop pixels, and `evaluate --compare` end to end.

The foreign models are tiny Keras graphs converted here: input float32 (1, S, S, 3), outputs
like MediaPipe's hand_landmark_full (63 screen landmarks first, a 1-value flag, 63 world
landmarks), landmarks = fixed values + GAIN x mean(input), so the input's [0, 1] scaling shows.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from handlite.errors import ModelError
from handlite.foreign import load_foreign, to_crop_pixels

GAIN = 100.0


def make_foreign(path, size: int, landmarks: np.ndarray, *, outputs: str = "mediapipe",
                 gain: float = GAIN):
    """Write a .tflite with input (1, size, size, 3); landmarks (21, 3) in its input px."""
    import keras
    import tensorflow as tf

    inp = keras.Input((size, size, 3), batch_size=1)
    mean = keras.layers.GlobalAveragePooling2D()(inp)  # (1, 3): the image's channel means
    dense = keras.layers.Dense(63)
    screen = dense(mean)
    dense.set_weights([np.full((3, 63), gain / 3, np.float32),
                       np.asarray(landmarks, np.float32).reshape(63)])
    flag = keras.layers.Dense(1)(mean)
    world = keras.layers.Dense(63)(mean)
    if outputs == "mediapipe":
        outs = [screen, flag, world]
    elif outputs == "none":
        outs = [flag, keras.layers.Dense(42)(mean)]
    else:
        raise ValueError(outputs)
    model = keras.Model(inp, outs)
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def landmarks():
    rng = np.random.default_rng(0)
    lm = np.zeros((21, 3), np.float32)
    lm[:, :2] = rng.uniform(2, 28, (21, 2))
    lm[:, 2] = rng.normal(0, 1, 21)
    return lm


@pytest.fixture(scope="module")
def foreign32(tmp_path_factory, landmarks):
    return make_foreign(tmp_path_factory.mktemp("foreign") / "fake_mp.tflite", 32, landmarks)


def test_to_crop_pixels_maps_edges_onto_pixel_centres():
    # foreign edge 0 -> crop edge -0.5; foreign S -> crop N - 0.5; centre of foreign pixel 0
    # (0.5) -> centre of the first crop pixel block of N/S pixels
    got = to_crop_pixels(np.array([[0.0, 32.0], [0.5, 16.0]]), 32, 64)
    np.testing.assert_allclose(got, [[-0.5, 63.5], [0.5, 31.5]])
    np.testing.assert_allclose(to_crop_pixels(np.array([[3.0, 7.0]]), 64, 64), [[2.5, 6.5]])


def test_picks_the_first_63_value_output_and_maps_exactly(foreign32, landmarks):
    model = load_foreign(foreign32)
    assert model.input_size == 32
    shapes = [list(d["shape"]) for d in model.interpreter.get_output_details()]
    assert shapes.count([1, 63]) == 2  # screen and world landmarks, as in MediaPipe
    # crops of 64 px, constant grey p: input p / 255 in [0, 1] -> landmarks + GAIN * p / 255
    for p in (0, 51, 255):
        crops = np.full((2, 64, 64, 3), p, np.uint8)
        pred = model.predict(crops)
        expect = (landmarks[:, :2] + GAIN * p / 255.0) * (64 / 32) - 0.5
        np.testing.assert_allclose(pred[0], expect, atol=2e-3)
        np.testing.assert_allclose(pred[1], expect, atol=2e-3)
    # the crop is resized to the model's input: a 32 px crop goes in as it is
    np.testing.assert_allclose(model.predict(np.zeros((1, 32, 32, 3), np.uint8))[0],
                               landmarks[:, :2] - 0.5, atol=1e-4)


def test_the_very_same_crop_is_fed_resized(foreign32):
    """A non-uniform crop: the mean the model sees is that of cv2's INTER_AREA resize."""
    model = load_foreign(foreign32)
    crop = np.zeros((1, 64, 64, 3), np.uint8)
    crop[0, :, :16] = 255  # left quarter white
    small = cv2.resize(crop[0], (32, 32), interpolation=cv2.INTER_AREA)
    base = model.predict(np.zeros((1, 64, 64, 3), np.uint8))[0]
    shift = (model.predict(crop)[0] - base) / 2.0  # crop px -> foreign px
    np.testing.assert_allclose(shift, GAIN * small.mean() / 255.0, atol=2e-3)
    assert small.mean() == pytest.approx(255 / 4, abs=0.01)


def test_bad_foreign_models_are_one_line(tmp_path, landmarks):
    bad = make_foreign(tmp_path / "no63.tflite", 32, landmarks, outputs="none")
    with pytest.raises(ModelError, match=r"no float32 output with 63 values.*\[1, 42\]"):
        load_foreign(bad)
    with pytest.raises(ModelError, match="foreign model not found"):
        load_foreign(tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match="not a loadable TFLite model"):
        load_foreign(tmp_path / "junk.tflite")


def test_evaluate_compare_scores_a_perfect_foreign_model(tmp_path, run_cli, capsys):
    """A foreign model that outputs the ground truth of the one crop scores EPE 0, AUC 1: the
    coordinates line up end to end (COCO file -> crop -> foreign input -> crop px)."""
    from handlite.data import load_eval_set
    from handlite.model import build_model

    size = 64
    ang = np.deg2rad(np.linspace(-60, 60, 5))
    pts = np.array([[110.0, 90.0]] + [[110 + 10 * j * np.sin(a), 90 - 10 * j * np.cos(a)]
                                      for a in ang for j in range(1, 5)])
    cv2.imwrite(str(tmp_path / "a.png"), np.full((200, 240, 3), 90, np.uint8))
    coco = tmp_path / "hands.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 240, "height": 200}],
        "annotations": [{"id": 1, "image_id": 1, "hand_type": "left",
                         "keypoints": [float(c) for x, y in pts for c in (x, y, 2)]}]}))
    spec = f"coco:{coco}"
    ev = load_eval_set(spec, size)
    fs = 32
    truth = np.zeros((21, 3), np.float32)
    truth[:, :2] = (ev.keypoints[0] + 0.5) * fs / size  # crop px -> foreign input px
    perfect = make_foreign(tmp_path / "perfect.tflite", fs, truth, gain=0.0)
    off = truth.copy()
    off[:, 0] += 2.5  # 2.5 foreign px = 5 crop px to the right
    shifted = make_foreign(tmp_path / "shifted.tflite", fs, off, gain=0.0)
    build_model(size, head_width=16, up_widths=(8, 8)).save(tmp_path / "ours.keras")
    capsys.readouterr()  # the converter's chatter above is not the CLI's output

    code, out, err = run_cli("evaluate", tmp_path / "ours.keras", "--data", spec, "--size",
                             size, "--compare", perfect, "--compare", shifted, "--json",
                             "--plot", tmp_path / "pck.png")
    assert code == 0, err
    doc = json.loads(out)
    first, second = doc["compare"]
    assert first["model"] == str(perfect) and first["input_size"] == fs
    assert first["epe_mean_px"] == pytest.approx(0.0, abs=1e-3) and first["auc"] > 0.99
    assert second["epe_mean_px"] == pytest.approx(5.0, abs=1e-3)
    assert second["pck_5px"] == 1.0 and second["pck_10px"] == 1.0
    assert "auc" in doc and doc["hands"] == 1
    assert (tmp_path / "pck.png").stat().st_size > 1000

    code, out, err = run_cli("evaluate", tmp_path / "ours.keras", "--data", spec, "--size",
                             size, "--compare", perfect)
    assert code == 0, err
    assert "perfect.tflite" in out and "1.0000" in out  # its column, side by side

    code, out, err = run_cli("evaluate", tmp_path / "ours.keras", "--data", spec, "--size",
                             size, "--compare", tmp_path / "nope.tflite")
    assert code == 2 and "foreign model not found" in err
