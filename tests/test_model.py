import json

import numpy as np
import pytest

from handlite.errors import ModelError, UsageError
from handlite.model import (build_model, copy_weights_by_name, load_backbone_weights, rebuild,
                            summarize)


@pytest.fixture(scope="module")
def net224():
    return build_model(224)


def test_shapes_at_224_and_112(net224):
    assert net224.output_shape == (None, 56, 56, 22)
    assert build_model(112).output_shape == (None, 28, 28, 22)
    assert build_model(96).output_shape == (None, 24, 24, 22)


def test_block_13_has_no_stride_and_encoder_stride_is_16(net224):
    layer = net224.get_layer("block_13_depthwise")
    assert tuple(layer.strides) == (1, 1) and layer.padding == "same"
    assert "block_13_pad" not in {l.name for l in net224.layers}
    assert net224.get_layer("block_16_project_BN").output.shape[1:3] == (14, 14)
    info = summarize(net224)
    assert info.encoder_stride == 16 and info.output_stride == 4


def test_layer_names_match_keras_mobilenetv2(net224):
    import keras
    ref = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False,
                                         weights=None)
    ours = {l.name: l for l in net224.layers}
    for layer in ref.layers:
        if not layer.weights or layer.name in ("Conv_1", "Conv_1_bn"):
            continue
        assert layer.name in ours
        assert [w.shape for w in layer.weights] == [w.shape for w in ours[layer.name].weights]


def test_backbone_weights_load_by_name(tmp_path, net224):
    import keras
    ref = keras.applications.MobileNetV2(input_shape=(224, 224, 3), include_top=False,
                                         weights=None)
    rng = np.random.default_rng(0)
    for layer in ref.layers:
        if layer.weights:
            layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in
                               layer.get_weights()])
    path = tmp_path / "mnv2_no_top.weights.h5"
    ref.save_weights(path)
    model = build_model(224, backbone_weights=path, padding="keras")
    for name in ("Conv1", "block_5_expand", "block_13_depthwise", "block_16_project_BN"):
        for mine, theirs in zip(model.get_layer(name).get_weights(),
                                ref.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)


def test_unfitting_weights_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.weights.h5"
    small = build_model(64, head_width=8, up_widths=(8, 8))
    small.save_weights(bogus)  # a handlite file, not a MobileNetV2 one
    with pytest.raises(ModelError, match="MobileNetV2"):
        build_model(64, backbone_weights=bogus, padding="keras")
    with pytest.raises(ModelError, match="not found"):
        build_model(64, backbone_weights=tmp_path / "missing.h5")
    other = build_model(64, head_width=16)
    with pytest.raises(ModelError, match="do not fit"):
        copy_weights_by_name(small, other)


def test_rebuild_keeps_weights_and_outputs_scale(tmp_path):
    model = build_model(64, head_width=16, up_widths=(8, 8))
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.1, w.shape).astype("float32")
                               for w in layer.get_weights()])
    big = rebuild(model, 128)
    assert big.output_shape == (None, 32, 32, 22)
    for a, b in zip(model.weights, big.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(UsageError):
        rebuild(model, 100)


def test_macs_counted_from_layers():
    model = build_model(224)
    info = summarize(model)
    # 4x the pixels at 224 than at 112 -> 4x the MACs (fully convolutional)
    assert summarize(build_model(112)).macs * 4 == info.macs
    assert 3e8 < info.macs < 1e9 and 1.5e6 < info.params < 3e6


def test_cli_summary_json(run_cli):
    code, out, _ = run_cli("model", "summary", "--size", "224", "--json")
    data = json.loads(out)
    assert code == 0 and data["output_shape"] == [56, 56, 22] and data["encoder_stride"] == 16
    assert {"input_size", "params", "macs"} <= set(data)
    code, out, _ = run_cli("model", "summary", "--size", "112", "--json")
    assert json.loads(out)["output_shape"] == [28, 28, 22]


def test_cli_bad_size_is_one_line_exit_2(run_cli):
    code, out, err = run_cli("model", "summary", "--size", "100")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------ heatmap smoothing
def _random_small_net(size=64):
    model = build_model(size, head_width=16, up_widths=(8, 8))
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.1, w.shape).astype("float32")
                               for w in layer.get_weights()])
    return model


def test_smoothing_kernel_keeps_a_target_peak_and_passes_the_background():
    import cv2

    from handlite.codec import HeatmapCodec
    from handlite.model import smoothing_kernel

    kernel = smoothing_kernel(1.6, 22, target_sigma=2.0)
    assert kernel.shape == (11, 11, 22, 1)
    assert kernel[:, :, 0, 0].sum() == pytest.approx((4 + 1.6 ** 2) / 4, rel=1e-5)
    background = kernel[:, :, 21, 0]
    assert background[5, 5] == 1.0 and background.sum() == 1.0
    # a target-shaped map (codec's own sigma-2 Gaussian) keeps its peak within 1 %
    target = HeatmapCodec(224, sigma=2.0).encode(np.full((21, 2), 110.0))[..., 0]
    blurred = cv2.filter2D(target, -1, kernel[:, :, 0, 0], borderType=cv2.BORDER_CONSTANT)
    assert blurred.max() == pytest.approx(target.max(), rel=0.01)
    with pytest.raises(UsageError):
        smoothing_kernel(0.0, 22)


def test_with_smoothing_blurs_the_raw_maps_and_survives_save_and_rebuild(tmp_path):
    import cv2

    from handlite.model import (SMOOTHING_NAME, load_model, raw_network, smoothing_of,
                                with_smoothing)

    raw = _random_small_net(64)
    smooth = with_smoothing(raw, 1.3)
    x = np.random.default_rng(0).normal(0, 1, (2, 64, 64, 3)).astype("float32")
    want_raw = np.asarray(raw(x))
    got = np.asarray(smooth(x))
    gain = (4 + 1.3 ** 2) / 4
    for n in range(2):
        for k in (0, 7, 20):
            ref = cv2.GaussianBlur(want_raw[n, ..., k], (11, 11), 1.3,
                                   borderType=cv2.BORDER_CONSTANT) * gain
            np.testing.assert_allclose(got[n, ..., k], ref, atol=2e-4 * np.abs(ref).max())
    np.testing.assert_allclose(got[..., 21], want_raw[..., 21], atol=1e-6)

    info = smoothing_of(smooth)
    assert info["sigma"] == pytest.approx(1.3, abs=1e-4) and info["gain"] == pytest.approx(gain)
    assert summarize(smooth).smoothing_sigma == pytest.approx(1.3, abs=1e-4)
    assert smoothing_of(raw) is None and summarize(raw).smoothing_sigma == 0.0
    assert summarize(smooth).trainable_params == summarize(raw).trainable_params

    path = tmp_path / "s.keras"
    smooth.save(str(path))
    loaded = load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), got, atol=1e-5)
    # at another size the same smoothing follows the rebuilt network
    big = load_model(path, input_size=128)
    assert smoothing_of(big)["sigma"] == pytest.approx(1.3, abs=1e-4)
    assert big.output_shape == (None, 32, 32, 22)
    # stripping gives back the raw network's outputs; sigma 0 is the same
    stripped = raw_network(loaded)
    assert SMOOTHING_NAME not in {l.name for l in stripped.layers}
    np.testing.assert_allclose(np.asarray(stripped(x)), want_raw, atol=1e-5)
    np.testing.assert_allclose(np.asarray(with_smoothing(loaded, 0.0)(x)), want_raw, atol=1e-5)
    # replacing a smoothing does not stack a second one
    again = with_smoothing(loaded, 2.0)
    assert [l.name for l in again.layers].count(SMOOTHING_NAME) == 1
    assert smoothing_of(again)["sigma"] == pytest.approx(2.0, abs=1e-4)


def test_cli_smooth_writes_and_removes_the_smoothing(tmp_path, run_cli):
    from handlite.model import smoothing_of, load_model

    src = tmp_path / "raw.keras"
    _random_small_net(64).save(str(src))
    out = tmp_path / "smooth.keras"
    code, stdout, _ = run_cli("model", "smooth", str(src), "--sigma", "1.6", "--out", str(out),
                              "--json")
    assert code == 0 and json.loads(stdout)["sigma"] == pytest.approx(1.6)
    assert smoothing_of(load_model(out))["sigma"] == pytest.approx(1.6, abs=1e-4)
    code, stdout, _ = run_cli("model", "smooth", str(out), "--sigma", "0", "--out", str(out),
                              "--json")
    assert code == 0 and json.loads(stdout)["sigma"] == 0.0
    assert smoothing_of(load_model(out)) is None
    for bad in (["--sigma", "-1", "--out", str(out)], ["--out", str(tmp_path / "x.h5")]):
        code, stdout, err = run_cli("model", "smooth", str(src), *bad)
        assert code == 2 and stdout == "" and err.startswith("error: ")
        assert err.count("\n") == 1
