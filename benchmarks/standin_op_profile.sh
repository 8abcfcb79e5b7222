#!/usr/bin/env bash
# One `bench --op-profile --peak-memory` sweep through the stand-in phone, as the README shows:
# the 112 float32 and int8 variants x cpu, gpu, gpu-fp32, then `results show --ops` and the
# HTML report (+ a headless-Chromium screenshot when chromium is installed).
# The stand-in has no GPU (gpu cells run the CPU kernels) and its op times are its measured
# invoke time split by op size: this shows the output, not phone numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
export HOME=$work/home ANDROID_ADB_SERVER_PORT=${ANDROID_ADB_SERVER_PORT:-5207}
mkdir -p "$HOME"
python -m handlite export models/handlite_112.keras --size 112 --precision float32,int8 \
    --calibration-count 100 --out "$work/models" >/dev/null
python -m handlite.testing.fake_adbd --port 7117 >"$work/device.log" 2>&1 &
device=$!
trap 'kill $device; adb -P "$ANDROID_ADB_SERVER_PORT" kill-server; rm -rf "$work"' EXIT
sleep 4
adb -P "$ANDROID_ADB_SERVER_PORT" connect 127.0.0.1:7117 >/dev/null
python -c "from handlite.testing.fake_benchmark_model import write_binary; write_binary('$work/benchmark_model')"
out=benchmarks/results/standin_op_profile.jsonl
rm -f "$out"
python -m handlite bench "$work/models/handlite_112_int8.tflite" \
    "$work/models/handlite_112_float32.tflite" --device 127.0.0.1:7117 \
    --benchmark-binary "$work/benchmark_model" --delegate cpu,gpu,gpu-fp32 \
    --op-profile --peak-memory --cooldown 0 --out "$out"
python -m handlite results show "$out" --ops --top 5
python -m handlite report "$out" --html benchmarks/results/report_standin.html
if command -v chromium >/dev/null; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
      --user-data-dir="$work/chromium" --window-size=1200,1500 \
      --screenshot=benchmarks/results/report_standin.png \
      "file://$PWD/benchmarks/results/report_standin.html" 2>/dev/null
fi
