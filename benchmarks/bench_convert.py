"""Conversion time and memory on a 500-layer model.

DESIGN section 5: converting a 500-layer model costs at most 1.2x Keras'
``clone_model`` + ``set_weights`` on the same model (verification timed
separately). The model is ``keras.applications.ResNet152(weights=None)``
(517 layers, 60 M parameters, 1x1 convolutions in every bottleneck, strided
1x1 projections); quick mode uses a 13-layer stack.

Candidates, timed in the same interleaved rounds:

- ``clone_model + set_weights`` (the baseline): what a user writes by hand
  to rebuild a model with its weights.
- ``conv_to_dense(verify=False)``: the conversion alone.
- ``dense_to_conv(verify=False)`` of the converted model: the way back.
- ``verification``: comparing both models' outputs on two random images.

Memory: the peak resident memory a conversion adds to the process, and the
peak of Python-side allocations, each against the model's weight bytes.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)


def _model(quick):
    import keras

    if quick:
        inputs = keras.Input((16, 16, 8))
        x = inputs
        for i in range(6):
            x = keras.layers.Conv2D(8, 3 if i % 2 else 1, padding="same")(x)
            x = keras.layers.BatchNormalization()(x)
        return keras.Model(inputs, x), "a 13-layer conv stack"
    return keras.applications.ResNet152(weights=None), "ResNet152"


def run(quick=False):
    import dataclasses

    import keras

    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.keras import verify as checks
    from keras_1x1.converters.keras.report import ConversionReport

    model, label = _model(quick)
    dense = converters.conv_to_dense(model, verify=False)
    inputs = signature.sample_inputs(model)

    def clone_and_set():
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    def verification():
        return checks.verify(model, dense, ConversionReport("bench", "keras"), inputs=inputs)

    cfg = harness.settings(quick)
    if not quick:
        # Each call takes seconds: fewer rounds, still interleaved.
        cfg = dataclasses.replace(cfg, rounds=7, warmup=1, min_sample_s=0)
    comparison = harness.compare(
        [
            harness.Candidate("clone_model + set_weights", clone_and_set, baseline=True),
            harness.Candidate("conv_to_dense(verify=False)",
                              lambda: converters.conv_to_dense(model, verify=False)),
            harness.Candidate("dense_to_conv(verify=False)",
                              lambda: converters.dense_to_conv(dense, verify=False)),
            harness.Candidate("verification (2 random inputs)", verification),
        ],
        settings=cfg,
    )
    weight_bytes = sum(int(w.numpy().nbytes) for w in model.weights)
    _, memory = harness.peak_memory(converters.conv_to_dense, model, verify=False)
    _, baseline_memory = harness.peak_memory(clone_and_set)
    n_layers = sum(1 for _ in converters.keras.graph.walk(model))
    report = dense.conversion_report
    time_table = comparison.table(
        f"Conversion time: {label}, {n_layers} layers, "
        f"{model.count_params() / 1e6:.1f} M parameters",
        extra={
            "conv_to_dense(verify=False)": {"layers converted": len(report.converted)},
        },
        unit="s",
        notes=[
            "Goal (DESIGN section 5): conversion at most 1.2x clone_model + set_weights.",
            "Verification runs both models once on the same random batch of 2.",
        ],
    )
    memory_table = harness.Table(
        f"Conversion memory: {label}, weights {harness.fmt_bytes(weight_bytes)}",
        ["operation", "process RSS added at peak", "x weight bytes",
         "Python allocations peak", "x weight bytes"],
        [
            ["conv_to_dense(verify=False)",
             harness.fmt_bytes(memory.rss_delta_bytes), memory.rss_delta_bytes / weight_bytes,
             harness.fmt_bytes(memory.python_peak_bytes), memory.python_peak_bytes / weight_bytes],
            ["clone_model + set_weights",
             harness.fmt_bytes(baseline_memory.rss_delta_bytes),
             baseline_memory.rss_delta_bytes / weight_bytes,
             harness.fmt_bytes(baseline_memory.python_peak_bytes),
             baseline_memory.python_peak_bytes / weight_bytes],
        ],
        notes=[
            "RSS added: peak resident size during the call minus the size "
            f"when it started ({memory.rss_method}); it includes the new "
            "model's own weights (1x weight bytes is the floor).",
            "Python allocations: tracemalloc peak (numpy copies of weights "
            "included, TensorFlow's C++ buffers not).",
        ],
    )
    return [time_table, memory_table]
