"""`handlite results`: show, compare, plot and export benchmark records (JSONL)."""

from __future__ import annotations

import click

from handlite.cli.common import emit_json, err, human, json_option, out, print_table
from handlite.errors import RegressionFound
from handlite.io import atomic_write_text
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


def _read(path: str) -> list[dict]:
    from handlite.bench.store import read_records
    return read_records(path, warn=lambda m: err.print(f"[yellow]warning:[/] {safe(m)}"))


@click.group()
def results() -> None:
    """Benchmark results (handlite.bench/1 JSONL): show, compare, plot, export."""


@results.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--ops", is_flag=True, help="Also list the slowest ops of each cell that has an "
                                          "op profile (bench --op-profile).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1),
              help="Ops per cell with --ops.")
@json_option
def show(file: str, ops: bool, top: int, as_json: bool) -> None:
    """Tables of FILE's records, one per device/host."""
    records = _read(file)
    if as_json:
        emit_json({"file": file, "records": records})
        return
    from handlite.report import op_tables, results_tables
    for table in results_tables(records):
        print_table(out, table)
    if ops:
        tables = op_tables(records, top)
        for table in tables:
            print_table(out, table)
        if not tables:
            err.print("[yellow]warning:[/] no record has an op profile (bench --op-profile)")
    failed = sum(r.get("status") == "failed" for r in records)
    invalid = sum(r.get("status") == "invalid" for r in records)
    out.print(f"{len(records)} records, {failed} failed"
              + (f", {invalid} invalid" if invalid else ""))


@results.command("compare")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--ops", is_flag=True,
              help="Also diff the op profiles of cells that have one in both files.")
@click.option("--ops-by", type=click.Choice(["node_type", "name"]), default="node_type",
              show_default=True, help="Group op times by node type or by op name.")
@click.option("--threshold", default="5%", show_default=True,
              help="Slower than this (relative median latency), with a 95% interval that "
                   "excludes no change, is a regression.")
@json_option
def compare_cmd(old: str, new: str, ops: bool, ops_by: str, threshold: str,
                as_json: bool) -> None:
    """Compare NEW against OLD cell by cell; exit 1 only on significant regressions
    (change above --threshold and a bootstrap 95% interval of new/old above 1)."""
    from handlite.bench.compare import compare, parse_threshold
    old_records, new_records = _read(old), _read(new)
    result = compare(old_records, new_records, parse_threshold(threshold))
    pairs = []
    if ops:
        from handlite.bench.compare import profile_pairs
        pairs = profile_pairs(old_records, new_records)
        from handlite.bench.op_profile import diff_profiles
        result["op_diffs"] = [{"key": list(key), "by": ops_by,
                               "rows": diff_profiles(a.get("op_profile"), b.get("op_profile"),
                                                     ops_by)} for key, a, b in pairs]
    if as_json:
        emit_json(result)
    else:
        from handlite.report import compare_table, op_diff_table
        print_table(human(as_json), compare_table(result))
        for _key, a, b in pairs:
            print_table(human(as_json), op_diff_table(a, b, ops_by))
        if ops and not pairs:
            err.print("[yellow]warning:[/] no cell has an op profile in both files")
        for key in result["only_old"]:
            err.print(safe(f"only in {old}: {' | '.join(map(str, key))}"))
        for key in result["only_new"]:
            err.print(safe(f"only in {new}: {' | '.join(map(str, key))}"))
    if result["regressions"]:
        cells = "; ".join(f"{r['model']} {r['delegate']} t{r['threads']} on {r['target']} "
                          f"{r['change'] * 100:+.1f}%" for r in result["regressions"])
        raise RegressionFound(f"{len(result['regressions'])} cell(s) significantly slower "
                              f"than {result['threshold'] * 100:g}%: {cells}")
    if not result["rows"]:
        err.print("[yellow]warning:[/] the files share no cells")


@results.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the PNG files.")
@json_option
def plot(file: str, out_dir: str, as_json: bool) -> None:
    """fps per variant and device, and latency distributions, as PNG files."""
    from handlite.report import plot_results
    files = plot_results(_read(file), out_dir)
    if as_json:
        emit_json({"files": [str(f) for f in files]})
    else:
        for f in files:
            out.print(safe(f"wrote {f}"))
        if not files:
            err.print("[yellow]warning:[/] no ok records to plot")


@results.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--csv", "as_csv", is_flag=True, required=True, help="Export as CSV.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="Write here (atomically) instead of stdout.")
def export(file: str, as_csv: bool, out_file: str | None) -> None:
    """Records as CSV (one row per record, flat columns)."""
    from handlite.bench.store import to_csv
    text = to_csv(_read(file))
    if out_file:
        atomic_write_text(out_file, text)
        err.print(safe(f"wrote {out_file}"))
    else:
        click.echo(text, nl=False)
