"""Reports from benchmark records: rich tables and plots (matplotlib, Agg backend).

Units: latencies in ms, throughput in fps. Shared by `handlite results` and the demo.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from handlite.bench.op_profile import diff_profiles, top_ops
from handlite.text import safe


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return safe(value)  # records are files: a value there may hold markup


def _num_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def host_cpu_label(target: Mapping[str, Any]) -> str:
    """`CPU, N cores [features]` of a host target block: the same model is 2.3x faster in
    int8 with VNNI than without, so a host number names its CPU. Raw text: escape to render."""
    features = " ".join(target.get("cpu_features") or []) or "no SIMD features recorded"
    return f"{target.get('cpu') or 'CPU ?'}, {target.get('cores') or '?'} cores [{features}]"


def _target_label(record: Mapping[str, Any]) -> str:
    t = record.get("target") or {}
    name = t.get("model") or t.get("kind") or "?"
    label = f"{name} ({t.get('id')})"
    if t.get("kind") == "host" and (t.get("cpu") or t.get("cpu_features") is not None):
        label += f" — {host_cpu_label(t)}"
    return label


#: table footnotes for flags that change how much a number can be trusted
FLAG_NOTES = {
    "busy": "busy: host load average above 0.5 per core during the cell; other work shared "
            "the cores, so latencies are inflated and noisy",
    "invalid": "invalid: the cell broke its run rules (too few runs, too short, or repeats "
               "that disagree); not a result",
}


def _model_label(record: Mapping[str, Any]) -> str:
    m = record.get("model") or {}
    return m.get("variant") or m.get("name") or "?"


def group_by_target(records: Iterable[Mapping[str, Any]]) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(list)
    for r in records:
        groups[_target_label(r)].append(r)
    return dict(groups)


def results_tables(records: Sequence[Mapping[str, Any]]) -> list[Table]:
    """One table per target: a row per cell with median/p90/mean latency, fps and flags."""
    tables = []
    for label, rows in group_by_target(records).items():
        table = Table(title=safe(label), title_justify="left")
        # peak memory only where a record measured it (--peak-memory): no column of dashes
        peak = any((r.get("stats") or {}).get("peak_memory_mb") is not None for r in rows)
        for col, just in (("model", "left"), ("runner", "left"), ("delegate", "left"),
                          ("threads", "right"), ("median ms", "right"), ("p90 ms", "right"),
                          ("mean ms", "right"), ("fps", "right"),
                          *((("peak MB", "right"),) if peak else ()),
                          ("status / flags", "left")):
            table.add_column(col, justify=just)
        rows = sorted(rows, key=lambda r: (str(_model_label(r)),
                                           str((r.get("settings") or {}).get("runner") or ""),
                                           str((r.get("settings") or {}).get("delegate") or ""),
                                           _num_key((r.get("settings") or {}).get("threads"))))
        for r in rows:
            s = r.get("settings") or {}
            stats = r.get("stats") or {}
            lat = stats.get("pipeline") or stats.get("invoke") or {}
            note = safe(", ".join(map(str, r.get("flags") or [])))
            parity = r.get("parity")
            if parity:  # on-device parity: the verdict and its worst keypoint distance
                epe = parity.get("keypoint_epe_max_px")
                verdict = ("[green]parity ok[/]" if parity.get("passed")
                           else "[red]parity FAILED[/]")
                note = ", ".join(filter(None, [f"{verdict} (max {_fmt(epe, 3)} px)", note]))
            if r.get("status") != "ok":
                # `invalid`: the tool printed numbers that cannot be real (bench.parser)
                note = f"[red]{safe(r.get('status') or 'failed')}[/]: {safe(r.get('error'))}"
            delegate = s.get("delegate")
            backend = (r.get("delegation") or {}).get("gpu_backend")
            if backend:  # OpenCL and OpenGL GPU paths differ in speed: say which one ran
                delegate = f"{delegate} ({backend})"
            table.add_row(safe(_model_label(r)), safe(s.get("runner")), safe(delegate),
                          _fmt(s.get("threads")), _fmt(lat.get("median_ms")),
                          _fmt(lat.get("p90_ms")), _fmt(lat.get("mean_ms")),
                          _fmt(stats.get("fps"), 1),
                          *((_fmt(stats.get("peak_memory_mb"), 1),) if peak else ()), note)
        seen = {f for r in rows for f in (r.get("flags") or [])}
        seen |= {r.get("status") for r in rows}
        notes = [text for key, text in FLAG_NOTES.items() if key in seen]
        if notes:
            table.caption = "\n".join(notes)
            table.caption_justify = "left"
        tables.append(table)
    return tables


def _op_name(name: Any) -> str:
    # TFLite names a fused op by all the graph nodes folded into it, joined by ';' (hundreds
    # of characters); the table shows the first and counts the rest, the record keeps all
    parts = str(name or "").split(";")
    return parts[0] + (f" (+{len(parts) - 1} fused)" if len(parts) > 1 else "")


def op_tables(records: Sequence[Mapping[str, Any]], top: int = 10) -> list[Table]:
    """Per record with an op profile: its `top` slowest ops (ms per inference, share, and the
    cumulative share), then the time per node type."""
    tables = []
    for r in records:
        profile = r.get("op_profile")
        if not profile:
            continue
        s = r.get("settings") or {}
        inv = ((r.get("stats") or {}).get("invoke") or {}).get("mean_ms")
        title = (f"{_model_label(r)} {s.get('delegate')} t{s.get('threads')} on "
                 f"{_target_label(r)}: top {top} of {profile.get('nodes')} ops, "
                 f"{_fmt(profile.get('total_avg_ms'), 3)} ms summed"
                 + (f" (invoke mean {_fmt(inv, 3)} ms)" if inv is not None else ""))
        table = Table(title=safe(title), title_justify="left")
        for col in ("node type", "name", "avg ms", "%", "cdf %", "times called"):
            table.add_column(col, justify="left" if col in ("node type", "name") else "right")
        total = float(profile.get("total_avg_ms") or 0.0)
        cdf = 0.0
        for op in top_ops(profile, top):
            share = 100.0 * op["avg_ms"] / total if total else 0.0
            cdf += share
            table.add_row(safe(op.get("node_type")), safe(_op_name(op.get("name"))),
                          _fmt(float(op["avg_ms"]), 3), f"{share:.1f}", f"{cdf:.1f}",
                          _fmt(op.get("times_called")))
        tables.append(table)
    return tables


def op_diff_table(old: Mapping[str, Any], new: Mapping[str, Any], by: str = "node_type",
                  top: int = 10) -> Table:
    """Where the time moved between two records' op profiles (per node type or op name)."""
    s = new.get("settings") or {}
    table = Table(title=safe(f"op profile {_model_label(new)} {s.get('delegate')} "
                             f"t{s.get('threads')} on {_target_label(new)}: old -> new"),
                  title_justify="left")
    for col in (by.replace("_", " "), "old ms", "new ms", "delta ms", "change"):
        table.add_column(col, justify="left" if col == by.replace("_", " ") else "right")
    for row in diff_profiles(old.get("op_profile"), new.get("op_profile"), by)[:top]:
        change = "—" if row["change"] is None else f"{row['change'] * 100:+.1f}%"
        label = _op_name(row[by]) if by == "name" else row[by]
        table.add_row(safe(label), _fmt(row["old_ms"], 3), _fmt(row["new_ms"], 3),
                      f"{row['delta_ms']:+.3f}", change)
    return table


def compare_table(result: Mapping[str, Any]) -> Table:
    """One row per shared cell: old and new latency, change, the 95% interval of the ratio
    new/old and the verdict (a change inside the noise is "no significant change")."""
    table = Table(title=f"threshold {result['threshold'] * 100:g}%, "
                        f"{result.get('confidence', 0.95) * 100:g}% interval of new/old",
                  title_justify="left")
    for col in ("target", "model", "runner", "delegate", "threads", "old ms", "new ms",
                "change", "interval", "verdict"):
        table.add_column(col, justify="right" if "ms" in col or col in ("threads", "change")
                         else "left")
    for row in result["rows"]:
        change = "—" if row["change"] is None else f"{row['change'] * 100:+.1f}%"
        ci = row.get("ci")
        interval = ("—" if not ci else
                    f"{(ci[0] - 1) * 100:+.1f}..{(ci[1] - 1) * 100:+.1f}%")
        v = row.get("verdict") or ("regression" if row["regressed"] else "")
        if row.get("method") == "none":
            v += " (no noise estimate)"
        if row.get("busy"):
            v += " [busy host]"
        if row["regressed"]:
            change, v = f"[red]{change}[/]", f"[red]{safe(v)}[/]"
        else:
            v = safe(v)
        table.add_row(safe(row["target"]), safe(row["model"]), safe(row["runner"]),
                      safe(row["delegate"]), safe(row["threads"]), _fmt(row["old_ms"]),
                      _fmt(row["new_ms"]), change, interval, v)
    return table


def plot_results(records: Sequence[Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """fps per variant and device (grouped bars), and latency distributions (box plots of the
    raw samples where a record has them, else min/median/max ranges). Returns the files."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.get("status") == "ok"]
    written: list[Path] = []
    if not ok:
        return written

    def cell_label(r: Mapping[str, Any]) -> str:
        s = r["settings"]
        return f"{_model_label(r)}\n{s.get('delegate')} t{s.get('threads')}"

    targets = list(group_by_target(ok))
    cells = sorted({cell_label(r) for r in ok})
    fps = {(_target_label(r), cell_label(r)): r["stats"].get("fps") for r in ok}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cells) * max(1, len(targets))), 4.5))
    width = 0.8 / max(1, len(targets))
    for i, target in enumerate(targets):
        xs = [j + i * width for j in range(len(cells))]
        ys = [fps.get((target, c)) or 0.0 for c in cells]
        ax.bar(xs, ys, width, label=target)
    ax.set_xticks([j + width * (len(targets) - 1) / 2 for j in range(len(cells))])
    ax.set_xticklabels(cells, fontsize=7)
    ax.set_ylabel("fps (1000 / median ms)")
    ax.set_title("Throughput per variant and device")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "fps.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(ok)), 4.5))
    labels, data = [], []
    for r in ok:
        samples = (r.get("samples_ms") or {}).get("invoke") or []
        inv = r["stats"].get("invoke") or {}
        if not samples:
            samples = [v for v in (inv.get("min_ms"), inv.get("median_ms") or inv.get("mean_ms"),
                                   inv.get("max_ms")) if v is not None]
        if samples:
            labels.append(f"{cell_label(r)}\n{(r.get('target') or {}).get('model') or ''}")
            data.append(samples)
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, fontsize=6, rotation=45, ha="right")
    ax.set_ylabel("invoke latency (ms)")
    ax.set_title("Latency distributions")
    fig.tight_layout()
    path = out / "latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written
