"""The seed example, with numbers checked by hand."""

import numpy as np

from keras_1x1 import PixelDense, seed


def test_four_tied_per_pixel_dense_maps_are_one_1x1_conv():
    # y = 2 * c0 - c1 + 0.5 at each pixel: (1,2) (3,4) (5,6) (7,8)
    expected = np.array([[0.5, 2.5], [4.5, 6.5]], dtype="float32")
    np.testing.assert_array_equal(seed.per_pixel_dense()[0, ..., 0], expected)
    np.testing.assert_array_equal(seed.conv_1x1()[0, ..., 0], expected)

    layer = PixelDense(1)
    layer.build(seed.X.shape)
    assert not np.array_equal(np.asarray(layer(seed.X))[0, ..., 0], expected)
    layer.set_weights([seed.KERNEL, seed.BIAS])
    np.testing.assert_array_equal(np.asarray(layer(seed.X))[0, ..., 0], expected)
    np.testing.assert_array_equal(np.asarray(layer(seed.X, form="conv"))[0, ..., 0], expected)


def test_dense_that_mixes_pixels_is_a_2x2_conv_not_1x1():
    # sum_k k/8 * x_k over x = 1..8 in (row, col, channel) order = 204/8
    assert seed.flatten_dense().ravel()[0] == 25.5
    assert seed.conv_2x2().ravel()[0] == 25.5
    # No 1x1 kernel reproduces it: a 1x1 conv keeps the 2x2 map.
    assert seed.conv_1x1().shape == (1, 2, 2, 1)


def test_report_passes():
    lines, ok = seed.report()
    assert ok
    assert any("identical: True" in line for line in lines)
