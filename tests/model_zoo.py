"""Hand-built models for the converter tests, and helpers to check them."""

import keras
import numpy as np

from keras_1x1.converters.keras import signature as checks

L = keras.layers


def randomize(model, seed=0):
    """Random weights everywhere, with non-trivial BatchNorm statistics, so a
    weight that is missed or misplaced shows in the outputs."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path:
            value = rng.uniform(0.5, 1.5, size=shape)
        elif "moving_mean" in weight.path:
            value = rng.normal(0.0, 0.2, size=shape)
        elif "gamma" in weight.path:
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            fan = max(1, int(np.prod(shape[:-1]))) if len(shape) > 1 else 16
            value = rng.normal(0.0, 1.0 / np.sqrt(fan), size=shape)
        weight.assign(value.astype(keras.backend.standardize_dtype(weight.dtype)))
    return model


def weights_by_path(model):
    return {w.path: np.array(w.numpy()) for w in model.weights}


def layer_weights(model):
    """{layer name: [arrays]} over every layer with weights (nested too)."""
    from keras_1x1.converters.keras import graph

    return {
        layer.name: [np.array(a) for a in layer.get_weights()]
        for layer, _, _ in graph.walk(model)
        if layer.weights and not isinstance(layer, keras.Model)
    }


def assert_same_layer_weights(a, b):
    wa, wb = layer_weights(a), layer_weights(b)
    assert sorted(wa) == sorted(wb)
    for name in wa:
        assert len(wa[name]) == len(wb[name]), name
        for x, y in zip(wa[name], wb[name]):
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y), name


def outputs(model, inputs):
    return list(checks.run(model, inputs).values())


def fresh_copy(model):
    """The same architecture with random weights (copied, not rebuilt from
    configs: keras-hub layers and changed sublayers do not round trip)."""
    from keras_1x1.converters.keras.rebuild import Rebuilder

    return randomize(Rebuilder({}).rebuild(model, keep_compile=False), seed=99)


def assert_differs_then_matches(original, converted, inputs=None, atol=1e-5):
    """The converted architecture with fresh weights differs from the
    original; with the carried weights it matches."""
    if inputs is None:
        inputs = checks.sample_inputs(original)
    expected = outputs(original, inputs)
    fresh = fresh_copy(converted)
    assert any(
        not np.allclose(e, f, atol=atol) for e, f in zip(expected, outputs(fresh, inputs))
    ), "the fresh architecture already matches: the test would be vacuous"
    for e, c in zip(expected, outputs(converted, inputs)):
        scale = max(1.0, float(np.abs(e).max()))
        np.testing.assert_allclose(c, e, atol=atol * scale, rtol=0)


def conv_zoo(data_format="channels_last"):
    """Every pointwise conv variant in one Functional model: strides, groups,
    padding, dilation, a shared layer, a raw keras.ops node, BN, two outputs."""
    shape = (9, 9, 8) if data_format == "channels_last" else (8, 9, 9)
    inputs = keras.Input(shape, name="image")
    kw = {"data_format": data_format}
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="stem", **kw)(inputs)
    x = L.BatchNormalization(axis=-1 if data_format == "channels_last" else 1, name="bn")(x)
    a = L.Conv2D(16, 1, activation="relu", name="pw", **kw)(x)
    b = L.Conv2D(16, 1, strides=2, padding="same", name="pw_stride2", **kw)(x)
    c = L.Conv2D(16, (1, 1), groups=4, dilation_rate=2, name="pw_groups4", **kw)(a)
    shared = L.Conv2D(16, 1, use_bias=False, name="pw_shared", **kw)
    y = keras.ops.add(shared(c), shared(a))  # a raw keras.ops node
    y = L.MaxPooling2D(2, padding="same", name="pool", **kw)(y)
    z = L.Add(name="merge")([y, b])
    pooled = L.GlobalAveragePooling2D(name="gap", **kw)(z)
    logits = L.Dense(5, name="logits")(pooled)
    return keras.Model(inputs, {"logits": logits, "features": z}, name="conv_zoo")


def dense_zoo():
    """Every per-pixel Dense variant: Dense on rank 3/4/5, TimeDistributed
    (nested), pointwise EinsumDense, and a rank-2 Dense that stays."""
    image = keras.Input((6, 6, 4), name="image")
    seq = keras.Input((7, 5), name="sequence")
    vol = keras.Input((3, 4, 4, 2), name="volume")
    a = L.Dense(8, activation="gelu", name="dense4d")(image)
    a = L.TimeDistributed(L.TimeDistributed(L.Dense(6, name="td_inner")), name="td2")(a)
    a = L.EinsumDense("abcd,de->abce", output_shape=(None, None, 3), bias_axes="e",
                      name="einsum_last")(a)
    b = L.Dense(4, name="dense3d")(seq)
    b = L.TimeDistributed(L.Dense(3, name="td1_inner"), name="td1")(b)
    c = L.Dense(3, use_bias=False, name="dense5d")(vol)
    c = L.EinsumDense("...c,cd->...d", output_shape=2, name="einsum_ellipsis")(c)
    flat = L.Dense(2, name="rank2")(L.GlobalAveragePooling2D(name="gap")(a))
    return keras.Model(
        {"image": image, "sequence": seq, "volume": vol},
        {"map": a, "seq": b, "vol": c, "flat": flat},
        name="dense_zoo",
    )
