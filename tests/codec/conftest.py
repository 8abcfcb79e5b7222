"""The frozen pre-fast-path decoder (reference_decoder.py) as a fixture: the oracle of the
single-frame and quantised fast paths."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "handlite_reference_decoder", Path(__file__).resolve().parent / "reference_decoder.py")
reference_decoder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference_decoder)


@pytest.fixture
def reference():
    """reference(codec, maps) -> what the decoder of b1cea02 returns for `codec`'s settings."""
    return lambda codec, maps: reference_decoder.ReferenceDecoder(codec).decode(maps)


@pytest.fixture(autouse=True, params=[True, False], ids=["jit", "numpy"])
def decode_path(request, monkeypatch):
    """Every test here runs on both paths of decode_quantized: compiled (numba) and numpy."""
    from handlite.codec import quantized
    from handlite.codec import HeatmapCodec

    if request.param:
        assert quantized.available(), "numba is a dependency: the compiled decode must load"
    monkeypatch.setattr(HeatmapCodec, "use_jit", request.param)
    return request.param
