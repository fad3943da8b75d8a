"""Train the reference models on scikit-learn's digits, deterministically.

    .venv/bin/python models/train.py                 # all three, into models/
    .venv/bin/python models/train.py --only flat --out /tmp/m --epochs 2

Each model is trained from a fixed seed on the training split of
`keras_1x1.demo.digits.load_split()` (1,347 images), evaluated on the held-out
split (450 images), and saved, without optimizer state, as
``OUT/NAME.keras`` (atomically). When all three are trained in one run,
``OUT/README.md`` is rewritten with their numbers.

Regenerating is deterministic: before each model the seeds of Python,
NumPy, TensorFlow and Keras are set and TensorFlow's op determinism is on,
so the same software on the same machine gives bit-identical weights. The
SHA-256 of the weights (`weights_digest`) is printed and recorded in the
README so a rerun can be checked against it.
"""

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import builders  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_1x1 import io  # noqa: E402
from keras_1x1.cli._common import native_stderr_quiet  # noqa: E402
from keras_1x1.demo import digits  # noqa: E402

SEED = 0

#: Training settings per model: epochs, peak learning rate, batch size, and
#: how many "no digit" windows (per digit image) to train on; see
#: `background_windows`.
SETTINGS = {
    "nin": {"epochs": 30, "learning_rate": 3e-3, "batch_size": 32, "background": 0.0},
    "flat": {"epochs": 30, "learning_rate": 2e-3, "batch_size": 32, "background": 1.0},
    "pixeldense": {"epochs": 20, "learning_rate": 2e-3, "batch_size": 32, "background": 0.0},
}

#: A window whose top-left corner is this many pixels or more away from
#: every digit's corner, along rows or along columns, holds no whole digit:
#: it is a "no digit" window. (Windows 1 pixel off a digit are not trained
#: either way.)
BACKGROUND_OFFSET = 2

NAMES = tuple(builders.BUILDERS)


def set_determinism(seed=SEED):
    """Seed every generator and make TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)  # Python, NumPy, TensorFlow, Keras
    tf.config.experimental.enable_op_determinism()


def weights_digest(model):
    """SHA-256 over every weight's name, shape, dtype and bytes, in order."""
    digest = hashlib.sha256()
    for variable in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        digest.update(f"{variable.path}|{value.shape}|{value.dtype}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def background_windows(images, count, *, seed=SEED, size=24, gap=2):
    """`count` 8x8 windows that hold no whole digit, cut from random canvases.

    Each canvas is ``size x size`` with 0 to 4 digits from `images` pasted
    at least `gap` pixels apart (as `digits.make_canvas` does); a window is
    kept when its corner is at least `BACKGROUND_OFFSET` pixels away, on
    some axis, from every digit's corner: blank space, a digit's edge, or
    parts of two digits. Trained towards the uniform distribution, they teach
    the `flat` classifier to say "no digit here", so once convolutionalized
    its score map is confident only where a digit is.
    """
    images = np.asarray(images, dtype="float32")[..., 0]
    rng = np.random.default_rng(seed)
    span = size - digits.DIGIT_SIZE + 1
    windows = np.zeros((count, digits.DIGIT_SIZE, digits.DIGIT_SIZE, 1), dtype="float32")
    filled = 0
    while filled < count:
        canvas = np.zeros((size, size), dtype="float32")
        corners = []
        for _ in range(int(rng.integers(0, 5))):
            r, c = (int(v) for v in rng.integers(0, span, size=2))
            if all(abs(r - pr) >= digits.DIGIT_SIZE + gap or abs(c - pc) >= digits.DIGIT_SIZE + gap
                   for pr, pc in corners):
                corners.append((r, c))
                image = images[rng.integers(len(images))]
                canvas[r : r + digits.DIGIT_SIZE, c : c + digits.DIGIT_SIZE] = image
        for _ in range(4):
            r, c = (int(v) for v in rng.integers(0, span, size=2))
            if any(abs(r - pr) < BACKGROUND_OFFSET and abs(c - pc) < BACKGROUND_OFFSET
                   for pr, pc in corners):
                continue
            windows[filled, ..., 0] = canvas[r : r + digits.DIGIT_SIZE, c : c + digits.DIGIT_SIZE]
            filled += 1
            if filled == count:
                break
    return windows


def training_set(name, data, *, seed=SEED):
    """Images and target distributions ``(N, 10)`` the model `name` trains on."""
    x_train, y_train = data[0], data[1]
    targets = np.eye(builders.NUM_CLASSES, dtype="float32")[y_train]
    count = int(round(SETTINGS[name]["background"] * len(x_train)))
    if count:
        extra = background_windows(x_train, count, seed=seed)
        uniform = np.full((count, builders.NUM_CLASSES), 1.0 / builders.NUM_CLASSES, "float32")
        x_train = np.concatenate([x_train, extra])
        targets = np.concatenate([targets, uniform])
    return x_train, targets


def train(name, data, *, epochs=None, seed=SEED, verbose=0):
    """Train the model `name` on `data` from a fixed seed; return it, uncompiled.

    The returned model is a fresh build holding the trained weights and no
    optimizer, so it saves small and loads with `safe_mode`.
    """
    settings = dict(SETTINGS[name])
    if epochs is not None:
        settings["epochs"] = epochs
    x_train, y_train = training_set(name, data, seed=seed)
    set_determinism(seed)
    model = builders.build(name)
    steps = settings["epochs"] * int(np.ceil(len(x_train) / settings["batch_size"]))
    schedule = keras.optimizers.schedules.CosineDecay(settings["learning_rate"], decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    with native_stderr_quiet():  # tf.data's native log lines
        model.fit(
            x_train,
            y_train,
            batch_size=settings["batch_size"],
            epochs=settings["epochs"],
            shuffle=True,
            verbose=verbose,
        )
    # A fresh build with the trained weights: nothing of the optimizer is saved.
    clean = builders.build(name)
    clean.set_weights(model.get_weights())
    return clean


def score_map_check(model, x_test, y_test, *, canvases=20, threshold=0.5):
    """How the `flat` classifier, slid over canvases of held-out digits, finds them.

    On `canvases` canvases from `digits.make_canvas` (32x40, 4 digits each,
    seeds 0..canvases-1) the classifier is applied to every 8x8 window at
    stride `builders.FLAT_STRIDE`, which is exactly what the
    convolutionalized model computes at each score-map position. Returns
    ``(found, placed, false_alarms, empty)``: digits whose window gives their
    label with a score >= `threshold`, digits placed, and positions at least
    `BACKGROUND_OFFSET` pixels from every digit (on some axis) where some
    class still scores >= `threshold`, out of `empty` such positions.
    """
    stride, size = builders.FLAT_STRIDE, digits.DIGIT_SIZE
    found = placed = false_alarms = empty = 0
    for seed in range(canvases):
        canvas, placements = digits.make_canvas(x_test, y_test, seed=seed)
        height, width = canvas.shape[1:3]
        corners = [(i * stride, j * stride)
                   for i in range((height - size) // stride + 1)
                   for j in range((width - size) // stride + 1)]
        windows = np.stack([canvas[0, r : r + size, c : c + size] for r, c in corners])
        scores = np.asarray(model(windows, training=False))
        by_corner = dict(zip(corners, scores))
        for r, c, label in placements:
            placed += 1
            score = by_corner[(r, c)]
            found += int(np.argmax(score) == label and score[label] >= threshold)
        for (r, c), score in by_corner.items():
            if all(abs(r - pr) >= BACKGROUND_OFFSET or abs(c - pc) >= BACKGROUND_OFFSET
                   for pr, pc, _ in placements):
                empty += 1
                false_alarms += int(score.max() >= threshold)
    return found, placed, false_alarms, empty


def describe(model):
    """Layer count (excluding the input) and parameter counts."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(sum(np.prod(w.shape) for w in model.weights))
    return {"layers": len(model.layers) - 1, "params": total, "trainable": trainable}


def _layer_kinds(model):
    kinds = []
    for layer in model.layers[1:]:
        kind = type(layer).__name__
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
            kind = f"Conv2D {layer.kernel_size[0]}x{layer.kernel_size[1]}"
            if layer.strides != (1, 1):
                kind += f"/s{layer.strides[0]}"
        elif isinstance(layer, keras.layers.Dense) and len(layer.input.shape) > 2:
            kind = "Dense (NHWC)"
        kinds.append(kind)
    return kinds


def _architecture(model):
    counts = {}
    for kind in _layer_kinds(model):
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" if n > 1 else kind for kind, n in counts.items())


def _score_map_lines(results):
    if "score_map" not in results.get("flat", {}):
        return []
    found, placed, alarms, empty = results["flat"]["score_map"]
    return [
        "Score map of the convolutionalized `flat` model, checked on 20 canvases",
        "of held-out digits (`digits.make_canvas(x_test, y_test, seed=0..19)`,",
        f"32x40, 4 digits each): {found} of {placed} digits found (their label",
        f"scores >= 0.5 at their position); {alarms} of {empty} positions",
        f"{BACKGROUND_OFFSET} or more pixels away from every digit score >= 0.5",
        "for some class (`train.score_map_check`).",
        "",
    ]


def write_readme(out, results, *, total_seconds):
    """Write OUT/README.md from this run's results, atomically."""
    python = ".venv/bin/python models/train.py"
    lines = [
        "# Reference models",
        "",
        "Small Keras models trained on scikit-learn's digits (`load_digits`: 1,797",
        "8x8 grey images, shipped inside scikit-learn, so nothing is downloaded).",
        "They are what `keras-1x1 demo`, the tests and the benchmarks run on.",
        "",
        "| Model | Layers | Params | Held-out accuracy | File size | Weights SHA-256 |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| `{name}.keras` | {r['layers']} | {r['params']:,} | "
            f"{r['accuracy'] * 100:.2f}% ({r['correct']}/{r['n_test']}) | "
            f"{r['size'] / 1024:.0f} KiB | `{r['digest'][:16]}` |"
        )
    lines += [
        "",
        "- **nin**: Network in Network (Lin, Chen & Yan, 2013), where the 1x1",
        "  convolution was introduced: two mlpconv blocks (3x3 conv + BatchNorm,",
        "  then 1x1 convs; one 1x1 conv has stride 2), the last 1x1 conv giving",
        "  one map per class, global average pooling, softmax. No Dense layer.",
        "  The model `converters.conv_to_dense` rewrites.",
        "- **flat**: \"valid\" 3x3 convs and a stride-2 max pooling, then",
        "  Flatten -> Dense 64 -> Dropout -> Dense 10. The model",
        "  `converters.convolutionalize` turns into a fully convolutional one: on",
        "  a larger image, output position (i, j) is the classifier applied to",
        "  the 8x8 window at (2i, 2j). Besides the digits it is trained on as",
        "  many \"no digit\" windows (blank space, a digit's edge, parts of two",
        "  digits, cut from random canvases of training digits) with a uniform",
        "  target, so its score map is confident only where a digit is.",
        "- **pixeldense**: ConvNeXt style: depthwise 3x3 conv, LayerNorm, then the",
        "  pointwise layers as `keras.layers.Dense` on NHWC feature maps (expand",
        "  4x with GELU, project back) with a residual add; global average",
        "  pooling and a Dense head. The model `converters.dense_to_conv` rewrites.",
        "",
        *_score_map_lines(results),
        "Layers by kind:",
        "",
    ]
    for name, r in results.items():
        lines.append(f"- `{name}`: {r['architecture']}")
    lines += [
        "",
        "Data: `keras_1x1.demo.digits.load_split(seed=0, test_fraction=0.25)`, a",
        "stratified split: 1,347 training images, 450 held out. The held-out",
        "images are used only for the numbers above, never for training.",
        "Pixels are scaled to [0, 1]; inputs are (8, 8, 1).",
        "",
        "Files are saved without optimizer state and load with",
        "`keras.saving.load_model(path)` (safe mode; no custom objects).",
        "",
        "## Regenerating",
        "",
        "    make models",
        f"    # or: {python}",
        f"    # one model, elsewhere: {python} --only flat --out /tmp/models",
        "",
        f"Training all three took {total_seconds:.0f} s on {os.cpu_count()} CPU cores "
        f"(TensorFlow {tf.__version__}, Keras {keras.__version__}) "
        "(" + ", ".join(f"{n} {r['seconds']:.0f} s" for n, r in results.items()) + "),",
        "with " + ", ".join(
            f"{n} {r['epochs']} epochs" for n, r in results.items()
        ) + " (Adam, cosine-decayed learning rate, batch 32).",
        "",
        "Training is deterministic: before each model the Python, NumPy,",
        "TensorFlow and Keras seeds are set (`keras.utils.set_random_seed(0)`)",
        "and `tf.config.experimental.enable_op_determinism()` is on. Running",
        "`train.py` twice gives bit-identical weights (the SHA-256 above, which",
        "`train.py` prints, covers every weight's name, shape and bytes), and",
        "the `model.weights.h5` inside each `.keras` archive is byte-identical;",
        "the archive itself differs in its save date and in the object ids",
        "Keras writes into `config.json`.",
        "Another CPU, thread count or TensorFlow version may round differently",
        "and give other (equally good) weights.",
        "",
    ]
    return io.write_bytes("\n".join(lines).encode(), Path(out) / "README.md", overwrite=True,
                          suffixes=(".md",))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=NAMES, metavar="NAME",
                        help=f"train only this model (repeatable; one of {', '.join(NAMES)}); "
                        "README.md is rewritten only when all three are trained")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder for NAME.keras and README.md (default: models/)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the number of epochs (for quick checks)")
    parser.add_argument("--verbose", action="store_true", help="show Keras' training progress")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1. Received: --epochs={args.epochs}")
    if not args.out.is_dir():
        parser.error(f"--out {args.out}: no such folder")

    names = [n for n in NAMES if not args.only or n in args.only]
    data = digits.load_split(seed=SEED)
    x_test, y_test = data[2], data[3]
    results = {}
    start_all = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        model = train(name, data, epochs=args.epochs, verbose=2 if args.verbose else 0)
        seconds = time.perf_counter() - start
        path = io.save_model(model, args.out / f"{name}.keras", overwrite=True)
        predicted = digits.predict_labels(model, x_test)
        correct = int(np.sum(predicted == y_test))
        result = {
            **describe(model),
            "accuracy": correct / len(y_test),
            "correct": correct,
            "n_test": len(y_test),
            "size": path.stat().st_size,
            "digest": weights_digest(model),
            "seconds": seconds,
            "epochs": args.epochs or SETTINGS[name]["epochs"],
            "architecture": _architecture(model),
        }
        if name == "flat":
            result["score_map"] = score_map_check(model, x_test, y_test)
            found, placed, alarms, empty = result["score_map"]
            print(f"{'':<11} score map on 20 canvases: {found}/{placed} digits found, "
                  f"{alarms}/{empty} false alarms", flush=True)
        results[name] = result
        print(
            f"{name:<11} {result['params']:>7,} params  held-out accuracy "
            f"{result['accuracy'] * 100:6.2f}% ({correct}/{len(y_test)})  "
            f"{result['size'] / 1024:5.0f} KiB  {seconds:5.1f} s  sha256 {result['digest'][:16]}  -> {path}",
            flush=True,
        )
    total = time.perf_counter() - start_all
    if len(results) == len(NAMES):
        readme = write_readme(args.out, results, total_seconds=total)
        print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
