"""The layers and the converters on each Keras backend (TensorFlow, JAX,
torch, on the CPU), each backend in a child process of its own.

Per backend, side by side in one child:

- forward latency of `PixelDense` (dense form) and `Conv1x1` (conv form)
  against the backend's own `Conv2D(1x1)` holding the same kernel, each a
  one-layer model run with ``predict_on_batch`` (compiled where the backend
  compiles it: ``tf.function`` on TensorFlow, ``jax.jit`` on JAX; torch runs
  eagerly), input ``(8, 56, 56, 256)`` to 256 channels (quick: ``(2, 8, 8,
  32)``); the outputs are checked equal first;
- conversion time: ``conv_to_dense`` and ``dense_to_conv`` (verification
  off: it is timed separately elsewhere) of MobileNetV2 at 96x96 (quick: a
  small CNN) against ``clone_model`` + ``set_weights`` on the same model,
  the best of a few runs each.

A backend that is not installed gets a row that says so.
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

BACKENDS = ("tensorflow", "jax", "torch")
MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _child(quick):
    import keras
    import numpy as np

    from keras_1x1 import Conv1x1, PixelDense
    from keras_1x1.converters import conv_to_dense, dense_to_conv

    shape, units = ((2, 8, 8, 32), 32) if quick else ((8, 56, 56, 256), 256)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    inputs = keras.Input(shape[1:])
    layers = {
        "Conv2D(1x1)": keras.layers.Conv2D(units, 1),
        "PixelDense": PixelDense(units),
        "Conv1x1": Conv1x1(units),
    }
    models = {name: keras.Model(inputs, layer(inputs)) for name, layer in layers.items()}
    kernel = rng.normal(size=(shape[-1], units)).astype("float32") * 0.05
    bias = rng.normal(size=(units,)).astype("float32")
    layers["Conv2D(1x1)"].set_weights([kernel.reshape(1, 1, *kernel.shape), bias])
    layers["PixelDense"].set_weights([kernel, bias])
    layers["Conv1x1"].set_weights([kernel, bias])
    expected = models["Conv2D(1x1)"].predict_on_batch(x)
    for name, model in models.items():
        np.testing.assert_allclose(model.predict_on_batch(x), expected, rtol=1e-4, atol=1e-4)
    comparison = harness.compare(
        [harness.Candidate(name, lambda m=model: m.predict_on_batch(x)) for name, model in models.items()],
        baseline="Conv2D(1x1)",
        quick=quick,
    )
    ratios = {name: comparison.ratio(name) for name in ("PixelDense", "Conv1x1")}

    if quick:
        model = keras.Sequential(
            [keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3), keras.layers.Conv2D(8, 1),
             keras.layers.Conv2D(4, 1)]
        )
    else:
        model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
    dense = conv_to_dense(model, verify=False)

    def best(fn, runs=2 if quick else 3):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    def clone():
        twin = keras.models.clone_model(model)
        twin.set_weights(model.get_weights())

    base = best(clone)
    to_dense = best(lambda: conv_to_dense(model, verify=False))
    to_conv = best(lambda: dense_to_conv(dense, verify=False))
    return {
        "pixel_dense": ratios["PixelDense"],
        "conv1x1": ratios["Conv1x1"],
        "clone_s": base,
        "to_dense": to_dense / base,
        "to_conv": to_conv / base,
        "layers": len(model.layers),
    }


def _row(backend, quick):
    import importlib.util

    if importlib.util.find_spec(MODULES[backend]) is None:
        return [backend, f"{backend} is not installed", "", "", "", ""]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    argv = [sys.executable, __file__, "--child"] + (["--quick"] if quick else [])
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{backend} child failed:\n{result.stderr[-3000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    return [
        backend,
        harness.fmt_ratio(found["pixel_dense"]),
        harness.fmt_ratio(found["conv1x1"]),
        f"{found['clone_s']:.2f} s",
        harness.fmt_ratio(found["to_dense"]),
        harness.fmt_ratio(found["to_conv"]),
    ]


def run(quick=False):
    rows = [_row(backend, quick) for backend in BACKENDS]
    model = "a 4-layer CNN" if quick else "MobileNetV2 at 96x96"
    return harness.Table(
        title="Backends: layer forward against Conv2D(1x1), conversion against clone_model + set_weights",
        columns=[
            "backend",
            "PixelDense / Conv2D(1x1)",
            "Conv1x1 / Conv2D(1x1)",
            "clone_model + set_weights",
            "conv_to_dense / clone",
            "dense_to_conv / clone",
        ],
        rows=rows,
        notes=[
            "Each backend in its own process; forward by predict_on_batch (tf.function on "
            "TensorFlow, jax.jit on JAX, eager torch), ratios of medians in interleaved rounds.",
            f"Conversion of {model}, verification off, best of a few runs.",
        ],
    )


if __name__ == "__main__" and "--child" in sys.argv:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(_child("--quick" in sys.argv)))
