"""Converting a BERT-base-sized keras-hub backbone, and the onnxruntime
latency of its two forms.

DESIGN section 5: converting a BERT-base-sized keras-hub backbone costs at
most 1.2x Keras' ``clone_model`` + ``set_weights`` on it. The model is
``keras_hub.models.BertBackbone`` with BERT-base's shape (12 layers, 768
wide, 12 heads, 3072 in the feed-forward, 30522 tokens, 512 positions) and
random weights (nothing is downloaded); quick mode uses 2 layers, 16 wide.
Its 72 per-token maps (query, key, value and output projections, the two
feed-forward Denses of every layer) are all sublayers of its
TransformerEncoder layers.

Table 1, candidates timed in the same interleaved rounds:

- ``clone_model + set_weights`` (the baseline): what a user writes by hand
  to rebuild the model with its weights;
- ``dense_to_conv(verify=False)``: the conversion alone;
- ``conv_to_dense(verify=False)`` of the conv form: the way back;
- ``verification``: both models on the same drawn inputs (2 x 32 tokens).

Table 2: memory a conversion adds, against the model's weight bytes.

Table 3: onnxruntime (CPU provider) latency of the tf2onnx exports of both
forms, batch 1 x 128 tokens, against the dense form (keras-hub's own).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

FULL = dict(
    vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
    intermediate_dim=3072, max_sequence_length=512,
)
QUICK = dict(
    vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
    max_sequence_length=32,
)


def _model(quick):
    import keras_hub

    config = QUICK if quick else FULL
    label = "BertBackbone, 2 layers, 16 wide" if quick else "BertBackbone, BERT-base size"
    return keras_hub.models.BertBackbone(**config), label


def conversion_tables(quick=False):
    import dataclasses
    import gc

    import keras

    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.keras import verify as checks
    from keras_1x1.converters.keras.report import ConversionReport

    model, label = _model(quick)
    conv = converters.dense_to_conv(model, verify=False)
    inputs = signature.sample_inputs(model)

    def clone_and_set():
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    def verification():
        return checks.verify(model, conv, ConversionReport("bench", "keras"), inputs=inputs)

    def collected(fn):
        # Every call makes a model of 400+ MiB held in reference cycles; the
        # collector runs by object counts, not bytes, so without a collection
        # after each call the rounds pile up models (tens of GiB). Every
        # candidate pays it alike.
        def call():
            fn()
            gc.collect()

        return call

    cfg = harness.settings(quick)
    if not quick:
        # Each call takes seconds: fewer rounds, still interleaved.
        cfg = dataclasses.replace(cfg, rounds=7, warmup=1, min_sample_s=0)
    comparison = harness.compare(
        [
            harness.Candidate("clone_model + set_weights", collected(clone_and_set), baseline=True),
            harness.Candidate("dense_to_conv(verify=False)",
                              collected(lambda: converters.dense_to_conv(model, verify=False))),
            harness.Candidate("conv_to_dense(verify=False) of the conv form",
                              collected(lambda: converters.conv_to_dense(conv, verify=False))),
            harness.Candidate("verification (2 drawn inputs of 32 tokens)", collected(verification)),
        ],
        settings=cfg,
        disable_gc=False,
    )
    weight_bytes = sum(int(w.numpy().nbytes) for w in model.weights)
    _, memory = harness.peak_memory(converters.dense_to_conv, model, verify=False)
    _, baseline_memory = harness.peak_memory(clone_and_set)
    report = conv.conversion_report
    inside = sum(1 for e in report.converted if "/" in e.path)
    time_table = comparison.table(
        f"Conversion time: {label}, {model.count_params() / 1e6:.1f} M parameters",
        extra={
            "dense_to_conv(verify=False)": {
                "layers converted": f"{len(report.converted)} ({inside} inside layers)"
            },
        },
        unit="s",
        notes=[
            "Goal (DESIGN section 5): conversion at most 1.2x clone_model + set_weights.",
            "The conversion traces the model once on symbolic inputs (the calls of "
            "its sublayers), copies every layer it keeps (no config round trip) and "
            "builds the new ones with their weights; the result keeps its class.",
            "Verification runs both models once on the same batch of 2.",
            "Each timed call ends with gc.collect() (the models sit in reference "
            "cycles; without it the rounds pile them up).",
        ],
    )
    memory_table = harness.Table(
        f"Conversion memory: {label}, weights {harness.fmt_bytes(weight_bytes)}",
        ["operation", "process RSS added at peak", "x weight bytes",
         "Python allocations peak", "x weight bytes"],
        [
            ["dense_to_conv(verify=False)",
             harness.fmt_bytes(memory.rss_delta_bytes), memory.rss_delta_bytes / weight_bytes,
             harness.fmt_bytes(memory.python_peak_bytes), memory.python_peak_bytes / weight_bytes],
            ["clone_model + set_weights",
             harness.fmt_bytes(baseline_memory.rss_delta_bytes),
             baseline_memory.rss_delta_bytes / weight_bytes,
             harness.fmt_bytes(baseline_memory.python_peak_bytes),
             baseline_memory.python_peak_bytes / weight_bytes],
        ],
        notes=[
            "RSS added: peak resident size during the call minus the size when it "
            f"started ({memory.rss_method}); it includes the new model's own weights "
            "(1x weight bytes is the floor).",
            "Python allocations: tracemalloc peak (numpy copies of weights included, "
            "TensorFlow's C++ buffers not).",
        ],
    )
    return model, conv, [time_table, memory_table]


def _ops(proto):
    counts = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
    return ", ".join(f"{k} ({v})" for k, v in top)


def latency_table(model, conv, quick=False):
    import time

    import numpy as np

    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.onnx import runtime

    start = time.perf_counter()
    graphs = {
        "dense form (keras-hub's own)": converters.export_onnx(model),
        "conv form (dense_to_conv)": converters.export_onnx(conv),
    }
    export_s = time.perf_counter() - start
    tokens = 16 if quick else 128
    names = signature.input_names(model)
    drawn = signature.sample_inputs(model, shapes=[(1, tokens)] * len(names))
    feeds = {name: np.asarray(drawn[name]) for name in names}
    sessions = {name: runtime.make_session(proto, "cpu", spinning=False) for name, proto in graphs.items()}
    reference = None
    extra = {}
    for name, session in sessions.items():
        out = runtime.run(session, feeds)
        first = next(iter(out.values()))
        if reference is None:
            reference = first
        diff = float(np.abs(first - reference).max())
        if diff > 1e-3 * max(1.0, float(np.abs(reference).max())):
            raise AssertionError(f"{name} computes something else (max abs diff {diff})")
        extra[name] = {"most frequent ONNX ops": _ops(graphs[name]), "max abs diff": diff}

    def runner(session):
        return lambda: runtime.run(session, feeds)

    result = harness.compare(
        [
            harness.Candidate(name, runner(session), baseline=i == 0)
            for i, (name, session) in enumerate(sessions.items())
        ],
        settings=harness.settings(quick),
    )
    return result.table(
        f"onnxruntime CPU latency: the two forms of the backbone, batch 1 x {tokens} tokens",
        extra=extra,
        cpu=True,
        notes=[
            "tf2onnx exports of the two Keras models (not in the table: "
            f"{export_s:.0f} s for both); one session each, onnxruntime's default "
            "threads and graph optimizations, thread spinning off.",
            "max abs diff is the first output's, against the dense form.",
        ],
    )


def run(quick=False):
    import importlib.util

    if importlib.util.find_spec("keras_hub") is None:
        return harness.Table(
            "Transformer conversion: not measured",
            ["why"],
            [["keras-hub is not installed (pip install keras-hub; it needs Python 3.11+)"]],
        )
    model, conv, tables = conversion_tables(quick)
    return tables + [latency_table(model, conv, quick)]
