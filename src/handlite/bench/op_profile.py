"""Per-op profiles from `benchmark_model --enable_op_profiling`: parse, summarise, diff.

Units: ms (as the tool prints them), percentages 0-100, memory KB.

The tool's profiler (TensorFlow's StatsCalculator) prints sections titled
`============================== TITLE ==============================` followed by a header and
one row per node. Formats seen across versions, all read here by their header:
- tab table, newer: `[node type] [first] [avg ms] [%] [cdf%] [mem KB] [times called] [Name]`;
- tab table, older: the same with a `[start]` column after `[node type]`;
- CSV (`--op_profiling_output_mode=csv`): `node type, first, avg_ms, %, cdf%, mem KB,
  times called, name` (older ones with `start`), the name last and free to hold commas.
Sections used: `Run Order` (one row per op, in execution order) and `Summary by node type`
(`[Node type] [count] [avg ms] [avg %] [cdf %] [mem KB] [times called]`); `Top by ...`
repeats rows of Run Order and is skipped. Newer tools print a profile for the warm-up runs
before the one for `Regular Benchmark Runs`; the regular one wins when both are there. With
subgraphs, the primary graph's (first) sections are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handlite.bench.parser import strip_prefixes
from handlite.errors import ParseError

_SECTION = re.compile(r"^=+\s*(?P<title>[^=]+?)\s*=+$")
_REGULAR = re.compile(r"Profiling Info for Regular Benchmark Runs", re.I)
#: header name (lower case, brackets and spaces dropped) -> field of a row
_OP_FIELDS = {"nodetype": "node_type", "start": "start_ms", "first": "first_ms",
              "avgms": "avg_ms", "avg_ms": "avg_ms", "%": "pct", "cdf%": "cdf_pct",
              "memkb": "mem_kb", "timescalled": "times_called", "name": "name"}
_TYPE_FIELDS = {"nodetype": "node_type", "count": "count", "avgms": "avg_ms",
                "avg_ms": "avg_ms", "avg%": "pct", "cdf%": "cdf_pct", "memkb": "mem_kb",
                "timescalled": "times_called"}
_TEXT = ("node_type", "name")
_INTS = ("times_called", "count")


def _key(column: str) -> str:
    return re.sub(r"[\[\]\s]", "", column).lower()


def _split(line: str, csv: bool, columns: int) -> list[str]:
    if csv:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) > columns:  # a name with commas: it is the last column
            parts = parts[:columns - 1] + [", ".join(parts[columns - 1:])]
        return parts
    return [p.strip() for p in line.split("\t") if p.strip()]


def _row(values: list[str], fields: list[str], where: str) -> dict[str, Any]:
    if len(values) != len(fields):
        raise ParseError(f"{where}: {len(values)} columns where the header has {len(fields)}")
    row: dict[str, Any] = {}
    for field, raw in zip(fields, values):
        if field in _TEXT:
            text = raw.strip()
            if field == "name" and text.startswith("[") and text.endswith("]"):
                text = text[1:-1]
            row[field] = text
            continue
        try:
            number = float(raw.rstrip("%"))
        except ValueError:
            raise ParseError(f"{where}: {field} {raw!r} is not a number") from None
        row[field] = int(number) if field in _INTS else number
    return row


def parse_op_profile(text: str) -> dict[str, Any] | None:
    """{'format', 'ops': [...], 'by_type': [...], 'total_avg_ms', 'nodes'} or None when the
    output holds no op profile. Rows: see the module docstring (`start_ms` only from old
    tools)."""
    lines = [strip_prefixes(raw)[0] for raw in text.splitlines()]
    # which block: the regular runs' one if the tool printed several
    begin = 0
    for i, line in enumerate(lines):
        if _REGULAR.search(line):
            begin = i
    ops: list[dict[str, Any]] | None = None
    by_type: list[dict[str, Any]] | None = None
    fmt = None
    i = begin
    while i < len(lines):
        match = _SECTION.match(lines[i])
        if not match:
            i += 1
            continue
        title = match["title"].lower()
        wanted = ("run order" in title and ops is None) or (
            "summary by node type" in title and by_type is None)
        if not wanted or i + 1 >= len(lines):
            i += 1
            continue
        header = lines[i + 1]
        csv = "[" not in header
        names = [c.strip() for c in header.split(",")] if csv else [
            c.strip() for c in header.split("\t") if c.strip()]
        table = _OP_FIELDS if "run order" in title else _TYPE_FIELDS
        fields = [table.get(_key(n)) for n in names]
        if None in fields or "node_type" not in fields:
            raise ParseError(f"op profile line {i + 2}: unknown header {header!r}")
        rows = []
        j = i + 2
        while j < len(lines) and lines[j] and not _SECTION.match(lines[j]) and not (
                lines[j].startswith(("Number of nodes", "Timings", "Memory", "Operator-wise"))
                or lines[j][0].isdigit() and "nodes observed" in lines[j]):
            rows.append(_row(_split(lines[j], csv, len(fields)), fields,
                             f"op profile line {j + 1}"))
            j += 1
        if "run order" in title:
            ops = rows
            fmt = "csv" if csv else ("table_start" if "start_ms" in fields else "table")
        else:
            by_type = rows
        i = j
    if ops is None and by_type is None:
        return None
    ops = ops or []
    return {"format": fmt or "table", "ops": ops,
            "by_type": by_type or [], "total_avg_ms": round(sum(o["avg_ms"] for o in ops), 6),
            "nodes": len(ops)}


def top_ops(profile: Mapping[str, Any] | None, n: int = 10) -> list[dict[str, Any]]:
    """The `n` ops with the largest average time, largest first."""
    ops = list((profile or {}).get("ops") or [])
    return sorted(ops, key=lambda o: -float(o.get("avg_ms") or 0.0))[:n]


def diff_profiles(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
                  by: str = "node_type") -> list[dict[str, Any]]:
    """Per node type (`by="node_type"`, robust when a rebuilt model renames nodes) or per op
    name (`by="name"`): old ms, new ms and the difference, largest absolute change first.

    Per type, a row's ms is the sum of its ops' averages (time per inference spent there).
    """
    def totals(profile):
        out: dict[str, float] = {}
        for op in (profile or {}).get("ops") or []:
            out[op[by]] = out.get(op[by], 0.0) + float(op.get("avg_ms") or 0.0)
        return out

    a, b = totals(old), totals(new)
    rows = []
    for key in set(a) | set(b):
        o, n = a.get(key), b.get(key)
        delta = (n or 0.0) - (o or 0.0)
        rows.append({by: key, "old_ms": o, "new_ms": n, "delta_ms": delta,
                     "change": None if not o or n is None else delta / o})
    return sorted(rows, key=lambda r: -abs(r["delta_ms"]))
