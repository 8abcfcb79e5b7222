"""The host runtime on tiny models with known answers (see conftest: the dot model)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CENTRES_TEST as CENTRES, SIZE, dot_image, expected_keypoints
from handlite.errors import InputError, ModelError, UsageError
from handlite.keypoints import mirror_keypoints
from handlite.runtime import CropWindow, HandRuntime, extract_crop, input_lut, square_crop


# ------------------------------------------------------------------------ crop maths
def test_square_crop_box_keeps_centre_and_takes_longer_side():
    crop = square_crop((480, 640, 3), 224, box=(100, 50, 60, 100))
    assert crop.side == 100
    # box centre (edge coordinates) 130, 100; the square is [80, 180) x [50, 150)
    assert (crop.x0, crop.y0) == (80, 50)
    assert crop.scale == pytest.approx(100 / 224)


def test_square_crop_whole_image_pads_the_short_side():
    crop = square_crop((480, 640, 3), 224)
    assert (crop.x0, crop.y0, crop.side) == (0, -80, 640)
    crop = square_crop((640, 480, 3), 224)
    assert (crop.x0, crop.y0, crop.side) == (-80, 0, 640)


@pytest.mark.parametrize("box", [(0, 0, 0, 10), (0, 0, 10, -1), (0, 0, float("nan"), 3),
                                 (1, 2, 3)])
def test_square_crop_rejects_bad_boxes(box):
    with pytest.raises(UsageError):
        square_crop((100, 100, 3), 64, box=box)


def test_crop_mapping_is_pixel_centre_exact_and_invertible():
    crop = CropWindow(x0=-7, y0=13, side=150, size=64)
    pts = np.array([[-0.5, -0.5], [63.5, 63.5], [10.25, 40.0]])
    img = crop.to_image(pts)
    # the input's outer edges land on the crop window's outer edges
    assert img[0] == pytest.approx([-7.5, 12.5])
    assert img[1] == pytest.approx([-7.5 + 150, 12.5 + 150])
    assert crop.to_input(img) == pytest.approx(pts)
    same = CropWindow(x0=5, y0=9, side=64, size=64)  # no scaling: a pure shift
    assert same.to_image([[3.0, 4.0]])[0] == pytest.approx([8.0, 13.0])


def test_extract_crop_pads_outside_the_image_with_the_pad_value():
    img = np.full((20, 30, 3), 200, np.uint8)
    out = extract_crop(img, CropWindow(x0=-10, y0=-10, side=20, size=20), pad_value=7)
    assert (out[:10, :, :] == 7).all() and (out[:, :10] == 7).all()
    assert (out[10:, 10:] == 200).all()


def test_extract_crop_inside_matches_a_plain_slice_when_no_resize():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    out = extract_crop(img, CropWindow(x0=5, y0=7, side=32, size=32), pad_value=0)
    assert np.array_equal(out, img[7:39, 5:37])


# ------------------------------------------------------------------------ normalise/quantise
def test_input_lut_float_matches_contract():
    lut = input_lut([127.5] * 3, [127.5] * 3, "float32")
    assert lut.shape == (1, 256, 3) and lut.dtype == np.float32
    assert lut[0, 0] == pytest.approx([-1, -1, -1])
    assert lut[0, 255] == pytest.approx([1, 1, 1])


def test_input_lut_quantises_half_away_from_zero_and_clamps():
    lut = input_lut([0, 0, 0], [1, 1, 1], "int8", scale=2.0, zero_point=-3)
    q = lut[0, :, 0].view(np.int8).astype(int)
    assert q[5] == 0  # 5 / 2 = 2.5 -> 3, then - 3
    assert q[3] == -1  # 1.5 -> 2
    assert q[255] == 125  # 127.5 -> 128, then - 3
    clamped = input_lut([0, 0, 0], [1, 1, 1], "int8", scale=1.0, zero_point=0)
    assert clamped[0, 200, 0].view(np.int8) == 127
    lut_u = input_lut([0, 0, 0], [1, 1, 1], "uint8", scale=0.5, zero_point=10)
    assert lut_u[0, 200, 0] == 255  # 410 clamps
    with pytest.raises(ModelError):
        input_lut([0, 0, 0], [1, 1, 1], "uint8", scale=None)


def test_quantised_input_tensor_holds_what_the_contract_says(dot_models):
    rt = HandRuntime(dot_models["int8"])
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    rt.preprocess(img, box=(0, 0, SIZE, SIZE))
    tensor = rt.session.interpreter.get_tensor(rt.inputs[0]["index"])[0]
    scale, zp = rt.inputs[0]["quantization"]
    norm = rt.metadata["normalization"]
    v = (img.astype(np.float64) - np.asarray(norm["mean"])) / np.asarray(norm["std"])
    want = np.clip(np.sign(v / scale) * np.floor(np.abs(v / scale) + 0.5) + zp, 0, 255)
    assert np.abs(tensor.astype(int) - want.astype(int)).max() <= 1  # float32 vs float64 ties
    assert (tensor.astype(int) == want.astype(int)).mean() > 0.99


# ------------------------------------------------------------------------ whole pipeline
@pytest.mark.parametrize("precision", ["float32", "int8"])
@pytest.mark.parametrize("box", [None, (20, 10, 140, 140), (25, -30, 150, 160)],
                         ids=["whole", "inside", "padded"])
def test_keypoints_land_on_known_positions(dot_models, precision, box):
    rt = HandRuntime(dot_models[precision])
    img = dot_image((160, 200), CENTRES, sigma=6)
    pred = rt.predict(img, box=box)
    err = np.linalg.norm(pred.keypoints - expected_keypoints(CENTRES), axis=1)
    # within a quarter of a heatmap cell, in image pixels
    assert err.max() < 0.25 * 4 * pred.crop.scale + 0.1
    assert set(pred.timings_ms) == {"preprocess", "invoke", "decode"}
    assert all(v >= 0 for v in pred.timings_ms.values())


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_left_hand_mirror_round_trip(dot_models, precision):
    rt = HandRuntime(dot_models[precision])
    img = dot_image((160, 200), CENTRES, sigma=6)
    box = (20, 10, 140, 140)
    right = rt.predict(img, box=box)
    left = rt.predict(img, box=box, left=True)
    # mirrored in and out: the same image gives the same image positions
    assert np.abs(left.keypoints - right.keypoints).max() < 0.75
    # a mirrored image, read as a left hand, gives the mirrored keypoints of the original
    flipped = np.ascontiguousarray(img[:, ::-1])
    fbox = (200 - box[0] - box[2], box[1], box[2], box[3])
    mirrored = rt.predict(flipped, box=fbox, left=True)
    want = mirror_keypoints(right.keypoints, 200)
    assert np.abs(mirrored.keypoints - want).max() < 0.75


def test_runtime_reads_metadata_and_decode_settings(dot_models):
    rt = HandRuntime(dot_models["float32"])
    assert rt.input_size == SIZE and rt.output_kind == "heatmaps"
    assert rt.codec.stride == 4 and rt.codec.sigma == 1.5
    assert rt.pad_value == rt.metadata["normalization"]["pad_value"]
    assert len(rt.keypoint_names) == 21


# ------------------------------------------------------------------------ bad input
def test_model_without_metadata_is_refused_for_prediction(dot_models):
    with pytest.raises(ModelError, match="no handlite metadata"):
        HandRuntime(dot_models["foreign"])
    rt = HandRuntime(dot_models["foreign"], require_metadata=False)
    rt.fill_inputs()
    rt.invoke()
    with pytest.raises(ModelError, match="only be invoked"):
        rt.predict(np.zeros((10, 10, 3), np.uint8))


def test_not_a_tflite_file(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"definitely not a flatbuffer")
    with pytest.raises(ModelError, match="not a TFLite model"):
        HandRuntime(junk)
    with pytest.raises(ModelError, match="not found"):
        HandRuntime(tmp_path / "missing.tflite")


@pytest.mark.parametrize("image", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                   np.zeros((10, 10, 3), np.float32), [[1, 2, 3]]])
def test_bad_images_are_input_errors(dot_models, image):
    rt = HandRuntime(dot_models["float32"])
    with pytest.raises(InputError):
        rt.predict(image)


def test_identity_quantisation_feeds_pixels_straight_in(dot_models, tmp_path):
    from handlite.metadata import read_metadata, write_metadata

    generic = HandRuntime(dot_models["int8"])
    scale, zp = generic.inputs[0]["quantization"]
    fused = tmp_path / "fused.tflite"
    fused.write_bytes(dot_models["int8"].read_bytes())
    meta = read_metadata(fused)
    # a normalisation the input quantisation undoes exactly: tensor value == pixel value
    meta["normalization"].update(mean=[float(zp)] * 3, std=[1.0 / scale] * 3)
    write_metadata(fused, meta)
    rt = HandRuntime(fused)
    assert rt._identity and not generic._identity
    img = dot_image((160, 200), CENTRES, sigma=6)
    pred = rt.predict(img, box=(20, 10, 140, 140), left=True)
    tensor = rt.session.interpreter.get_tensor(rt.inputs[0]["index"])[0]
    want = extract_crop(img, pred.crop, rt.pad_value)[:, ::-1]
    assert np.array_equal(tensor, want)
    assert np.abs(pred.keypoints - expected_keypoints(CENTRES)).max() < 1.0


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_one_table_fast_path_writes_what_the_per_channel_table_writes(dot_models, tmp_path,
                                                                       precision):
    from handlite.metadata import read_metadata, write_metadata

    img = np.random.default_rng(5).integers(0, 256, (150, 190, 3), dtype=np.uint8)
    rt = HandRuntime(dot_models[precision])
    assert rt._lut1 is not None  # handlite's normalisation: the same for every channel
    rt.preprocess(img, box=(10, 5, 120, 130))
    fast = rt.session.interpreter.get_tensor(rt.inputs[0]["index"]).copy()
    rt._lut1 = None  # the general path: one table per channel
    rt.preprocess(img, box=(10, 5, 120, 130))
    assert np.array_equal(fast, rt.session.interpreter.get_tensor(rt.inputs[0]["index"]))

    # channels normalised differently never take the one-table path
    other = tmp_path / "per_channel.tflite"
    other.write_bytes(dot_models[precision].read_bytes())
    meta = read_metadata(other)
    meta["normalization"].update(mean=[120.0, 127.5, 135.0])
    write_metadata(other, meta)
    rt2 = HandRuntime(other)
    assert rt2._lut1 is None
    rt2.preprocess(img)
    tensor = rt2.session.interpreter.get_tensor(rt2.inputs[0]["index"])[0]
    crop = extract_crop(img, rt2.crop_for(img.shape), rt2.pad_value)
    want = np.take_along_axis(rt2._lut[0], crop.reshape(-1, 3).astype(np.intp), axis=0)
    assert np.array_equal(tensor.reshape(-1, 3).view(want.dtype), want)
