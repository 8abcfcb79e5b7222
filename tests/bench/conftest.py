"""Fixtures for the device benchmark: tiny real .tflite models, a stand-in phone behind a
private adb server, and the stand-in benchmark_model binary."""

import os
import shutil
import socket
import subprocess

import pytest


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 5555 <= port <= 5585:  # adb would attach those as emulators
            return port


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Two small conv nets (a float32 and a dynamic-range variant) as real .tflite files."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    out = tmp_path_factory.mktemp("models")
    inp = tf.keras.Input((32, 32, 3), name="image")
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = tf.keras.layers.Conv2D(22, 1)(x)
    model = tf.keras.Model(inp, x)
    paths = []
    for precision in ("float32", "dynamic"):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if precision == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        path = out / f"handlite_32_{precision}.tflite"
        path.write_bytes(conv.convert())
        paths.append(path)
    return paths


@pytest.fixture
def adb_server(tmp_path, monkeypatch):
    """A private adb server (own HOME and port), killed at teardown."""
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("adb is not installed (apt-get install adb)")
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port)}
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.delenv("ADB_SERVER_SOCKET", raising=False)
    subprocess.run([adb, "-P", str(port), "start-server"], env=env, check=True,
                   capture_output=True, timeout=30)
    yield {"adb": adb, "port": port, "env": env}
    subprocess.run([adb, "-P", str(port), "kill-server"], env=env, capture_output=True,
                   timeout=30)


@pytest.fixture
def standin(adb_server, tmp_path):
    """A stand-in Pixel 7 attached to the private adb server; yields the StandInDevice."""
    from handlite.testing.fake_adbd import StandInDevice
    device = StandInDevice(tmp_path / "phone", port=_free_port()).start()
    result = subprocess.run([adb_server["adb"], "-P", str(adb_server["port"]), "connect",
                             device.serial], env=adb_server["env"], capture_output=True,
                            text=True, timeout=30)
    assert "connected" in result.stdout, result.stdout + result.stderr
    yield device
    device.stop()


@pytest.fixture
def fake_binary(tmp_path):
    """The stand-in's benchmark_model as a file to give as --benchmark-binary."""
    from handlite.testing.fake_benchmark_model import write_binary
    return write_binary(tmp_path / "benchmark_model")


@pytest.fixture(scope="session")
def handlite_model(tmp_path_factory):
    """A tiny heatmap network (32 px in, stride 4, 21 keypoints + background) saved as .keras,
    its float32 .tflite with handlite metadata, and a second network with other weights (a
    wrong reference)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from handlite.metadata import build_metadata, embed_metadata, tensor_spec
    out = tmp_path_factory.mktemp("handlite_model")

    def network(seed):
        tf.keras.utils.set_random_seed(seed)
        inp = tf.keras.Input((32, 32, 3), name="image")
        x = tf.keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)
        x = tf.keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        return tf.keras.Model(inp, tf.keras.layers.Conv2D(22, 1)(x))

    ref, wrong = network(1), network(2)
    ref.save(out / "ref.keras")
    wrong.save(out / "wrong.keras")
    meta = build_metadata(variant="32_float32", input_size=32, precision="float32",
                          input=tensor_spec("image", [1, 32, 32, 3], "float32"),
                          output={"kind": "heatmaps", "dtype": "float32", "scale": None,
                                  "zero_point": None}, source_model_sha256=None)
    tflite = out / "handlite_32_float32.tflite"
    tflite.write_bytes(bytes(embed_metadata(
        tf.lite.TFLiteConverter.from_keras_model(ref).convert(), meta)))
    return {"reference": out / "ref.keras", "wrong": out / "wrong.keras", "tflite": tflite}


@pytest.fixture
def app_device(standin):
    """The stand-in with the sample app's BenchmarkActivity installed (its `am` hook)."""
    from handlite.testing.fake_app import install
    install(standin.sandbox)
    return standin
