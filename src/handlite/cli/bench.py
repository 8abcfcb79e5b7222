"""`handlite bench`: benchmark models on phones (or the host), and `bench parse LOGFILE`."""

from __future__ import annotations

from pathlib import Path

import click

from handlite.cli.common import (emit_json, err, human, json_option, out, parse_int_list,
                                 parse_str_list, print_table, progress)
from handlite.cli.device import device_options
from handlite.errors import UsageError
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


class _BenchGroup(click.Group):
    """`bench MODELS... [options]` runs a sweep; `bench parse LOG` reads a tool log."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BenchGroup)
def bench() -> None:
    """Benchmark models: `handlite bench MODELS... --device SERIAL|all|host`, or
    `handlite bench parse LOGFILE` for a benchmark_model log."""


@bench.command("parse")
@click.argument("logfile", type=click.Path(dir_okay=False))
@json_option
def parse_cmd(logfile: str, as_json: bool) -> None:
    """Read a benchmark_model output (any known format) into numbers (us, MB)."""
    from handlite.bench.parser import parse_file
    result = parse_file(logfile)
    result.pop("count_lines", None)
    if as_json:
        emit_json(result)
        if result["status"] == "invalid":
            raise click.exceptions.Exit(1)
        return
    run = result["inference"] or {}
    out.print(f"format: {safe(result['format'])}")
    if result["status"] == "invalid":
        # numbers that cannot be real are shown as such, never as a result
        err.print(f"[red]invalid[/]: {safe('; '.join(result['invalid_reasons']))}")
    for label, key in (("init", "init_us"), ("first inference", "first_inference_us"),
                       ("warm-up avg", "warmup_avg_us"), ("inference avg", "inference_avg_us")):
        value = result[key]
        out.print(f"{label:>16}: {'—' if value is None else f'{value:,.1f} us'}")
    for key in ("count", "min", "max", "std", "p5", "median", "p95"):
        if run.get(key) is not None:
            value = f"{run[key]:,}" if key == "count" else f"{run[key]:,.1f} us"
            out.print(f"{key:>16}: {value}")
    if result["memory"]:
        m = result["memory"]
        out.print(f"{'memory (MB)':>16}: init={m['init_mb']} overall={m['overall_mb']} "
                  f"peak={m['peak_mb']}")
    if result["delegation"]:
        d = result["delegation"]
        partial = " [yellow](partial)[/]" if d["partial"] else ""
        out.print(f"{'delegation':>16}: {d['delegated_nodes']}/{d['total_nodes']} nodes "
                  f"({safe(d['delegate'])}){partial}")
    if result["status"] == "invalid":
        raise click.exceptions.Exit(1)


@bench.command("run")
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@device_options
@click.option("--threads", default="1", show_default=True, help="Thread counts, e.g. 1,2,4.")
@click.option("--delegate", default="cpu", show_default=True,
              help="Delegates, comma separated: cpu, xnnpack, gpu (fp16 allowed, the GPU "
                   "delegate's default), gpu-fp32 (--gpu_precision_loss_allowed=false), "
                   "nnapi.")
@click.option("--runner", type=click.Choice(["benchmark_model", "app"]),
              default="benchmark_model", show_default=True)
@click.option("--benchmark-binary", type=click.Path(dir_okay=False), envvar="HANDLITE_BENCHMARK_BINARY",
              help="Android build of benchmark_model (pushed once, kept by hash).")
@click.option("--package", default="org.handlite.app", show_default=True,
              help="The app runner's package.")
@click.option("--rules", "rules_name", type=click.Choice(["quick", "mlperf", "none"]),
              default="quick", show_default=True,
              help="Run rules a cell must keep or be recorded invalid: quick = 1 s and 50 "
                   "runs (benchmark_model's defaults); mlperf = 60 s, 1024 runs, 5 repeats "
                   "within 5% (MLPerf Mobile); none = no minimum.")
@click.option("--min-secs", type=click.FloatRange(0),
              help="Timed seconds at least (overrides the rules; passed to the tool).")
@click.option("--min-runs", type=click.IntRange(1),
              help="Timed runs at least (overrides the rules).")
@click.option("--runs", type=click.IntRange(1),
              help="Timed runs to ask for  [default: the rules' --min-runs]")
@click.option("--warmup", default=5, show_default=True, type=click.IntRange(0))
@click.option("--out", "out_file", type=click.Path(dir_okay=False),
              help="Append one JSONL record per cell here.")
@click.option("--resume", is_flag=True, help="Skip cells --out already holds as ok.")
@click.option("--cooldown", default=60.0, show_default=True, type=click.FloatRange(0),
              help="Seconds between cells on a device.")
@click.option("--thermal-threshold", default=45.0, show_default=True,
              help="Wait before a cell until the hottest zone is below this (deg C).")
@click.option("--max-wait", default=300.0, show_default=True, type=click.FloatRange(0),
              help="Longest thermal wait (s); then measure and flag `thermal`.")
@click.option("--repeats", type=click.IntRange(1),
              help="Runs of each cell, the median one kept  [default: the rules' (1; 5 "
                   "for mlperf)]")
@click.option("--max-spread", default=0.10, show_default=True, type=click.FloatRange(0),
              help="Flag `repeat_spread` when repeats differ by more (relative).")
@click.option("--pin-big-cores", is_flag=True, help="taskset the tool to the fastest cluster.")
@click.option("--check-parity", is_flag=True,
              help="Also run a fixed input on the device and compare the decoded keypoints "
                   "with --reference under the variant's parity tolerances (exit 1 on a "
                   "failure).")
@click.option("--reference", type=click.Path(dir_okay=False),
              help="The Keras model (.keras) the variants were exported from.")
@click.option("--parity-data", default="synth", show_default=True,
              help="Data set whose first crop is the parity input.")
@click.option("--op-profile", is_flag=True,
              help="benchmark_model --enable_op_profiling: store the per-op table in each "
                   "record (`results show --ops`, `results compare --ops`).")
@click.option("--peak-memory", is_flag=True,
              help="benchmark_model --report_peak_memory_footprint: store the peak (MB).")
@click.option("--allow-nan", is_flag=True,
              help="Host: time models whose outputs hold NaN/Inf instead of failing the cell.")
@json_option
def run_cmd(models, device_opts, threads, delegate, runner, benchmark_binary, package,
            rules_name, min_secs, min_runs, runs, warmup, out_file, resume, cooldown,
            thermal_threshold, max_wait, repeats,
            max_spread, pin_big_cores, check_parity, reference, parity_data, op_profile,
            peak_memory, allow_nan, as_json) -> None:
    """Benchmark MODELS on --device (every model x threads x delegate); --device host
    benchmarks this machine."""
    from handlite.bench.rules import resolve, runs_for
    thread_list = parse_int_list(threads, "--threads") or [1]
    delegates = parse_str_list(delegate) or ["cpu"]
    rules = resolve(rules_name, min_secs, min_runs, repeats)
    runs, min_secs, repeats = runs_for(rules, runs), rules.min_secs, rules.repeats
    if (op_profile or peak_memory) and (device_opts.device == "host" or runner == "app"):
        # LiteRT's Python API and the sample app have no op profiler or memory monitor
        raise UsageError("--op-profile and --peak-memory need --runner benchmark_model on a "
                         "device (on the host, benchmarks/int8_profile.py profiles stages)")
    if device_opts.device == "host":
        if check_parity:
            raise UsageError("--check-parity is for devices; on the host use `handlite parity`")
        _run_host(models, thread_list, delegates, runs, warmup, min_secs, out_file, as_json,
                  allow_nan, rules, resume)
        return
    if check_parity and not reference:
        raise UsageError("--check-parity needs --reference MODEL.keras")

    from handlite.bench.hygiene import HygieneSettings
    from handlite.bench.runners import RunSettings, make_runner
    from handlite.bench.sweep import SweepPlan, run_sweep
    plan = SweepPlan(
        models=[Path(m) for m in models], threads=thread_list, delegates=delegates,
        runner=make_runner(runner, benchmark_binary, package),
        settings=RunSettings(runs=runs, warmup=warmup, min_secs=min_secs,
                             op_profile=op_profile, peak_memory=peak_memory),
        hygiene=HygieneSettings(threshold_c=thermal_threshold, max_wait_s=max_wait,
                                cooldown_s=cooldown, repeats=repeats, max_spread=max_spread),
        out=Path(out_file) if out_file else None, resume=resume, pin_big_cores=pin_big_cores,
        rules=rules)
    cells = plan.cells()  # checks the model files before touching a device
    if check_parity:
        from handlite.bench.device_parity import DeviceParity
        plan.parity = DeviceParity(reference, parity_data)
        with progress() as bar:
            bar.add_task("parity: loading the reference and the models", total=None)
            plan.parity.prepare(plan.models)
    devices = device_opts.open()
    with progress() as bar:
        tasks = {d.serial: bar.add_task(safe(d.serial), total=len(cells)) for d in devices}

        def on_event(serial, kind, info):
            task = tasks[serial]
            cell = info.get("cell")
            # serials, file names and tool messages are data: escaped before rich sees them
            what = safe(f"{cell.model.name} {cell.delegate} t{cell.threads}") if cell else ""
            who = safe(serial)
            if kind == "cell":
                bar.update(task, description=f"{who}: {what}")
            elif kind in ("done", "skip", "fail"):
                bar.advance(task)
                if kind == "fail":
                    err.print(f"[red]failed[/] {who} {what}: {safe(info.get('error'))}")
                elif kind == "done":
                    fps = info["record"]["stats"].get("fps")
                    bar.update(task, description=f"{who}: {what} "
                               f"{'' if fps is None else f'{fps:.1f} fps'}")
            elif kind == "wait":
                bar.update(task, description=f"{who}: {safe(info['message'])}")

        result = run_sweep(plan, devices, on_event)
    parity_failed = [r for r in result.records if r.get("parity")
                     and not r["parity"].get("passed")]
    _render(result.records, as_json, {"out": out_file, "skipped": result.skipped,
                                       "wall_s": result.wall_s, "device_s": result.device_s,
                                       "parity_failed": len(parity_failed)})
    for r in parity_failed:
        p = r["parity"]
        err.print("[red]parity failed[/] " + safe(
            f"{r['target']['id']} {r['model']['name']} {r['settings']['delegate']} "
            f"t{r['settings']['threads']}: "
            f"{'; '.join(p.get('failures') or [p.get('error') or '?'])}"))
    if result.failed or result.invalid or parity_failed:
        raise click.exceptions.Exit(1)


def _render(records, as_json, extra) -> None:
    if as_json:
        emit_json({**extra, "records": records})
        return
    from handlite.report import results_tables
    for table in results_tables(records):
        print_table(human(as_json), table)
    if extra.get("skipped"):
        err.print(safe(f"skipped {extra['skipped']} cell(s) already in {extra.get('out')}"))


def _run_host(models, threads, delegates, runs, warmup, min_secs, out_file, as_json,
              allow_nan=False, rules=None, resume=False) -> None:
    if delegates not in (["cpu"], ["xnnpack"]):
        raise UsageError("the host benchmark runs the CPU (XNNPACK) kernels only")
    try:
        from handlite.bench.host import host_sweep
    except ImportError as exc:
        raise UsageError(f"the host benchmark is not available in this build ({exc})") \
            from None
    with progress() as bar:
        # the device sweep's loop: each cell's record is appended to --out as it finishes
        result = host_sweep(list(models), threads, runs, warmup, min_secs, bar,
                            allow_nan=allow_nan, rules=rules, out=out_file, resume=resume)
    records = result.records
    extra = {"out": out_file}
    if resume:
        extra["skipped"] = result.skipped
    _render(records, as_json, extra)
    if any(r.get("status") != "ok" for r in records):
        raise click.exceptions.Exit(1)
