"""One self-contained HTML report from benchmark records: attach it to a PR and open it.

Units: latencies in ms, throughput in fps, memory in MB.

What it holds, per target (device or host): the device state behind the numbers (model, SoC,
OS, CPU and its ISA features, runtime; battery, temperatures, governors, load), a table of
every cell (median, p90, mean, fps, peak memory, status and flags, parity), fps per variant
and delegate as bars, latency distributions as box plots (raw samples where recorded, else
min/median/max), op-profile bars (time per node type) and on-device parity where present.
Charts are inline SVG and the page has no external resource, no network access and one tiny
script (it counts page errors into `data-errors`, which the headless-browser test reads).
Every string from a record passes through `html.escape`: records hold device and tool text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from handlite.io import atomic_write_text, utc_now
from handlite.report import _model_label, _target_label, group_by_target

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccd}
h3{font-size:15px;margin-top:20px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccd;padding:3px 8px;text-align:right;vertical-align:top}
td.l,th.l{text-align:left}th{background:#eef}.bad{color:#b00020;font-weight:600}
.ok{color:#0a7d32}.note{color:#555;font-size:12px}dl{display:grid;grid-template-columns:
max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}svg{background:#fafbff;
border:1px solid #dde}
"""
_SCRIPT = """
document.documentElement.dataset.errors = "0";
window.addEventListener("error", function () {
  var d = document.documentElement.dataset; d.errors = String(Number(d.errors) + 1);
}, true);
window.addEventListener("load", function () {
  document.documentElement.dataset.ready = "1";
});
"""
_COLOURS = ("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "—"
    return _e(value)


def _cell_label(r: Mapping[str, Any]) -> str:
    s = r.get("settings") or {}
    return f"{_model_label(r)} {s.get('delegate')} t{s.get('threads')}"


def _state(records: Sequence[Mapping[str, Any]]) -> str:
    """The device state behind the numbers: the target block and the first record's
    hygiene (the per-cell readings are in the table's title attributes)."""
    t = records[0].get("target") or {}
    hyg = next((r.get("hygiene") for r in records if r.get("hygiene")), None) or {}
    rows = [("device / host", t.get("model") or t.get("kind")), ("id", t.get("id")),
            ("SoC", t.get("soc")), ("ABI", t.get("abi")), ("OS", t.get("os")),
            ("CPU", t.get("cpu")), ("cores", t.get("cores")),
            ("CPU features", " ".join(t.get("cpu_features") or []) or None),
            ("runtime", " ".join(str(v) for v in (t.get("runtime") or {}).values() if v))]
    battery = hyg.get("battery") or {}
    if battery:
        rows.append(("battery", f"{battery.get('level_pct')}% at {battery.get('temp_c')} °C"))
    for key, label in (("thermal_before", "hottest zone before"),
                       ("thermal_after", "hottest zone after")):
        zone = hyg.get(key)
        if zone:
            rows.append((label, f"{zone.get('temp_c')} °C ({zone.get('zone')})"))
    status = hyg.get("thermal_status") or {}
    if status.get("status_name"):
        rows.append(("thermal status", status["status_name"]))
    if hyg.get("governors"):
        rows.append(("governors", ", ".join(f"{k}: {v}" for k, v in hyg["governors"].items())))
    if hyg.get("loadavg_1m_before") is not None:
        rows.append(("load average (1 min)",
                     f"{hyg.get('loadavg_1m_before')} before, {hyg.get('loadavg_1m_after')} "
                     f"after, {hyg.get('cpu_count')} cores"))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v not in (None, ""))
    return f"<dl>{body}</dl>"


def _table(records: Sequence[Mapping[str, Any]]) -> str:
    head = ("model", "runner", "delegate", "threads", "median ms", "p90 ms", "mean ms", "fps",
            "peak MB", "status / flags", "parity")
    out = ["<table><tr>" + "".join(
        f"<th class='{'l' if i in (0, 1, 2, 9, 10) else ''}'>{_e(h)}</th>"
        for i, h in enumerate(head)) + "</tr>"]
    for r in records:
        s, stats = r.get("settings") or {}, r.get("stats") or {}
        lat = stats.get("pipeline") or stats.get("invoke") or {}
        delegate = s.get("delegate")
        backend = (r.get("delegation") or {}).get("gpu_backend")
        if backend:
            delegate = f"{delegate} ({backend})"
        status = r.get("status")
        flags = ", ".join(r.get("flags") or [])
        note = (f"<span class='bad'>{_e(status)}</span>: {_e(r.get('error'))}"
                if status != "ok" else _e(flags))
        parity = r.get("parity")
        par = "—"
        if parity:
            verdict = "pass" if parity.get("passed") else "FAIL"
            par = (f"<span class='{'ok' if parity.get('passed') else 'bad'}'>{verdict}</span> "
                   f"(max {_num(parity.get('keypoint_epe_max_px'), 3)} px)")
        out.append("<tr>" + "".join(f"<td class='l'>{_e(v)}</td>" for v in (
            _model_label(r), s.get("runner"), delegate)) + "".join(
            f"<td>{v}</td>" for v in (_num(s.get("threads")), _num(lat.get("median_ms")),
                                      _num(lat.get("p90_ms")), _num(lat.get("mean_ms")),
                                      _num(stats.get("fps"), 1),
                                      _num(stats.get("peak_memory_mb"), 1)))
                   + f"<td class='l'>{note}</td><td class='l'>{par}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _bars(title: str, items: Sequence[tuple[str, float]], unit: str) -> str:
    """Horizontal bars, one per (label, value), as an inline SVG."""
    items = [(k, v) for k, v in items if v is not None and math.isfinite(v)]
    if not items:
        return ""
    top = max(v for _, v in items) or 1.0
    row, left, width = 22, 330, 520
    height = row * len(items) + 30
    parts = [f"<svg role='img' aria-label='{_e(title)}' width='{left + width + 90}' "
             f"height='{height}' xmlns='http://www.w3.org/2000/svg'>"
             f"<title>{_e(title)}</title>"]
    for i, (label, value) in enumerate(items):
        y = 10 + i * row
        w = max(1.0, width * value / top)
        parts.append(f"<text x='{left - 8}' y='{y + 14}' text-anchor='end' font-size='12'>"
                     f"{_e(label)}</text><rect x='{left}' y='{y + 2}' width='{w:.1f}' "
                     f"height='{row - 6}' fill='{_COLOURS[i % len(_COLOURS)]}'/>"
                     f"<text x='{left + w + 6:.1f}' y='{y + 14}' font-size='12'>"
                     f"{value:.2f} {_e(unit)}</text>")
    parts.append("</svg>")
    return f"<h3>{_e(title)}</h3>" + "".join(parts)


def _boxes(records: Sequence[Mapping[str, Any]]) -> str:
    """Latency box plots (quartiles, whiskers at min/max) from raw samples, else a
    min/median/max range, on one shared ms axis."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        samples = (r.get("samples_ms") or {}).get("invoke") or []
        inv = (r.get("stats") or {}).get("invoke") or {}
        if samples:
            x = np.asarray(samples, float)
            five = [float(v) for v in np.percentile(x, [0, 25, 50, 75, 100])]
            what = f"{len(samples)} samples"
        else:
            mid = inv.get("median_ms") or inv.get("mean_ms")
            lo, hi = inv.get("min_ms"), inv.get("max_ms")
            if mid is None:
                continue
            lo, hi = lo if lo is not None else mid, hi if hi is not None else mid
            five, what = [lo, mid, mid, mid, hi], "tool summary: min / median / max"
        rows.append((_cell_label(r), five, what))
    if not rows:
        return ""
    top = max(f[4] for _, f, _ in rows) or 1.0
    row, left, width = 26, 330, 520
    scale = width / top
    parts = [f"<svg role='img' aria-label='latency distributions' width='{left + width + 40}' "
             f"height='{row * len(rows) + 40}' xmlns='http://www.w3.org/2000/svg'>"
             "<title>latency distributions (ms)</title>"]
    for i, (label, (mn, q1, med, q3, mx), what) in enumerate(rows):
        y = 10 + i * row + row / 2
        parts.append(
            f"<g><title>{_e(label)}: {_e(what)}; min {mn:.2f}, median {med:.2f}, max "
            f"{mx:.2f} ms</title><text x='{left - 8}' y='{y + 4}' text-anchor='end' "
            f"font-size='12'>{_e(label)}</text>"
            f"<line x1='{left + mn * scale:.1f}' x2='{left + mx * scale:.1f}' y1='{y}' "
            f"y2='{y}' stroke='#555'/><rect x='{left + q1 * scale:.1f}' y='{y - 8}' "
            f"width='{max(1.0, (q3 - q1) * scale):.1f}' height='16' fill='#c6d4f5' "
            f"stroke='#3366cc'/><line x1='{left + med * scale:.1f}' "
            f"x2='{left + med * scale:.1f}' y1='{y - 8}' y2='{y + 8}' stroke='#dc3912' "
            "stroke-width='2'/></g>")
    axis_y = 10 + row * len(rows) + 14
    for k in range(5):
        v = top * k / 4
        parts.append(f"<text x='{left + v * scale:.1f}' y='{axis_y}' font-size='11' "
                     f"text-anchor='middle'>{v:.1f} ms</text>")
    parts.append("</svg>")
    return "<h3>invoke latency distributions</h3>" + "".join(parts)


def _op_profiles(records: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for r in records:
        profile = r.get("op_profile")
        if not profile:
            continue
        by_type: dict[str, float] = {}
        for op in profile.get("ops") or []:
            by_type[op.get("node_type")] = by_type.get(op.get("node_type"), 0.0) + float(
                op.get("avg_ms") or 0.0)
        items = sorted(by_type.items(), key=lambda kv: -kv[1])
        out.append(_bars(f"op profile: {_cell_label(r)} — ms per inference by node type "
                         f"({profile.get('nodes')} ops)", items, "ms"))
    return "".join(out)


def _parity(records: Sequence[Mapping[str, Any]]) -> str:
    rows = [r for r in records if r.get("parity")]
    if not rows:
        return ""
    keys = sorted({k for r in rows for k, v in r["parity"].items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)})
    out = ["<h3>on-device parity</h3><table><tr><th class='l'>cell</th><th>passed</th>"
           + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>"]
    for r in rows:
        p = r["parity"]
        out.append(f"<tr><td class='l'>{_e(_cell_label(r))}</td><td>"
                   f"{'yes' if p.get('passed') else '<span class=bad>no</span>'}</td>"
                   + "".join(f"<td>{_num(p.get(k), 3)}</td>" for k in keys) + "</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(records: Sequence[Mapping[str, Any]], sources: Sequence[str] = (),
                title: str = "handlite benchmark report") -> str:
    """The whole report as one HTML document (string)."""
    body = [f"<h1>{_e(title)}</h1><p class='note'>{len(records)} records from "
            f"{_e(', '.join(map(str, sources)) or 'memory')}; generated {_e(utc_now())}. "
            "Latencies: pipeline median where timed, else invoke; fps = 1000 / median.</p>"]
    for label, rows in group_by_target(records).items():
        ok = [r for r in rows if r.get("status") == "ok"]
        body.append(f"<section><h2>{_e(label)}</h2>{_state(rows)}{_table(rows)}")
        body.append(_bars("fps per variant and delegate",
                          [(_cell_label(r), (r.get("stats") or {}).get("fps")) for r in ok],
                          "fps"))
        body.append(_boxes(rows))
        body.append(_op_profiles(ok))
        body.append(_parity(rows))
        if any("busy" in (r.get("flags") or []) for r in rows):
            body.append("<p class='bad'>busy: the host's load average was above 0.5 per "
                        "core during some cells; their latencies are inflated.</p>")
        body.append("</section>")
    if not records:
        body.append("<p>No records.</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style><script>{_SCRIPT}</script>"
            f"</head><body>{''.join(body)}</body></html>\n")


def write_html(records: Sequence[Mapping[str, Any]], out: str, sources: Sequence[str] = ()
               ) -> str:
    """Write the report to `out` atomically; returns the path."""
    atomic_write_text(out, render_html(records, sources))
    return out
