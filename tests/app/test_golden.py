"""The committed golden vectors (android_app/core/src/test/resources/golden) must still be what
the Python codec, stats and metadata code produce: a change on the Python side shows here,
and the Java tests (`android_app/core/build.sh`) pin the app to the same files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from handlite.codec import HeatmapCodec

HERE = Path(__file__).resolve().parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_golden = _load_generator()
GOLDEN = make_golden.GOLDEN_DIR
INDEX = json.loads((GOLDEN / "index.json").read_text())


def _maps(case: dict) -> np.ndarray:
    data = np.fromfile(GOLDEN / case["file"], dtype="<f4")
    return data.reshape(case["shape"])


def _expected(values) -> np.ndarray:
    return np.array(values, dtype=object).astype(np.float64)  # None -> nan


@pytest.mark.parametrize("case", INDEX["cases"], ids=lambda c: c["name"])
def test_committed_vectors_are_what_the_codec_decodes(case):
    maps = _maps(case)
    h = case["shape"][0]
    codec = HeatmapCodec(input_size=h * case["stride"], stride=case["stride"], **case["decode"])
    with np.errstate(over="ignore"):
        keypoints, scores = codec.decode(maps)
    np.testing.assert_allclose(keypoints, _expected(case["keypoints"]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores, _expected(case["scores"]), atol=1e-7, rtol=0)


@pytest.mark.parametrize("use_jit", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("case", INDEX["quantized_cases"], ids=lambda c: c["name"])
def test_committed_quantized_vectors_are_what_decode_quantized_gives(case, use_jit):
    raw = np.fromfile(GOLDEN / case["file"], dtype=case["dtype"]).reshape(case["shape"])
    codec = HeatmapCodec(input_size=case["shape"][0] * case["stride"], stride=case["stride"],
                         **case["decode"])
    codec.use_jit = use_jit  # both Python paths give what the Java twin is pinned to
    keypoints, scores = codec.decode_quantized(raw, case["scale"], case["zero_point"])
    np.testing.assert_allclose(keypoints, _expected(case["keypoints"]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(scores, _expected(case["scores"]), atol=1e-7, rtol=0)


def test_quantized_vectors_exercise_the_fallback_and_both_dtypes():
    cases = INDEX["quantized_cases"]
    assert sum(len(c["moved_by_fallback"]) for c in cases) >= 5
    assert {c["dtype"] for c in cases} == {"int8", "uint8"}
    assert any(c["name"].endswith("_float_path") for c in cases)


def test_regenerating_reproduces_the_committed_files(tmp_path):
    index = make_golden.build(tmp_path)
    assert json.loads((tmp_path / "index.json").read_text()) == INDEX
    assert index["cases"] == INDEX["cases"]
    written = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in GOLDEN.iterdir() if not p.name.startswith("tiny_model"))
    assert written == committed
    for name in written:
        assert (tmp_path / name).read_bytes() == (GOLDEN / name).read_bytes(), name


def test_vectors_cover_the_hard_paths_and_stay_small():
    moved = sum(len(c["moved_by_fallback"]) for c in INDEX["cases"])
    sizes = {c["shape"][0] for c in INDEX["cases"]}
    assert moved >= 5 and {56, 28} <= sizes
    notes = " ".join(n for c in INDEX["cases"] for n in c["notes"].values())
    for what in ("corner", "edge", "fallback", "flat", "NaN", "+inf", "tie"):
        assert what in notes, what
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    assert total < 1_000_000


@pytest.mark.parametrize("case", INDEX["preprocess"]["cases"], ids=lambda c: c["name"])
def test_committed_crops_are_what_the_runtime_makes(case):
    from handlite.runtime import extract_crop, square_crop

    pre = INDEX["preprocess"]
    image = np.fromfile(GOLDEN / pre["image"], np.uint8).reshape(pre["height"], pre["width"], 3)
    crop = square_crop(image.shape, case["size"], case["box"], case["scale"])
    assert crop.to_dict() == {**case["crop"], "size": case["size"]}
    resized = extract_crop(image, crop, pre["pad_value"])
    if case["left"]:
        resized = resized[:, ::-1]
    committed = np.fromfile(GOLDEN / case["file"], np.uint8).reshape(resized.shape)
    np.testing.assert_array_equal(resized, committed)


def test_the_guard_rejects_maps_an_independent_decoder_may_decode_differently():
    codec = HeatmapCodec(input_size=112, stride=4)
    maps, _ = make_golden.lowconf_maps(28, 4, np.random.default_rng(0))
    maps = maps.copy()
    maps[..., 2] = 0.25  # a flat map next to confident keypoints: every cell ties
    problems = make_golden.ambiguities(maps, codec)
    assert any("keypoint 2" in p and "tie" in p for p in problems), problems


def test_tiny_model_is_a_real_model_with_the_stored_metadata():
    from ai_edge_litert.interpreter import Interpreter

    from handlite.metadata import read_metadata

    path = GOLDEN / "tiny_model.tflite"
    assert path.stat().st_size < 200_000
    meta = read_metadata(path, required=True)
    assert meta == json.loads((GOLDEN / "tiny_model.json").read_text())
    rebuilt = make_golden.tiny_model_metadata()
    assert {k: v for k, v in rebuilt.items() if k != "handlite_version"} == \
        {k: v for k, v in meta.items() if k != "handlite_version"}
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    assert list(inp["shape"]) == meta["input"]["shape"]
    assert list(out["shape"]) == [1, meta["heatmap_size"], meta["heatmap_size"],
                                  meta["num_keypoints"] + 1]
