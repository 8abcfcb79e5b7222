"""`handlite app build` and `handlite app install`: the bundled Android sample app."""

from __future__ import annotations

import click

from handlite.text import safe

from handlite.cli.common import emit_json, human, json_option
from handlite.cli.device import DeviceOptions, device_options, on_each_device, raise_failures

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


@click.group()
def app() -> None:
    """The Android sample app (android_app/): live keypoints and the benchmark Activity.

    Flow: `handlite app build`, `handlite app install APK`, then
    `handlite bench --runner app MODEL` runs BenchmarkActivity on the phone.
    """


@app.command()
@click.option("--project", type=click.Path(file_okay=False), default=None,
              help="The Gradle project (default: android_app/ of this checkout).")
@json_option
def build(project: str | None, as_json: bool) -> None:
    """Build the debug APK with Gradle (needs an Android SDK and Gradle 8.9+)."""
    from handlite.android_app import build_app

    result = build_app(project)
    if as_json:
        emit_json(result.to_dict())
        return
    human(as_json).print(safe(f"built {result.apk} ({result.bytes / 1e6:.1f} MB) in "
                              f"{result.seconds:.0f} s"))


@app.command()
@click.argument("apk", type=click.Path(dir_okay=False))
@device_options
@json_option
def install(apk: str, device_opts: DeviceOptions, as_json: bool) -> None:
    """Install APK on device(s): verified push, then `pm install -r -t`."""
    from handlite.android_app import check_apk, install_apk

    check_apk(apk)  # a missing or foreign file fails before any device is touched
    targets = device_opts.open()
    results, failures = on_each_device(targets, lambda dev: install_apk(dev, apk))
    if as_json:
        emit_json({"results": [r.to_dict() for r in results], "errors": failures})
    else:
        con = human(as_json)
        for r in results:
            con.print(safe(f"{r.serial}: installed {r.package} ({r.bytes / 1e6:.1f} MB, "
                           f"{r.seconds:.1f} s)"))
    raise_failures("install", failures, len(targets))
