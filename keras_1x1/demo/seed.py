"""The seed example: four tied per-pixel Dense maps are one 1x1 convolution.

Two input channels on a 2x2 map and one output channel, with small integer
weights so every number can be checked by hand. The counter-case is a Dense
layer on the flattened map: it mixes pixels, so it is a 2x2 convolution
(padding "valid"), not a 1x1 one.
"""

import numpy as np

# x[0, row, col, channel]: channel 0 and channel 1 of a 2x2 map.
X = np.array(
    [[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]], dtype="float32"
)
# One output channel: y = 2 * x[..., 0] + (-1) * x[..., 1] + 0.5
KERNEL = np.array([[2.0], [-1.0]], dtype="float32")
BIAS = np.array([0.5], dtype="float32")
# A Dense on the flattened map: one weight per (row, col, channel).
FLAT_KERNEL = np.arange(1, 9, dtype="float32").reshape(8, 1) / 8.0


def per_pixel_dense():
    """The four Dense maps, one per pixel, all with KERNEL and BIAS."""
    out = np.zeros((1, 2, 2, 1), dtype="float32")
    for row in range(2):
        for col in range(2):
            out[0, row, col] = X[0, row, col] @ KERNEL + BIAS
    return out


def conv_1x1():
    """The same map as one Keras Conv2D with a 1x1 kernel."""
    import keras

    layer = keras.layers.Conv2D(1, 1)
    layer.build(X.shape)
    layer.set_weights([KERNEL.reshape(1, 1, 2, 1), BIAS])
    return np.asarray(layer(X))


def flatten_dense():
    """A Dense layer on Flatten(x): every output reads every pixel."""
    return X.reshape(1, 8) @ FLAT_KERNEL


def conv_2x2():
    """The flattened Dense as a Conv2D with a 2x2 kernel, padding "valid"."""
    import keras

    layer = keras.layers.Conv2D(1, 2, padding="valid", use_bias=False)
    layer.build(X.shape)
    layer.set_weights([FLAT_KERNEL.reshape(2, 2, 2, 1)])
    return np.asarray(layer(X))


def report():
    """Lines of text that walk through the example with its numbers."""
    dense = per_pixel_dense()
    conv = conv_1x1()
    lines = [
        "Seed example: 2 input channels on a 2x2 map, 1 output channel.",
        f"  kernel W = {KERNEL.ravel().tolist()}, bias b = {BIAS.tolist()}",
    ]
    for row in range(2):
        for col in range(2):
            c0, c1 = X[0, row, col]
            lines.append(
                f"  pixel ({row},{col}): Dense([{c0:g}, {c1:g}]) = "
                f"{c0:g}*2 + {c1:g}*(-1) + 0.5 = {dense[0, row, col, 0]:g}"
            )
    lines.append(
        "  four per-pixel Dense maps:  " + str(dense[0, ..., 0].tolist())
    )
    lines.append(
        "  one Conv2D 1x1:             " + str(conv[0, ..., 0].tolist())
    )
    same = bool(np.array_equal(dense, conv))
    lines.append(f"  identical: {same}")
    flat = flatten_dense()
    wide = conv_2x2()
    lines += [
        "Counter-case: a Dense on Flatten(x) (8 inputs -> 1 output) mixes pixels.",
        f"  Dense(Flatten(x)) = {flat.ravel()[0]:g}; Conv2D 2x2 'valid' with the "
        f"same weights = {wide.ravel()[0]:g}: a 2x2 convolution, not a 1x1 one.",
    ]
    return lines, same and bool(np.allclose(flat.ravel(), wide.ravel()))
