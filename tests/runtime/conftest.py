"""Fixtures: tiny .tflite models whose keypoints are known from the image alone.

The "dot model" (input S = 64, stride 4, 16 x 16 maps): average-pool 4x4, then a fixed 1x1
convolution routes the red channel to keypoints 0-6, green to 7-13 and blue to 14-20
(background map constant). On a black image with one red, one green and one blue Gaussian
dot, every keypoint of a group decodes to the centre of its dot, so the whole pipeline - crop,
pad, resize, mirror, normalise/quantise, decode, mapping back - is checked against positions
known in advance, with no trained network.
"""

from __future__ import annotations

import numpy as np
import pytest

from handlite.keypoints import NUM_KEYPOINTS

SIZE = 64
STRIDE = 4
GROUPS = (range(0, 7), range(7, 14), range(14, 21))  # red, green, blue
#: dot centres (x, y) used across the tests, on a 200 x 160 image
CENTRES_TEST = [(50.3, 40.7), (90.0, 120.2), (130.6, 70.1)]


def _dot_keras():
    import keras

    inputs = keras.Input((SIZE, SIZE, 3), batch_size=1, name="image")
    x = keras.layers.AveragePooling2D(STRIDE, name="pool")(inputs)
    conv = keras.layers.Conv2D(NUM_KEYPOINTS + 1, 1, name="heatmaps")
    out = conv(x)
    kernel = np.zeros((1, 1, 3, NUM_KEYPOINTS + 1), np.float32)
    for channel, group in enumerate(GROUPS):
        kernel[0, 0, channel, list(group)] = 1.0
    # grey (128, also the pad value) normalises to ~0, so maps are ~0 away from the dots
    conv.set_weights([kernel, np.zeros(NUM_KEYPOINTS + 1, np.float32)])
    return keras.Model(inputs, out)


def _convert(model, precision: str) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "int8":
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(16):
                img = np.zeros((SIZE, SIZE, 3), np.float32)
                y, x = rng.integers(4, SIZE - 4, 2)
                img[y - 3:y + 4, x - 3:x + 4] = rng.uniform(0, 1, 3)
                yield [img[None]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.int8
    return conv.convert()


def _with_metadata(data: bytes, precision: str) -> bytearray:
    from ai_edge_litert.interpreter import Interpreter

    from handlite.metadata import build_metadata, embed_metadata, tensor_spec

    interp = Interpreter(model_content=data)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]

    def spec(d, name):
        scale, zp = d["quantization"]
        return tensor_spec(name, d["shape"], np.dtype(d["dtype"]).name,
                           scale or None, zp if scale else None)

    meta = build_metadata(variant=f"{SIZE}_{precision}", input_size=SIZE, precision=precision,
                          input=spec(i, "image"),
                          output={**spec(o, "heatmaps"), "kind": "heatmaps"},
                          source_model_sha256=None, stride=STRIDE, sigma=1.5)
    return embed_metadata(data, meta)


@pytest.fixture(scope="session")
def dot_models(tmp_path_factory) -> dict[str, object]:
    """{"float32": path, "int8": path, "foreign": path (no metadata)}."""
    folder = tmp_path_factory.mktemp("dot_models")
    model = _dot_keras()
    paths = {}
    for precision in ("float32", "int8"):
        raw = _convert(model, precision)
        path = folder / f"dot_{SIZE}_{precision}.tflite"
        path.write_bytes(bytes(_with_metadata(raw, precision)))
        paths[precision] = path
        if precision == "float32":
            foreign = folder / "foreign.tflite"
            foreign.write_bytes(raw)
            paths["foreign"] = foreign
    return paths


def dot_image(shape, centres, sigma: float = 4.0) -> np.ndarray:
    """Grey (H, W, 3) uint8 image with a Gaussian dot in each colour channel at `centres`
    (3 x (x, y), pixel-centre convention)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), np.float64)
    for channel, (cx, cy) in enumerate(centres):
        img[..., channel] = 128 + 127 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2)
                                               / (2 * sigma ** 2))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def expected_keypoints(centres) -> np.ndarray:
    """(21, 2): each keypoint at its group's dot."""
    out = np.zeros((NUM_KEYPOINTS, 2))
    for (cx, cy), group in zip(centres, GROUPS):
        out[list(group)] = (cx, cy)
    return out
