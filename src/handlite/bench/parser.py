"""Parse the text `benchmark_model` (TFLite / LiteRT benchmark tool) prints.

Units: times in microseconds (`_us`, and every value of a `count=` line), memory in MB.

Formats understood (they changed over the years; all may carry `INFO: `-style level prefixes,
logcat prefixes such as `11-24 06:00:00.123  1234  1234 I tflite  : ` or `I/tflite( 123): `
(the benchmark APK logs through logcat), or the glog prefixes of TF 1.x builds such as
`2017-11-27 08:56:45.691915: I tensorflow/tools/benchmark/benchmark_model.cc:324] ` and
`I1127 08:56:45.691915  1234 benchmark_model.cc:324] `):
- timing lines: `count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929`,
  newer ones with `p5= median= p95=`, values possibly in scientific notation (`2.95034e+06`),
  a single run as `count=1 curr=X`, identical runs as `count=5 curr=X(all same)`;
- per-run lines of the op profiler and of TF 1.x, `Timings (microseconds): count=50 ...`
  (used when a phase printed no bare `count=` line; `Memory (bytes): count=` is skipped);
- phase banners `Running benchmark for at least N iterations`, older `... for N iterations`
  and TF 1.x `... for max N iterations`;
- summaries: `Inference timings in us: Init: .., First inference: .., Warmup (avg): ..,
  Inference (avg): ..` (new), `Average inference timings in us: Warmup: .., Init: ..,
  Inference: ..` (old) and the TF 1.x items `no stats: ..` (the timed runs) and
  `with stats: ..` (runs under the profiler); other items are kept in `summary_other`;
- memory: `Peak memory footprint (MB): init= overall=`, `Memory footprint delta from the
  start of the tool (MB): init= overall=`, `Overall peak memory footprint (MB) via periodic
  monitoring: X`;
- delegation: `Replacing X out of Y node(s) with delegate (NAME) ...`; X < Y is partial.
- GPU backend: `Initialized OpenCL-based API.` / `Initialized OpenGL-based API.` -> gpu_backend.

A line that looks like one of these but does not parse is a ParseError naming the line, and
so is text with no inference timing at all: a number handlite cannot read never becomes 0.
When the tool reports a failure instead of timings, BenchmarkError carries its message.

Numbers that parse but cannot be real make the result `status: "invalid"` with the reasons in
`invalid_reasons` (never an `ok` result): every time must be finite and non-negative, a run
count a whole number (0 < count <= MAX_COUNT for the timed phase), and min <= avg/median <= max.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from handlite.errors import BenchmarkError, InputError, ParseError

# nan/inf are read (and then judged invalid), never mistaken for a malformed line
_NUM = r"(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:[-+]?(?:nan|inf(?:inity)?)))"
#: the most runs a count line may claim: more is a broken tool, not a benchmark
MAX_COUNT = 10**9
_GLOG = re.compile(
    r"^(?:\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d(?:\.\d+)?:\s+(?P<a>[IWEF])\s+"
    r"|(?P<b>[IWEF])\d{4}\s+\d\d:\d\d:\d\d(?:\.\d+)?\s+\d+\s+)[^\s\]]+:\d+\]\s?")
_GLOG_LEVELS = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "FATAL"}
_PROFILE_TIMINGS = re.compile(r"^Timings \((?:microseconds|us)\):\s*(?=count=)")
_PROFILE_MEMORY = re.compile(r"^Memory \([^)]*\):\s*count=")
_LOGCAT_THREADTIME = re.compile(
    r"^(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d(?:\.\d+)?\s+\d+\s+\d+\s+[VDIWEFA]\s+[^:]*?\s*:\s?")
_LOGCAT_BRIEF = re.compile(
    r"^(?:(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d(?:\.\d+)?\s+)?[VDIWEFA]/[^(:]+?\s*"
    r"(?:\(\s*\d+\))?\s*:\s?")
_LEVEL = re.compile(r"^(INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG|FATAL):\s?")

_COUNT_FIELD = re.compile(rf"(\w+)=({_NUM})(\(all same\))?")
_COUNT_KEYS = ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95")
_SUMMARY_NEW = "Inference timings in us:"
_SUMMARY_OLD = "Average inference timings in us:"
_SUMMARY_NAMES = {
    "Init": "init_us",
    "First inference": "first_inference_us",
    "Warmup (avg)": "warmup_avg_us",
    "Inference (avg)": "inference_avg_us",
    # the old wording
    "Warmup": "warmup_avg_us",
    "Inference": "inference_avg_us",
    # TF 1.x: the timed runs without and with the profiler attached
    "no stats": "inference_avg_us",
    "with stats": "inference_with_stats_us",
}
_TIME_KEYS = ("init_us", "first_inference_us", "warmup_avg_us", "inference_avg_us",
              "inference_with_stats_us")
_MEM_PEAK = re.compile(rf"^Peak memory footprint \(MB\):\s*init=({_NUM})\s+overall=({_NUM})\s*$")
_MEM_DELTA = re.compile(rf"^Memory footprint delta from the start of the tool \(MB\):\s*"
                        rf"init=({_NUM})\s+overall=({_NUM})\s*$")
_MEM_MONITOR = re.compile(
    rf"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*({_NUM})\s*$")
_REPLACING = re.compile(r"^Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]*)\)")
#: the GPU delegate names its backend when it starts: "Initialized OpenCL-based API." or
#: "Initialized OpenGL-based API." (tflite/delegates/gpu); recorded as OpenCL / OpenGL
_GPU_BACKEND = re.compile(r"Initialized (OpenCL|OpenGL)-based API")
_RUNNING = re.compile(r"^Running benchmark for (?:at least |max )?(\d+) iterations")
_INIT_SESSION = re.compile(rf"^Initialized session in ({_NUM})\s*ms\.?\s*$")
_MODEL_SIZE = re.compile(rf"^The input model file size \(MB\):\s*({_NUM})\s*$")
_FAILURE = re.compile(r"^(Benchmarking failed|Failed to|Error:|Could not|Didn't find|"
                      r"Unable to|Aborted|.*Segmentation fault)", re.IGNORECASE)


def strip_prefixes(line: str) -> tuple[str, str | None]:
    """A log line without logcat and level prefixes -> (text, level or None)."""
    text = line.rstrip("\r\n")
    level = None
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_BRIEF):
        match = pattern.match(text)
        if match:
            text = text[match.end():]
            break
    match = _GLOG.match(text)
    if match:
        level = _GLOG_LEVELS[match.group("a") or match.group("b")]
        text = text[match.end():]
    match = _LEVEL.match(text)
    if match:
        level = match.group(1)
        text = text[match.end():]
    return text.strip(), level


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"{where}: {text!r} is not a number") from None


def parse_count_line(text: str, where: str = "count line") -> dict[str, Any]:
    """`count=N k=v ...` -> {'count': N, 'first': .., ...} (microseconds; absent keys None)."""
    fields: dict[str, Any] = {"count": None, **{k: None for k in _COUNT_KEYS}}
    pos = 0
    all_same = False
    for match in _COUNT_FIELD.finditer(text):
        if text[pos:match.start()].strip():
            break
        key, value, same = match.group(1), match.group(2), match.group(3)
        if key == "count":
            if pos != 0:
                raise ParseError(f"{where}: 'count' is not first: {text!r}")
            number = _number(value, where)
            # kept as printed when it is not a whole number: `validate` calls it invalid
            fields["count"] = int(number) if number.is_integer() else number
        elif key in _COUNT_KEYS:
            fields[key] = _number(value, where)
        else:
            raise ParseError(f"{where}: unknown timing field {key!r} in {text!r}")
        all_same = all_same or bool(same)
        pos = match.end()
    if text[pos:].strip() or fields["count"] is None:
        raise ParseError(f"{where}: cannot read timing line {text!r}")
    count = fields["count"]
    if count != 0 and fields["curr"] is None and fields["avg"] is None:
        raise ParseError(f"{where}: timing line without values: {text!r}")
    if (count == 1 or all_same) and fields["avg"] is None and fields["curr"] is not None:
        # the tool prints only `curr` when every run took the same time
        value = fields["curr"]
        for key in ("first", "min", "max", "avg"):
            fields[key] = value
        fields["std"] = 0.0
    return fields


def _parse_summary(text: str, prefix: str, where: str) -> dict[str, float]:
    body = text[len(prefix):].strip()
    result: dict[str, float] = {}
    for part in body.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.rpartition(":")
        name = name.strip()
        if not sep or not name:
            raise ParseError(f"{where}: unreadable item {part!r} in summary {text!r}")
        number = _number(value.strip(), where)
        if name in _SUMMARY_NAMES:
            result[_SUMMARY_NAMES[name]] = number
        else:
            # a wording of another era: kept, not guessed into a field
            result.setdefault("summary_other", {})[name] = number
    if not result:
        raise ParseError(f"{where}: empty summary {text!r}")
    return result


def _empty_result() -> dict[str, Any]:
    return {"format": None, "init_us": None, "first_inference_us": None,
            "warmup_avg_us": None, "inference_avg_us": None, "warmup": None,
            "inference": None, "memory": None, "delegation": None, "model_size_mb": None, "gpu_backend": None,
            "inference_with_stats_us": None, "summary_other": {}, "errors": [],
            "count_lines": [], "status": "ok", "invalid_reasons": []}


def _parse_segment(lines: list[tuple[int, str]], source: str) -> dict[str, Any]:
    result = _empty_result()
    phase = -1  # index of the last "Running benchmark ..." line seen
    counts: list[tuple[int, dict[str, Any]]] = []
    profile_counts: list[tuple[int, dict[str, Any]]] = []
    tf1_banner = False
    session_init_ms = None
    delegations: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    for number, raw in lines:
        text, level = strip_prefixes(raw)
        if not text:
            continue
        where = f"{source}:{number}"
        lowered = text.lower()
        if text.startswith("count="):
            counts.append((phase, parse_count_line(text, where)))
        elif m := _PROFILE_TIMINGS.match(text):
            profile_counts.append((phase, parse_count_line(text[m.end():], where)))
        elif _PROFILE_MEMORY.match(text):
            continue
        elif text.startswith(_SUMMARY_NEW) or text.startswith(_SUMMARY_OLD):
            new = text.startswith(_SUMMARY_NEW)
            summary = _parse_summary(text, _SUMMARY_NEW if new else _SUMMARY_OLD, where)
            result["summary_other"].update(summary.pop("summary_other", {}))
            result.update(summary)
            result["format"] = "new" if new else "old"
        elif "timings in us" in lowered:
            raise ParseError(f"{where}: unknown summary wording {text!r}")
        elif "memory footprint" in lowered:
            if text.startswith("Note:"):
                continue  # the tool's disclaimer above the memory line
            if m := _MEM_PEAK.match(text):
                memory.update(init_mb=float(m[1]), overall_mb=float(m[2]), wording="peak")
            elif m := _MEM_DELTA.match(text):
                memory.update(init_mb=float(m[1]), overall_mb=float(m[2]), wording="delta")
            elif text.startswith("Memory (") and "count=" in text:
                continue  # the op profiler's memory tally, not a footprint
            elif m := _MEM_MONITOR.match(text):
                memory["peak_mb"] = float(m[1])
            else:
                raise ParseError(f"{where}: unknown memory line {text!r}")
        elif text.startswith("Replacing ") and "node(s)" in text:
            m = _REPLACING.match(text)
            if not m:
                raise ParseError(f"{where}: unknown delegation line {text!r}")
            done, total = int(m[1]), int(m[2])
            if done > total:
                raise ParseError(f"{where}: more nodes delegated than exist: {text!r}")
            delegations.append({"delegated_nodes": done, "total_nodes": total,
                                "delegate": m[3]})
        elif m := _GPU_BACKEND.search(text):
            result["gpu_backend"] = m[1]
        elif m := _RUNNING.match(text):
            phase += 1
            tf1_banner = tf1_banner or " for max " in text
        elif m := _INIT_SESSION.match(text):
            session_init_ms = float(m[1])
        elif m := _MODEL_SIZE.match(text):
            result["model_size_mb"] = float(m[1])
        elif level in ("ERROR", "FATAL") or _FAILURE.match(text):
            result["errors"].append(text)
    # TF 1.x and the op profiler print a phase's runs as `Timings (microseconds): count=`;
    # a bare `count=` line of the same phase, where there is one, is the tool's own timing
    seen_phases = {p for p, _ in counts}
    counts += [(p, f) for p, f in profile_counts if p not in seen_phases]
    counts.sort(key=lambda pf: pf[0])
    result["count_lines"] = [fields for _, fields in counts]
    if counts:
        if any(p >= 0 for p, _ in counts):
            # the tool announces each phase with "Running benchmark for at least N
            # iterations": the warm-up phase first, then the timed phase
            by_phase = {p: fields for p, fields in counts}
            timed = [p for p in by_phase if p >= 1]
            if timed:
                result["warmup"] = by_phase.get(0)
                result["inference"] = by_phase[max(timed)]
            elif len(counts) == 1 and tf1_banner:
                # TF 1.x (`for max N iterations`) printed only its timed phase
                result["inference"] = counts[0][1]
            else:
                result["warmup"] = by_phase.get(0)
        elif len(counts) >= 2:
            result["warmup"], result["inference"] = counts[0][1], counts[-1][1]
        else:
            result["inference"] = counts[0][1]
    run = result["inference"]
    if result["inference_avg_us"] is None and run is not None:
        result["inference_avg_us"] = run["avg"]
    if result["warmup_avg_us"] is None and result["warmup"] is not None:
        result["warmup_avg_us"] = result["warmup"]["avg"]
    if result["first_inference_us"] is None and result["warmup"] is not None:
        result["first_inference_us"] = result["warmup"]["first"]
    if result["init_us"] is None and session_init_ms is not None:
        result["init_us"] = session_init_ms * 1000.0
    if result["format"] is None and counts:
        result["format"] = "count_lines"
    reasons = validate(result)
    if reasons:
        result["status"], result["invalid_reasons"] = "invalid", reasons
    if memory:
        memory.setdefault("init_mb", None)
        memory.setdefault("overall_mb", None)
        memory.setdefault("peak_mb", None)
        memory.setdefault("wording", "monitor")
        result["memory"] = memory
    if delegations:
        # the first delegate applied is the one asked for; later ones (e.g. XNNPACK picking
        # up what the GPU delegate left) are listed but do not define coverage
        first = delegations[0]
        result["delegation"] = {**first,
                                "partial": first["delegated_nodes"] < first["total_nodes"],
                                "all": delegations}
    return result


def _bad_time(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "is not finite"
    if value < 0:
        return "is negative"
    return None


def _check_count_line(fields: dict[str, Any], name: str, timed: bool) -> list[str]:
    reasons = []
    count = fields.get("count")
    low = 1 if timed else 0
    if not (isinstance(count, int) and low <= count <= MAX_COUNT):
        reasons.append(f"{name} count={count:g} is not a whole number of runs in "
                       f"{low}..{MAX_COUNT:.0e}" if isinstance(count, (int, float))
                       else f"{name} has no run count")
    for key in _COUNT_KEYS:
        if why := _bad_time(fields.get(key)):
            reasons.append(f"{name} {key}={fields[key]:g} {why}")
    lo, hi = fields.get("min"), fields.get("max")
    if reasons or lo is None or hi is None:
        return reasons
    if lo > hi:
        reasons.append(f"{name} min={lo:g} > max={hi:g}")
        return reasons
    # the tool rounds what it prints (avg=79732, 2.95034e+06): allow that much
    slack = 1e-5 * max(abs(hi), 1.0) + 1.0
    for key in ("avg", "median", "p5", "p95", "first", "curr"):
        value = fields.get(key)
        if value is not None and not (lo - slack <= value <= hi + slack):
            reasons.append(f"{name} {key}={value:g} is outside min={lo:g}..max={hi:g}")
    return reasons


def validate(result: dict[str, Any]) -> list[str]:
    """Why a parsed run cannot be real (empty when it can): see the module docstring."""
    reasons = []
    for key in _TIME_KEYS:
        if why := _bad_time(result.get(key)):
            reasons.append(f"{key.removesuffix('_us').replace('_', ' ')} "
                           f"{result[key]:g} us {why}")
    for name, timed in (("warm-up", False), ("inference", True)):
        fields = result.get(name if name != "warm-up" else "warmup")
        if fields is not None:
            reasons += _check_count_line(fields, name, timed)
    for key, value in (result.get("memory") or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            reasons.append(f"memory {key} {value:g} MB is not finite")
    return list(dict.fromkeys(reasons))


def _has_timing(result: dict[str, Any]) -> bool:
    return result["inference_avg_us"] is not None


def parse_runs(text: str, source: str = "<output>") -> list[dict[str, Any]]:
    """Every benchmark run in a log (a logcat dump may hold several), oldest first.

    Runs are split at the tool's `STARTING!` banner; a segment without timings (the start of
    a run that failed or is still going) is not a run.
    """
    segments: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(text.splitlines(), 1):
        if strip_prefixes(line)[0] == "STARTING!" and segments[-1]:
            segments.append([])
        segments[-1].append((number, line))
    parsed = [_parse_segment(seg, source) for seg in segments]
    runs = [r for r in parsed if _has_timing(r)]
    if not runs:
        errors = [e for r in parsed for e in r["errors"]]
        if errors:
            raise BenchmarkError(f"benchmark_model failed: {errors[0]}")
        raise ParseError(f"{source}: no benchmark_model timings found (is this the output of "
                         "benchmark_model?)")
    return runs


def parse(text: str, source: str = "<output>") -> dict[str, Any]:
    """The last complete run of a benchmark_model output (see module docstring)."""
    runs = parse_runs(text, source)
    result = runs[-1]
    result["runs_in_log"] = len(runs)
    return result


def parse_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"log file not found: {p}") from None
    except IsADirectoryError:
        raise InputError(f"{p} is a directory, not a log file") from None
    return parse(text, source=str(p))
