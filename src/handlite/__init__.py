"""handlite: hand keypoint localization on phones.

The network of "Accurate Hand Keypoint Localization on Mobile Devices" (MobileNetV2 encoder +
depthwise decoder -> 21 keypoint heatmaps + background), its TFLite exports, parity checks, and
a benchmark harness for Android phones.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("handlite")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
