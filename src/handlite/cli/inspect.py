"""`handlite inspect`: what is inside a .tflite, a thin wrapper over the library."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import emit_json, human, json_option
from handlite.text import safe


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
