"""Quantisation-aware fine-tuning: the simulation rounds where and as the int8 export does."""

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from handlite.data.synthetic import write_dataset
from handlite.errors import UsageError
from handlite.qat import (QuantizationSimulation, fake_quant_kernel, fake_quant_tensor,
                          int8_grid, quantized_tensors)
from handlite.train import TrainConfig, train


MODEL = Path(__file__).resolve().parents[1] / "models" / "handlite_112.keras"


@pytest.fixture(scope="module")
def net():
    """The shipped 112 network at 64 px (a random one's activations vanish to ~1e-8)."""
    from handlite.model import load_model, raw_network

    return raw_network(load_model(str(MODEL), input_size=64))


@pytest.fixture(scope="module")
def crops():
    from handlite.data.pipeline import normalize

    rng = np.random.default_rng(5)
    return normalize(rng.integers(0, 256, (24, 64, 64, 3), dtype=np.uint8))


def test_fused_tensors_are_not_rounded(net):
    names = set(quantized_tensors(net))
    # conv -> BN -> ReLU6 is one int8 op: only the activation's output is rounded
    assert "block_1_expand_relu" in names
    assert not {"block_1_expand", "block_1_expand_BN"} & names
    # a linear projection's BN output, a residual Add, the decoder's LeakyReLU, the heatmaps
    assert {"block_1_project_BN", "block_2_add", "head_leaky", "heatmaps"} <= names
    # zero padding keeps its input's grid; the input crop is not re-rounded
    assert not any(n.endswith("_pad") or n == "image" for n in names)


def test_kernel_rounding_is_symmetric_int8_per_output_channel():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 8, 5)).astype(np.float32) * rng.uniform(0.01, 3, 5)
    q = np.asarray(fake_quant_kernel(kernel, (0, 1, 2)))
    for c in range(5):
        scale = np.abs(kernel[..., c]).max() / 127
        steps = q[..., c] / scale
        assert np.allclose(steps, np.round(steps), atol=1e-3)  # on the channel's grid
        assert np.abs(q[..., c] - kernel[..., c]).max() <= scale / 2 + 1e-6
        assert np.isclose(np.abs(q[..., c]).max(), np.abs(kernel[..., c]).max())


def test_tensor_rounding_on_tflite_grid_with_straight_through_gradient():
    import tensorflow as tf

    scale, zero = int8_grid(-1.0, 3.0)
    assert np.isclose(scale, 4 / 255) and zero == -64.0
    assert int8_grid(0.5, 2.0) == int8_grid(0.0, 2.0)  # the range always holds 0
    x = tf.constant([-2.0, -0.3, 0.0, 0.1234, 2.9, 5.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fake_quant_tensor(x, scale, zero)
    values = y.numpy()
    codes = values / scale + zero
    assert np.allclose(codes, np.round(codes), atol=1e-3) and codes.min() >= -128
    assert values[2] == 0.0  # zero is exact
    assert np.isclose(values[0], (-128 - zero) * scale) and np.isclose(values[-1],
                                                                        (127 - zero) * scale)
    # straight through inside the range, nothing outside it
    assert tape.gradient(y, x).numpy().tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_grids_are_the_converters_grids(net, crops):
    """Each rounded tensor's (scale, zero point) equals the one TFLite's int8 converter gives
    the same tensor after calibrating on the same crops (the simulation is of that graph)."""
    import tensorflow as tf

    from handlite.export import convert
    from handlite.variants import Variant

    sim = QuantizationSimulation(net)
    sim.calibrate([crops[i:i + 8] for i in range(0, len(crops), 8)])
    tflite = convert(net, Variant("64_int8", 64, "int8"), io="float32", calibration=crops)
    details = tf.lite.Interpreter(model_content=tflite).get_tensor_details()
    matched = widened = 0
    for name in sim.names:
        shape = tuple(net.get_layer(name).output.shape[1:])
        found = [d for d in details if re.search(rf"/{re.escape(name)}(_\d+)?/", d["name"])
                 and d["dtype"] == np.int8 and tuple(d["shape"][1:]) == shape]
        if not found:
            continue
        scale, zero = found[-1]["quantization"]
        ours = sim.quantizers[name].grid.numpy()
        if name in sim.add_of and not np.isclose(ours[0], scale, rtol=1e-4):
            widened += 1  # the one Add input the converter leaves unwidened (module doc)
            assert ours[0] > scale
            continue
        assert np.isclose(ours[0], scale, rtol=1e-4), name
        assert abs(ours[1] - zero) <= 1, name
        matched += 1
    assert matched >= 0.9 * len(sim.names) and widened <= 1


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    write_dataset(out, 16, seed=21, size=96, left_fraction=0.25)
    return out


def test_qat_fine_tune_freezes_bn_saves_the_float_network_and_resumes(tiny_set, tmp_path):
    from handlite.model import load_model

    base = tmp_path / "base.keras"
    common = dict(data=f"synth:{tiny_set}", size=64, batch=8, val_split=0.25,
                  steps_per_epoch=2, optimizer="adam", bn_batches=2)
    train(TrainConfig(out=str(base), epochs=1, **common))
    before = load_model(str(base))
    stats = {l.name: np.asarray(l.moving_variance).copy() for l in before.layers
             if type(l).__name__ == "BatchNormalization"}

    out = tmp_path / "q.keras"
    cfg = TrainConfig(out=str(out), epochs=1, qat=True, init=str(base), **common)
    summary = train(cfg)
    assert 0.0 <= summary["last"]["val_auc_int8_sim"] <= 1.0
    after = load_model(str(out))  # a plain float network: no simulation layers saved
    assert [l.name for l in after.layers] == [l.name for l in before.layers]
    for layer in after.layers:
        if layer.name in stats:
            assert np.array_equal(np.asarray(layer.moving_variance), stats[layer.name])
    moved = np.abs(after.get_layer("heatmaps").get_weights()[0]
                   - before.get_layer("heatmaps").get_weights()[0]).max()
    assert moved > 0

    again = train(TrainConfig(**{**cfg.__dict__, "init": None, "resume": True, "epochs": 2}))
    assert again["epochs_run"] == 1 and again["epochs_total"] == 2
    with open(tmp_path / "q.run" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[1]["val_auc_int8_sim"]


def test_qat_needs_a_trained_network_and_calibration_batches(tiny_set, tmp_path):
    base = dict(data=f"synth:{tiny_set}", out=str(tmp_path / "m.keras"), qat=True)
    with pytest.raises(UsageError, match="--init"):
        TrainConfig(**base).check()
    with pytest.raises(UsageError, match="--bn-batches"):
        TrainConfig(**base, init=str(tmp_path / "x.keras"), bn_batches=0).check()
