"""The shipped reference models, their builders and the digits helpers."""

import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_1x1 import UserInputError
from keras_1x1.demo import digits

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
if str(MODELS) not in sys.path:
    sys.path.insert(0, str(MODELS))

import builders  # noqa: E402
import train  # noqa: E402

NAMES = ("nin", "flat", "pixeldense")
ROW = re.compile(
    r"^\| `(?P<name>\w+)\.keras` \| (?P<layers>\d+) \| (?P<params>[\d,]+) \| "
    r"(?P<accuracy>[\d.]+)% \((?P<correct>\d+)/(?P<total>\d+)\) \| (?P<kib>\d+) KiB \| "
    r"`(?P<digest>[0-9a-f]{16})` \|$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def split():
    return digits.load_split()


@pytest.fixture(scope="module")
def reported():
    text = (MODELS / "README.md").read_text()
    rows = {m["name"]: m for m in ROW.finditer(text)}
    assert sorted(rows) == sorted(NAMES), "models/README.md lacks a row per model"
    return rows


# --- the shipped .keras files -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_loads_safely_is_small_and_accurate(name, split, reported):
    path = MODELS / f"{name}.keras"
    assert path.stat().st_size < 1_000_000
    model = keras.saving.load_model(path)  # safe_mode=True by default
    row = reported[name]

    _, _, x_test, y_test = split
    # Counted here from the raw scores, independently of `digits`.
    scores = np.asarray(model(x_test, training=False)).reshape(len(x_test), -1)
    correct = int(np.sum(np.argmax(scores, axis=-1) == y_test))
    assert int(row["total"]) == len(y_test) == 450
    assert correct == int(row["correct"])
    assert correct / len(y_test) >= 0.95
    assert digits.accuracy(model, x_test, y_test) == correct / len(y_test)

    assert int(row["params"].replace(",", "")) == model.count_params()
    assert train.weights_digest(model).startswith(row["digest"])


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_matches_its_builder(name):
    shipped = keras.saving.load_model(MODELS / f"{name}.keras")
    built = builders.build(name)
    assert [(type(l).__name__, l.name) for l in shipped.layers] == [
        (type(l).__name__, l.name) for l in built.layers
    ]
    assert [w.shape for w in shipped.weights] == [w.shape for w in built.weights]
    assert shipped.input_shape == (None, 8, 8, 1)
    assert shipped.output_shape == (None, 10)


def test_shipped_nin_has_non_trivial_batchnorm_statistics():
    model = keras.saving.load_model(MODELS / "nin.keras")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean = np.asarray(layer.moving_mean)
            variance = np.asarray(layer.moving_variance)
            assert not np.allclose(mean, 0.0)
            assert not np.allclose(variance, 1.0)


# --- the builders' documented structure ---------------------------------------


def _convs(model):
    return [l for l in model.layers
            if isinstance(l, keras.layers.Conv2D) and not isinstance(l, keras.layers.DepthwiseConv2D)]


def test_nin_is_mlpconv_blocks_with_1x1_convs_and_global_average_pooling():
    model = builders.nin()
    pointwise = [l for l in _convs(model) if l.kernel_size == (1, 1)]
    assert len(pointwise) == 4
    assert any(l.strides == (2, 2) for l in pointwise)
    assert pointwise[-1].filters == 10
    assert any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
    assert isinstance(model.layers[-2], keras.layers.GlobalAveragePooling2D)
    assert not any(isinstance(l, keras.layers.Dense) for l in model.layers)
    # Each mlpconv block: a 3x3 conv followed by two 1x1 convs.
    kinds = [l.kernel_size for l in _convs(model)]
    assert kinds == [(3, 3), (1, 1), (1, 1), (3, 3), (1, 1), (1, 1)]


def test_flat_is_valid_convs_then_flatten_then_dense():
    model = builders.flat()
    names = [type(l).__name__ for l in model.layers]
    flatten = names.index("Flatten")
    assert names[flatten + 1] == "Dense"
    assert names[flatten:].count("Dense") == 2
    for layer in model.layers[1:flatten]:
        assert layer.padding == "valid"
    assert model.get_layer("pool").strides == (builders.FLAT_STRIDE,) * 2
    assert model.get_layer("flatten").output.shape == (None, 2 * 2 * 32)


def test_pixeldense_applies_dense_to_rank_4_feature_maps():
    model = builders.pixeldense()
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    pixel = [l for l in dense if len(l.input.shape) == 4]
    assert [l.name for l in pixel] == ["block1_expand", "block1_project", "block2_expand", "block2_project"]
    for layer in pixel:
        assert layer.output.shape[1:3] == layer.input.shape[1:3]
    assert any(isinstance(l, keras.layers.DepthwiseConv2D) for l in model.layers)
    assert any(isinstance(l, keras.layers.LayerNormalization) for l in model.layers)
    assert sum(isinstance(l, keras.layers.Add) for l in model.layers) == 2


def test_unknown_builder_name_is_refused():
    with pytest.raises(ValueError, match="Received: name='resnet'"):
        builders.build("resnet")


def test_shipped_flat_slid_over_a_canvas_equals_the_classifier_per_window(split):
    """The claim behind `flat`: Dense 64 as a 2x2 conv and Dense 10 as a 1x1 conv."""
    model = keras.saving.load_model(MODELS / "flat.keras")
    inputs = keras.Input((None, None, 1))
    x = model.get_layer("pool")(model.get_layer("conv2")(model.get_layer("conv1")(inputs)))
    fc1 = keras.layers.Conv2D(64, 2, activation="relu")
    fc2 = keras.layers.Conv2D(10, 1, activation="softmax")
    fcn = keras.Model(inputs, fc2(fc1(x)))

    canvas, placements = digits.make_canvas(split[2], split[3], seed=3)
    stride, size = builders.FLAT_STRIDE, digits.DIGIT_SIZE
    rows = (canvas.shape[1] - size) // stride + 1
    cols = (canvas.shape[2] - size) // stride + 1
    windows = np.stack([canvas[0, i * stride : i * stride + size, j * stride : j * stride + size]
                        for i in range(rows) for j in range(cols)])
    expected = np.asarray(model(windows)).reshape(rows, cols, 10)

    assert not np.allclose(np.asarray(fcn(canvas))[0], expected, atol=1e-3)
    kernel, bias = model.get_layer("fc1").get_weights()
    fc1.set_weights([kernel.reshape(2, 2, 32, 64), bias])
    kernel, bias = model.get_layer("fc2").get_weights()
    fc2.set_weights([kernel.reshape(1, 1, 64, 10), bias])
    score_map = np.asarray(fcn(canvas))
    assert score_map.shape == (1, rows, cols, 10)
    np.testing.assert_allclose(score_map[0], expected, atol=1e-6)

    # Every placed digit is found at its position, and blank space is unsure.
    for r, c, label in placements:
        assert score_map[0, r // stride, c // stride].argmax() == label
    assert np.asarray(model(np.zeros((1, 8, 8, 1), "float32"))).max() < 0.5
    assert digits.window_stride(canvas.shape[1], rows) == stride


# --- deterministic retraining -------------------------------------------------


def _train_flat(out):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, str(MODELS / "train.py"), "--only", "flat", "--epochs", "1", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "flat" in result.stdout
    assert not (out / "README.md").exists()  # only a full run rewrites it
    return keras.saving.load_model(out / "flat.keras")


@pytest.mark.slow
def test_retraining_gives_bit_identical_weights(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _train_flat(tmp_path / "a")
    second = _train_flat(tmp_path / "b")
    untrained = builders.flat()
    assert any(not np.array_equal(a, b) for a, b in zip(first.get_weights(), untrained.get_weights()))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert train.weights_digest(first) == train.weights_digest(second)


def test_train_refuses_a_missing_output_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--only", "flat", "--out", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "no such folder" in capsys.readouterr().err


# --- digits: the split ---------------------------------------------------------


def test_load_split_is_stratified_scaled_and_deterministic(split):
    x_train, y_train, x_test, y_test = split
    assert x_train.shape == (1347, 8, 8, 1) and x_test.shape == (450, 8, 8, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    train_share = np.bincount(y_train, minlength=10) / len(y_train)
    test_share = np.bincount(y_test, minlength=10) / len(y_test)
    assert np.abs(train_share - test_share).max() < 0.01
    again = digits.load_split()
    for a, b in zip(split, again):
        np.testing.assert_array_equal(a, b)
    other = digits.load_split(seed=1)
    assert not np.array_equal(other[3], y_test)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, "a", True])
def test_load_split_refuses_a_bad_test_fraction(fraction):
    with pytest.raises(UserInputError, match="test_fraction"):
        digits.load_split(test_fraction=fraction)


def test_load_split_without_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(UserInputError, match=r"needs scikit-learn.*keras-1x1\[demo\]") as info:
        digits.load_split()
    assert "\n" not in str(info.value)


def test_accuracy_counts_matching_labels():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, kernel_initializer="zeros",
                                                 bias_initializer="zeros")])
    model.layers[-1].bias.assign(np.eye(10, dtype="float32")[3])
    x = np.zeros((4, 8, 8, 1), "float32")
    assert digits.accuracy(model, x, [3, 3, 1, 3]) == 0.75
    with pytest.raises(UserInputError, match="one label per image"):
        digits.accuracy(model, x, [3])


# --- digits: canvas, heat map, PNG ---------------------------------------------


def test_make_canvas_places_digits_where_it_says(split):
    _, _, x_test, y_test = split
    canvas, placements = digits.make_canvas(x_test, y_test, height=32, width=40, count=4, seed=7)
    assert canvas.shape == (1, 32, 40, 1) and canvas.dtype == np.float32
    assert len(placements) == 4
    assert len({label for _, _, label in placements}) == 4
    covered = np.zeros((32, 40), bool)
    for r, c, label in placements:
        assert r % 2 == 0 and c % 2 == 0
        assert 0 <= r <= 32 - 8 and 0 <= c <= 40 - 8
        patch = canvas[0, r : r + 8, c : c + 8]
        matches = [i for i in np.flatnonzero(y_test == label) if np.array_equal(x_test[i], patch)]
        assert matches, f"no held-out {label} at ({r}, {c})"
        assert not covered[r : r + 8, c : c + 8].any()
        covered[r : r + 8, c : c + 8] = True
    assert not canvas[0, ~covered].any()
    # At least 2 blank pixels between any two digits.
    for i, (r1, c1, _) in enumerate(placements):
        for r2, c2, _ in placements[i + 1 :]:
            assert abs(r1 - r2) >= 10 or abs(c1 - c2) >= 10

    again, same = digits.make_canvas(x_test, y_test, height=32, width=40, count=4, seed=7)
    np.testing.assert_array_equal(again, canvas)
    assert same == placements
    other, moved = digits.make_canvas(x_test, y_test, height=32, width=40, count=4, seed=8)
    assert moved != placements


def test_make_canvas_refuses_what_does_not_fit(split):
    _, _, x_test, y_test = split
    with pytest.raises(UserInputError, match="do not fit"):
        digits.make_canvas(x_test, y_test, height=8, width=8, count=2)
    with pytest.raises(UserInputError, match="count"):
        digits.make_canvas(x_test, y_test, count=11)
    with pytest.raises(UserInputError, match="shape"):
        digits.make_canvas(np.zeros((3, 4, 4)), [0, 1, 2])


def test_ascii_heatmap_shows_classes_over_threshold_and_a_ramp_elsewhere():
    scores = np.full((1, 2, 3, 10), 0.1, "float32")
    scores[0, 1, 2] = 0.0
    scores[0, 1, 2, 7] = 0.95
    text = digits.ascii_heatmap(scores)
    assert text.splitlines() == [".  .  .", ".  .  7"]
    ramp = digits.ascii_heatmap(np.array([[0.0, 0.5, 1.0]]), ramp=" -#")
    assert ramp == ".  -  #"
    with pytest.raises(UserInputError, match="score map"):
        digits.ascii_heatmap(np.zeros((2, 2, 2, 2, 2)))


def _read_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3}[color]
    raw = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(height, 1 + width * channels)
    assert depth == 8 and not raw[:, 0].any()
    return width, height, color, raw[:, 1:].reshape(height, width, channels)


def test_save_png_writes_a_valid_grayscale_png(tmp_path):
    image = np.linspace(0.0, 1.0, 8 * 5, dtype="float32").reshape(1, 8, 5, 1)
    path = digits.save_png(image, tmp_path / "canvas.png", scale=3)
    width, height, color, pixels = _read_png(path.read_bytes())
    assert (width, height, color) == (15, 24, 0)
    expected = np.round(image[0, :, :, 0] * 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels[::3, ::3, 0], expected)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_save_png_writes_rgb_and_refuses_to_overwrite_when_asked(tmp_path):
    rgb = digits.colorize(np.arange(12, dtype="float32").reshape(3, 4))
    path = digits.save_png(rgb, tmp_path / "map.png")
    width, height, color, pixels = _read_png(path.read_bytes())
    assert (width, height, color) == (4, 3, 2)
    assert tuple(pixels[0, 0]) == (0, 0, 0) and tuple(pixels[-1, -1]) == (255, 255, 255)
    with pytest.raises(UserInputError, match="exists"):
        digits.save_png(rgb, path, overwrite=False)
    with pytest.raises(UserInputError, match="shape"):
        digits.save_png(np.zeros((2, 2, 2)), tmp_path / "bad.png")
