"""The seed example, with numbers checked by hand."""

import numpy as np

from keras_1x1 import PixelDense
from keras_1x1.demo import seed


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
    # No 1x1 kernel reproduces it. A 1x1 conv gives one value per pixel
    # from that pixel alone, with one kernel for every pixel; the most it can
    # give as one number is a sum of those (any pooling is a weighted sum):
    # sum_p (x_p @ w + b). Fit the best such w, b by least squares on random
    # maps: the flattened Dense weighs every pixel differently, so the fit
    # stays far off, while the Dense itself is matched exactly by a 2x2 conv.
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(64, 2, 2, 2))
    target = maps.reshape(64, 8) @ seed.FLAT_KERNEL.astype("float64")
    tied = np.concatenate([maps.sum(axis=(1, 2)), np.full((64, 1), 4.0)], axis=1)
    solution, *_ = np.linalg.lstsq(tied, target, rcond=None)
    residual = np.abs(tied @ solution - target).max()
    assert residual > 0.1 * np.abs(target).max()


def test_report_passes():
    lines, ok = seed.report()
    assert ok
    assert any("identical: True" in line for line in lines)
