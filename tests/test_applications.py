"""The converters on real keras.applications architectures (weights=None,
random weights with non-trivial BatchNorm statistics)."""

import keras
import pytest

from keras_1x1 import converters
from model_zoo import assert_differs_then_matches, assert_same_layer_weights, randomize

A = keras.applications

# (builder, direction the model is written in, layers expected to convert)
ARCHITECTURES = {
    "MobileNetV2": (lambda: A.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10), "conv", 34),
    "ResNet50": (lambda: A.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10), "conv", 36),
    "EfficientNetB0": (lambda: A.EfficientNetB0(input_shape=(64, 64, 3), weights=None, classes=10), "conv", 64),
    "ConvNeXtTiny": (lambda: A.ConvNeXtTiny(input_shape=(32, 32, 3), weights=None, classes=10), "dense", 36),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_application_round_trip(name):
    build, form, expected = ARCHITECTURES[name]
    model = randomize(build())
    there, back = (
        (converters.conv_to_dense, converters.dense_to_conv)
        if form == "conv"
        else (converters.dense_to_conv, converters.conv_to_dense)
    )
    other = there(model)
    report = other.conversion_report
    assert len(report.converted) == expected, report.table()
    assert report.verified
    assert_differs_then_matches(model, other)
    restored = back(other)
    assert restored.conversion_report.verified
    assert_same_layer_weights(model, restored)
    assert [type(l).__name__ for l in restored.layers] == [type(l).__name__ for l in model.layers]
