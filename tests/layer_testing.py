"""A layer test helper in the style of keras-hub's `run_layer_test`.

Built on public Keras API only: it instantiates the layer, checks the config
round trip, eager and symbolic calls against `compute_output_shape`, a
`.keras` save/load round trip, one training step, and mixed precision.
"""

import keras
import numpy as np


def assert_configs_equal(a, b):
    a, b = dict(a), dict(b)
    for config in (a, b):
        config.pop("name", None)
    assert a == b


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    *,
    expected_output_shape,
    expected_num_weights,
    call_kwargs=None,
    tmp_path=None,
):
    call_kwargs = call_kwargs or {}
    rng = np.random.default_rng(0)
    x = rng.normal(size=input_shape).astype("float32")

    # Config round trip, twice, and through Keras' serializer.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert_configs_equal(clone.get_config(), config)
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(revived) is layer_cls
    assert_configs_equal(revived.get_config(), config)

    # Eager call and compute_output_shape agree.
    y = layer(x, **call_kwargs)
    assert tuple(y.shape) == tuple(expected_output_shape)
    assert tuple(layer.compute_output_shape(input_shape)) == tuple(
        expected_output_shape
    )
    assert len(layer.weights) == expected_num_weights

    # Symbolic call with unknown batch, then a Functional model.
    inputs = keras.Input(batch_shape=(None,) + tuple(input_shape[1:]))
    symbolic = layer(inputs, **call_kwargs)
    assert tuple(symbolic.shape) == (None,) + tuple(expected_output_shape[1:])
    model = keras.Model(inputs, symbolic)
    np.testing.assert_array_equal(model(x), y)

    # .keras round trip: same config, same weights, same outputs.
    if tmp_path is not None:
        path = tmp_path / f"{layer_cls.__name__}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_array_equal(loaded(x), y)
        assert type(loaded.layers[-1]) is layer_cls

    # One training step changes the weights.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, np.ones_like(np.asarray(y)), epochs=1, verbose=0)
    assert any(
        not np.array_equal(a, b) for a, b in zip(before, model.get_weights())
    )

    # Mixed precision: float32 variables, float16 outputs.
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = layer_cls(**init_kwargs)
        out = mixed(x, **call_kwargs)
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        assert all(
            keras.backend.standardize_dtype(w.dtype) == "float32"
            for w in mixed.weights
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return layer
