"""Outside text in records is data: `results show` renders markup and escape codes inertly,
and `invalid` records are shown as such with their reason."""

from __future__ import annotations

from handlite.bench.store import append_record, make_record
from handlite.text import clean, one_line, safe

EVIL = "Evil[/]Phone\x1b]0;pwned\x07\x1b[2J[link=https://x.invalid]x[/link]"


def _record(status="ok", error=None):
    model = {"name": "m[/].tflite", "sha256": "ab" * 32, "variant": "224[/]int8"}
    target = {"kind": "android", "id": "serial\x1b[2J", "model": EVIL}
    settings = {"runner": "benchmark_model", "threads": 1, "delegate": "cpu"}
    return make_record(model=model, target=target, settings=settings, status=status,
                       error=error)


def test_text_rule():
    assert clean("a\x1b[2Jb\x07\x9b") == "a[2Jb"
    assert safe("[/]") == "\\[/]"
    assert one_line("x\ny\r\tz") == "x y z"
    assert clean(b"m\xff".decode("utf-8", "surrogateescape")) == "m\ufffd"


def test_results_show_hostile_and_invalid_records(tmp_path, run_cli):
    path = tmp_path / "r.jsonl"
    append_record(path, _record())
    append_record(path, _record("failed", "tool said [/] \x1b[2J"))
    append_record(path, _record("invalid", "invalid result: inference min=20 > max=10"))
    code, out, err = run_cli("results", "show", str(path))
    assert code == 0, err  # before: MarkupError, exit 2, for ever after
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "Evil[/]Phone" in out and "[/]" in out.replace("Evil[/]Phone", "")
    assert "invalid" in out and "failed" in out  # the cells wrap the reasons
    assert "1 failed, 1 invalid" in out
    code, out, _ = run_cli("results", "show", str(path), "--json")
    assert code == 0 and "\\u001b" in out  # JSON keeps the exact value


def test_bench_parse_of_invalid_output_says_why(tmp_path, run_cli):
    log = tmp_path / "bm.txt"
    log.write_text("count=50 first=-18200 curr=-18200 min=-18200 max=-18000 avg=-18100 std=1\n")
    code, out, err = run_cli("bench", "parse", str(log), "--json")
    import json
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "invalid" and doc["invalid_reasons"]
    code, out, err = run_cli("bench", "parse", str(log))
    assert code == 1 and "invalid" in err and "negative" in err
