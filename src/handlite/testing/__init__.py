"""Test doubles that speak real protocols, shipped so users can test their own CI with them.

`handlite.testing.fake_adbd` is a stand-in Android device: an ADB daemon on a TCP port whose
commands run in a sandbox folder that looks like a phone (`handlite.testing.sandbox`). Start it
with `python -m handlite.testing.fake_adbd --port 7100`, then `adb connect 127.0.0.1:7100`.
"""
