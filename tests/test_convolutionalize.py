"""convolutionalize: Flatten -> Dense heads become sliding convolutions;
GlobalAveragePooling -> Dense heads gain a per-pixel class map."""

import itertools

import keras
import numpy as np
import pytest

from keras_1x1 import UserInputError, converters
from keras_1x1.converters.keras import signature as checks
from model_zoo import randomize

L = keras.layers


def _run(model, x):
    """The outputs of `model` on `x`, as a list."""
    return list(checks.run(model, x).values())


def flat_classifier(data_format="channels_last", flatten_format=None, pool_stride=2):
    shape = (10, 10, 3) if data_format == "channels_last" else (3, 10, 10)
    inputs = keras.Input(shape, name="digits")
    kw = {"data_format": data_format}
    x = L.Conv2D(6, 3, activation="relu", name="c1", **kw)(inputs)
    x = L.BatchNormalization(axis=-1 if data_format == "channels_last" else 1, name="bn")(x)
    x = L.MaxPooling2D(2, strides=pool_stride, name="pool", **kw)(x)
    # 7 filters: Keras adds a channels_first bias on the last axis when the
    # output width equals the filter count, which no window here hits.
    x = L.Conv2D(7, 2, activation="relu", name="c2", **kw)(x)
    x = L.Flatten(data_format=flatten_format, name="flatten")(x)
    x = L.Dropout(0.2, name="drop")(x)
    x = L.Dense(12, activation="relu", name="fc1")(x)
    x = L.Dense(4, activation="softmax", name="scores")(x)
    return randomize(keras.Model(inputs, x, name="flat"))


def _windows(model, fcn, layout, step):
    """Each position of a larger image against the classifier on its window."""
    rng = np.random.default_rng(5)
    size = 10
    counts = (3, 4)
    shape_hw = (size + (counts[0] - 1) * step, size + (counts[1] - 1) * step)
    if layout == "channels_last":
        big = rng.normal(size=(1,) + shape_hw + (3,)).astype("float32")
    else:
        big = rng.normal(size=(1, 3) + shape_hw).astype("float32")
    score_map = _run(fcn, big)[0]
    assert score_map.shape == (1,) + counts + (4,)
    for i, j in itertools.product(range(counts[0]), range(counts[1])):
        rows, cols = slice(i * step, i * step + size), slice(j * step, j * step + size)
        window = big[:, rows, cols, :] if layout == "channels_last" else big[:, :, rows, cols]
        expected = _run(model, window)[0]
        np.testing.assert_allclose(score_map[:, i, j, :], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "data_format, flatten_format, pool_stride",
    [
        ("channels_last", None, 2),
        ("channels_last", None, 1),
        ("channels_first", "channels_last", 2),  # flattened in (C, H, W) order
        ("channels_first", "channels_first", 2),  # Flatten moves C last first
    ],
)
def test_flatten_head_slides_over_larger_images(data_format, flatten_format, pool_stride):
    model = flat_classifier(data_format, flatten_format, pool_stride)
    fcn = converters.convolutionalize(model)
    report = {e.path: e for e in fcn.conversion_report.layers}
    # The map Flatten reads: 10 -> 8 (c1) -> 4 or 7 (pool) -> 3 or 6 (c2).
    window = 3 if pool_stride == 2 else 6
    assert report["fc1"].result == f"Conv2D {window}x{window} 'valid'"
    assert report["scores"].result == "Conv2D 1x1"
    assert fcn.conversion_report.verified
    assert any("windows" in s.name for s in fcn.conversion_report.verification)
    assert fcn.input_shape[1:3] == (None, None) or fcn.input_shape[2:] == (None, None)
    assert not any(isinstance(layer, (L.Flatten, L.Dense)) for layer in fcn.layers)

    # Fresh weights in the same architecture do not reproduce the scores.
    x = checks.sample_inputs(model)
    fresh = randomize(keras.models.clone_model(fcn), seed=7)
    assert not np.allclose(
        _run(fresh, x)[0].reshape(-1, 4), _run(model, x)[0], atol=1e-3
    )
    _windows(model, fcn, data_format, step=pool_stride)


def test_sequential_flatten_head_and_padding_note():
    model = randomize(
        keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                L.Conv2D(4, 3, padding="same", activation="relu"),
                L.Flatten(),
                L.Dense(10, activation="softmax", name="out"),
            ]
        )
    )
    fcn = converters.convolutionalize(model)
    assert fcn.conversion_report.verified
    assert any("pad" in note for note in fcn.conversion_report.notes)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        _run(fcn, x)[0][:, 0, 0], _run(model, x)[0], atol=1e-6
    )


def test_sequential_classifier_loaded_from_a_file(tmp_path):
    # Loading rebuilds a Sequential model once per added layer, so its layers
    # carry calls from earlier graphs; only the model's own graph counts.
    model = randomize(
        keras.Sequential(
            [
                keras.Input((10, 10, 3)),
                L.Conv2D(6, 3, activation="relu"),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dense(8, activation="relu"),
                L.Dropout(0.2),
                L.Dense(4, activation="softmax"),
            ]
        )
    )
    model.save(tmp_path / "clf.keras")
    loaded = keras.saving.load_model(tmp_path / "clf.keras")
    assert len(loaded.layers[-2]._inbound_nodes) > 1  # the extra calls are there
    fcn = converters.convolutionalize(loaded)
    assert fcn.conversion_report.verified
    assert any("windows" in s.name for s in fcn.conversion_report.verification)
    _windows(loaded, fcn, "channels_last", step=2)


def test_global_average_pooling_head_gains_a_class_map():
    inputs = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="features")(inputs)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.5, name="drop")(x)
    x = L.Dense(5, activation="softmax", name="scores")(x)
    model = randomize(keras.Model(inputs, x))
    cam = converters.convolutionalize(model)
    assert cam.output_names == ["scores", "scores_map"]
    small = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_run(cam, small)[0], _run(model, small)[0], atol=1e-6)
    images = np.random.default_rng(1).normal(size=(2, 12, 16, 3)).astype("float32")
    scores, class_map = _run(cam, images)
    assert class_map.shape == (2, 12, 16, 5)
    # The class map pooled and passed through the softmax gives the scores.
    logits = class_map.mean(axis=(1, 2))
    np.testing.assert_allclose(keras.ops.softmax(logits).numpy(), scores, atol=1e-6)
    # And it is the Dense applied at every pixel of the feature map.
    features = keras.Model(cam.inputs[0], cam.get_layer("features").output)
    kernel, bias = model.get_layer("scores").get_weights()
    np.testing.assert_allclose(
        class_map, _run(features, images)[0] @ kernel + bias, atol=1e-5
    )


def test_hidden_dense_after_pooling_is_noted():
    inputs = keras.Input((6, 6, 3))
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3)(inputs))
    x = L.Dense(8, activation="relu", name="hidden")(x)
    x = L.Dense(3, name="scores")(x)
    cam = converters.convolutionalize(randomize(keras.Model(inputs, x)))
    assert any("hidden" in note for note in cam.conversion_report.notes)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda i: L.Conv2D(3, 1)(i), "no Flatten -> Dense or GlobalAveragePooling -> Dense"),
        (lambda i: L.Dense(3)(L.GlobalMaxPooling2D(name="gmp")(i)), "'gmp' is a global max pooling"),
        (lambda i: L.Dense(3)(L.BatchNormalization(name="bnflat")(L.Flatten()(i))),
         "'bnflat' .* sits between"),
        (lambda i: L.Dense(2)(L.Reshape((3,))(L.Dense(3)(L.Flatten()(i)))), "not a per-position operation"),
    ],
)
def test_heads_that_cannot_be_convolutionalized(build, message):
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, build(inputs))
    with pytest.raises(UserInputError, match=message):
        converters.convolutionalize(model)


def test_multi_output_model_is_refused():
    inputs = keras.Input((4, 4, 2))
    flat = L.Flatten()(inputs)
    model = keras.Model(inputs, [L.Dense(2)(flat), L.Dense(3)(flat)])
    with pytest.raises(UserInputError, match="one classifier output"):
        converters.convolutionalize(model)
