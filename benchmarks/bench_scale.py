"""Scale: converting and exporting deep models, 100 to 1,000 layers.

A stack of ``Conv2D(16, 1) -> ReLU`` pairs (with a 3x3 conv every tenth
layer) on 8x8x16 maps, at 100, 300 and 1,000 layers. For each depth: the
time of ``conv_to_dense`` (verify=False), of its verification, of the ONNX
export, of ``fingerprint``, and the peak memory the conversion adds; the
last columns give the time per layer relative to the 100-layer stack, so
a quadratic slow-down shows as a ratio growing with depth (1.0 is linear).
Quick mode: 20, 40 and 80 layers, conversion only.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)


def deep_stack(n_layers):
    """A Functional model with `n_layers` layers (the input not counted).

    Keras maps a Functional graph recursively, a frame per layer of a
    chain: a user who builds a 1,000-layer chain raises Python's recursion
    limit first, as here.
    """
    import sys

    import keras

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * n_layers + 1000))
    inputs = keras.Input((8, 8, 16), name="image")
    x = inputs
    for i in range(n_layers // 2):
        size = 3 if i % 5 == 4 else 1
        x = keras.layers.Conv2D(16, size, padding="same", name=f"conv{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    return keras.Model(inputs, x, name=f"stack{n_layers}")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def run(quick=False):
    from keras_1x1 import converters
    from keras_1x1.converters.keras import verify as checks
    from keras_1x1.converters.keras.report import ConversionReport

    depths = (20, 40, 80) if quick else (100, 300, 1000)
    rows, base = [], {}
    for depth in depths:
        model = deep_stack(depth)
        weight_bytes = sum(int(w.numpy().nbytes) for w in model.weights)
        dense, convert_s = _timed(converters.conv_to_dense, model, verify=False)
        _, memory = harness.peak_memory(converters.conv_to_dense, model, verify=False)
        _, verify_s = _timed(checks.verify, model, dense, ConversionReport("bench", "keras"))
        if quick:
            export_s = fingerprint_s = None
        else:
            proto, export_s = _timed(converters.export_onnx, dense)
            _, fingerprint_s = _timed(converters.fingerprint, proto)
        per_layer = {"convert": convert_s / depth}
        if export_s is not None:
            per_layer["export"] = export_s / depth
            per_layer["fingerprint"] = fingerprint_s / depth
        if not base:
            base = per_layer
        growth = {k: per_layer[k] / base[k] for k in per_layer}
        rows.append(
            [
                depth,
                convert_s,
                verify_s,
                export_s,
                fingerprint_s,
                harness.fmt_bytes(memory.rss_delta_bytes),
                memory.rss_delta_bytes / max(weight_bytes, 1),
                growth["convert"],
                growth.get("export"),
                growth.get("fingerprint"),
            ]
        )
    return harness.Table(
        "Scale: conversion and export time against depth (Conv2D 1x1 + ReLU stacks)",
        [
            "layers",
            "convert (s)",
            "verify (s)",
            "export (s)",
            "fingerprint (s)",
            "convert RSS added",
            "x weight bytes",
            "convert s/layer vs first",
            "export s/layer vs first",
            "fingerprint s/layer vs first",
        ],
        rows,
        notes=[
            "Time per layer relative to the shallowest stack: 1.0 is linear "
            "growth; a quadratic cost would grow with the depth ratio (3x, 10x).",
            "One run per depth (these take seconds to minutes); the RSS column "
            "is the peak resident memory a conversion adds (the new model's "
            "weights included).",
        ],
    )
