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

import conversion  # noqa: E402  (run.py puts benchmarks/ on sys.path)


def _model(quick):
    import keras

    if quick:
        inputs = keras.Input((16, 16, 8))
        x = inputs
        for i in range(6):
            x = keras.layers.Conv2D(8, 3 if i % 2 else 1, padding="same")(x)
            x = keras.layers.BatchNormalization()(x)
        return keras.Model(inputs, x), "a conv stack"
    return keras.applications.ResNet152(weights=None), "ResNet152"


def run(quick=False):
    from keras_1x1.converters.keras import graph

    model, label = _model(quick)
    n_layers = sum(1 for _ in graph.walk(model))
    _, result = conversion.tables(
        model, f"{label}, {n_layers} layers", "conv_to_dense", quick,
        inputs_label="2 random images",
    )
    return result
