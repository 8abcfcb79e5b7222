"""The recipe table: looked up by name, typos get hints, tolerances per precision."""

from __future__ import annotations

import pytest

from handlite.errors import InputError, UsageError
from handlite.variants import get_variant, recipes, select, tolerances, variants


def test_matrix_is_sizes_times_precisions_by_name():
    table = variants()
    assert set(table) == {f"{s}_{p}" for s in (112, 224)
                          for p in ("float32", "float16", "dynamic", "int8")}
    v = get_variant("224_int8")
    assert (v.size, v.precision, v.filename) == (224, "int8", "handlite_224_int8.tflite")


def test_typo_gets_a_close_match():
    with pytest.raises(UsageError) as info:
        get_variant("224_in8")
    assert "did you mean '224_int8'" in str(info.value)
    with pytest.raises(UsageError, match="did you mean 'float16'"):
        select(precisions=["flaot16"])


def test_tolerances_get_looser_with_coarser_precision():
    order = [tolerances(p) for p in ("float32", "float16", "dynamic", "int8")]
    for finer, coarser in zip(order, order[1:]):
        assert finer.keypoint_epe_mean_px <= coarser.keypoint_epe_mean_px
        assert finer.heatmap_max_abs <= coarser.heatmap_max_abs
        assert finer.cosine_min >= coarser.cosine_min
    assert order[0].keypoint_epe_max_px <= 0.01  # the bar for float32


def test_select_makes_ad_hoc_sizes_and_refuses_bad_ones():
    chosen = select([64], ["int8", "float32"])
    assert [v.name for v in chosen] == ["64_int8", "64_float32"]
    assert select([224], ["int8"])[0] is get_variant("224_int8")
    with pytest.raises(UsageError, match="multiple of 16"):
        select([100])


def test_broken_recipe_file_is_an_input_error(tmp_path, monkeypatch):
    bad = tmp_path / "variants.toml"
    bad.write_text('format = "handlite.variants/1"\n[variant.224_int8]\nsize = 224\n'
                   'precision = "int8"\n')
    with pytest.raises(InputError, match="no \\[precision"):
        recipes(bad)
    bad.write_text("this is = = not toml")
    with pytest.raises(InputError, match="not valid TOML"):
        recipes(bad)
    monkeypatch.setenv("HANDLITE_RECIPES", str(tmp_path / "missing.toml"))
    with pytest.raises(InputError, match="recipe file not found"):
        variants()


def test_recipes_ship_inside_the_package(monkeypatch):
    """The table is package data: found without a source tree or an environment variable."""
    from importlib import resources

    monkeypatch.delenv("HANDLITE_RECIPES", raising=False)
    shipped = resources.files("handlite").joinpath("recipes", "variants.toml")
    assert shipped.is_file()
    assert recipes().path.name == "variants.toml" and "224_int8" in recipes().variants
