"""`handlite demo`: the main job on the shipped model, in one call.

export every variant of the recipe table -> parity against Keras on the synthetic validation
set -> accuracy of the host pipeline (PCK/AUC) on the same crops -> host benchmark of every
variant -> one table, `report.md`, `results.jsonl` and plots in the output folder.

Units: KB = 1024 bytes; ms per frame (median of the timed runs, whole pipeline: preprocess +
invoke + decode); fps = 1000 / median; EPE in input pixels of the variant's own size; AUC over
PCK thresholds 0..30 px (hand3d convention, `metrics.py`).

Budget: the demo must finish in a few minutes on a 2-core machine, so it runs `count` parity
crops (default 64) and `runs` timed runs per variant (default 30 after 5 warm-up runs) at one
thread; `report.md` states these numbers. `benchmarks/host_bench.py` is the careful
measurement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handlite.errors import CheckFailed, ModelError
from handlite.reference import KerasReference
from handlite.variants import variants
from handlite.bench.host import DOT_PRODUCT_FEATURES, run_host_bench
from handlite.bench.store import append_record
from handlite.codec import HeatmapCodec
from handlite.export import export, models_for_sizes
from handlite.io import atomic_write_text, to_json
from handlite.metrics import keypoint_metrics, plot_pck
from handlite.parity import run_parity
from handlite.report import host_cpu_label
from handlite.runtime import HandRuntime

DEFAULT_MODEL = "models/handlite_224.keras"
#: the shipped 112 model: each shipped file does well only near the size it was trained at
#: (models/MODEL_CARD.md), so the demo exports the 112 variants from it when it exists.
DEFAULT_MODEL_112 = "models/handlite_112.keras"
DEFAULT_OUT = "build/demo"

Say = Callable[[str], None]


@dataclass
class DemoSettings:
    count: int = 64  # parity / accuracy crops per size
    runs: int = 30  # timed runs per variant
    warmup: int = 5
    threads: int = 1
    data: str = "synth"


@dataclass
class DemoReport:
    model: str
    out_dir: str
    settings: DemoSettings
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    #: the benchmark's target block: CPU name, cores, ISA features, runtime
    host: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def int8_note(self) -> str | None:
        return int8_speed_note(self.rows, self.host.get("cpu_features"))

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "out_dir": self.out_dir, "ok": self.ok,
                "settings": vars(self.settings), "rows": self.rows,
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "host": self.host, "int8_note": self.int8_note,
                "files": self.files, "failures": self.failures}


def demo_sizes() -> list[int]:
    """The input sizes of the variant table (`handlite.variants`), ascending."""
    return sorted({v.size for v in variants().values()})


def _accuracy(paths: dict[str, Path], data: str, count: int, threads: int,
              reference: KerasReference) -> tuple[dict[str, dict], dict[int, dict]]:
    """keypoint_metrics of each variant through the host runtime, and of Keras per size."""

    per_variant: dict[str, dict] = {}
    keras_metrics: dict[int, dict] = {}
    for name, path in paths.items():
        runtime = HandRuntime(path, threads)
        size = runtime.input_size
        samples = reference.crops(size, count, data)
        if size not in keras_metrics:
            maps = reference.heatmaps(size, count, data)
            codec = HeatmapCodec(size, size // maps.shape[1])
            kp, _ = codec.decode(maps)
            keras_metrics[size] = keypoint_metrics(kp, samples.keypoints, samples.visible)
        # each crop is already S x S: the whole-image square is the crop itself (no resize)
        pred = np.stack([runtime.predict(img).keypoints for img in samples.images])
        per_variant[name] = keypoint_metrics(pred, samples.keypoints, samples.visible)
    return per_variant, keras_metrics


def _plots(out: Path, rows: list[dict], accuracy: dict[str, dict],
           keras_metrics: dict[int, dict], records: list[dict]) -> dict[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    files = {}
    ok = [r for r in records if r["status"] == "ok"]
    if ok:
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
        labels = [r["model"]["variant"] or r["model"]["name"] for r in ok]
        steps = ("preprocess", "invoke", "decode")
        bottom = np.zeros(len(ok))
        colours = {"preprocess": "#8da0cb", "invoke": "#fc8d62", "decode": "#66c2a5"}
        for step in steps:
            vals = np.array([(r["stats"].get(step) or {}).get("median_ms") or 0.0 for r in ok])
            ax.bar(labels, vals, bottom=bottom, label=f"{step} (median)", color=colours[step])
            bottom += vals
        p90 = [(r["stats"].get("pipeline") or {}).get("p90_ms") for r in ok]
        ax.scatter(labels, [v or 0 for v in p90], marker="_", s=300, color="black",
                   label="pipeline p90", zorder=3)
        ax.set_ylabel("ms per frame")
        t = ok[0]["settings"]["threads"]
        ax.set_title(f"Host latency per variant ({ok[0]['target'].get('cpu')}, {t} thread)")
        ax.tick_params(axis="x", labelrotation=30)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out / "latency.png"
        fig.savefig(path)
        plt.close(fig)
        files["latency_plot"] = str(path)
    for size in sorted(keras_metrics):
        curves = {f"keras {size}": keras_metrics[size]}
        curves.update({name: m for name, m in accuracy.items() if name.startswith(f"{size}_")})
        path = out / f"pck_{size}.png"
        plot_pck(curves, path, title=f"PCK on synthetic validation crops, {size} px")
        files[f"pck_plot_{size}"] = str(path)
    return files


def _rows(results, parity_by_name, accuracy, records_by_name) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        if not r.ok:
            continue
        rec = records_by_name.get(r.variant)
        stats = (rec or {}).get("stats") or {}
        pipe = stats.get("pipeline") or {}
        par = parity_by_name.get(r.variant)
        acc = accuracy.get(r.variant) or {}
        rows.append({
            "variant": r.variant, "file": r.file, "kb": round(r.bytes / 1024, 1),
            "parity_epe_px": None if par is None else par.keypoint_epe_mean_px,
            "parity_passed": None if par is None else par.passed,
            "auc": acc.get("auc"), "epe_px": acc.get("epe_mean_px"),
            "median_ms": pipe.get("median_ms"), "p90_ms": pipe.get("p90_ms"),
            "invoke_ms": (stats.get("invoke") or {}).get("median_ms"),
            "fps": stats.get("fps"), "speedup": None})
    base = {row["variant"].split("_")[0]: row["median_ms"] for row in rows
            if row["variant"].endswith("_float32")}
    for row in rows:
        ref = base.get(row["variant"].split("_")[0])
        if ref and row["median_ms"]:
            row["speedup"] = ref / row["median_ms"]
    return rows


def int8_speed_note(rows: list[dict[str, Any]], cpu_features: list[str] | None) -> str | None:
    """One sentence when full-int8 ran slower than float32 on this host (and why, when the
    CPU lacks int8 dot-product instructions), else None: a user reading 0.6x should not
    conclude that the int8 file is broken or that it will be slow on a phone."""
    slow = [r for r in rows if r["variant"].endswith("_int8") and r.get("speedup")
            and r["speedup"] < 1.0]
    if not slow:
        return None
    at = ", ".join(f"{r['speedup']:.2f}x at {r['variant'].split('_')[0]}" for r in slow)
    note = f"full-int8 ran slower than float32 on this host ({at})"
    if cpu_features is not None and not set(cpu_features) & set(DOT_PRODUCT_FEATURES):
        listed = " ".join(cpu_features) or "none recorded"
        note += (f": its CPU has no int8 dot-product instructions (features: {listed}), "
                 f"which XNNPACK's int8 kernels need to beat float32; CPUs with VNNI and "
                 f"phones' dot-product cores run the same file faster than float32")
    return note + "."


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| variant | KB | parity EPE (px) | AUC | median ms | fps | speed-up vs float32 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        passed = "" if r["parity_passed"] in (None, True) else " (fail)"
        lines.append(f"| {r['variant']} | {r['kb']:.0f} | {_fmt(r['parity_epe_px'], '.3f')}"
                     f"{passed} | {_fmt(r['auc'], '.3f')} | {_fmt(r['median_ms'])} | "
                     f"{_fmt(r['fps'], '.0f')} | {_fmt(r['speedup'])}x |")
    return "\n".join(lines)


def _report_md(rep: DemoReport, keras_metrics: dict[int, dict]) -> str:
    s = rep.settings
    runtime = rep.host.get("runtime") or {}
    note = rep.int8_note
    lines = [
        "# handlite demo", "",
        f"Model `{rep.model}`, all variants exported to `{rep.out_dir}`.", "",
        markdown_table(rep.rows), "",
        *([f"Note: {note}", ""] if note else []),
        "How these were measured:", "",
        f"- host: {host_cpu_label(rep.host)}, {runtime.get('name')} "
        f"{runtime.get('version')}, {s.threads} thread(s);",
        f"- latency: whole pipeline (crop + resize + normalise/quantise, invoke, decode) on a "
        f"fixed 640x480 frame, {s.warmup} warm-up then {s.runs} timed runs per variant; "
        f"median and fps = 1000 / median. These run counts keep the demo to a few minutes; "
        f"`python benchmarks/host_bench.py` is the careful measurement;",
        f"- parity EPE: mean keypoint distance between the TFLite variant and the Keras model "
        f"on {s.count} synthetic validation crops (`handlite parity`), input pixels;",
        f"- AUC: PCK over 0..30 px (hand3d convention) of the host pipeline's keypoints "
        f"against the ground truth of the same crops"
        + "".join(f"; Keras at {size}: {m['auc']:.3f}" for size, m in
                  sorted(keras_metrics.items())) + ".",
        "",
        f"Wall time: {rep.seconds.get('total', 0):.0f} s (export "
        f"{rep.seconds.get('export', 0):.0f} s, parity {rep.seconds.get('parity', 0):.0f} s, "
        f"accuracy {rep.seconds.get('accuracy', 0):.0f} s, benchmark "
        f"{rep.seconds.get('bench', 0):.0f} s).", ""]
    for key, label in (("latency_plot", "Latency per variant"),):
        if key in rep.files:
            lines += [f"![{label}]({Path(rep.files[key]).name})", ""]
    for key in sorted(k for k in rep.files if k.startswith("pck_plot_")):
        lines += [f"![PCK]({Path(rep.files[key]).name})", ""]
    if rep.failures:
        lines += ["Failures:", ""] + [f"- {f}" for f in rep.failures] + [""]
    return "\n".join(lines)


def check_model(model: str | Path) -> Path:
    """The model path, or ModelError when there is no such file."""
    model = Path(model)
    if not model.is_file():
        raise ModelError(f"model file not found: {model}",
                         hint="train one with `handlite train` or pass --model")
    return model


def run_demo(model: str | Path = DEFAULT_MODEL, out: str | Path = DEFAULT_OUT,
             settings: DemoSettings | None = None, say: Say | None = None,
             bench_progress: Any = None,
             per_size: dict[int, str | Path] | None = None) -> DemoReport:
    """Export, parity, accuracy, host benchmark; writes report.md, results.jsonl, plots.

    Each size's variants are exported from, and checked against, the model trained at that
    size among `model` and the files in `per_size` (`export.models_for_sizes`, the choice
    `handlite export` makes too); a size none was trained at is said through `say`."""

    settings = settings or DemoSettings()
    say = say or (lambda _msg: None)
    model = check_model(model)
    out = Path(out)
    rep = DemoReport(str(model), str(out), settings)
    t_all = time.perf_counter()

    # size -> source model: the one trained at that size
    sources, notes = models_for_sizes(
        [model, *(check_model(v) for v in (per_size or {}).values())], demo_sizes())
    for note in notes:
        say(f"warning: {note}")
    rep.model = ", ".join(f"{size}: {path}" for size, path in sorted(sources.items()))
    paths: dict[str, Path] = {}
    good, accuracy, keras_metrics, parity_results = [], {}, {}, []
    for size in sorted(sources):
        src = sources[size]
        t0 = time.perf_counter()
        # one Keras reference per size: export, parity and accuracy share its rebuilt
        # network, crops and heatmaps
        reference = KerasReference(path=src, data=settings.data)
        say(f"exporting the {size} variants of {src} to {out}")
        exported = export(src, out, sizes=[size], reference=reference,
                          on_done=lambda r: say(f"  {r.variant}: "
                                                + (f"{r.bytes / 1024:.0f} KB in {r.seconds:.1f} s"
                                                   if r.ok else f"FAILED {r.error}")))
        # one manifest per source model and size (export writes manifest.json)
        Path(exported.manifest).replace(out / f"manifest_{size}.json")
        rep.seconds["export"] = rep.seconds.get("export", 0.0) + time.perf_counter() - t0
        rep.failures += [r.error or r.variant for r in exported.results if not r.ok]
        size_good = [r for r in exported.results if r.ok]
        good += size_good
        size_paths = {r.variant: out / r.file for r in size_good}
        paths.update(size_paths)
        if not size_paths:
            continue

        t0 = time.perf_counter()
        say(f"parity against Keras ({src}) on {settings.count} {settings.data} crops")
        parity = run_parity(src, list(size_paths.values()), data=settings.data,
                            count=settings.count, reference=reference)
        rep.seconds["parity"] = rep.seconds.get("parity", 0.0) + time.perf_counter() - t0
        parity_results += parity.results
        atomic_write_text(out / f"parity_{size}.json", _json(parity.to_dict()))

        t0 = time.perf_counter()
        say(f"accuracy of the {size} host pipeline (PCK, AUC)")
        size_acc, size_keras = _accuracy(size_paths, settings.data, settings.count,
                                         settings.threads, reference)
        accuracy.update(size_acc)
        keras_metrics.update(size_keras)
        rep.seconds["accuracy"] = rep.seconds.get("accuracy", 0.0) + time.perf_counter() - t0
    if not good:
        raise CheckFailed("no variant exported: " + "; ".join(rep.failures))
    parity_by_name = {r.variant: r for r in parity_results}
    rep.failures += [f"parity {r.variant}: {'; '.join(r.failures)}" for r in parity_results
                     if not r.passed]

    t0 = time.perf_counter()
    say(f"host benchmark: {settings.warmup} warm-up + {settings.runs} runs per variant, "
        f"{settings.threads} thread(s)")
    # interleaved turns: a busy machine slows every variant alike, so speed-ups stay fair
    records = run_host_bench(list(paths.values()), [settings.threads], settings.runs,
                             settings.warmup, 0.0, bench_progress, interleave=5)
    rep.seconds["bench"] = time.perf_counter() - t0
    results_path = out / "results.jsonl"
    if results_path.exists():
        results_path.unlink()  # the demo's file describes this run only
    for record in records:
        append_record(results_path, record)
    rep.failures += [f"bench {r['model']['name']}: {r['error']}" for r in records
                     if r["status"] != "ok"]
    by_name = {r["model"]["variant"]: r for r in records}

    rep.rows = _rows(good, parity_by_name, accuracy, by_name)
    rep.host = dict(records[0]["target"]) if records else {}
    rep.files = _plots(out, rep.rows, accuracy, keras_metrics, records)
    rep.files.update({"results": str(results_path),
                      **{f"parity_{size}": str(out / f"parity_{size}.json") for size in sources},
                      **{f"manifest_{size}": str(out / f"manifest_{size}.json")
                         for size in sources}})
    rep.seconds["total"] = time.perf_counter() - t_all
    report_path = out / "report.md"
    rep.files["report"] = str(report_path)
    atomic_write_text(report_path, _report_md(rep, keras_metrics))
    return rep


def _json(obj) -> str:
    return to_json(obj) + "\n"
