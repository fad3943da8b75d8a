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

Table 3: saving and loading `.keras`: the converted model (whose file
records its 72 replaced sublayers) against the original, in the same
interleaved rounds. DESIGN: saving a converted BERT-base costs at most 1.2x
saving the original.

Table 4: onnxruntime (CPU provider) latency of the tf2onnx exports of both
forms, batch 1 x 128 tokens, against the dense form (keras-hub's own).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import conversion  # noqa: E402  (run.py puts benchmarks/ on sys.path)
import harness  # noqa: E402

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
    model, label = _model(quick)
    conv, result = conversion.tables(
        model, label, "dense_to_conv", quick,
        inputs_label="2 drawn inputs of 32 tokens",
        layers_label=lambda report: (
            f"{len(report.converted)} ({sum('/' in e.path for e in report.converted)} inside layers)"
        ),
        notes=[
            "The conversion traces the model once on symbolic inputs (the calls of "
            "its sublayers), copies every layer it keeps (no config round trip) and "
            "builds the new ones with their weights; the result keeps its class.",
        ],
    )
    return model, conv, result


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


def saving_table(model, conv, quick=False):
    """`.keras` save and load of the converted form against the original's."""
    import tempfile
    from pathlib import Path

    import keras

    import keras_1x1  # noqa: F401  (registers what a converted file records)

    folder = Path(tempfile.mkdtemp(prefix="keras-1x1-bench-"))
    paths = {"original": folder / "original.keras", "converted": folder / "converted.keras"}
    try:
        model.save(paths["original"])
        conv.save(paths["converted"])
        sizes = {k: p.stat().st_size for k, p in paths.items()}
        candidates = [
            harness.Candidate("save the original (keras-hub's dense form)",
                              lambda: model.save(paths["original"]), baseline=True),
            harness.Candidate("save the converted form", lambda: conv.save(paths["converted"])),
            harness.Candidate("load the original",
                              lambda: keras.saving.load_model(paths["original"])),
            harness.Candidate("load the converted form",
                              lambda: keras.saving.load_model(paths["converted"])),
        ]
        result = harness.compare(candidates, settings=harness.settings(quick))
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)
        folder.rmdir()
    return result.table(
        "Saving and loading .keras: the converted form against the original",
        cpu=True,
        notes=[
            f"file sizes: original {sizes['original'] / 1e6:.1f} MB, converted "
            f"{sizes['converted'] / 1e6:.1f} MB (its config also records the replaced "
            "sublayers: their paths, configs and the configs they replace).",
            "Loading rebuilds the model from the original config, puts each recorded "
            "sublayer in its place, then reads the weights by path, as Keras does for any model.",
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
    return tables + [saving_table(model, conv, quick), latency_table(model, conv, quick)]
