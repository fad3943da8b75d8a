"""onnxruntime latency of the ONNX forms of one pointwise layer, and the
cost of canonicalizing a 500-layer model.

DESIGN section 5: "Canonical ONNX export: each pointwise layer is at most
MatMul + Add (or a single Conv in conv form); onnxruntime latency within 5%
of a hand-built minimal graph. The raw tf2onnx export of Conv2D(1x1) in NHWC
(Transpose-Conv-Transpose) is ~20% slower."

Table 1: onnxruntime (CPU provider) latency at input ``(8, 56, 56, 256)`` ->
256 channels (quick: ``(2, 8, 8, 32)`` -> 32), one kernel and one non-zero
bias for every candidate, all timed in the same interleaved rounds against a
hand-built ``MatMul + Add`` graph (`onnx.helper`):

- raw conv-form export: tf2onnx's graph of ``Conv2D(256, 1)``;
- raw dense-form export: tf2onnx's graph of ``Dense(256)`` on the 4-D map;
- canonical MatMul form: `canonicalize` of the raw conv-form export;
- canonical Conv form: `to_form(raw dense-form export, "conv")`;
- the minimal graph again, in a second session: a noise gauge.

Where onnxruntime has a CUDA provider (onnxruntime-gpu on a GPU machine),
the same table is measured on CUDA too (TF32 off, as every CUDA session of
keras-1x1).

Table 2: the time to canonicalize and fingerprint
``keras.applications.ResNet152(weights=None)`` (517 layers; quick: a
30-layer stack), against the time onnxruntime takes to build a session for
the same graph (its own graph optimizations), in interleaved rounds. The
tf2onnx export itself is slow for 60M weights (minutes); it is done once
and cached under ``bench-results/cache`` by package versions.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

FULL = dict(shape=(8, 56, 56, 256), units=256)
QUICK = dict(shape=(2, 8, 8, 32), units=32)

MINIMAL = "minimal MatMul+Add (onnx.helper)"
MINIMAL_AGAIN = "minimal MatMul+Add, 2nd session (noise gauge)"
RAW_CONV = "raw conv-form export"
RAW_DENSE = "raw dense-form export"
CANONICAL = "canonical MatMul form"
CONV_FORM = "canonical Conv form"


def _ops(proto):
    counts = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return ", ".join(f"{k}" + (f" ({v})" if v > 1 else "") for k, v in counts.items())


def _minimal(kernel, bias, shape):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])],
        "minimal",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape[1:]])],
        [
            helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, ["N", *shape[1:-1], kernel.shape[1]]
            )
        ],
        [numpy_helper.from_array(kernel, "W"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _layer_graphs(shape, units):
    import keras
    import numpy as np
    from keras_1x1.converters.onnx import canonical

    from keras_1x1 import converters

    rng = np.random.default_rng(0)
    channels = shape[-1]
    kernel = (rng.normal(size=(channels, units)) / np.sqrt(channels)).astype("float32")
    bias = rng.normal(size=(units,)).astype("float32")

    x = keras.Input(shape[1:], name="x")
    conv_layer = keras.layers.Conv2D(units, 1, name="pw")
    conv = keras.Model(x, {"y": conv_layer(x)})
    conv_layer.set_weights([kernel.reshape(1, 1, channels, units), bias])
    dense_layer = keras.layers.Dense(units, name="pw")
    dense = keras.Model(x, {"y": dense_layer(x)})
    dense_layer.set_weights([kernel, bias])

    raw_conv = converters.export_onnx(conv)
    raw_dense = converters.export_onnx(dense)
    minimal = _minimal(kernel, bias, shape)
    return {
        MINIMAL: minimal,
        MINIMAL_AGAIN: minimal,
        RAW_CONV: raw_conv,
        RAW_DENSE: raw_dense,
        CANONICAL: converters.canonicalize(raw_conv),
        CONV_FORM: canonical.to_form(raw_dense, "conv"),
    }


def cuda_available():
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def latency_table(quick=False, provider="cpu"):
    import numpy as np
    from keras_1x1.converters.onnx import runtime

    sizes = QUICK if quick else FULL
    graphs = _layer_graphs(**sizes)
    x = np.random.default_rng(1).normal(size=sizes["shape"]).astype("float32")
    sessions = {name: runtime.make_session(proto, provider, spinning=False) for name, proto in graphs.items()}
    feeds = {name: {s.get_inputs()[0].name: x} for name, s in sessions.items()}
    outputs = {name: s.get_outputs()[0].name for name, s in sessions.items()}
    reference = sessions[MINIMAL].run([outputs[MINIMAL]], feeds[MINIMAL])[0]
    extra = {}
    for name, session in sessions.items():
        out = session.run([outputs[name]], feeds[name])[0]
        diff = float(np.abs(out - reference).max())
        if diff > 1e-3:
            raise AssertionError(f"{name} computes something else (max abs diff {diff})")
        extra[name] = {"ONNX ops": _ops(graphs[name]), "max abs diff": diff}

    def runner(name):
        session, feed, out = sessions[name], feeds[name], [outputs[name]]
        return lambda: session.run(out, feed)

    result = harness.compare(
        [harness.Candidate(name, runner(name), baseline=name == MINIMAL) for name in graphs],
        settings=harness.settings(quick),
    )
    device = {"cpu": "CPU", "cuda": "CUDA"}[provider]
    where = (
        []
        if provider == "cpu"
        else ["On CUDA each call includes copying the input to the GPU and the output back."]
    )
    return result.table(
        f"onnxruntime {device} latency: {sizes['shape']} -> {sizes['units']} channels",
        extra=extra,
        cpu=provider == "cpu",
        notes=where + [
            "Goal (DESIGN 5): the canonical MatMul form within 5% of the "
            "hand-built minimal graph (ratio <= 1.05).",
            "One session per graph, onnxruntime's default threads and graph "
            "optimizations, thread spinning off (sessions take turns on the "
            "same cores; a spinning pool slows the next session); the input "
            "is fed from numpy each call.",
            "max abs diff is against the minimal graph's output: the MatMul "
            "forms are bit-identical, the Conv forms add in another order.",
            "The noise gauge is the minimal graph again in a second session: "
            "its distance from 1.000 is this run's noise.",
        ],
    )


def _cache_path(name):
    import importlib.metadata as md

    versions = "-".join(md.version(p) for p in ("tensorflow", "keras", "tf2onnx", "onnx"))
    folder = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench-results", "cache"
    )
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}-{versions}.onnx")


def _big_model(quick):
    import keras
    import onnx

    from keras_1x1 import converters

    if quick:
        x = keras.Input((16, 16, 8), name="image")
        h = x
        for i in range(10):
            h = keras.layers.Conv2D(8, 3, padding="same", name=f"c{i}")(h)
            h = keras.layers.ReLU(name=f"r{i}")(h)
            h = keras.layers.Conv2D(8, 1, name=f"p{i}")(h)
        return (
            "stack of 30 layers",
            len(keras.Model(x, h).layers),
            converters.export_onnx(keras.Model(x, h)),
            0.0,
        )
    path = _cache_path("resnet152")
    model = keras.applications.ResNet152(weights=None)
    layers = len(model.layers)
    if os.path.exists(path):
        return "ResNet152(weights=None)", layers, onnx.load(path), None
    start = time.perf_counter()
    proto = converters.export_onnx(model)
    seconds = time.perf_counter() - start
    onnx.save(proto, path)
    return "ResNet152(weights=None)", layers, proto, seconds


def canonicalize_table(quick=False):
    import dataclasses

    from keras_1x1 import converters
    from keras_1x1.converters.onnx import canonical, fingerprint, runtime

    name, layers, proto, export_s = _big_model(quick)
    canonical_proto = converters.canonicalize(proto)
    fp_raw = converters.fingerprint(proto)
    fp_canonical = converters.fingerprint(canonical_proto)
    if fp_raw != fp_canonical:
        raise AssertionError("canonicalize is not idempotent on the big model")
    settings = harness.settings(quick)
    if not quick:
        settings = dataclasses.replace(settings, rounds=5, warmup=1, min_sample_s=0.0)
    candidates = [
        harness.Candidate(
            "onnxruntime session creation", lambda: runtime.make_session(proto), baseline=True
        ),
        harness.Candidate("canonicalize", lambda: converters.canonicalize(proto)),
        harness.Candidate(
            "fingerprint (canonicalizes, then hashes)", lambda: converters.fingerprint(proto)
        ),
        harness.Candidate(
            "fingerprint of the canonical graph (idempotence check)",
            lambda: fingerprint.fingerprint_of_canonical(canonical.canonical_ir(canonical_proto)),
        ),
    ]
    result = harness.compare(candidates, settings=settings)
    notes = [
        f"{name}: {layers} Keras layers, {len(proto.graph.node)} ONNX nodes raw, "
        f"{len(canonical_proto.graph.node)} canonical.",
        "ratio is against building an onnxruntime session for the raw graph "
        "(onnxruntime's own graph optimizations): a graph-level workload of "
        "the same size.",
    ]
    if export_s:
        notes.append(f"tf2onnx export (not in the table): {export_s:.1f} s, cached for later runs.")
    return result.table(
        f"canonicalize and fingerprint: {name}",
        unit="s",
        extra={
            "canonicalize": {"ONNX nodes": len(canonical_proto.graph.node)},
            "onnxruntime session creation": {"ONNX nodes": len(proto.graph.node)},
        },
        notes=notes,
    )


def run(quick=False):
    tables = [latency_table(quick)]
    if cuda_available():  # the same table on the GPU, where there is one
        tables.append(latency_table(quick, provider="cuda"))
    return tables + [canonicalize_table(quick)]
