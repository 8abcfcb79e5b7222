"""`handlite parity`: TFLite variants against the Keras model, a thin wrapper over the library."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import emit_json, human, json_option, print_table, terminal_progress
from handlite.errors import ModelError, ParityFailed
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


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

    with terminal_progress() as bar:
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
                         "and is not bounded (src/handlite/recipes/variants.toml)")
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
