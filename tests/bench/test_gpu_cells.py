"""gpu (fp16 allowed) and gpu-fp32 are separate cells; the GPU backend is recorded."""

import json

from handlite.bench.parser import parse
from handlite.bench.runners import BenchmarkModelRunner, Cell, RunSettings
from handlite.cli.main import main

LOG = """INFO: Use gpu: [1]
INFO: Allow lower precision in gpu: [0]
INFO: Created TensorFlow Lite delegate for GPU.
INFO: Replacing 64 out of 64 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.
INFO: Initialized OpenGL-based API.
INFO: Created 1 GPU delegate kernels.
INFO: count=50 first=5121 curr=5002 min=4950 max=5302 avg=5040 std=61
INFO: Inference timings in us: Init: 250000, First inference: 9000, Warmup (avg): 6000, Inference (avg): 5040
"""


def test_parser_records_the_gpu_backend():
    result = parse(LOG)
    assert result["gpu_backend"] == "OpenGL" and result["delegation"]["delegated_nodes"] == 64
    assert parse(LOG.replace("OpenGL", "OpenCL"))["gpu_backend"] == "OpenCL"
    assert parse(LOG.replace("INFO: Initialized OpenGL-based API.\n", ""))["gpu_backend"] is None


def test_commands_differ_only_in_the_precision_flag(tmp_path, fake_binary):
    runner = BenchmarkModelRunner(str(fake_binary))
    fp16 = runner.command("/b", "/m", Cell(tmp_path / "m.tflite", 1, "gpu"), RunSettings())
    fp32 = runner.command("/b", "/m", Cell(tmp_path / "m.tflite", 1, "gpu-fp32"), RunSettings())
    assert "--use_gpu=true" in fp16 and "--gpu_precision_loss_allowed=true" in fp16
    assert "--use_gpu=true" in fp32 and "--gpu_precision_loss_allowed=false" in fp32


def test_stand_in_sweep_gives_two_gpu_cells_with_their_backend(standin, tiny_models,
                                                                fake_binary, capsys):
    (standin.sandbox.state_dir / "benchmark_model.json").write_text(
        json.dumps({"gpu_backend": "OpenCL"}))
    try:
        main(["bench", str(tiny_models[0]), "--device", standin.serial, "--benchmark-binary",
              str(fake_binary), "--delegate", "gpu,gpu-fp32", "--rules", "none", "--runs", "3",
              "--warmup", "1", "--cooldown", "0", "--thermal-threshold", "90", "--max-wait",
              "0", "--json"])
    except SystemExit as exc:
        assert not exc.code
    records = json.loads(capsys.readouterr().out)["records"]
    assert sorted(r["settings"]["delegate"] for r in records) == ["gpu", "gpu-fp32"]
    assert len({r["cell"] for r in records}) == 2
    assert all(r["delegation"]["gpu_backend"] == "OpenCL" for r in records)
