"""Builders of the three reference models, on 8x8x1 digit images.

``models/`` is not an import package: `train.py`, the tests and the
benchmarks put this folder on ``sys.path`` and ``import builders``.

Each builder returns an untrained Functional ``keras.Model`` whose layers
have fixed names, so a trained model and its conversions can be compared
layer by layer:

- `nin`: Network in Network (Lin, Chen & Yan, 2013), where the 1x1
  convolution was introduced: "mlpconv" blocks (a 3x3 conv followed by two
  1x1 convs), a strided 1x1 conv, the last block producing one map per
  class, global average pooling and softmax. The model `conv_to_dense`
  turns into per-pixel Dense layers.
- `flat`: a Flatten -> Dense classifier over "valid" convolutions and a
  stride-2 pooling: the model to convolutionalize. Its output stride is 2
  (`FLAT_STRIDE`): on a larger image, output position ``(i, j)`` is the
  classifier applied to the 8x8 window at ``(2 i, 2 j)``.
- `pixeldense`: ConvNeXt style (Liu et al., 2022): depthwise 3x3 conv,
  LayerNormalization, then the pointwise "inverted bottleneck" as
  ``keras.layers.Dense`` on NHWC feature maps (expand 4x with GELU,
  project back) with a residual add. The model `dense_to_conv` turns into
  1x1 convs.

>>> import builders
>>> model = builders.build("nin")
>>> model.output_shape
(None, 10)
"""

import keras
from keras import layers

INPUT_SHAPE = (8, 8, 1)
NUM_CLASSES = 10
#: The distance in pixels between neighbouring outputs of the convolutionalized `flat` model.
FLAT_STRIDE = 2

__all__ = ["BUILDERS", "FLAT_STRIDE", "INPUT_SHAPE", "NUM_CLASSES", "build", "flat", "nin", "pixeldense"]


def _inputs():
    return keras.Input(shape=INPUT_SHAPE, name="digits")


def nin():
    """Network in Network: mlpconv blocks, global average pooling, softmax.

    8x8x1 -> [3x3 conv 32, BN, ReLU; 1x1 conv 32; 1x1 conv 32] -> 2x2 max
    pool (stride 2) -> [3x3 conv 64, BN, ReLU; 1x1 conv 64 stride 2;
    1x1 conv 10] -> global average pooling -> softmax.
    """
    inputs = _inputs()
    # mlpconv 1, on 8x8
    x = layers.Conv2D(32, 3, padding="same", name="mlpconv1_conv3x3")(inputs)
    x = layers.BatchNormalization(name="mlpconv1_bn")(x)
    x = layers.Activation("relu", name="mlpconv1_relu")(x)
    x = layers.Conv2D(32, 1, activation="relu", name="mlpconv1_cccp1")(x)
    x = layers.Conv2D(32, 1, activation="relu", name="mlpconv1_cccp2")(x)
    x = layers.MaxPooling2D(2, strides=2, name="pool1")(x)
    x = layers.Dropout(0.1, name="drop1")(x)
    # mlpconv 2, on 4x4; the strided 1x1 conv subsamples to 2x2
    x = layers.Conv2D(64, 3, padding="same", name="mlpconv2_conv3x3")(x)
    x = layers.BatchNormalization(name="mlpconv2_bn")(x)
    x = layers.Activation("relu", name="mlpconv2_relu")(x)
    x = layers.Conv2D(64, 1, strides=2, activation="relu", name="mlpconv2_cccp1")(x)
    # One map per class, averaged over the positions: no Dense anywhere.
    x = layers.Conv2D(NUM_CLASSES, 1, name="mlpconv2_cccp2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="nin")


def flat():
    """A Flatten -> Dense classifier, to convolutionalize.

    8x8x1 -> 3x3 conv 16 (valid) -> 3x3 conv 32 (valid) -> 2x2 max pool
    (stride 2) -> Flatten (2x2x32 = 128) -> Dense 64 ReLU -> Dropout ->
    Dense 10 softmax. Every spatial layer is "valid" and the only stride is
    the pooling's, so the convolutionalized model (Dense 64 as a 2x2 conv,
    Dense 10 as a 1x1 conv) slides this exact classifier with stride 2.
    """
    inputs = _inputs()
    x = layers.Conv2D(16, 3, padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 3, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, strides=FLAT_STRIDE, padding="valid", name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="fc2")(x)
    return keras.Model(inputs, outputs, name="flat")


def _convnext_block(x, channels, name):
    shortcut = x
    x = layers.DepthwiseConv2D(3, padding="same", name=f"{name}_dwconv")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln")(x)
    # The pointwise inverted bottleneck: Dense on (N, H, W, C) feature maps.
    x = layers.Dense(4 * channels, activation="gelu", name=f"{name}_expand")(x)
    x = layers.Dense(channels, name=f"{name}_project")(x)
    return layers.Add(name=f"{name}_add")([shortcut, x])


def pixeldense():
    """ConvNeXt style: pointwise layers are Dense on NHWC feature maps.

    8x8x1 -> stem 3x3 conv 32, LayerNorm -> ConvNeXt block (depthwise 3x3,
    LayerNorm, Dense 128 GELU, Dense 32, + residual) -> LayerNorm, 2x2 conv
    64 stride 2 -> ConvNeXt block (64 channels, Dense 256) on 4x4 -> global
    average pooling, LayerNorm -> Dense 10 softmax.
    """
    inputs = _inputs()
    x = layers.Conv2D(32, 3, padding="same", name="stem")(inputs)
    x = layers.LayerNormalization(epsilon=1e-6, name="stem_ln")(x)
    x = _convnext_block(x, 32, "block1")
    x = layers.LayerNormalization(epsilon=1e-6, name="down_ln")(x)
    x = layers.Conv2D(64, 2, strides=2, name="down")(x)
    x = _convnext_block(x, 64, "block2")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="pixeldense")


BUILDERS = {"nin": nin, "flat": flat, "pixeldense": pixeldense}


def build(name):
    """The untrained model called `name` (one of `BUILDERS`)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown reference model; expected one of {sorted(BUILDERS)}. Received: name={name!r}"
        ) from None
    return builder()
