"""A briefly trained tiny network and its four exports at 64 px, shared by the export tests.

A random network outputs near-zero, input-independent maps and proves nothing about parity, so
the fixture fits the tiny network (full MobileNetV2 encoder, head 16 -> 8 -> 8) for a dozen
eager steps on synthetic hands with Gaussian targets. BatchNorm momentum 0 makes the moving
statistics those of the last batch, so inference matches what was fitted after so few steps.
"""

from __future__ import annotations

import numpy as np
import pytest

SIZE = 64
PRECISIONS = ("float32", "float16", "dynamic", "int8")


def train_tiny(path, steps: int = 12, seed: int = 0):
    import keras
    import tensorflow as tf

    from handlite.codec import HeatmapCodec
    from handlite.data import load_eval_set
    from handlite.data.pipeline import normalize
    from handlite.model import build_model

    data = load_eval_set("synth", SIZE, 32)
    x = normalize(data.images)
    y = HeatmapCodec(SIZE).encode_batch(data.keypoints, data.visible)
    keras.utils.set_random_seed(seed)
    model = build_model(SIZE, head_width=16, up_widths=(8, 8))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    opt = keras.optimizers.Adam(5e-3)
    variables = model.trainable_variables
    for step in range(steps):
        i = (step * 16) % len(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x[i:i + 16], training=True) - y[i:i + 16]) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    model.save(path)
    return model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """(path, keras model) of the briefly trained tiny network."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    model = train_tiny(path)
    maps = model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32), verbose=0)
    assert maps[..., :21].max() > 0.2, "the fixture network did not learn any peak"
    return path, model


@pytest.fixture(scope="session")
def exported(tiny_model, tmp_path_factory):
    """ExportReport of all four precisions at 64 px (32 calibration crops: fast, and it
    exercises the small-calibration warning)."""
    from handlite.export import export

    path, model = tiny_model
    out = tmp_path_factory.mktemp("exported")
    warnings = []
    report = export(path, out, sizes=[SIZE], precisions=list(PRECISIONS), calibration_count=32,
                    model=model, warn=warnings.append)
    report.captured_warnings = warnings
    return report
