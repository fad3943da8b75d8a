"""Forward latency of `Conv1x1` / `PixelDense` against Keras' own layers.

DESIGN section 5: `PixelDense` and `Conv1x1`, in both forms, within 5% of
native `Conv2D(1x1)` on the TensorFlow backend; Keras' per-pixel
`TimeDistributed(TimeDistributed(Dense))` is the slow thing to beat.

Input ``(8, 56, 56, 256)`` float32, channels_last, to 256 channels (quick
mode: ``(2, 8, 8, 32)`` to 32). Every layer holds the same kernel and a
non-zero bias, and every output is checked against the baseline's (a
mismatch is a crash: timing a wrong result means nothing).

Two ways of running each layer, all 14 candidates timed in the same
interleaved rounds, each way reported against its own `Conv2D` baseline
(`Comparison.rebased`), on wall time and on CPU time:

- ``tf.function`` (the headline): each layer call wrapped in its own
  ``tf.function`` (no XLA: Keras' ``jit_compile="auto"`` also leaves XLA off
  on CPU-only machines), called with the input as an argument so that
  nothing is constant-folded. This is how ``model.predict`` / a served
  model runs the layer.
- eager: the plain ``layer(x)`` call, Keras' Python ``__call__`` overhead
  included.
"""

import collections
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

FULL = dict(shape=(8, 56, 56, 256), units=256)
QUICK = dict(shape=(2, 8, 8, 32), units=32)

BASELINE = "Conv2D(1x1)"
SLOW = "TimeDistributed(TimeDistributed(Dense))"
GRAPH, EAGER = "tf.function: ", "eager: "
ANATOMY = [
    "candidate",
    "trace + 1st call (s)",
    "graph ops",
    "computing ops",
    "after Grappler (CPU)",
    "max abs diff",
]

# Graph bookkeeping that is not computation.
_PLUMBING = {"Placeholder", "ReadVariableOp", "Identity", "NoOp", "Const"}


def _layers(shape, units):
    """(name, layer, call kwargs) for every candidate, weights shared."""
    import keras
    import numpy as np

    import keras_1x1

    channels = shape[-1]
    rng = np.random.default_rng(0)
    kernel = (rng.standard_normal((channels, units)) / np.sqrt(channels)).astype(
        "float32"
    )
    bias = (0.1 * rng.standard_normal(units)).astype("float32")

    conv = keras.layers.Conv2D(units, 1, data_format="channels_last")
    conv.build(shape)
    conv.set_weights([kernel.reshape(1, 1, channels, units), bias])

    c1 = keras_1x1.Conv1x1(units, data_format="channels_last")
    c1.build(shape)
    c1.set_weights([kernel, bias])

    pd = keras_1x1.PixelDense(units, data_format="channels_last")
    pd.build(shape)
    pd.set_weights([kernel, bias])

    dense = keras.layers.Dense(units)
    dense.build(shape)
    dense.set_weights([kernel, bias])

    inner = keras.layers.Dense(units)
    td = keras.layers.TimeDistributed(keras.layers.TimeDistributed(inner))
    td.build(shape)
    inner.set_weights([kernel, bias])

    return [
        (BASELINE, conv, {}),
        ("Conv1x1 form='conv'", c1, {"form": "conv"}),
        ("Conv1x1 form='dense'", c1, {"form": "dense"}),
        ("PixelDense form='dense'", pd, {"form": "dense"}),
        ("PixelDense form='conv'", pd, {"form": "conv"}),
        ("Dense on the 4-D map", dense, {}),
        (SLOW, td, {}),
    ]


def _op_summary(graph):
    """Op count and the computing op types of a traced graph."""
    ops = graph.get_operations()
    counts = collections.Counter(
        op.type for op in ops if op.type not in _PLUMBING
    )
    parts = [f"{t} ({n})" if n > 1 else t for t, n in counts.items()]
    if len(parts) > 5:
        parts = parts[:5] + ["..."]
    return len(ops), ", ".join(parts)


def _grappler_summary(concrete):
    """The computing ops after Grappler's CPU rewrites (fusions shown).

    Uses TensorFlow's internal `tf_optimizer` (what `tf.function` runs
    before execution); any failure gives "n/a" rather than a crash.
    """
    try:
        import tensorflow as tf
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.grappler import tf_optimizer

        graph_def = concrete.graph.as_graph_def(add_shapes=True)
        for node in graph_def.node:
            # Grappler's remapper only fuses ops placed on a CPU device.
            node.device = "/job:localhost/replica:0/task:0/device:CPU:0"
        meta = tf.compat.v1.train.export_meta_graph(
            graph_def=graph_def, graph=concrete.graph
        )
        fetch = meta.collection_def["train_op"].node_list.value
        for out in concrete.outputs:
            fetch.append(out.name)
        config = config_pb2.ConfigProto()
        config.graph_options.rewrite_options.min_graph_nodes = -1
        optimized = tf_optimizer.OptimizeGraph(config, meta)
    except Exception as exc:  # internal API: informational only
        return f"n/a ({type(exc).__name__})"
    parts = []
    for node in optimized.node:
        if node.op in _PLUMBING:
            continue
        fused = []
        if "fused_ops" in node.attr:
            fused = [f.decode() for f in node.attr["fused_ops"].list.s]
        parts.append(f"{node.op}({'+'.join(fused)})" if fused else node.op)
    counts = collections.Counter(parts)
    return ", ".join(f"{t} ({n})" if n > 1 else t for t, n in counts.items())


def run(quick=False):
    import numpy as np
    import tensorflow as tf

    cfg = harness.settings(quick)
    params = QUICK if quick else FULL
    shape, units = params["shape"], params["units"]
    x = tf.constant(
        np.random.default_rng(1).standard_normal(shape).astype("float32")
    )
    layers = _layers(shape, units)

    graph_fns = {}
    graph_info = {}
    outputs = {}
    for name, layer, kwargs in layers:
        fn = tf.function(
            lambda t, layer=layer, kwargs=kwargs: layer(t, **kwargs)
        )
        graph_fns[name] = fn
        started = time.perf_counter()
        concrete = fn.get_concrete_function(x)
        outputs[name] = fn(x).numpy()
        first_call = time.perf_counter() - started
        n_ops, kinds = _op_summary(concrete.graph)
        graph_info[name] = {
            "trace + 1st call (s)": first_call,
            "graph ops": n_ops,
            "computing ops": kinds,
            "after Grappler (CPU)": (
                "not run (unrolled loop)"
                if name == SLOW
                else _grappler_summary(concrete)
            ),
        }
    reference = outputs[BASELINE]
    for name, out in outputs.items():
        if out.shape != reference.shape:
            raise AssertionError(
                f"{name} output shape {out.shape} != {reference.shape}"
            )
        diff = float(np.max(np.abs(out - reference)))
        if diff > 1e-4 * max(1.0, float(np.max(np.abs(reference)))):
            raise AssertionError(
                f"{name} differs from {BASELINE} by up to {diff:g}: the "
                "candidates do not compute the same map."
            )
        graph_info[name]["max abs diff"] = diff

    candidates = []
    for name, layer, kwargs in layers:
        fn = graph_fns[name]
        candidates.append(
            harness.Candidate(
                GRAPH + name, lambda fn=fn: fn(x), baseline=name == BASELINE
            )
        )
    for name, layer, kwargs in layers:
        slow = {}
        if name == SLOW and not quick:
            # ~5 s a call in eager mode: sampled in 3 rounds only.
            slow = {"rounds": 3, "warmup": 1}
        candidates.append(
            harness.Candidate(
                EAGER + name,
                lambda layer=layer, kwargs=kwargs: layer(x, **kwargs),
                **slow,
            )
        )
    # One run, every candidate in every round: the tf.function and the
    # eager ratios come from the same interleaved rounds.
    both = harness.compare(candidates, settings=cfg, sync=harness.tf_sync)
    names = [name for name, _, _ in layers]
    graph = both.subset([GRAPH + n for n in names])
    eager = both.rebased(EAGER + BASELINE).subset([EAGER + n for n in names])
    shape_text = f"{tuple(shape)} -> {units} channels, float32, channels_last"
    goal = (
        "Goal (DESIGN 5): Conv1x1 and PixelDense, both forms, ratio <= 1.05 "
        "against Conv2D(1x1); TimeDistributed(Dense) per pixel is the slow "
        "path to beat."
    )
    same_rounds = (
        "The tf.function and eager candidates (14 in all) were timed in the "
        "same interleaved rounds."
    )
    graph_table = graph.table(
        f"Layers, tf.function forward: {shape_text}",
        cpu=True,
        label=lambda n: n[len(GRAPH) :],
        notes=[
            goal,
            "Each layer call wrapped in its own tf.function (no XLA, as "
            "Keras' jit_compile='auto' on a CPU-only machine), called with "
            "the input tensor as an argument: how model.predict or a served "
            "model runs it. This is the headline table.",
            same_rounds,
        ],
    )
    eager_table = eager.table(
        f"Layers, eager forward (plain layer(x) call): {shape_text}",
        cpu=True,
        label=lambda n: n[len(EAGER) :],
        notes=[
            goal,
            "The plain eager call, Keras' Python __call__ included, against "
            "the eager Conv2D(1x1)."
            + (
                " The eager TimeDistributed call takes seconds: it is timed "
                "in the first 3 rounds only (see 'samples')."
                if not quick
                else ""
            ),
            same_rounds,
        ],
    )

    anatomy = harness.Table(
        f"Layers, traced graphs and outputs: {shape_text}",
        ANATOMY,
        [[name] + [graph_info[name][c] for c in ANATOMY[1:]] for name, _, _ in layers],
        notes=[
            "'trace + 1st call (s)': tracing the tf.function plus its first "
            "call, timed once: TimeDistributed unrolls a Python loop over "
            "every position, paid again at every trace (every new input "
            "shape).",
            "'graph ops': operations in the traced graph (before Grappler); "
            "'computing ops': those that are not placeholders, variable "
            "reads, constants or identities, with counts. 'after Grappler "
            "(CPU)': the same after TensorFlow's graph optimizer, fused ops "
            "as Op(fused+ops): where the bias add (and an activation) is "
            "fused into the Conv2D/MatMul it costs no extra pass over the "
            "output.",
            "'max abs diff': largest absolute difference from the Conv2D "
            "output (all layers hold the same kernel and a non-zero bias).",
        ],
    )
    return [graph_table, eager_table, anatomy]
