"""`handlite export`, `handlite inspect`, `handlite parity`: thin wrappers over the library."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import (emit_json, err, human, json_option, parse_int_list,
                                 parse_str_list, print_table, progress)
from handlite.errors import ExportError, ModelError, ParityFailed
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


def _bar():
    """The project's progress display, animated only on a terminal (in CI logs and pipes the
    per-variant lines say the same without spinner frames)."""
    bar = progress()
    bar.disable = not err.is_terminal
    return bar


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} MB"


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--size", "sizes", multiple=True,
              help="Input size(s), repeatable or comma-separated (default: the recipe's).")
@click.option("--precision", "precisions", multiple=True,
              help="float32, float16, dynamic, int8; repeatable (default: all).")
@click.option("--out", "out_dir", default="build", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the .tflite files + manifest.")
@click.option("--calibration", default="synth", show_default=True,
              help="int8 calibration data: 'synth' or a data folder.")
@click.option("--calibration-count", default=200, show_default=True, type=int,
              help="Calibration crops for int8 (>= 100 recommended).")
@click.option("--io", "io_type", type=click.Choice(["float32", "uint8", "int8"]), default=None,
              help="int8 input/output tensor type (default: the recipe's).")
@click.option("--decode", type=click.Choice(["heatmaps", "keypoints"]), default="heatmaps",
              show_default=True, help="keypoints: the graph also decodes (keypoints + scores).")
@json_option
def export(models, sizes, precisions, out_dir, calibration, calibration_count, io_type, decode,
           as_json):
    """Convert .keras MODELS to TFLite variants with metadata and a manifest.json.

    Each size's variants come from the model trained at that size (its saved input size);
    with a single model, sizes it was not trained at are rebuilt from it, with a warning."""
    from handlite.export import export as run_export
    from handlite.variants import select

    size_list = parse_int_list(sizes, "--size") or None
    precision_list = parse_str_list(precisions) or None
    planned = select(size_list, precision_list)
    console = human(as_json)
    with _bar() as bar:
        task = bar.add_task("export", total=len(planned))

        def start(variant):
            bar.update(task, description=f"{variant.name}: converting")

        def done(result):
            if result.ok:
                bar.console.print(f"[green]ok[/] {safe(result.file)}  {result.seconds:.1f} s  "
                                  f"{_mb(result.bytes)}")
            else:
                bar.console.print(f"[red]failed[/] {safe(result.error)}")
            bar.advance(task)

        report = run_export(list(models), out_dir, sizes=size_list, precisions=precision_list,
                            calibration=calibration, calibration_count=calibration_count,
                            io=io_type, decode=decode, on_start=start, on_done=done,
                            warn=lambda msg: bar.console.print(  # one line, unwrapped
                                f"[yellow]warning:[/] {safe(msg)}", soft_wrap=True))
    if as_json:
        emit_json(report.to_dict())
    else:
        table = Table(title=safe(f"export to {report.out_dir}"))
        for col in ("variant", "file", "I/O", "seconds", "size"):
            table.add_column(col, justify="right" if col in ("seconds", "size") else "left")
        for r in report.results:
            table.add_row(r.variant,
                          safe(r.file) if r.file else f"[red]{safe(r.error or '')}[/]",
                          r.io, f"{r.seconds:.1f}", _mb(r.bytes))
        for size, source in sorted(report.sources.items()):
            console.print(safe(f"{size} px variants from {source}"), soft_wrap=True)
        print_table(console, table)
        console.print(f"manifest: {report.manifest}  total {report.seconds:.1f} s")
    if not report.ok:
        failed = [r.variant for r in report.results if not r.ok]
        raise ExportError(f"{len(failed)} of {len(report.results)} variants failed: "
                          f"{', '.join(failed)}")


@click.command("inspect")
@click.argument("file", type=click.Path(dir_okay=True))
@json_option
def inspect_cmd(file, as_json):
    """Bytes, sha256, I/O tensors, ops, parameters, MACs, metadata and GPU fit of a .tflite."""
    from handlite.tflite_info import inspect_tflite

    info = inspect_tflite(file)
    if as_json:
        emit_json(info.to_dict())
        return
    console = human(as_json)
    head = Table(title=info.path, show_header=False)
    head.add_column("what", style="bold")
    head.add_column("value")
    head.add_row("bytes", f"{info.bytes:,}")
    head.add_row("sha256", info.sha256)
    head.add_row("parameters", f"{info.parameters:,}")
    head.add_row("MACs", f"{info.macs / 1e6:,.1f} M")
    head.add_row("ops", f"{info.op_count} in {info.subgraphs} subgraph(s)")
    head.add_row("metadata", safe(", ".join(info.metadata_names) or "-"))
    if info.metadata:
        m = info.metadata
        head.add_row("handlite", safe(
            f"{m['variant']} ({m['precision']}), {m['input_size']} px {m['channel_order']}, "
            f"stride {m['stride']}, output {m['output']['kind']}, v{m['handlite_version']}"))
    gpu = ", ".join(f"{g['op']} x{g['count']} ({g['reason']})" for g in info.gpu_unsupported)
    head.add_row("GPU delegate", f"[yellow]would not take: {gpu}[/]" if gpu
                 else "all ops accepted (handlite's rules)")
    console.print(head)
    io = Table(title="inputs / outputs")
    for col in ("", "name", "shape", "dtype", "scale", "zero point"):
        io.add_column(col)
    for kind, tensors in (("in", info.inputs), ("out", info.outputs)):
        for t in tensors:
            io.add_row(kind, safe(t.name), str(t.shape), safe(t.dtype),
                       "-" if t.scale is None else f"{t.scale:.6g}" if isinstance(
                           t.scale, float) else "per-channel",
                       "-" if t.zero_point is None else str(t.zero_point))
    console.print(io)
    ops = Table(title="op histogram")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    for name, count in info.ops.items():
        ops.add_row(name, str(count))
    console.print(ops)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("tflite", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--data", default="synth", show_default=True,
              help="Evaluation crops: 'synth' or a data folder.")
@click.option("--count", default=64, show_default=True, type=int, help="Samples to compare.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Write a JUnit XML report (one testcase per variant).")
@click.option("--per-keypoint", is_flag=True,
              help="Also print mean EPE per keypoint and variant (always in --json).")
@json_option
def parity(model, tflite, data, count, junit_path, per_keypoint, as_json):
    """Compare TFLITE files to the Keras MODEL on the same crops; exit 1 if any fails."""
    from handlite.parity import run_parity, write_junit

    with _bar() as bar:
        task = bar.add_task("parity", total=len(tflite))

        def done(result):
            mark = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
            if result.source_model_match is False:
                bar.console.print("[yellow]warning:[/] " + safe(
                    f"{result.file} was exported from another model than {model} (metadata "
                    "source sha256 differs)"))
            bar.console.print(f"{mark} {safe(result.variant)}: EPE mean "
                              f"{result.keypoint_epe_mean_px:.4f} px, max "
                              f"{result.keypoint_epe_max_px:.3f} px"
                              + (f" — {safe('; '.join(result.failures))}"
                                 if result.failures else ""))
            bar.advance(task)

        def failed(error):
            bar.console.print(f"[red]ERROR[/] {safe(error['variant'])}: {safe(error['error'])}")
            bar.advance(task)

        report = run_parity(model, list(tflite), data=data, count=count, on_done=done,
                            on_error=failed)
    if junit_path:
        write_junit(report, junit_path)
    if as_json:
        emit_json(report.to_dict())
    else:
        table = Table(title=safe(f"parity vs {report.model} on {count} crops ({data})"))
        for col in ("variant", "result", "EPE mean px", "p95 px", "max px (all)",
                    "max px (confident)*", "heatmap max", "cosine min", "AUC keras",
                    "AUC tflite"):
            table.add_column(col, justify="left" if col in ("variant", "result") else "right")
        # a passing int8 variant can show a large all-keypoint max: the bound is not on it
        table.caption = ("* the variant's keypoint_epe_max_px bound applies to this column "
                         "only: keypoints the Keras decode is confident about (score >= "
                         "decode.min_confidence); `max px (all)` includes unconfident ones "
                         "and is not bounded (converters/variants.toml)")
        table.caption_justify = "left"

        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        for r in report.results:
            table.add_row(safe(r.variant), "[green]pass[/]" if r.passed else "[red]FAIL[/]",
                          fmt(r.keypoint_epe_mean_px, ".4f"), fmt(r.keypoint_epe_p95_px, ".3f"),
                          fmt(r.keypoint_epe_max_px, ".3f"),
                          fmt(r.keypoint_epe_max_confident_px, ".3f"),
                          fmt(r.heatmap_max_abs, ".4f"),
                          fmt(r.cosine_min, ".6f"), fmt(r.auc_keras, ".4f"),
                          fmt(r.auc_tflite, ".4f"))
        print_table(human(as_json), table)
        if per_keypoint and report.results:
            kp_table = Table(title="mean keypoint distance to Keras (px)")
            kp_table.add_column("keypoint")
            for r in report.results:
                kp_table.add_column(r.variant, justify="right")
            for i, row in enumerate(report.results[0].per_keypoint):
                kp_table.add_row(row["keypoint"], *(f"{r.per_keypoint[i]['epe_mean_px']:.3f}"
                                                     for r in report.results))
            human(as_json).print(kp_table)
    if report.errors:
        raise ModelError("; ".join(e["error"] for e in report.errors))
    if not report.passed:
        failed = [r.variant for r in report.results if not r.passed]
        raise ParityFailed(f"parity failed for {', '.join(failed)}")
