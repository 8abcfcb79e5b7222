"""On-device parity on the stand-in: the tool runs the fixed input, the dump is pulled, decoded
and compared with the Keras reference under the variant's tolerances."""

import json

from handlite.bench.device_parity import DeviceParity
from handlite.bench.runners import Cell
from handlite.cli.main import main

FAST = ["--rules", "none", "--cooldown", "0", "--thermal-threshold", "90", "--max-wait", "0",
        "--runs", "3",
        "--warmup", "1"]


def _bench(capsys, model, serial, binary, reference, *extra):
    try:
        main(["bench", str(model), "--device", serial, "--benchmark-binary", str(binary),
              "--check-parity", "--reference", str(reference), *FAST, "--json", *extra])
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_float32_variant_passes_and_a_wrong_reference_fails(standin, handlite_model,
                                                            fake_binary, capsys):
    code, doc, _ = _bench(capsys, handlite_model["tflite"], standin.serial, fake_binary,
                          handlite_model["reference"], "--delegate", "cpu,gpu")
    assert code == 0 and doc["parity_failed"] == 0
    for record in doc["records"]:
        parity = record["parity"]
        assert record["status"] == "ok" and "parity" not in record["flags"]
        assert parity["passed"] and parity["error"] is None and parity["failures"] == []
        assert parity["precision"] == "float32" and parity["output_kind"] == "heatmaps"
        # what the phone computed is the reference's output (float32: summation order only)
        assert parity["keypoint_epe_max_px"] <= 0.01 and parity["cosine_min"] > 0.99999
    assert {r["parity"]["delegate"] for r in doc["records"]} == {"cpu", "gpu"}

    code, doc, stderr = _bench(capsys, handlite_model["tflite"], standin.serial, fake_binary,
                               handlite_model["wrong"])
    [record] = doc["records"]
    assert code == 1 and doc["parity_failed"] == 1
    assert record["status"] == "ok" and record["stats"]["invoke"]["count"] == 3  # timings kept
    assert not record["parity"]["passed"] and "parity" in record["flags"]
    assert any(f.startswith("cosine_min") for f in record["parity"]["failures"])
    assert "parity failed" in stderr
    from rich.console import Console

    from handlite.report import results_tables
    console = Console(record=True, width=200)
    for table in results_tables(doc["records"]):
        console.print(table)
    assert "parity FAILED" in console.export_text()


def test_truncated_or_missing_dump_fails_the_check_with_the_reason(handlite_model, tmp_path):
    parity = DeviceParity(handlite_model["reference"])
    cell = Cell(handlite_model["tflite"], 1)
    given = parity.input_for(cell)
    assert len(given.input_bytes) == 32 * 32 * 3 * 4  # float32 (1, 32, 32, 3)
    given.output_local.write_bytes(b"\0" * 100)
    result = parity.check(cell, given.output_local)
    assert not result["passed"] and "100 bytes" in result["error"]
    assert not given.output_local.exists()  # the pulled dump is not left behind
    result = parity.check(cell, tmp_path / "never-pulled.bin")
    assert not result["passed"] and "no output dump" in result["error"]


def test_check_parity_needs_a_reference(handlite_model, fake_binary, capsys):
    code = 0
    try:
        main(["bench", str(handlite_model["tflite"]), "--device", "x:1", "--check-parity",
              "--benchmark-binary", str(fake_binary)])
    except SystemExit as exc:
        code = exc.code
    assert code == 2 and "--reference" in capsys.readouterr().err


def test_parity_through_the_app_passes_and_a_wrong_reference_fails(app_device, handlite_model,
                                                                    capsys):
    """`bench --runner app --check-parity` as with benchmark_model: the app dumps its
    outputs for the fixed input, the harness compares them with the Keras reference."""
    def bench(reference):
        try:
            main(["bench", str(handlite_model["tflite"]), "--device", app_device.serial,
                  "--runner", "app", "--check-parity", "--reference", str(reference), *FAST,
                  "--json"])
            code = 0
        except SystemExit as exc:
            code = exc.code
        return code, json.loads(capsys.readouterr().out)

    code, doc = bench(handlite_model["reference"])
    [record] = doc["records"]
    assert code == 0 and doc["parity_failed"] == 0, record
    assert record["status"] == "ok" and record["settings"]["runner"] == "app"
    assert record["parity"]["passed"] and record["parity"]["keypoint_epe_max_px"] <= 0.01
    code, doc = bench(handlite_model["wrong"])
    [record] = doc["records"]
    assert code == 1 and not record["parity"]["passed"] and "parity" in record["flags"]
