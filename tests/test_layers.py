"""Conv1x1 and PixelDense against Keras' own layers, config, tying, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_1x1 import Conv1x1, PixelDense
from layer_testing import run_layer_test

NATIVE_CONV = {3: keras.layers.Conv1D, 4: keras.layers.Conv2D, 5: keras.layers.Conv3D}


def _input(rng, rank, channels, data_format, size=5, batch=2):
    spatial = (size,) * (rank - 2)
    if data_format == "channels_first":
        shape = (batch, channels) + spatial
    else:
        shape = (batch,) + spatial + (channels,)
    return rng.normal(size=shape).astype("float32")


def _xla(layer, x):
    # TensorFlow's CPU kernels run channels_first convolutions only under XLA.
    return np.asarray(tf.function(lambda t: layer(t), jit_compile=True)(x))


@pytest.mark.parametrize("rank", [3, 4, 5])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv1x1_equals_native_conv_in_both_forms(rng, rank, data_format, strides, groups):
    x = _input(rng, rank, 8, data_format)
    native = NATIVE_CONV[rank](
        6, 1, strides=strides, groups=groups, data_format=data_format,
        bias_initializer="random_normal",
    )
    expected = _xla(native, x)
    layer = Conv1x1(
        6, strides=strides, groups=groups, data_format=data_format,
        bias_initializer="random_normal",
    )
    layer.build(x.shape)
    for form in ("conv", "dense"):
        assert not np.allclose(layer(x, form=form), expected, atol=1e-3)

    kernel, bias = native.get_weights()
    assert kernel.shape == (1,) * (rank - 2) + (8 // groups, 6)
    layer.set_weights([kernel.reshape(8 // groups, 6), bias])
    assert layer(x).shape == expected.shape
    for form in ("conv", "dense"):
        np.testing.assert_allclose(layer(x, form=form), expected, atol=2e-6, rtol=0)


@pytest.mark.parametrize("rank", [3, 4, 5])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pixel_dense_equals_native_dense_in_both_forms(rng, rank, data_format):
    x = _input(rng, rank, 7, data_format)
    native = keras.layers.Dense(5, bias_initializer="random_normal")
    if data_format == "channels_first":
        expected = np.moveaxis(np.asarray(native(np.moveaxis(x, 1, -1))), -1, 1)
    else:
        expected = np.asarray(native(x))
    layer = PixelDense(5, data_format=data_format, bias_initializer="random_normal")
    layer.build(x.shape)
    for form in ("conv", "dense"):
        assert not np.allclose(layer(x, form=form), expected, atol=1e-3)

    layer.set_weights(native.get_weights())
    np.testing.assert_allclose(layer(x), expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(layer(x, form="conv"), expected, atol=2e-6, rtol=0)


def test_weights_move_between_conv1x1_and_pixel_dense(rng):
    x = _input(rng, 4, 6, "channels_last")
    conv = Conv1x1(3, activation="relu", bias_initializer="random_normal")
    dense = PixelDense(3, activation="relu")
    conv(x), dense(x)
    assert [w.shape for w in conv.weights] == [w.shape for w in dense.weights]
    assert not np.allclose(conv(x), dense(x))
    dense.set_weights(conv.get_weights())
    np.testing.assert_allclose(dense(x), conv(x), atol=1e-6, rtol=0)
    assert float(np.min(dense(x))) >= 0.0  # the activation runs after the bias


def test_dense_form_is_one_matmul_not_a_loop_over_positions():
    """The traced graph has the same ops for a 4x4 and a 56x56 image."""
    layer = PixelDense(8)
    layer.build((None, None, None, 16))

    def op_types(size):
        fn = tf.function(lambda t: layer(t))
        graph = fn.get_concrete_function(
            tf.TensorSpec((2, size, size, 16), tf.float32)
        ).graph
        return sorted(op.type for op in graph.get_operations())

    small, large = op_types(4), op_types(56)
    assert small == large
    assert len(small) < 30
    assert {"MatMul", "BatchMatMulV2", "Einsum"} & set(small)

    # What PixelDense replaces: Keras' TimeDistributed unrolls a Python loop,
    # so its graph grows with the image (already at 12x12).
    td = keras.layers.TimeDistributed(keras.layers.TimeDistributed(keras.layers.Dense(8)))
    td_ops = tf.function(lambda t: td(t)).get_concrete_function(
        tf.TensorSpec((2, 12, 12, 16), tf.float32)
    ).graph.get_operations()
    assert len(td_ops) > 10 * len(large)


@pytest.mark.parametrize(
    "layer_cls, init_kwargs, input_shape, output_shape, call_kwargs",
    [
        (Conv1x1, {"filters": 4}, (2, 5, 5, 3), (2, 5, 5, 4), {}),
        (Conv1x1, {"filters": 4, "strides": 2, "groups": 2, "activation": "relu",
                   "kernel_regularizer": "l2"}, (2, 5, 6, 4), (2, 3, 3, 4), {"form": "dense"}),
        (Conv1x1, {"filters": 6, "strides": (1, 2, 3), "data_format": "channels_first"},
         (2, 3, 4, 5, 6), (2, 6, 4, 3, 2), {}),
        (PixelDense, {"units": 4, "use_bias": False, "kernel_constraint": "non_neg"},
         (2, 7, 3), (2, 7, 4), {}),
        (PixelDense, {"units": 4, "data_format": "channels_first", "activation": "tanh",
                      "activity_regularizer": "l1"}, (2, 3, 4, 5), (2, 4, 4, 5), {"form": "conv"}),
    ],
)
def test_run_layer_test(layer_cls, init_kwargs, input_shape, output_shape, call_kwargs, tmp_path):
    n_weights = 1 if init_kwargs.get("use_bias") is False else 2
    run_layer_test(
        layer_cls, init_kwargs, input_shape,
        expected_output_shape=output_shape,
        expected_num_weights=n_weights,
        call_kwargs=call_kwargs,
        tmp_path=tmp_path,
    )


def _tied_model():
    inputs = keras.Input((6, 6, 4), name="image")
    shared = PixelDense(3, name="shared", bias_initializer="random_normal")
    dense_view = shared(inputs)
    conv_view = shared(inputs, form="conv")
    return keras.Model(inputs, {"dense": dense_view, "conv": conv_view})


def test_one_layer_in_both_forms_is_tied_through_training_and_save(rng, tmp_path):
    model = _tied_model()
    assert len(model.weights) == 2
    x = rng.normal(size=(8, 6, 6, 4)).astype("float32")
    out = model(x)
    np.testing.assert_allclose(out["dense"], out["conv"], atol=1e-6)

    # Train through the dense view only; the conv view moves with it.
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss={"dense": "mse"})
    before = model(x)["conv"].numpy()
    model.fit(x, {"dense": np.ones((8, 6, 6, 3), "float32")}, epochs=2, verbose=0)
    after = model(x)
    assert not np.allclose(after["conv"], before, atol=1e-3)
    np.testing.assert_allclose(after["dense"], after["conv"], atol=1e-6)

    path = tmp_path / "tied.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects needed
    assert len(loaded.weights) == 2
    np.testing.assert_array_equal(loaded(x)["conv"], after["conv"])
    loaded.compile(optimizer=keras.optimizers.SGD(0.5), loss={"conv": "mse"})
    loaded.fit(x, {"conv": np.zeros((8, 6, 6, 3), "float32")}, epochs=1, verbose=0)
    again = loaded(x)
    assert not np.allclose(again["conv"], after["conv"], atol=1e-3)
    np.testing.assert_allclose(again["dense"], again["conv"], atol=1e-6)


def test_mixed_float16_in_both_forms(rng):
    keras.mixed_precision.set_global_policy("mixed_float16")
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    layer = Conv1x1(4, strides=2, groups=2)
    conv, dense = layer(x), layer(x, form="dense")
    assert conv.dtype == dense.dtype == tf.float16
    assert layer.kernel.dtype == "float32"
    np.testing.assert_allclose(np.asarray(conv, "float32"), np.asarray(dense, "float32"), atol=1e-2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv1x1(0), "Received: filters=0"),
        (lambda: Conv1x1(-3), "Received: filters=-3"),
        (lambda: Conv1x1(2.5), "Received: filters=2.5"),
        (lambda: PixelDense(True), "Received: units=True"),
        (lambda: Conv1x1(4, strides=0), "Received: strides=0"),
        (lambda: Conv1x1(4, strides=(1, 1, 1, 1)), "Received: strides=(1, 1, 1, 1)"),
        (lambda: Conv1x1(4, groups=0), "Received: groups=0"),
        (lambda: Conv1x1(5, groups=2), "Received: filters=5, groups=2"),
        (lambda: PixelDense(4, data_format="NHWC"), "Received: data_format='NHWC'"),
        (lambda: PixelDense(4, strides=2), "PixelDense has no `strides`"),
        (lambda: PixelDense(4, groups=2), "PixelDense has no `groups`"),
    ],
)
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_bad_calls(rng):
    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    layer = Conv1x1(4, groups=2)
    with pytest.raises(ValueError, match=r"`form` must be None, 'conv' or 'dense'. Received: form='matmul'"):
        layer(x, form="matmul")
    with pytest.raises(ValueError, match=r"rank 3, 4 or 5 .* Received: input_shape=\(2, 6\)"):
        Conv1x1(4)(rng.normal(size=(2, 6)).astype("float32"))
    with pytest.raises(ValueError, match=r"Received: groups=4, input channels=6"):
        Conv1x1(4, groups=4)(x)
    layer(x)
    with pytest.raises(ValueError, match=r"built for 6 input channels .* Received: input_shape=\(2, 4, 4, 5\)"):
        layer(rng.normal(size=(2, 4, 4, 5)).astype("float32"))
    with pytest.raises(ValueError, match=r"`strides` has 2 entries but the input has 1 spatial axes"):
        Conv1x1(4, strides=(2, 2))(rng.normal(size=(2, 4, 6)).astype("float32"))
