"""ImageNet weights: the torch checkpoint reader, the conversion, and proof on a photo."""

import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from handlite import backbone
from handlite.model import classifier, set_weights_by_name
from handlite.config import Normalization
from handlite.errors import ModelError

# ---------------------------------------------------------------- writing torch's formats
# Checkpoints are written here the way torch.save lays them out (the legacy pickle stream and
# the zip archive), through stand-in `torch` modules so pickle records the same globals.


class _FakeStorage:
    def __init__(self, key, kind, data):
        self.key, self.kind, self.data = key, kind, data


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


@pytest.fixture
def fake_torch(monkeypatch):
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for kind in ("FloatStorage", "LongStorage"):
        setattr(torch, kind, type(kind, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _state(torch):
    a = np.arange(24, dtype=np.float32)
    st_a = _FakeStorage("0", torch.FloatStorage, a)
    st_b = _FakeStorage("1", torch.LongStorage, np.array([7, 8, 9], np.int64))
    state = OrderedDict([
        ("w", _FakeTensor(st_a, 0, (2, 3, 4), (12, 4, 1))),
        ("wt", _FakeTensor(st_a, 1, (3, 2), (1, 12))),  # a strided view into the same storage
        ("n", _FakeTensor(st_b, 2, (), ())),
    ])
    return state, [st_a, st_b]


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            return ("storage", obj.kind, obj.key, "cpu", obj.data.size)
        return None


def _write_legacy(path, state, storages):
    buf = io.BytesIO()
    for header in (backbone._LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(header, buf, protocol=2)
    _Pickler(buf, protocol=2).dump(state)
    pickle.dump([s.key for s in storages], buf, protocol=2)
    for s in storages:
        buf.write(struct.pack("<q", s.data.size) + s.data.tobytes())
    path.write_bytes(buf.getvalue())


def _write_zip(path, state, storages):
    pkl = io.BytesIO()
    _Pickler(pkl, protocol=2).dump(state)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl.getvalue())
        for s in storages:
            zf.writestr(f"archive/data/{s.key}", s.data.tobytes())


@pytest.mark.parametrize("writer", [_write_legacy, _write_zip])
def test_reader_rebuilds_tensors_and_views(tmp_path, fake_torch, writer):
    state, storages = _state(fake_torch)
    path = tmp_path / "ck.pth"
    writer(path, state, storages)
    out = backbone.read_torch_checkpoint(path)
    a = np.arange(24, dtype=np.float32)
    np.testing.assert_array_equal(out["w"], a.reshape(2, 3, 4))
    np.testing.assert_array_equal(out["wt"], np.lib.stride_tricks.as_strided(
        a[1:], (3, 2), (4, 48)))
    assert out["n"] == 9 and out["n"].dtype == np.int64


def test_reader_refuses_code_and_broken_files(tmp_path, fake_torch):
    evil = tmp_path / "evil.pth"

    class Boom:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    for header in (backbone._LEGACY_MAGIC, 1001, {}):
        pickle.dump(header, buf, protocol=2)
    pickle.dump({"x": Boom()}, buf, protocol=2)
    evil.write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match="refusing to load"):
        backbone.read_torch_checkpoint(evil)

    state, storages = _state(fake_torch)
    good = tmp_path / "good.pth"
    _write_legacy(good, state, storages)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(ModelError, match="truncated"):
        backbone.read_torch_checkpoint(cut)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="junk.pth"):
        backbone.read_torch_checkpoint(junk)
    with pytest.raises(ModelError, match="cannot read"):
        backbone.read_torch_checkpoint(tmp_path / "missing.pth")


def test_input_affine_maps_our_normalisation_onto_torchvisions():
    a, b = backbone.input_affine()
    pixels = np.array([0.0, 37.0, 128.0, 255.0])[:, None]
    ours = (pixels - 128.0) / 127.5
    theirs = (pixels / 255.0 - np.array(backbone.TORCH_MEAN)) / np.array(backbone.TORCH_STD)
    np.testing.assert_allclose(a * ours + b, theirs, atol=1e-12)


# ---------------------------------------------------------------- the real checkpoint
@pytest.fixture(scope="module")
def imagenet():
    try:
        path = backbone.default_checkpoint()
    except ModelError as exc:
        pytest.skip(str(exc))
    return backbone.read_torch_checkpoint(path)


# ImageNet-1k class indices (0-based) of the classes named below
MILITARY_UNIFORM, BOW_TIE, SUIT, MORTARBOARD, ACADEMIC_GOWN = 652, 457, 834, 667, 400


def _grace_hopper(size=224):
    import cv2
    from matplotlib import cbook

    img = cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_converted_classifier_names_the_photo(imagenet):
    """torchvision's weights in our encoder (our normalisation folded into the stem, PyTorch
    padding) + its classifier: Grace Hopper in her navy uniform, with a bow tie and suit."""
    from handlite.data.pipeline import normalize

    model = classifier(224, padding="torch")
    assert set_weights_by_name(model, backbone.torchvision_to_keras(imagenet)) == 105
    p = _softmax(np.asarray(model(normalize(_grace_hopper()[None]), training=False))[0])
    top5 = list(np.argsort(-p)[:5])
    assert top5[0] == MILITARY_UNIFORM
    assert {BOW_TIE, SUIT} <= set(top5)


def test_folding_the_normalisation_changes_nothing_inside_the_image(imagenet):
    """The same network fed torchvision's own normalisation with unfolded weights gives the
    same logits (up to the one-pixel border, where zero padding means different pixels)."""
    from handlite.data.pipeline import normalize

    img = _grace_hopper()[None]
    folded = classifier(224)
    set_weights_by_name(folded, backbone.torchvision_to_keras(imagenet))
    torch_norm = Normalization(mean=tuple(255 * m for m in backbone.TORCH_MEAN),
                               std=tuple(255 * s for s in backbone.TORCH_STD))
    plain = classifier(224)
    set_weights_by_name(plain, backbone.torchvision_to_keras(imagenet, norm=torch_norm))
    ours = np.asarray(folded(normalize(img), training=False))[0]
    theirs = np.asarray(plain(normalize(img, torch_norm), training=False))[0]
    assert np.argmax(ours) == np.argmax(theirs)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.999


def test_network_starts_from_imagenet_and_refuses_misfits(imagenet, tmp_path):
    from handlite.model import build_model

    model = build_model(64, head_width=16, up_widths=(8, 8), backbone_weights="imagenet")
    want = backbone.torchvision_to_keras(imagenet)
    for name in ("Conv1", "block_13_depthwise", "block_16_project_BN"):
        for mine, theirs in zip(model.get_layer(name).get_weights(), want[name]):
            np.testing.assert_array_equal(mine, theirs)
    scratch = build_model(64, head_width=16, up_widths=(8, 8), backbone_weights="none")
    assert not np.array_equal(scratch.get_layer("Conv1").get_weights()[0], want["Conv1"][0])
    with pytest.raises(ModelError, match="not found"):
        build_model(64, backbone_weights=tmp_path / "missing.pth")
