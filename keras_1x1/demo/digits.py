"""The digits the reference models are trained on, and ways to show them.

scikit-learn ships 1,797 8x8 handwritten digits (``load_digits``) inside the
package, so the reference models in ``models/`` can be trained, checked and
demonstrated without downloading anything. This module gives:

- `load_split`: a deterministic, stratified train / held-out split, as
  float32 images of shape ``(N, 8, 8, 1)`` in ``[0, 1]``;
- `accuracy`: the fraction of images a model classifies correctly;
- `make_canvas`: a larger blank image with a few held-out digits placed at
  known positions, to slide a convolutionalized classifier over;
- `ascii_heatmap` and `save_png`: a score map as text for the terminal and
  as a PNG file, with no dependency beyond the standard library and NumPy.

>>> from keras_1x1.demo import digits
>>> x_train, y_train, x_test, y_test = digits.load_split()
>>> x_train.shape, x_test.shape
((1347, 8, 8, 1), (450, 8, 8, 1))

scikit-learn is only needed for `load_split`; it is imported when that is
called (install it with ``pip install "keras-1x1[demo]"``).
"""

import struct
import zlib

import numpy as np

from keras_1x1.errors import UserInputError

__all__ = [
    "DIGIT_SIZE",
    "accuracy",
    "ascii_heatmap",
    "colorize",
    "load_split",
    "make_canvas",
    "png_bytes",
    "predict_labels",
    "save_png",
    "window_stride",
]

#: Height and width of one digit image.
DIGIT_SIZE = 8

# Darkest to brightest; one character per score-map position.
_RAMP = " .:-=+*#%@"


def _sklearn_digits():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        raise UserInputError(
            "the digits data set needs scikit-learn, which is not installed; "
            'install it with: pip install "keras-1x1[demo]" (or pip install scikit-learn)'
        ) from error
    return load_digits, train_test_split


def load_split(seed=0, test_fraction=0.25):
    """The digits as a stratified, deterministic train / held-out split.

    Args:
        seed: the random state of the split; the same seed always gives the
            same split.
        test_fraction: the fraction of images held out, in ``(0, 1)``.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: images as float32 arrays of
        shape ``(N, 8, 8, 1)`` scaled to ``[0, 1]`` (the raw pixels are
        0..16), labels as int32 arrays of shape ``(N,)``. With the defaults
        1,347 images are for training and 450 are held out.

    Example:

    >>> x_train, y_train, x_test, y_test = load_split(seed=0)
    >>> float(x_train.max()), x_train.dtype.name, sorted(set(y_test.tolist())) == list(range(10))
    (1.0, 'float32', True)
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise UserInputError(
            f"test_fraction must be a number between 0 and 1. Received: test_fraction={test_fraction!r}"
        )
    if not 0.0 < float(test_fraction) < 1.0:
        raise UserInputError(
            f"test_fraction must be between 0 and 1 (exclusive). Received: test_fraction={test_fraction!r}"
        )
    load_digits, train_test_split = _sklearn_digits()
    data = load_digits()
    images = (np.asarray(data.images, dtype="float32") / np.float32(16.0))[..., None]
    labels = np.asarray(data.target, dtype="int32")
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=float(test_fraction),
        random_state=seed,
        stratify=labels,
    )
    return (
        np.ascontiguousarray(x_train),
        np.ascontiguousarray(y_train),
        np.ascontiguousarray(x_test),
        np.ascontiguousarray(y_test),
    )


def predict_labels(model, x, *, batch_size=256):
    """The class each image is given by `model` (argmax over the scores).

    The model's output may be ``(N, 10)`` or, for a convolutionalized
    classifier run on 8x8 images, ``(N, 1, 1, 10)``.
    """
    x = np.asarray(x, dtype="float32")
    scores = []
    for start in range(0, len(x), batch_size):
        out = model(x[start : start + batch_size], training=False)
        scores.append(np.asarray(out))
    scores = np.concatenate(scores, axis=0) if scores else np.zeros((0, 1), "float32")
    return np.argmax(scores.reshape(len(x), -1), axis=-1).astype("int32")


def accuracy(model, x, y, *, batch_size=256):
    """The fraction of images in `x` that `model` classifies as `y`.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> 0.0 <= accuracy(model, *load_split()[2:]) <= 1.0
    True
    """
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x):
        raise UserInputError(f"accuracy needs one label per image: {len(x)} images, {len(y)} labels")
    if len(y) == 0:
        raise UserInputError("accuracy needs at least one image")
    return float(np.mean(predict_labels(model, x, batch_size=batch_size) == y))


def make_canvas(
    images,
    labels,
    *,
    height=32,
    width=40,
    count=4,
    align=2,
    gap=2,
    seed=0,
):
    """Place a few digits into a larger blank image at known positions.

    Digits with distinct labels are drawn from `images` / `labels` (use the
    held-out split) and pasted, without overlapping and at least `gap`
    pixels apart, at top-left corners that are multiples of `align`. The
    same arguments always give the same canvas.

    A convolutionalized classifier whose output stride is `s` (2 for the
    shipped ``flat`` model) gives, at score-map position ``(i, j)``, the
    class of the 8x8 window whose top-left corner is ``(i * s, j * s)``;
    with `align` a multiple of `s` every placed digit lands exactly on one
    score-map position, ``(row // s, col // s)``.

    Args:
        images: digit images ``(N, 8, 8)`` or ``(N, 8, 8, 1)``.
        labels: their labels ``(N,)``.
        height, width: the canvas size in pixels (at least 8).
        count: how many digits to place (at most 10: labels are distinct).
        align: top-left corners are multiples of this.
        gap: the least number of blank pixels between two digits.
        seed: chooses the digits and their positions.

    Returns:
        ``(canvas, placements)``: the canvas as float32 ``(1, height, width,
        1)`` and a list of ``(row, col, label)`` top-left corners, in the
        order the digits were placed (row-major sorted).

    Example:

    >>> import numpy as np
    >>> images = np.ones((10, 8, 8, 1), "float32"); labels = np.arange(10)
    >>> canvas, placements = make_canvas(images, labels, count=3)
    >>> canvas.shape, len(placements), float(canvas.sum()) == 3 * 64
    ((1, 32, 40, 1), 3, True)
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE):
        raise UserInputError(
            f"make_canvas needs images of shape (N, 8, 8) or (N, 8, 8, 1). Received: shape={tuple(np.shape(images))}"
        )
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise UserInputError(
            f"make_canvas needs one label per image: {len(images)} images, {len(labels)} labels"
        )
    for name, value, least in (("height", height, DIGIT_SIZE), ("width", width, DIGIT_SIZE),
                               ("count", count, 0), ("align", align, 1), ("gap", gap, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise UserInputError(
                f"make_canvas: {name} must be an integer >= {least}. Received: {name}={value!r}"
            )
    distinct = np.unique(labels)
    if count > len(distinct):
        raise UserInputError(
            f"make_canvas: count must be at most the number of distinct labels ({len(distinct)}). "
            f"Received: count={count}"
        )

    rng = np.random.default_rng(seed)
    chosen_labels = rng.choice(distinct, size=count, replace=False)
    rows = np.arange(0, height - DIGIT_SIZE + 1, align)
    cols = np.arange(0, width - DIGIT_SIZE + 1, align)
    corners = [(int(r), int(c)) for r in rows for c in cols]
    order = rng.permutation(len(corners))

    placed = []
    for index in order:
        if len(placed) == count:
            break
        r, c = corners[index]
        if all(
            r >= pr + DIGIT_SIZE + gap or pr >= r + DIGIT_SIZE + gap
            or c >= pc + DIGIT_SIZE + gap or pc >= c + DIGIT_SIZE + gap
            for pr, pc in placed
        ):
            placed.append((r, c))
    if len(placed) < count:
        raise UserInputError(
            f"make_canvas: {count} digits do not fit on a {height}x{width} canvas "
            f"{gap} pixels apart; use a larger canvas or fewer digits"
        )
    placed.sort()

    canvas = np.zeros((1, height, width, 1), dtype="float32")
    placements = []
    for (r, c), label in zip(placed, chosen_labels):
        candidates = np.flatnonzero(labels == label)
        image = images[candidates[rng.integers(len(candidates))]]
        canvas[0, r : r + DIGIT_SIZE, c : c + DIGIT_SIZE, 0] = image
        placements.append((r, c, int(label)))
    return canvas, placements


def window_stride(canvas_size, map_size, window=DIGIT_SIZE):
    """The stride between score-map positions, from the sizes on one axis.

    A classifier of `window` pixels slid over `canvas_size` pixels with
    stride `s` gives ``(canvas_size - window) // s + 1`` positions.

    >>> window_stride(32, 13)
    2
    """
    if map_size < 1 or canvas_size < window:
        raise UserInputError(
            f"window_stride: no window fits. Received: canvas_size={canvas_size}, map_size={map_size}"
        )
    if map_size == 1:
        return max(1, canvas_size - window + 1)
    return (canvas_size - window) // (map_size - 1)


def _score_grid(score_map):
    """(H, W) values and, for class scores, (H, W) labels (else None)."""
    values = np.asarray(score_map, dtype="float32")
    if values.ndim == 4:
        if values.shape[0] != 1:
            raise UserInputError(
                f"a score map holds one image. Received: shape={values.shape}"
            )
        values = values[0]
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 2:
        return values, None
    if values.ndim == 3:
        return values.max(axis=-1), values.argmax(axis=-1)
    raise UserInputError(
        "a score map must be (H, W), (H, W, C) or (1, H, W, C). "
        f"Received: shape={np.shape(score_map)}"
    )


def ascii_heatmap(score_map, *, threshold=0.5, ramp=_RAMP):
    """A score map as text: one character per position, one line per row.

    - Class scores ``(H, W, C)`` or ``(1, H, W, C)`` (e.g. softmax output):
      the predicted class is printed where its score is at least
      `threshold`; elsewhere a character of `ramp` shows the top score.
    - Plain values ``(H, W)``: each value, scaled by the map's own minimum
      and maximum, as a character of `ramp` (darkest first).

    Characters are separated by a space so the map is roughly square in a
    terminal.

    >>> import numpy as np
    >>> scores = np.zeros((2, 3, 10), "float32"); scores[0, 1, 7] = 0.9
    >>> print(ascii_heatmap(scores))
    .  7  .
    .  .  .
    """
    values, classes = _score_grid(score_map)
    ramp = str(ramp)
    if len(ramp) < 2:
        raise UserInputError(f"ascii_heatmap: ramp needs at least 2 characters. Received: ramp={ramp!r}")
    if classes is None:
        low, high = float(np.min(values)), float(np.max(values))
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    else:
        scaled = np.clip(values, 0.0, 1.0)
    levels = np.minimum((scaled * len(ramp)).astype(int), len(ramp) - 1)
    lines = []
    for i in range(values.shape[0]):
        cells = []
        for j in range(values.shape[1]):
            if classes is not None and values[i, j] >= threshold:
                cells.append(str(int(classes[i, j])))
            else:
                char = ramp[int(levels[i, j])]
                # A blank would hide the grid: show the dimmest visible mark.
                cells.append(char if char != " " else ".")
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def colorize(values, *, low=None, high=None):
    """Values ``(H, W)`` as an RGB image ``(H, W, 3)`` in a black-red-yellow-white ramp.

    Values are scaled from `low` / `high` (default: their own minimum and
    maximum) to ``[0, 1]`` first. The result is float32 in ``[0, 1]``, ready
    for `save_png`.
    """
    values = np.asarray(values, dtype="float32")
    if values.ndim != 2:
        raise UserInputError(f"colorize needs (H, W) values. Received: shape={values.shape}")
    low = float(np.min(values)) if low is None else float(low)
    high = float(np.max(values)) if high is None else float(high)
    t = (values - low) / (high - low) if high > low else np.zeros_like(values)
    t = np.clip(t, 0.0, 1.0)
    red = np.clip(3.0 * t, 0.0, 1.0)
    green = np.clip(3.0 * t - 1.0, 0.0, 1.0)
    blue = np.clip(3.0 * t - 2.0, 0.0, 1.0)
    return np.stack([red, green, blue], axis=-1).astype("float32")


def _png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_bytes(array, *, scale=1):
    """Encode an image as PNG bytes (8-bit grayscale or RGB).

    `array` is ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``, or any of these
    with a leading batch axis of 1. Floats are taken to be in ``[0, 1]``
    (clipped); integers in ``0..255``. `scale` enlarges each pixel to a
    ``scale x scale`` block, so an 8x8 digit is visible.
    """
    image = np.asarray(array)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise UserInputError(
            f"save_png needs an image of shape (H, W), (H, W, 1) or (H, W, 3). Received: shape={np.shape(array)}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise UserInputError(f"save_png needs a non-empty image. Received: shape={np.shape(array)}")
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise UserInputError(f"save_png: scale must be an integer >= 1. Received: scale={scale!r}")
    if np.issubdtype(image.dtype, np.floating):
        image = np.nan_to_num(image, nan=0.0)
        image = np.round(np.clip(image, 0.0, 1.0) * 255.0)
    else:
        image = np.clip(image, 0, 255)
    image = image.astype(np.uint8)
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    height, width = image.shape[:2]
    color_type = 0 if image.ndim == 2 else 2
    # Each scanline starts with filter type 0 (none).
    rows = image.reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def save_png(array, path, *, scale=1, overwrite=True):
    """Write an image as a PNG file, atomically; see `png_bytes` for `array`.

    Returns the path written. With ``overwrite=False`` an existing file is
    refused (`UserInputError`).
    """
    from keras_1x1 import io

    return io.write_bytes(png_bytes(array, scale=scale), path, overwrite=overwrite, suffixes=(".png",))
