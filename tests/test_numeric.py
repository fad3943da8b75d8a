"""Error statistics and tolerances shared by every check (keras_1x1.numeric)."""

import numpy as np

from keras_1x1.numeric import default_tolerance, error_stats


def test_tolerance_follows_the_dtype():
    assert default_tolerance(np.dtype("float32")) == (1e-5, 1e-4)
    assert default_tolerance("float16") == (1e-2, 1e-2)
    assert default_tolerance("bfloat16") == (5e-2, 5e-2)
    assert default_tolerance("int32") == (1e-5, 1e-4)


def test_error_is_measured_against_the_output_scale():
    expected = np.array([100.0, 1e-3, 0.0], "float32")
    close = expected + np.array([5e-3, 5e-3, 5e-3], "float32")
    stats = error_stats("y", close, expected)
    assert stats.ok  # 5e-3 <= 1e-5 + 1e-4 * 100
    assert not error_stats("y", expected + 0.02, expected).ok


def test_max_rel_ignores_references_near_zero():
    expected = np.array([2.0, 0.0, 1e-30], "float32")
    actual = np.array([2.2, 1e-3, 1e-3], "float32")
    stats = error_stats("y", actual, expected)
    assert abs(stats.max_rel - 0.1) < 1e-6  # only the entry with |expected| >= atol counts
    assert abs(stats.max_abs - 0.2) < 1e-6
    assert error_stats("y", np.ones(3), np.zeros(3)).max_rel == 0.0


def test_nonfinite_and_shape_mismatches_fail():
    expected = np.zeros((2, 3), "float32")
    stats = error_stats("y", np.full((2, 3), np.nan, "float32"), expected)
    assert not stats.ok and stats.nonfinite == 6 and "NaN/Inf" in stats.line()
    stats = error_stats("y", np.zeros((3, 2), "float32"), expected)
    assert not stats.ok and "shape (3, 2) != (2, 3)" in stats.line()
