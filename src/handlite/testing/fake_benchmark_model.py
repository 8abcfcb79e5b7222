"""The stand-in device's `benchmark_model`: runs the pushed .tflite for real, prints the classic
output of the TFLite/LiteRT benchmark tool.

Units: printed times in microseconds (as the real tool), memory in MB.

It honours the real tool's flags (`--flag=value`): --graph, --num_threads, --num_runs,
--min_secs, --max_secs, --warmup_runs, --warmup_min_secs, --use_xnnpack, --use_gpu,
--use_nnapi, --input_layer_value_files (`name:path,...`; `::` escapes a ':' in a name, as in
the real tool), --output_filepath (raw bytes of every output tensor, in output order, as the
real tool writes them), --report_peak_memory_footprint, --enable_op_profiling (prints the tool's per-op table, see
`_op_profile`). An unknown flag fails like the real tool does.

Honest limits of a stand-in: the model runs with the host's LiteRT on the host CPU. There is no
GPU or NNAPI here, so `--use_gpu`/`--use_nnapi` run on the CPU kernels while printing the
delegate lines a phone would print; the node counts are the model's real node count. Timings
and memory are real measurements of this process.

Faults and knobs for tests live in `ROOT/.device/benchmark_model.json` (ROOT =
$HANDLITE_DEVICE_ROOT), read at every start:
    {"slowdown": 1.5}           every invoke is followed by a sleep of 0.5 x its time
    {"coverage": {"gpu": 0.8}}  the delegate takes 80% of the nodes (partial delegation)
    {"gpu_backend": "OpenGL"}   the GPU delegate reports this backend (default OpenCL)
    {"fail": "message"}         print `ERROR: message` and exit 1 instead of running
    {"hang_after_runs": 3}      stop printing and sleep forever after 3 timed runs
    {"max_secs": 0.2}           cap every phase at 0.2 s whatever --max_secs says (a run the
                                tool ends early, as its 150 s default cap does)
Register it on a sandbox with `install(sandbox)`; `write_binary(path)` writes a host file that
can be given as `--benchmark-binary` and pushed like the real binary.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from handlite.errors import ModelError
from handlite.tflite_session import TFLiteSession

_BOOL = {"true": True, "1": True, "false": False, "0": False}
_FLAGS = {
    "graph": str, "num_threads": int, "num_runs": int, "min_secs": float, "max_secs": float,
    "warmup_runs": int, "warmup_min_secs": float, "use_xnnpack": bool, "use_gpu": bool,
    "use_nnapi": bool, "input_layer_value_files": str, "output_filepath": str,
    "report_peak_memory_footprint": bool, "enable_op_profiling": bool, "verbose": bool,
    "gpu_precision_loss_allowed": bool,
}
_DEFAULTS = {"graph": "", "num_threads": -1, "num_runs": 50, "min_secs": 1.0,
             "max_secs": 150.0, "warmup_runs": 1, "warmup_min_secs": 0.5,
             "use_xnnpack": False, "use_gpu": False, "use_nnapi": False,
             "input_layer_value_files": "", "output_filepath": "",
             "report_peak_memory_footprint": False, "enable_op_profiling": False,
             "verbose": False, "gpu_precision_loss_allowed": True}
_DELEGATE_NAMES = {"gpu": ("GPU", "TfLiteGpuDelegateV2"),
                   "nnapi": ("NNAPI", "TfLiteNnapiDelegate"),
                   "xnnpack": ("XNNPACK", "TfLiteXNNPackDelegate")}


def _say(text: str = "") -> None:
    print(f"INFO: {text}" if text else "", flush=True)


def _fail(text: str) -> None:
    print(f"ERROR: {text}", flush=True)
    print("ERROR: Benchmarking failed.", flush=True)
    sys.exit(1)


def parse_flags(argv: list[str]) -> dict:
    flags = dict(_DEFAULTS)
    unknown = []
    for arg in argv:
        name, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("--") or name not in _FLAGS:
            unknown.append(arg)
            continue
        kind = _FLAGS[name]
        if kind is bool:
            if not sep:
                value = "true"
            if value.lower() not in _BOOL:
                _fail(f"Invalid value for --{name}: {value}")
            flags[name] = _BOOL[value.lower()]
        else:
            try:
                flags[name] = kind(value)
            except ValueError:
                _fail(f"Invalid value for --{name}: {value}")
    if unknown:
        _fail(f"Unconsumed cmdline flags: {' '.join(unknown)}")
    return flags


def _split_value_files(spec: str) -> list[tuple[str, str]]:
    items = []
    for item in filter(None, spec.split(",")):
        i = 0
        while True:  # the first ':' that is not part of an escaped '::'
            i = item.find(":", i)
            if i < 0:
                _fail(f"Wrong input value file item specified: {item}")
            if item[i + 1:i + 2] == ":":
                i += 2
                continue
            break
        items.append((item[:i].replace("::", ":"), item[i + 1:]))
    return items


def _knobs() -> dict:
    root = os.environ.get("HANDLITE_DEVICE_ROOT")
    path = Path(root, ".device", "benchmark_model.json") if root else None
    if path and path.is_file():
        return json.loads(path.read_text() or "{}")
    return {}


def _stat_line(us: list[int]) -> str:
    import numpy as np
    if len(set(us)) == 1:
        return f"count={len(us)} curr={us[-1]}" + ("(all same)" if len(us) > 1 else "")
    x = np.asarray(us, dtype=np.float64)
    p5, median, p95 = (int(round(v)) for v in np.percentile(x, [5, 50, 95]))
    return (f"count={len(us)} first={us[0]} curr={us[-1]} min={min(us)} max={max(us)} "
            f"avg={x.mean():g} std={int(round(x.std()))} p5={p5} median={median} p95={p95}")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KB


def main(argv: list[str] | None = None) -> None:
    flags = parse_flags(sys.argv[1:] if argv is None else argv)
    knobs = _knobs()
    _say("STARTING!")
    _say("Log parameter values verbosely: [0]")
    _say(f"Min num runs: [{flags['num_runs']}]")
    _say(f"Num threads: [{flags['num_threads']}]")
    _say(f"Graph: [{flags['graph']}]")
    if knobs.get("fail"):
        _fail(str(knobs["fail"]))
    graph = flags["graph"]
    if not graph or not os.path.isfile(graph):
        _fail(f"Could not open '{graph}'." if graph else "Please specify the graph via --graph")
    delegate = next((d for d in ("gpu", "nnapi") if flags[f"use_{d}"]), None)
    if delegate is None and flags["use_xnnpack"]:
        delegate = "xnnpack"
    for name in ("gpu", "nnapi", "xnnpack"):
        if flags[f"use_{name}"]:
            _say(f"Use {name}: [1]")
    if flags["use_gpu"]:
        _say(f"Allow lower precision in gpu: [{int(flags['gpu_precision_loss_allowed'])}]")
    if flags["num_threads"] > 0:
        _say(f"#threads used for CPU inference: [{flags['num_threads']}]")

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    import numpy as np
    from ai_edge_litert.interpreter import OpResolverType

    options = {}
    if delegate != "xnnpack":
        # like the real tool, the CPU path without --use_xnnpack uses the builtin kernels
        options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        # LiteRT's own load messages stay on stderr, as the real tool's do
        session = TFLiteSession(graph, flags["num_threads"] if flags["num_threads"] > 0 else None,
                                quiet=False, interpreter_options=options)
    except ModelError as exc:
        _fail(f"Failed to construct interpreter: {exc}")
    interp = session.interpreter
    _say(f"Loaded model {graph}")
    total = sum(1 for op in session.ops() if op.get("op_name") != "DELEGATE")
    if delegate is not None:
        label, kind = _DELEGATE_NAMES[delegate]
        coverage = float((knobs.get("coverage") or {}).get(delegate, 1.0))
        done = max(0, min(total, int(round(total * coverage))))
        _say(f"Created TensorFlow Lite {label} delegate" + (" for CPU." if delegate == "xnnpack"
                                                             else "."))
        _say(f"Replacing {done} out of {total} node(s) with delegate ({kind}) node, yielding "
             f"{1 if done == total else 2} partitions for the whole graph.")
        if delegate == "gpu":
            _say(f"Initialized {knobs.get('gpu_backend', 'OpenCL')}-based API.")
            _say("Created 1 GPU delegate kernels.")
    _say(f"The input model file size (MB): {os.path.getsize(graph) / 1e6:g}")

    inputs = session.inputs
    rng = np.random.default_rng(0)
    given = dict(_split_value_files(flags["input_layer_value_files"]))
    names = {d["name"] for d in inputs}
    for name in given:
        if name not in names:
            _fail(f"Cannot find the input layer {name!r} in the model; inputs: {sorted(names)}")
    for d in inputs:
        dtype, shape = np.dtype(d["dtype"]), tuple(d["shape"])
        if d["name"] in given:
            raw = Path(given[d["name"]]).read_bytes()
            need = int(np.prod(shape)) * dtype.itemsize
            if len(raw) != need:
                _fail(f"Input {d['name']}: value file has {len(raw)} bytes, tensor needs {need}")
            value = np.frombuffer(raw, dtype=dtype).reshape(shape)
        elif dtype.kind == "f":
            value = rng.uniform(-1, 1, shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            value = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
        interp.set_tensor(d["index"], value)
    init_us = int((time.perf_counter() - t0) * 1e6)
    rss_init = _rss_mb()
    _say(f"Initialized session in {init_us / 1000:g}ms.")

    slowdown = float(knobs.get("slowdown", 1.0))
    hang_after = knobs.get("hang_after_runs")
    if knobs.get("max_secs") is not None:
        flags["max_secs"] = min(flags["max_secs"], float(knobs["max_secs"]))

    def run_phase(min_runs: int, min_secs: float, timed: bool) -> list[int]:
        _say(f"Running benchmark for at least {min_runs} iterations and at least {min_secs:g} "
             f"seconds but terminate if exceeding {flags['max_secs']:g} seconds.")
        samples: list[int] = []
        start = time.perf_counter()
        while (len(samples) < min_runs or time.perf_counter() - start < min_secs) and (
                time.perf_counter() - start < flags["max_secs"]):
            if timed and hang_after is not None and len(samples) >= int(hang_after):
                time.sleep(3600)
            t = time.perf_counter()
            interp.invoke()
            took = time.perf_counter() - t
            if slowdown > 1.0:
                time.sleep(took * (slowdown - 1.0))
                took *= slowdown
            samples.append(max(1, int(took * 1e6)))
        if samples:
            _say(_stat_line(samples))
        else:
            _say("count=0")
        _say()
        return samples

    warm = run_phase(flags["warmup_runs"], flags["warmup_min_secs"], False)
    timed = run_phase(flags["num_runs"], flags["min_secs"], True)
    if not timed:
        _fail("No timed runs.")
    first = warm[0] if warm else timed[0]
    warm_avg = f"Warmup (avg): {sum(warm) / len(warm):g}, " if warm else ""
    _say(f"Inference timings in us: Init: {init_us}, First inference: {first}, "
         f"{warm_avg}Inference (avg): {sum(timed) / len(timed):g}")
    if flags["output_filepath"]:
        with open(flags["output_filepath"], "wb") as fh:
            for d in session.outputs:
                fh.write(np.ascontiguousarray(interp.get_tensor(d["index"])).tobytes())
    _say("Note: as the benchmark tool itself affects memory footprint, the following is only "
         "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
         "information at your one's own risk.")
    rss_end = _rss_mb()
    _say(f"Memory footprint delta from the start of the tool (MB): init={rss_init - rss0:g} "
         f"overall={rss_end - rss0:g}")
    if flags["report_peak_memory_footprint"]:
        _say(f"Overall peak memory footprint (MB) via periodic monitoring: {rss_end:g}")
    if flags["enable_op_profiling"]:
        _op_profile(session, timed, first)


_KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")


def _op_weights(session) -> list[tuple[str, str, float]]:
    """(node type, node name, weight) per op: output elements x weights per output channel,
    a stand-in for each op's share of the work (LiteRT's Python API has no op profiler)."""
    import numpy as np
    tensors = {t["index"]: t for t in session.tensors()}
    rows = []
    for op in session.ops():
        if op.get("op_name") == "DELEGATE":
            continue
        outs = [tensors[i] for i in op.get("outputs", []) if i in tensors]
        out_elems = sum(int(np.prod(t["shape"])) for t in outs) or 1
        weight = float(out_elems)
        ins = [tensors[i] for i in op.get("inputs", []) if i in tensors]
        kind = op.get("op_name")
        if kind in _KERNEL_OPS and len(ins) > 1 and len(ins[1]["shape"]) >= 2:
            kernel = ins[1]["shape"]  # the weights: multiply-adds per output element
            per_out = (int(np.prod(kernel[1:3])) if kind == "DEPTHWISE_CONV_2D"
                       else int(np.prod(kernel)) // max(1, int(kernel[0])))
            weight *= max(1, per_out)
        name = outs[0]["name"] if outs else f"node_{op.get('index')}"
        rows.append((op.get("op_name", "?"), name, weight))
    return rows


def _op_profile(session, timed: list[int], first_us: int) -> None:
    """Print `Operator-wise Profiling Info` as the real tool's newer builds do.

    Each op's average is the measured mean invoke time split by `_op_weights`, so the ops add
    up to the measured invoke time (an apportionment, not a per-op measurement: said here
    because a phone's numbers are measured per op).
    """
    rows = _op_weights(session)
    total_w = sum(w for _, _, w in rows) or 1.0
    mean_ms = sum(timed) / len(timed) / 1000.0
    first_ms = first_us / 1000.0
    _say("Operator-wise Profiling Info for Regular Benchmark Runs:")
    _say("============================== Run Order ==============================")
    _say("\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]"
         "\t[times called]\t[Name]")
    cdf = 0.0
    by_type: dict[str, list[float]] = {}
    for kind, name, w in rows:
        share = w / total_w
        cdf += share * 100
        by_type.setdefault(kind, []).append(mean_ms * share)
        _say(f"\t{kind:>24}\t{first_ms * share:9.3f}\t{mean_ms * share:9.3f}\t"
             f"{share * 100:7.3f}%\t{cdf:7.3f}%\t{0:10.3f}\t{1:9d}\t[{name}]")
    _say()
    _say(f"Number of nodes executed: {len(rows)}")
    _say("============================== Summary by node type ==============================")
    _say("\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t"
         "  [mem KB]\t[times called]")
    cdf = 0.0
    for kind, times in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        pct = sum(times) / mean_ms * 100 if mean_ms else 0.0
        cdf += pct
        _say(f"\t{kind:>24}\t{len(times):9d}\t{sum(times):10.3f}\t{pct:10.3f}%\t"
             f"{cdf:10.3f}%\t{0:10.3f}\t{len(times):9d}")
    _say()
    _say(_stat_line(timed).replace("count=", "Timings (microseconds): count=", 1))
    _say("Memory (bytes): count=0")
    _say(f"{len(rows)} nodes observed")
    _say()


def script_text() -> str:
    """Python source of a launcher for this module (the host interpreter runs it)."""
    src = Path(__file__).resolve().parents[2]
    return (f"import sys\nsys.path.insert(0, {str(src)!r})\n"
            "from handlite.testing.fake_benchmark_model import main\nmain()\n")


def install(sandbox, name: str = "benchmark_model") -> Path:
    """Make `benchmark_model` a command of a stand-in device (its sandbox command hook)."""
    return sandbox.install_command(name, script_text(), python=True)


def write_binary(path: str | os.PathLike) -> Path:
    """Write an executable launcher to `path`: a stand-in for the Android build of the tool,
    to give as `--benchmark-binary` (it is pushed and run on the stand-in device)."""
    p = Path(path)
    p.write_text(f"#!{sys.executable}\n{script_text()}")
    p.chmod(0o755)
    return p


if __name__ == "__main__":
    main()
