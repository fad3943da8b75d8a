"""`keras-1x1 demo`: the main job, shown on the shipped reference models.

1. The seed example: four tied per-pixel Dense maps are one 1x1 conv.
2. conv -> dense -> conv on the trained Network-in-Network model, with the
   conversion reports; held-out accuracy identical in every form; weights
   bit-identical after the round trip.
3. Each form exported to ONNX: canonical fingerprints identical,
   onnxruntime outputs against Keras, latency of each form here.
4. The Flatten -> Dense digit classifier convolutionalized and slid over a
   larger canvas with a few digits in it: the score map as a terminal heat
   map and a PNG.
5. PASSED or FAILED (exit status 1).
"""

import time
from pathlib import Path

import numpy as np

from keras_1x1.errors import UserInputError

from . import digits, seed

MODELS = Path(__file__).resolve().parents[2] / "models"
OUTPUT = Path("keras-1x1-demo")


class Checks:
    """Named pass/fail checks, printed as they happen."""

    def __init__(self):
        self.results = []

    def __call__(self, name, ok, detail=""):
        ok = bool(ok)
        self.results.append((name, ok))
        mark = "ok  " if ok else "FAIL"
        print(f"  [{mark}] {name}" + (f": {detail}" if detail else ""))
        return ok

    @property
    def passed(self):
        return all(ok for _, ok in self.results)


def heading(number, text):
    print()
    print(f"{number}. {text}")
    print("-" * (len(text) + 3))


def _reference(name):
    path = MODELS / f"{name}.keras"
    if not path.exists():
        raise UserInputError(
            f"the reference model {path} is not here (reference models ship with "
            "the source checkout); run the demo from a checkout, or pass --model PATH"
        )
    return path


def _weights(model):
    from keras_1x1.converters.keras import graph

    return {
        layer.name: [np.array(a) for a in layer.get_weights()]
        for layer, _, _ in graph.walk(model)
        if layer.weights and not hasattr(layer, "layers")
    }


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return sorted(wa) == sorted(wb) and all(
        len(wa[k]) == len(wb[k])
        and all(x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(wa[k], wb[k]))
        for k in wa
    )


def _indent(text, prefix="    "):
    return "\n".join(prefix + line if line else line for line in str(text).splitlines())


def step_seed(checks):
    heading(1, "The seed example")
    lines, ok = seed.report()
    print(_indent("\n".join(lines), "  "))
    checks("four tied per-pixel Dense maps == one 1x1 conv; Flatten->Dense == a 2x2 conv", ok)


def step_round_trip(checks, model, data):
    from keras_1x1 import converters

    heading(2, f"conv -> dense -> conv on '{model.name}'")
    # Verified on the held-out digits: a trained classifier's outputs on
    # random noise say little.
    held_out = True if data is None else data[2]
    dense = converters.conv_to_dense(model, verify=held_out)
    print(_indent(dense.conversion_report))
    back = converters.dense_to_conv(dense, verify=held_out)
    print(_indent(back.conversion_report))
    forms = {"conv (original)": model, "dense": dense, "conv (round trip)": back}
    if data is not None:
        _, _, x_test, y_test = data
        labels = {name: digits.predict_labels(m, x_test) for name, m in forms.items()}
        for name, predicted in labels.items():
            print(f"    held-out accuracy, {name:<18} {np.mean(predicted == y_test):.2%} "
                  f"({int(np.sum(predicted == y_test))}/{len(y_test)})")
        reference = labels["conv (original)"]
        checks("every held-out digit gets the same class in every form",
               all(np.array_equal(reference, p) for p in labels.values()))
    checks("dense_to_conv(conv_to_dense(model)) has bit-identical weights",
           _same_weights(model, back))
    checks("outputs verified in both conversions",
           dense.conversion_report.verified and back.conversion_report.verified,
           f"max abs error {max(dense.conversion_report.max_error, back.conversion_report.max_error):.3g}")
    return {"conv": model, "dense": dense}


def step_fcn(checks, data, output):
    from keras_1x1 import converters

    heading(4, "Convolutionalize the Flatten -> Dense digit classifier")
    import keras

    model = keras.saving.load_model(_reference("flat"))
    fcn = converters.convolutionalize(model)
    print(_indent(fcn.conversion_report))
    _, _, x_test, y_test = data
    canvas, placements = digits.make_canvas(x_test, y_test, height=24, width=40, count=4, seed=3)
    score_map = np.asarray(fcn(canvas))[0]
    stride = digits.window_stride(canvas.shape[2], score_map.shape[1])
    print(f"    canvas {canvas.shape[1]}x{canvas.shape[2]} with digits "
          + ", ".join(f"{label} at ({row},{col})" for row, col, label in placements))
    print(f"    score map {score_map.shape[0]}x{score_map.shape[1]} (one position every "
          f"{stride} pixels; the class is printed where its score >= 0.5):")
    print(_indent(digits.ascii_heatmap(score_map), "      "))
    found = [
        int(np.argmax(score_map[row // stride, col // stride])) == label
        for row, col, label in placements
    ]
    output.mkdir(parents=True, exist_ok=True)
    png = output / "score_map.png"
    strongest = score_map.max(axis=-1)
    picture = np.concatenate(
        [digits.colorize(canvas[0, ..., 0]), digits.colorize(np.kron(strongest, np.ones((stride, stride))))],
        axis=0,
    ) if strongest.shape[1] * stride == canvas.shape[2] else digits.colorize(strongest)
    digits.save_png(picture, png, scale=8)
    print(f"    wrote {png} (the canvas above, the strongest score per position below)")
    checks("each placed digit is found at its position in the score map",
           all(found), f"{sum(found)}/{len(found)}")
    checks("the score map equals the classifier on each window", fcn.conversion_report.verified)


def run(model=None, *, unsafe=False):
    """Every step of the demo; True when every check passed."""
    import keras

    from keras_1x1 import io

    started = time.perf_counter()
    checks = Checks()
    # Load first, so a missing model or scikit-learn is said before any step.
    if model:
        user_model = True
        model = io.load_model(model, unsafe=unsafe)
        data = None
        shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
        if shape == (8, 8, 1):
            data = digits.load_split()
    else:
        user_model = False
        model = keras.saving.load_model(_reference("nin"))
        data = digits.load_split()
    step_seed(checks)
    forms = step_round_trip(checks, model, data)
    step_onnx(checks, forms, data, OUTPUT)
    if not user_model:
        step_fcn(checks, data, OUTPUT)
    print()
    print(f"{len(checks.results)} checks in {time.perf_counter() - started:.0f} s")
    print("PASSED" if checks.passed else "FAILED")
    return checks.passed


def step_onnx(checks, forms, data, output):
    from keras_1x1 import converters, io
    from keras_1x1.converters.onnx import canonical, check, runtime

    heading(3, "ONNX: one canonical graph, the same outputs")
    raw = {form: converters.export_onnx(model) for form, model in forms.items()}
    graphs = {
        "raw conv form": raw["conv"],
        "raw dense form": raw["dense"],
        "canonical (MatMul)": canonical.to_form(raw["conv"], "matmul"),
        "canonical as NCHW Conv 1x1": canonical.to_form(raw["dense"], "conv"),
    }
    name = runtime.input_specs(raw["conv"])[0][0]
    inputs = None if data is None else {name: data[2]}
    result = check.check(forms["conv"], graphs, inputs=inputs, graphs="candidates")
    for label, value in result.fingerprints.items():
        print(f"    canonical fingerprint, {label + ':':<28} {value}")
    checks("the conv and dense forms have the same canonical ONNX graph", result.same_graph)
    count = len(next(iter(result.inputs.values())))
    source = "held-out digits" if data is not None else "random inputs"
    print(f"    onnxruntime (CPU) against Keras on {count} {source}:")
    for candidate in result.candidates:
        for stats in candidate.outputs:
            print(f"      {candidate.label:<27} max abs {stats.max_abs:.2g}  mean abs "
                  f"{stats.mean_abs:.2g}  {'ok' if stats.ok else 'MISMATCH'}")
    checks("every graph's outputs match Keras", result.ok)

    output.mkdir(parents=True, exist_ok=True)
    for label, proto in graphs.items():
        path = output / (label.replace(" ", "_").replace("(", "").replace(")", "") + ".onnx")
        io.write_bytes(proto.SerializeToString(), path, overwrite=True)
    print(f"    wrote the four graphs to {output}/")

    # Spinning off: the sessions take turns on the same cores.
    sessions = {
        label: runtime.make_session(proto, "cpu", spinning=False)
        for label, proto in graphs.items()
    }
    times = _latency(sessions, result.inputs)
    fastest = min(times, key=times.get)
    print(f"    latency here (median of interleaved runs, batch of {count}):")
    for label, seconds in times.items():
        print(f"      {label:<27} {seconds * 1e3:8.3f} ms   x{seconds / times[fastest]:.2f}")
    print(f"    fastest on this machine: {fastest}")


def _latency(sessions, feeds, rounds=15):
    """Median time per run of each session, measured in interleaved rounds."""
    from keras_1x1.converters.onnx import runtime

    samples = {label: [] for label in sessions}
    for session in sessions.values():
        runtime.run(session, feeds)
    for i in range(rounds):
        labels = list(sessions)
        labels = labels[i % len(labels):] + labels[: i % len(labels)]
        for label in labels:
            start = time.perf_counter()
            runtime.run(sessions[label], feeds)
            samples[label].append(time.perf_counter() - start)
    return {label: float(np.median(values)) for label, values in samples.items()}
