"""Export of a briefly trained tiny network: files, metadata, manifest, in-graph decode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from handlite.errors import ModelError, UsageError
from handlite.metadata import FORMAT, embed_metadata, read_metadata

SIZE = 64  # the conftest fixtures export at this size
PRECISIONS = ("float32", "float16", "dynamic", "int8")


def _by_precision(report):
    return {r.precision: r for r in report.results}


def test_four_precisions_load_and_describe_themselves(exported):
    from ai_edge_litert.interpreter import Interpreter

    assert exported.ok, [r.error for r in exported.results]
    results = _by_precision(exported)
    assert set(results) == set(PRECISIONS)
    sizes = {}
    for precision, r in results.items():
        path = Path(exported.out_dir) / r.file
        assert r.file == f"handlite_{SIZE}_{precision}.tflite"
        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        (out,) = interp.get_output_details()
        assert list(out["shape"]) == [1, SIZE // 4, SIZE // 4, 22]
        meta = read_metadata(path, required=True)
        assert meta["format"] == FORMAT
        assert (meta["variant"], meta["precision"], meta["input_size"]) == (
            f"{SIZE}_{precision}", precision, SIZE)
        assert meta["stride"] == 4 and meta["heatmap_size"] == SIZE // 4
        assert meta["output"]["kind"] == "heatmaps"
        assert len(meta["keypoint_names"]) == 21 and len(meta["skeleton"]) == 20
        assert meta["source_model_sha256"] == exported.source_sha256
        sizes[precision] = r.bytes
    # quantised weights really are smaller: float16 about half, int8 about a quarter
    assert sizes["float16"] < 0.6 * sizes["float32"]
    assert sizes["dynamic"] < 0.35 * sizes["float32"]
    assert sizes["int8"] < 0.35 * sizes["float32"]


def test_manifest_matches_the_files(exported):
    manifest = json.loads(Path(exported.manifest).read_text())
    entries = {e["file"]: e for e in manifest["variants"]}
    assert len(entries) == len(PRECISIONS)
    for r in exported.results:
        entry = entries[r.file]
        data = (Path(exported.out_dir) / r.file).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["conversion_seconds"] > 0
        assert entry["inputs"][0]["shape"] == [1, SIZE, SIZE, 3]
    assert entries[f"handlite_{SIZE}_int8.tflite"]["calibration"]["count"] == 32
    # fewer than the recipe's 100 calibration crops is allowed, but said out loud
    assert any("32 samples" in w for w in exported.captured_warnings)


def test_int8_with_uint8_io_records_its_quantisation(tiny_model, tmp_path):
    from handlite.export import export

    path, model = tiny_model
    report = export(path, tmp_path, sizes=[SIZE], precisions=["int8"], io="uint8",
                    calibration_count=16, model=model)
    (r,) = report.results
    assert r.ok, r.error
    meta = read_metadata(tmp_path / r.file, required=True)
    assert meta["input"]["dtype"] == "uint8" and meta["output"]["dtype"] == "uint8"
    # pinned so that the tensor holds the pixel itself: (q - 128) / 127.5 == (p - 128) / 127.5
    assert meta["input"]["scale"] == pytest.approx(1 / 127.5, rel=1e-6)
    assert meta["input"]["zero_point"] == 128
    assert meta["output"]["scale"] > 0 and meta["output"]["zero_point"] is not None
    from handlite.runtime import HandRuntime
    assert HandRuntime(tmp_path / r.file)._identity


def test_int8_input_holds_every_pixel_exactly_and_preprocess_xors(exported):
    """Default full-int8 I/O: input scale 1/127.5, zero point 0, so the tensor is pixel - 128;
    the runtime's XOR fast path must write exactly what the general table would."""
    from handlite.runtime import HandRuntime, extract_crop, input_lut

    r = _by_precision(exported)["int8"]
    path = Path(exported.out_dir) / r.file
    meta = read_metadata(path, required=True)
    assert meta["input"]["dtype"] == "int8" and meta["output"]["dtype"] == "int8"
    assert meta["input"]["scale"] == pytest.approx(1 / 127.5, rel=1e-6)
    assert meta["input"]["zero_point"] == 0
    rt = HandRuntime(path)
    assert rt._xor
    img = np.random.default_rng(8).integers(0, 256, (90, 70, 3), dtype=np.uint8)
    for box, left in ((None, False), ((5, 10, 50, 60), True)):
        rt.preprocess(img, box=box, left=left)
        tensor = rt.session.interpreter.get_tensor(rt.inputs[0]["index"])[0]
        crop = extract_crop(img, rt.crop_for(img.shape, box), rt.pad_value)
        if left:
            crop = crop[:, ::-1]
        norm = meta["normalization"]
        lut = input_lut(norm["mean"], norm["std"], "int8", *rt.inputs[0]["quantization"])
        want = np.take_along_axis(lut[0], crop.reshape(-1, 3).astype(np.intp), axis=0)
        assert np.array_equal(tensor.reshape(-1, 3).view(np.uint8), want)
        assert np.array_equal(tensor.astype(int), crop.astype(int) - 128)


def test_io_and_decode_options_are_checked(tiny_model, tmp_path):
    from handlite.export import export

    path, model = tiny_model
    with pytest.raises(UsageError, match="int8 variants only"):
        export(path, tmp_path, sizes=[SIZE], precisions=["float16"], io="uint8", model=model)
    with pytest.raises(UsageError, match="did you mean 'dynamic'"):
        export(path, tmp_path, sizes=[SIZE], precisions=["dynamc"], model=model)
    with pytest.raises(UsageError, match="unknown decode"):
        export(path, tmp_path, decode="boxes", model=model)
    assert not list(tmp_path.glob("*.tflite"))


def test_in_graph_decode_matches_the_codec(tiny_model, tmp_path):
    """The keypoints flavour decodes like HeatmapCodec (without its low-confidence fallback,
    which the graph does not carry) to well under a hundredth of a pixel."""
    from ai_edge_litert.interpreter import Interpreter

    from handlite.codec import DecodeSettings, HeatmapCodec
    from handlite.data import load_eval_set
    from handlite.data.pipeline import normalize
    from handlite.export import export

    path, model = tiny_model
    report = export(path, tmp_path, sizes=[SIZE], precisions=["float32"], decode="keypoints",
                    model=model)
    (r,) = report.results
    assert r.ok and r.file == f"handlite_{SIZE}_float32_keypoints.tflite"
    meta = read_metadata(tmp_path / r.file, required=True)
    assert meta["output"]["kind"] == "keypoints"
    x = normalize(load_eval_set("synth", SIZE, 8).images)
    maps = model.predict(x, verbose=0)
    codec = HeatmapCodec(SIZE, settings=DecodeSettings(min_confidence=0.0))
    want_kp, want_scores = codec.decode(maps)
    interp = Interpreter(model_path=str(tmp_path / r.file))
    interp.allocate_tensors()
    outs = {len(d["shape"]): d["index"] for d in interp.get_output_details()}
    for i in range(len(x)):
        interp.set_tensor(interp.get_input_details()[0]["index"], x[i:i + 1])
        interp.invoke()
        kp, scores = interp.get_tensor(outs[3])[0], interp.get_tensor(outs[2])[0]
        assert np.abs(kp - want_kp[i]).max() <= 1e-3
        np.testing.assert_allclose(scores, want_scores[i], rtol=1e-4, atol=1e-6)


def test_metadata_round_trip_replaces_and_refuses(exported, tmp_path):
    r = _by_precision(exported)["float32"]
    data = (Path(exported.out_dir) / r.file).read_bytes()
    meta = read_metadata(data)
    changed = dict(meta, variant="renamed")
    again = bytes(embed_metadata(data, changed))
    assert read_metadata(again)["variant"] == "renamed"
    assert read_metadata(again)["decode"] == meta["decode"]
    with pytest.raises(ModelError, match="unsupported metadata format"):
        embed_metadata(data, dict(meta, format="other/9"))
    with pytest.raises(ModelError, match="not a TFLite model"):
        read_metadata(b"not a model at all")


def test_a_failing_conversion_is_one_line_and_the_others_still_run(tiny_model, tmp_path,
                                                                   monkeypatch, run_cli):
    import handlite.export as export_module

    real = export_module.convert

    def flaky(model, variant, **kwargs):
        if variant.precision == "float16":
            raise RuntimeError("converter said:\n  loc(...): error: something deep\n  boom")
        return real(model, variant, **kwargs)

    monkeypatch.setattr(export_module, "convert", flaky)
    path, _ = tiny_model
    code, out, err = run_cli("export", path, "--size", "64", "--precision", "float16",
                             "--precision", "dynamic", "--out", tmp_path, "--json")
    assert code == 1
    doc = json.loads(out)
    failed, ok = doc["variants"]
    assert not failed["ok"] and "\n" not in failed["error"] and "boom" in failed["error"]
    assert ok["ok"] and (tmp_path / ok["file"]).is_file()
    assert not (tmp_path / "handlite_64_float16.tflite").exists()
    assert err.strip().splitlines()[-1] == "error: 1 of 2 variants failed: 64_float16"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [e["variant"] for e in manifest["variants"]] == ["64_dynamic"]


# ---------------------------------------------------------------- which model builds which size
@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory):
    """Two small (untrained) networks saved at 32 and 64 px: which file a variant came from is
    read from its metadata, so their weights need not mean anything."""
    from handlite.model import build_model

    folder = tmp_path_factory.mktemp("two_sizes")
    paths = {}
    for size in (32, 64):
        paths[size] = folder / f"net_{size}.keras"
        build_model(size, head_width=16, up_widths=(8, 8)).save(paths[size])
    return paths


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_each_size_takes_the_model_trained_at_it(two_sizes, tmp_path):
    from handlite.export import models_for_sizes, saved_input_size

    a, b = two_sizes[32], two_sizes[64]
    assert (saved_input_size(a), saved_input_size(b)) == (32, 64)
    for order in ([a, b], [b, a]):
        chosen, notes = models_for_sizes(order, [64, 32])
        assert chosen == {32: a, 64: b} and notes == []
    chosen, notes = models_for_sizes([b], [32, 64, 128])
    assert chosen == {32: b, 64: b, 128: b}
    (note,) = notes  # one line naming the sizes it was not trained at
    assert str(b) in note and "trained at 64 px, not at 32, 128" in note
    # a size nobody was trained at: the nearest model
    assert models_for_sizes([a, b], [48, 112])[0] == {48: a, 112: b}
    (tmp_path / "junk.keras").write_bytes(b"no zip")
    with pytest.raises(ModelError, match="cannot read its input size"):
        saved_input_size(tmp_path / "junk.keras")
    with pytest.raises(ModelError, match="model file not found"):
        models_for_sizes([tmp_path / "none.keras"], [32])


def test_export_builds_each_size_from_its_own_model(two_sizes, tmp_path):
    from handlite.export import export

    a, b = two_sizes[32], two_sizes[64]
    warnings = []
    report = export([b, a], tmp_path, sizes=[32, 64], precisions=["float32"],
                    warn=warnings.append)
    assert report.ok and warnings == []
    assert report.sources == {32: str(a), 64: str(b)}
    manifest = {e["file"]: e for e in json.loads(Path(report.manifest).read_text())["variants"]}
    for r in report.results:
        want = two_sizes[r.size]
        meta = read_metadata(tmp_path / r.file, required=True)
        assert meta["source_model_sha256"] == _sha(want) == r.source_sha256
        assert manifest[r.file]["source_model"] == str(want)
        assert manifest[r.file]["source_model_sha256"] == _sha(want)


def test_cli_export_with_one_model_warns_once(two_sizes, tmp_path, run_cli):
    b = two_sizes[64]
    code, out, err = run_cli("export", b, "--size", "32,64", "--precision", "float32",
                             "--out", tmp_path, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["sources"] == {"32": str(b), "64": str(b)}
    warned = [line for line in err.splitlines() if "warning:" in line]
    assert len(warned) == 1 and "not at 32" in warned[0], err
    assert any("not at 32" in w for w in doc["warnings"])
