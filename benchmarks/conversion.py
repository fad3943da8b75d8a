"""Conversion time and memory tables, shared by the benchmarks that convert
a model (``bench_convert``: ResNet152; ``bench_transformer``: BERT-base).

One model, one direction. Timed in the same interleaved rounds:

- ``clone_model + set_weights`` (the baseline): what a user writes by hand
  to rebuild the model with its weights;
- the conversion alone (``verify=False``);
- the way back from the converted form;
- verification: both models on the same drawn inputs.

Then the memory the conversion adds, against the model's weight bytes.
"""

import dataclasses
import gc

import harness

OPPOSITE = {"conv_to_dense": "dense_to_conv", "dense_to_conv": "conv_to_dense"}


def _collected(fn):
    # A conversion's models sit in reference cycles and the collector runs by
    # object counts, not bytes: without a collection after each call, rounds
    # of large models pile up (tens of GiB). Every candidate pays it alike.
    def call():
        fn()
        gc.collect()

    return call


def tables(model, label, direction, quick, *, inputs_label, layers_label=None, notes=()):
    """``(converted model, [time table, memory table])``.

    ``direction`` is ``"conv_to_dense"`` or ``"dense_to_conv"``;
    ``layers_label(report)`` optionally words the "layers converted" cell.
    """
    import keras

    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.keras import verify as checks
    from keras_1x1.converters.keras.report import ConversionReport

    forward = getattr(converters, direction)
    back = getattr(converters, OPPOSITE[direction])
    converted = forward(model, verify=False)
    inputs = signature.sample_inputs(model)

    def clone_and_set():
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    def verification():
        return checks.verify(model, converted, ConversionReport("bench", "keras"), inputs=inputs)

    cfg = harness.settings(quick)
    if not quick:
        # Each call takes seconds: fewer rounds, still interleaved.
        cfg = dataclasses.replace(cfg, rounds=7, warmup=1, min_sample_s=0)
    name = f"{direction}(verify=False)"
    comparison = harness.compare(
        [
            harness.Candidate("clone_model + set_weights", _collected(clone_and_set), baseline=True),
            harness.Candidate(name, _collected(lambda: forward(model, verify=False))),
            harness.Candidate(
                f"{OPPOSITE[direction]}(verify=False) of the converted form",
                _collected(lambda: back(converted, verify=False)),
            ),
            harness.Candidate(f"verification ({inputs_label})", _collected(verification)),
        ],
        settings=cfg,
        disable_gc=False,
    )
    weight_bytes = sum(int(w.numpy().nbytes) for w in model.weights)
    _, memory = harness.peak_memory(forward, model, verify=False)
    _, baseline_memory = harness.peak_memory(clone_and_set)
    report = converted.conversion_report
    count = layers_label(report) if layers_label else len(report.converted)
    time_table = comparison.table(
        f"Conversion time: {label}, {model.count_params() / 1e6:.1f} M parameters",
        extra={name: {"layers converted": count}},
        unit="s",
        notes=[
            "Goal (DESIGN section 5): conversion at most 1.2x clone_model + set_weights.",
            *notes,
            "Verification runs both models once on the same inputs.",
            "Each timed call ends with gc.collect() (a conversion's models sit in "
            "reference cycles; without it the rounds pile them up).",
        ],
    )

    def memory_row(what, measured):
        return [
            what,
            harness.fmt_bytes(measured.rss_delta_bytes),
            measured.rss_delta_bytes / weight_bytes,
            harness.fmt_bytes(measured.python_peak_bytes),
            measured.python_peak_bytes / weight_bytes,
        ]

    memory_table = harness.Table(
        f"Conversion memory: {label}, weights {harness.fmt_bytes(weight_bytes)}",
        ["operation", "process RSS added at peak", "x weight bytes",
         "Python allocations peak", "x weight bytes"],
        [memory_row(name, memory), memory_row("clone_model + set_weights", baseline_memory)],
        notes=[
            "RSS added: peak resident size during the call minus the size when it "
            f"started ({memory.rss_method}); it includes the new model's own weights "
            "(1x weight bytes is the floor).",
            "Python allocations: tracemalloc peak (numpy copies of weights included, "
            "TensorFlow's C++ buffers not).",
        ],
    )
    return converted, [time_table, memory_table]
