"""The Keras reference: one rebuilt net, crop set and heatmap set per size, made once."""

from __future__ import annotations

import numpy as np

from handlite.reference import KerasReference

SIZE = 64


def test_reference_caches_per_size_and_matches_a_direct_predict(tiny_model):
    from handlite.data import load_eval_set
    from handlite.data.pipeline import normalize

    path, model = tiny_model
    ref = KerasReference(path=path)
    assert ref.net(SIZE) is ref.net(SIZE) and ref.trained_size == SIZE
    assert ref.net(32) is not ref.net(SIZE) and ref.net(32).input_shape[1] == 32
    maps = ref.heatmaps(SIZE, 4)
    assert ref.heatmaps(SIZE, 4) is maps and ref.crops(SIZE, 4) is ref.crops(SIZE, 4)
    direct = model.predict(normalize(load_eval_set("synth", SIZE, 4).images), verbose=0)
    assert maps.dtype == np.float32 and np.allclose(maps, direct, atol=1e-5)
    assert ref.sha256 and len(ref.sha256) == 64
