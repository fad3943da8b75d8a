"""The zoo sweep: every keras.applications architecture, both forms.

For each architecture (``weights=None``, random weights with BatchNorm
statistics far from the identity, 10 classes), one row per input size
(96x96, 64x64 and 32x32, one table each; ``KERAS_1X1_ZOO_SIZES=64,96``
picks others, ``KERAS_1X1_ZOO=ResNet50,MobileNetV2`` some architectures):

- the form it is written in, and how many pointwise layers the converter
  turns into the other form (``conv_to_dense`` for conv nets,
  ``dense_to_conv`` for ConvNeXt, whose pointwise layers are Dense);
- whether converting back gives bit-identical weights;
- whether the tf2onnx exports of both forms have one canonical fingerprint;
- the largest onnxruntime error of the canonical graphs against Keras;
- the seconds tf2onnx takes to export the model, and canonicalize takes on
  its export;
- onnxruntime CPU latency (batch 8, 2 threads, spinning off, interleaved
  rounds) of the deployment forms against tf2onnx's raw export of the model
  as written: ``to_form(.., "matmul")``, ``to_form(.., "conv")`` and the
  faster of the two, beside the raw export in a second session (the noise
  gauge: two sessions of one graph differ by a few percent on a shared
  machine); how many Transposes the conv form has beyond the raw export's;
  and the ops onnxruntime runs for the conv form beyond those it runs for
  the raw export, both after its own optimizer ("same ops": the same
  kernels, so their latency ratio is the gauge's noise).

Quick mode sweeps one small architecture. Each row runs in a child
process of its own, so one large model's memory is gone before the next
starts (the largest ConvNeXt and EfficientNet rows are the sweep's peak). A
row that fails, or whose process dies (out of memory), says why in its last
column; the sweep goes on.

The raw exports of the original models are cached under
``bench-results/cache`` (keyed by the library versions); the converted
forms are exported afresh every run.
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

# Input sizes swept, one table each: the normal form must not depend on
# them (at 32x32 the last maps of most architectures are 1x1).
SIZES = (96, 64, 32)
QUICK_SIZE = 32
BATCH = 8

ARCHITECTURES = [
    "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
    "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
    "NASNetMobile", "NASNetLarge",
    "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
    "VGG16", "VGG19", "Xception",
]
QUICK = ["MobileNet"]


def _cache_path(name):
    import importlib.metadata as md

    versions = "-".join(md.version(p) for p in ("tensorflow", "keras", "tf2onnx", "onnx"))
    folder = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench-results", "cache"
    )
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"zoo-{name}-{versions}.onnx")


def randomize(model, seed=0):
    """Random weights everywhere; BatchNorm statistics far from the identity."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path or "gamma" in weight.path:
            value = rng.uniform(0.5, 1.5, size=shape)
        elif "moving_mean" in weight.path:
            value = rng.normal(0.0, 0.2, size=shape)
        else:
            fan = max(1, int(np.prod(shape[:-1]))) if len(shape) > 1 else 16
            value = rng.normal(0.0, 1.0 / np.sqrt(fan), size=shape)
        weight.assign(value.astype(keras.backend.standardize_dtype(weight.dtype)))
    return model


def _build(name, size):
    import keras

    keras.utils.set_random_seed(0)
    build = getattr(keras.applications, name)
    return randomize(build(weights=None, input_shape=(size, size, 3), classes=10))


def _same_weights(a, b):
    import numpy as np

    wa = {w.path: np.asarray(w.numpy()) for w in a.weights}
    wb = {w.path: np.asarray(w.numpy()) for w in b.weights}
    return len(wa) == len(wb) and all(
        x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()
        for x, y in zip(
            (wa[k] for k in sorted(wa)), (wb[k] for k in sorted(wb))
        )
    )


def _export(model, name):
    import onnx

    from keras_1x1 import converters

    path = _cache_path(name) if name else None
    if path and os.path.exists(path):
        return onnx.load(path), None
    start = time.perf_counter()
    proto = converters.export_onnx(model)
    seconds = time.perf_counter() - start
    if path:
        onnx.save(proto, path)
    return proto, seconds


def _latency(graphs, x, quick):
    from keras_1x1.converters.onnx import runtime

    sessions = {k: runtime.make_session(p, "cpu", threads=2, spinning=False) for k, p in graphs.items()}
    feeds = {s.get_inputs()[0].name: x for s in sessions.values()}

    def runner(session):
        names = [o.name for o in session.get_outputs()]
        return lambda: session.run(names, feeds)

    settings = harness.settings(quick)
    if not quick:
        import dataclasses

        settings = dataclasses.replace(settings, rounds=15, warmup=2, min_sample_s=0.02)
    result = harness.compare(
        [harness.Candidate(k, runner(s), baseline=k == "raw") for k, s in sessions.items()],
        settings=settings,
    )
    return {k: result.ratio(k) for k in graphs}


def _optimized_ops(proto):
    """The op counts of the graph onnxruntime runs (after its optimizer)."""
    import collections
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.optimized_model_filepath = os.path.join(folder, "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
        return collections.Counter(node.op_type for node in graph.node)


def _ops_difference(raw, conv):
    """What onnxruntime runs for the conv form beyond the raw export: "same
    ops", or the ops each has more of (``+ReduceMean -GlobalAveragePool``)."""
    a, b = _optimized_ops(raw), _optimized_ops(conv)
    parts = [f"+{op}" + (f"x{b[op] - a[op]}" if b[op] - a[op] > 1 else "") for op in sorted(b) if b[op] > a[op]]
    parts += [f"-{op}" + (f"x{a[op] - b[op]}" if a[op] - b[op] > 1 else "") for op in sorted(a) if a[op] > b[op]]
    return " ".join(parts) or "same ops"


def row(name, size, quick):
    import gc

    import numpy as np

    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.onnx import canonical, runtime

    # tf2onnx's export is the row's peak: each export runs with as few
    # models and graphs held as the row allows, so that the largest
    # architectures fit in the machine's memory.
    model = _build(name, size)
    x = np.random.default_rng(1).normal(size=(BATCH, size, size, 3)).astype("float32")
    expected = next(iter(signature.run(model, x).values()))
    other = converters.conv_to_dense(model)
    if other.conversion_report.converted:
        form, back = "conv", converters.dense_to_conv
    else:
        del other
        gc.collect()
        form, other = "dense", converters.dense_to_conv(model)
        back = converters.conv_to_dense
    converted = len(other.conversion_report.converted)
    if not converted:
        form = "no pointwise layer"  # VGG: 3x3 convs and a Dense head on vectors
    exact = _same_weights(model, back(other))
    gc.collect()

    # The raw export goes to the cache file and is read back after the
    # other form's export.
    _, export_s = _export(model, f"{name}-{size}")
    del model, _
    gc.collect()
    other_raw, _ = _export(other, None)
    del other
    gc.collect()
    raw, _ = _export(None, f"{name}-{size}")

    start = time.perf_counter()
    canonical_proto = converters.canonicalize(raw)
    canonicalize_s = time.perf_counter() - start
    other_canonical = converters.canonicalize(other_raw)
    same = converters.fingerprint(other_canonical) == converters.fingerprint(canonical_proto)
    diff = "" if same else converters.graph_diff(raw, other_raw)
    del other_raw

    error = 0.0
    for proto in (canonical_proto, other_canonical):
        session = runtime.make_session(proto, "cpu")
        got = next(iter(runtime.run(session, {proto.graph.input[0].name: x}).values()))
        error = max(error, float(np.abs(got - expected).max()))
        del session
    del canonical_proto, other_canonical
    gc.collect()

    graphs = {
        "raw": raw,
        "matmul": canonical.to_form(raw, "matmul"),
        "conv": canonical.to_form(raw, "conv"),
        # The noise gauge: the raw export again, in a session of its own.
        "raw again": raw,
    }
    ratios = _latency(graphs, x, quick)
    transposes = {k: sum(n.op_type == "Transpose" for n in p.graph.node) for k, p in graphs.items()}
    optimized = _ops_difference(graphs["raw"], graphs["conv"])
    best = min(ratios["matmul"], ratios["conv"])
    return [
        name,
        form,
        converted,
        "yes" if exact else "NO",
        "yes" if same else "NO",
        error,
        "" if export_s is None else export_s,
        canonicalize_s,
        ratios["matmul"],
        ratios["conv"],
        best,
        ratios["raw again"],
        transposes["conv"] - transposes["raw"],
        optimized,
        diff,
    ]


def _child_row(name, size, quick):
    """`row` in a fresh interpreter; its cells as JSON, or a failed row."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import bench_zoo; "
        f"print('ZOO-ROW ' + json.dumps(bench_zoo.row({name!r}, {size}, {quick})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("ZOO-ROW "):
            return json.loads(line[len("ZOO-ROW "):])
    if done.returncode < 0:
        why = f"process killed by signal {-done.returncode} (out of memory?)"
    else:
        lines = [l for l in done.stderr.splitlines() if l.strip() and "WARNING" not in l]
        why = lines[-1] if lines else f"process exited with status {done.returncode}"
    return [name] + [""] * 13 + ["FAILED: " + " ".join(why.split())[:300]]


def run(quick=False):
    names = QUICK if quick else ARCHITECTURES
    only = os.environ.get("KERAS_1X1_ZOO")
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
    sizes = (QUICK_SIZE,) if quick else SIZES
    if os.environ.get("KERAS_1X1_ZOO_SIZES"):
        sizes = tuple(int(n) for n in os.environ["KERAS_1X1_ZOO_SIZES"].split(","))
    return [_sweep(names, size, quick) for size in sizes]


def _sweep(names, size, quick):
    rows = []
    for name in names:
        started = time.perf_counter()
        cells = _child_row(name, size, quick)
        rows.append(cells)
        summary = cells[-1][:200] if cells[-1].startswith("FAILED") else (
            f"{cells[2]} converted, exact {cells[3]}, fingerprints {cells[4]}, "
            f"best/raw {cells[10]:.2f}, onnxruntime runs {cells[13]}, noise gauge {cells[11]:.2f} {cells[-1][:200]}"
        )
        print(f"  [zoo {size}] {name}: {time.perf_counter() - started:.0f} s: {summary}", flush=True)
    return harness.Table(
        f"Zoo sweep: every keras.applications architecture ({size}x{size}, batch {BATCH})",
        [
            "architecture", "written as", "pointwise converted", "round trip exact",
            "fingerprints equal", "ORT max abs error", "export s", "canonicalize s",
            "matmul / raw", "conv / raw", "best / raw", "raw again / raw", "extra Transposes (conv)",
            "ops onnxruntime runs (conv - raw)", "difference",
        ],
        rows,
        notes=[
            "weights=None with random weights and BatchNorm statistics; the other form by "
            "conv_to_dense (dense_to_conv for ConvNeXt), verified in Keras; round trip: back "
            "to the written form, every weight compared byte for byte.",
            "fingerprints: the canonical fingerprint of tf2onnx's export of each form; ORT "
            "error: the canonical graph of each export in onnxruntime against Keras.",
            "latency: onnxruntime CPU, 2 threads, spinning off, ratio of medians to tf2onnx's "
            "raw export of the model as written, measured in interleaved rounds (1.00 is "
            "parity); best is the faster of the two deployment forms.",
            "raw again: the raw export in a second session, measured like the others: how "
            "far two sessions of one graph differ in this run (the noise gauge).",
            "extra Transposes: Transpose nodes of to_form(.., 'conv') minus those of the raw "
            "export (0 or fewer: none added).",
            "ops onnxruntime runs: the op counts of the graphs onnxruntime's optimizer makes "
            "of the conv form and of the raw export (its NCHWc convs, fused activations), "
            "conv minus raw; 'same ops' means the two run the same kernels, and their "
            "latency ratio is 1.00 within the noise of the measurement.",
            "export s: blank when the export came from the cache.",
        ],
    )
