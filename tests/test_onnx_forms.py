"""Every converter output has the canonical ONNX graph of its other form."""

import keras
import pytest

from keras_1x1 import converters
from model_zoo import conv_zoo, dense_zoo, randomize

L = keras.layers
MODELS = __import__("pathlib").Path(__file__).resolve().parents[1] / "models"


def _fingerprint(model):
    return converters.fingerprint(converters.export_onnx(model))


def _assert_same_graph(a, b):
    pa, pb = converters.export_onnx(a), converters.export_onnx(b)
    assert converters.fingerprint(pa) == converters.fingerprint(pb), converters.graph_diff(pa, pb)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("target", ["keras", "keras_1x1"])
def test_conv_zoo_forms_share_one_graph(data_format, target):
    model = randomize(conv_zoo(data_format))
    dense = converters.conv_to_dense(model, target=target)
    _assert_same_graph(model, dense)
    # A changed weight is a different graph.
    layer = dense.get_layer("pw")
    weights = layer.get_weights()
    weights[0][0, 0] += 1.0
    layer.set_weights(weights)
    assert _fingerprint(dense) != _fingerprint(model)


def test_dense_zoo_forms_share_one_graph():
    # Keras runs TimeDistributed as a loop unrolled per position, so the
    # original's graph is its own; the converters' two outputs meet.
    conv = converters.dense_to_conv(randomize(dense_zoo()))
    _assert_same_graph(conv, converters.conv_to_dense(conv))


@pytest.mark.parametrize("name", ["nin", "flat", "pixeldense"])
def test_reference_models_in_both_forms(name):
    model = keras.saving.load_model(MODELS / f"{name}.keras")
    _assert_same_graph(converters.conv_to_dense(model), converters.dense_to_conv(model))


def test_softmax_over_the_channels_of_a_map():
    inputs = keras.Input((6, 6, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = L.Conv2D(4, 1, activation="softmax", name="scores")(x)
    model = randomize(keras.Model(inputs, x))
    _assert_same_graph(model, converters.conv_to_dense(model))


def test_convnext_forms_share_one_graph():
    """ConvNeXt's own blocks (depthwise 7x7, LayerNorm, Dense 4x expansion,
    GELU, Dense back, LayerScale, residual) and its head, two stages
    small: the whole ConvNeXtTiny is in the zoo benchmark."""
    from keras.src.applications import convnext

    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 4, strides=4, name="stem")(inputs)
    x = L.LayerNormalization(epsilon=1e-6, name="stem_norm")(x)
    x = convnext.ConvNeXtBlock(8, layer_scale_init_value=1e-6, name="stage0_block0")(x)
    x = L.LayerNormalization(epsilon=1e-6, name="down_norm")(x)
    x = L.Conv2D(16, 2, strides=2, name="down")(x)
    x = convnext.ConvNeXtBlock(16, layer_scale_init_value=1e-6, name="stage1_block0")(x)
    x = convnext.Head(num_classes=10, name="head")(x)
    model = randomize(keras.Model(inputs, x))
    assert any(isinstance(layer, convnext.LayerScale) for layer in model.layers)
    dense = converters.dense_to_conv(model)
    assert len(dense.conversion_report.converted) == 4
    _assert_same_graph(model, dense)
