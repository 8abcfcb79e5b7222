"""The full 8-variant matrix on the shipped model: export, then parity must pass (slow tier)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from handlite.metadata import read_metadata
from handlite.variants import variants

MODEL = Path(__file__).resolve().parents[2] / "models" / "handlite_224.keras"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped():
    if not MODEL.is_file():
        pytest.skip(f"shipped model {MODEL} not present")
    return MODEL


def test_export_and_parity_of_all_variants(shipped, run_cli, tmp_path):
    code, out, err = run_cli("export", shipped, "--out", tmp_path, "--json")
    assert code == 0, err
    report = json.loads(out)
    names = [v["variant"] for v in report["variants"]]
    assert sorted(names) == sorted(variants())
    files = [tmp_path / v["file"] for v in report["variants"]]
    for f, name in zip(files, names):
        assert read_metadata(f, required=True)["variant"] == name

    junit = tmp_path / "parity.xml"
    code, out, err = run_cli("parity", shipped, *files, "--count", "64", "--junit", junit,
                             "--json")
    doc = json.loads(out)
    assert code == 0, [(v["variant"], v["failures"]) for v in doc["variants"]]
    by_name = {v["variant"]: v for v in doc["variants"]}
    for size in (112, 224):
        assert by_name[f"{size}_float32"]["keypoint_epe_max_px"] <= 0.01
        assert by_name[f"{size}_float32"]["source_model_match"] is True
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert sorted(c.get("name") for c in cases) == sorted(variants())


def test_in_graph_decode_variants_pass_parity(shipped, run_cli, tmp_path):
    code, out, err = run_cli("export", shipped, "--size", "224", "--precision", "float32",
                             "--precision", "int8", "--decode", "keypoints", "--out", tmp_path,
                             "--json")
    assert code == 0, err
    files = [tmp_path / v["file"] for v in json.loads(out)["variants"]]
    code, out, err = run_cli("parity", shipped, *files, "--count", "64", "--json")
    doc = json.loads(out)
    assert code == 0, [(v["variant"], v["failures"]) for v in doc["variants"]]
    by_name = {v["variant"]: v for v in doc["variants"]}
    # the graph's decode against HeatmapCodec on the Keras maps (DESIGN: agree to 1e-4 px;
    # float32 summation order in the network leaves a little more)
    assert by_name["224_float32_keypoints"]["keypoint_epe_max_px"] <= 0.01
