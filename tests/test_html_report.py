"""`handlite report --html`: one self-contained file, escaped, and rendered by headless
Chromium with a screenshot and no page errors."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from handlite.bench.stats import stats_from_samples
from handlite.bench.store import append_record, make_record, make_settings

HOSTILE = "<img src=x onerror=alert(1)>.tflite"


def _records():
    rng = np.random.default_rng(0)
    host = {"kind": "host", "id": "host:ci", "model": "ci", "cpu": "Xeon",
            "cpu_features": ["avx2", "avx512_vnni"], "cores": 2,
            "runtime": {"name": "ai-edge-litert", "version": "2.3.0"}}
    phone = {"kind": "android", "id": "emulator-7100", "model": "Pixel 7", "soc": "GS201",
             "os": "Android 14 (SDK 34)", "runtime": {"name": "benchmark_model"}}
    out = []
    for i, (name, ms) in enumerate([("handlite_112_int8.tflite", 1.2),
                                    ("handlite_112_float32.tflite", 3.1), (HOSTILE, 2.0)]):
        samples = list(ms * rng.lognormal(0, 0.1, 40))
        out.append(make_record(model={"name": name, "sha256": f"{i:02x}" * 32},
                               target=host, settings=make_settings("host", 1),
                               stats=stats_from_samples(samples), samples_ms={"invoke": samples},
                               flags=["busy"] if i == 0 else [],
                               hygiene={"loadavg_1m_before": 1.5, "loadavg_1m_after": 1.7,
                                        "cpu_count": 2}))
    profile = {"format": "table", "nodes": 3, "total_avg_ms": 6.0, "by_type": [],
               "ops": [{"node_type": "CONV_2D", "name": "a", "avg_ms": 4.0},
                       {"node_type": "DEPTHWISE_CONV_2D", "name": "b", "avg_ms": 1.5},
                       {"node_type": "ADD", "name": "c", "avg_ms": 0.5}]}
    for delegate in ("gpu", "gpu-fp32"):
        stats = stats_from_samples([6.0, 6.1, 6.3])
        stats["peak_memory_mb"] = 55.5
        out.append(make_record(
            model={"name": "handlite_112_int8.tflite", "sha256": "ab" * 32},
            target=phone, settings=make_settings("benchmark_model", 1, delegate),
            stats=stats, op_profile=profile,
            delegation={"delegated_nodes": 3, "total_nodes": 3, "partial": False,
                        "gpu_backend": "OpenCL"},
            hygiene={"battery": {"level_pct": 84, "temp_c": 32.6},
                     "thermal_before": {"zone": "BIG", "temp_c": 41.2}},
            parity={"passed": delegate == "gpu-fp32", "keypoint_epe_max_px": 0.4,
                    "keypoint_epe_mean_px": 0.1}))
    return out


def _report(tmp_path, run_cli):
    files = []
    for i, chunk in enumerate((_records()[:3], _records()[3:])):
        path = tmp_path / f"r{i}.jsonl"
        for record in chunk:
            append_record(path, record)
        files.append(str(path))
    out = tmp_path / "report.html"
    code, stdout, stderr = run_cli("report", *files, "--html", str(out))
    assert code == 0, stderr
    return out


def test_report_is_one_escaped_file_with_every_section(tmp_path, run_cli):
    text = _report(tmp_path, run_cli).read_text()
    # self-contained: nothing fetched (the only URL is the SVG namespace name)
    assert not re.search(r"\s(?:src|href)\s*=", text.replace(
        "&lt;img src=x onerror=alert(1)&gt;", ""))
    assert set(re.findall(r"https?://[^'\"\s]+", text)) == {"http://www.w3.org/2000/svg"}
    assert HOSTILE not in text and "&lt;img src=x onerror=alert(1)&gt;.tflite" in text
    for part in ("Pixel 7", "avx512_vnni", "gpu-fp32 (OpenCL)", "fps per variant",
                 "invoke latency distributions", "op profile", "on-device parity",
                 "busy:", "55.5", "84% at 32.6 °C"):
        assert part in text, part


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_renders_in_headless_chromium(tmp_path, run_cli):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") or os.environ.get("HANDLITE_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (CI): .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run "
                    "installs it), so the HTML report was not rendered")
    page = _report(tmp_path, run_cli)
    shot = tmp_path / "report.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--no-first-run", "--disable-extensions", "--disable-background-networking",
              f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    env = {**os.environ, "HOME": str(tmp_path)}
    run = subprocess.run([*common, "--window-size=1280,1600", f"--screenshot={shot}",
                          page.as_uri()], capture_output=True, text=True, timeout=180, env=env)
    assert shot.is_file(), run.stderr[-2000:]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=180, env=env)
    # the page's own script ran, counted no errors (a failed resource or script would count)
    assert 'data-ready="1"' in dom.stdout and 'data-errors="0"' in dom.stdout, dom.stderr[-2000:]
    console = [line for line in (run.stderr + dom.stderr).splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "rror" in line or "Uncaught" in line], console
    from PIL import Image
    with Image.open(shot) as img:
        assert img.size == (1280, 1600)
        colours = img.convert("RGB").getcolors(1 << 20) or []
    assert len(colours) > 50  # text, bars and boxes were drawn, not a blank page
