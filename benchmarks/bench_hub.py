"""The keras-hub sweep: every Backbone class keras-hub ships, both forms.

Every subclass of ``keras_hub.models.Backbone`` (those ``keras_hub.models``
exports, and the few keras-hub keeps internal), each built from the small
configuration of keras-hub's own backbone test and again at other sizes
(one head, head dim 1, a sequence as long as the model is wide, 1x1 and
2x2 maps): the table of configurations is ``benchmarks/hub_configs.py``.
Random weights (BatchNorm statistics away from the identity); no preset,
nothing downloaded.

One row per configuration, each built and converted in a child process of
its own with a time limit (``KERAS_1X1_HUB_TIMEOUT``, seconds, default
300); the row is printed as soon as it is done. Its cells:

- candidates: the per-position maps an independent walk of the model's
  layers at every depth finds: Dense and EinsumDense whose input (as they
  were built) has rank 3 or more, Conv1D/2D/3D with a kernel of ones;
- the direction: ``dense_to_conv`` when the walk finds per-position
  Dense maps, else ``conv_to_dense`` (convnets), with its verification's
  inputs: drawn by the converters from the model's input specs, or the
  test's ``input_data`` where the model refuses the drawn ones (the cell
  says why);
- converted: from ``converted.conversion_report``, with the skip reasons;
- the verification's largest output error;
- round trip exact: the conversion back, every weight compared byte for
  byte with the model's;
- fingerprints equal: ``converters.fingerprint`` of the tf2onnx exports
  of both forms;
- ``converters.compare(conv form, dense form)``: its verdict;
- ``.keras``: the converted model saved with ``model.save`` and loaded
  with ``keras.saving.load_model`` (``keras_1x1`` imported), its outputs
  against the converted model's on the same inputs, or the one-line cause
  of the refusal or failure;
- the conversion (``verify=False``) against ``keras.models.clone_model``
  + ``set_weights`` of the same model, best of three interleaved rounds.

A failing cell records a one-line cause, and the row goes on with the
other cells. A second table groups the failure causes. The two forms'
tf2onnx exports are made once per row: ``compare`` reuses them (the same
export of the same model).

Selecting: ``KERAS_1X1_HUB=BertBackbone,ViTBackbone/alt`` (a class name
alone: both of its configurations); ``KERAS_1X1_HUB_SET=test`` or ``alt``
for one set. Quick mode sweeps two small configurations.
"""

import json
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)
import hub_configs  # noqa: E402

QUICK = ["BertBackbone/test", "ResNetBackbone/alt"]
DEFAULT_TIMEOUT_S = 300
MARK = "HUB-CELL "

COLUMNS = [
    "configuration", "sizes", "parameters", "inputs", "direction", "candidates", "converted",
    "max error", "round trip exact", "fingerprints equal", "compare", ".keras save + reload",
    "convert / clone", "row s",
]
# The cells a child reports.
CELLS = COLUMNS[1:-1]
# The order it computes them in: a child stopped early stopped in the first missing.
COMPUTED = [
    "sizes", "parameters", "candidates", "direction", "max error", "inputs", "converted",
    "round trip exact", "fingerprints equal", "compare", ".keras save + reload", "convert / clone",
]


# -- in the child: building -------------------------------------------------------------


def resolve(name):
    """A keras-hub class by name: ``keras_hub.models`` or `hub_configs.CLASSES`."""
    import importlib

    import keras_hub

    if name in hub_configs.CLASSES:
        return getattr(importlib.import_module(hub_configs.CLASSES[name]), name)
    return getattr(keras_hub.models, name)


def materialize(value):
    """``value`` with every `hub_configs.Make` built."""
    if isinstance(value, hub_configs.Make):
        obj = resolve(value.target)(
            *[materialize(a) for a in value.args],
            **{k: materialize(v) for k, v in value.kwargs.items()},
        )
        return obj.get_config() if value.config_only else obj
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


def make_inputs(spec, seed=0):
    """The arrays an `hub_configs.In` (or a dict of them) describes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if isinstance(spec, dict):
        return {k: make_inputs(v, seed + i) for i, (k, v) in enumerate(spec.items())}
    shape, dtype, fill = spec.shape, spec.dtype, spec.fill
    if isinstance(fill, (list, tuple)):
        return np.asarray(fill, dtype=dtype).reshape(shape)
    if fill == "ones":
        return np.ones(shape, dtype)
    if fill == "zeros":
        return np.zeros(shape, dtype)
    if fill == "uniform":
        return rng.uniform(0.0, 1.0, size=shape).astype(dtype)
    if fill == "normal":
        return rng.normal(size=shape).astype(dtype)
    if fill.startswith("randint:"):
        return rng.integers(0, int(fill.split(":")[1]), size=shape).astype(dtype)
    raise ValueError(f"unknown fill {fill!r}")


def randomize(model, seed=1):
    """Random float weights; BatchNorm statistics away from the identity.
    Integer and boolean variables (counters, seeds) are left alone."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    for weight in model.weights:
        dtype = keras.backend.standardize_dtype(weight.dtype)
        if not dtype.startswith(("float", "bfloat")):
            continue
        shape = tuple(weight.shape)
        path = weight.path
        if "moving_variance" in path or "gamma" in path:
            value = rng.uniform(0.5, 1.5, size=shape)
        elif "moving_mean" in path:
            value = rng.normal(0.0, 0.2, size=shape)
        else:
            fan = max(1, int(np.prod(shape[:-1]))) if len(shape) > 1 else 16
            value = rng.normal(0.0, 1.0 / np.sqrt(fan), size=shape)
        weight.assign(value.astype(dtype))
    return model


def build(name):
    """``(model, test inputs, sizes label)`` of a configuration name."""
    import keras

    family, config, kind = hub_configs.lookup(name)
    keras.utils.set_random_seed(0)
    model = resolve(family.cls)(**materialize(config.kwargs))
    randomize(model)
    if kind == "test":
        sizes = "keras-hub test" + (f": {family.source}" if family.source else "")
    else:
        sizes = config.about
    return model, make_inputs(config.inputs), sizes


# -- in the child: the independent walk ----------------------------------------------------


def every_layer(model):
    """Every layer at any depth, once each (shared layers once)."""
    found, seen = [], set()

    def visit(layer):
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            found.append(sub)
            visit(sub)

    visit(model)
    return found


def _input_rank(layer):
    shapes = getattr(layer, "_build_shapes_dict", None)
    if shapes:
        shape = next(iter(shapes.values()))
        if isinstance(shape, (list, tuple)) and all(
            d is None or isinstance(d, int) for d in shape
        ):
            return len(shape)
    equation = getattr(layer, "equation", None)
    if equation and "..." not in equation:
        return len(equation.split(",")[0].strip())
    return None


def candidates(model):
    """``(per-position Dense/EinsumDense, pointwise convs, unbuilt Dense)``."""
    import keras

    L = keras.layers
    dense = conv = unbuilt = 0
    for layer in every_layer(model):
        if isinstance(layer, (L.Dense, L.EinsumDense)):
            rank = _input_rank(layer)
            if rank is None:
                unbuilt += 1
            elif rank >= 3:
                dense += 1
        elif isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)) and all(
            k == 1 for k in layer.kernel_size
        ):
            conv += 1
    return dense, conv, unbuilt


# -- in the child: the cells ------------------------------------------------------------------


def _cause(error):
    """One line: the exception's type and the first line of its message
    (with the next one where Keras' first line only names the layer)."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # terminal colours
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message)
    lines = [l.strip() for l in message.strip().splitlines() if l.strip()]
    text = lines[0] if lines else ""
    if text.startswith("Exception encountered when calling") and len(lines) > 1:
        text += " " + lines[1]
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return " ".join(line.split())[:240]


def _emit(key, value):
    print(MARK + json.dumps([key, value]), flush=True)


def _weights_identical(a, b):
    """``(verdict, detail)``: every weight of ``b`` byte for byte ``a``'s."""
    import numpy as np

    wa = {w.path: np.asarray(w.numpy()) for w in a.weights}
    wb = {w.path: np.asarray(w.numpy()) for w in b.weights}
    if len(wa) != len(wb):
        return False, f"{len(wb)} weights against {len(wa)}"
    if set(wa) == set(wb):
        pairs = [(k, wa[k], wb[k]) for k in wa]
    else:  # paths renamed: by position
        pairs = [(w.path, np.asarray(w.numpy()), np.asarray(v.numpy()))
                 for w, v in zip(a.weights, b.weights)]
    differ, reshaped = [], 0
    for path, x, y in pairs:
        if x.dtype != y.dtype or x.size != y.size or x.tobytes() != y.tobytes():
            differ.append(path)
        elif x.shape != y.shape:
            reshaped += 1
    if differ:
        return False, f"{len(differ)} of {len(pairs)} weights differ (first {differ[0]})"
    if reshaped:
        return True, f"bytes equal; {reshaped} kernels of another shape"
    return True, ""


def _outputs_equal(expected, got):
    import numpy as np

    if len(expected) != len(got):
        return f"{len(got)} outputs against {len(expected)}"
    worst = 0.0
    for x, y in zip(expected.values(), got.values()):
        if x.shape != y.shape:
            return f"output shape {y.shape} against {x.shape}"
        if x.dtype.kind in "fc":
            both_nan = np.isnan(x) & np.isnan(y)
            diff = np.where(both_nan, 0.0, np.abs(x.astype("float64") - y.astype("float64")))
            worst = max(worst, float(np.nanmax(diff)) if diff.size else 0.0)
        elif not np.array_equal(x, y):
            return "integer outputs differ"
    return worst


def _as_original(model, feed, folder):
    """What a save and reload of the original model itself gives, when the
    converted model's does not give it back (a keras-hub config that does
    not round trip fails the original alike)."""
    import keras

    from keras_1x1.converters.keras import signature

    path = os.path.join(folder, "original.keras")
    try:
        model.save(path)
        loaded = keras.saving.load_model(path)
        error = _outputs_equal(signature.run(model, feed), signature.run(loaded, feed))
    except Exception as error:  # noqa: BLE001
        return "; the original's own reload fails too: " + _cause(error)
    if isinstance(error, str) or error != 0:
        return f"; the original's own reload differs too ({error if isinstance(error, str) else f'{error:.3g}'})"
    return "; the original's own reload gives it back"


def _traces_without_inputs(forward, model):
    """Whether the conversion runs with ``verify=False`` (no inputs to trace on)."""
    try:
        forward(model, verify=False)
    except Exception:  # noqa: BLE001 - the model needs inputs of its own
        return False
    return True


def _time_conversion(model, forward, rounds=3, verify=False):
    """``(best seconds, errors, baseline)``: the conversion (``verify=`` as
    given: False, or the inputs a model that traces only on them needs) and
    ``clone_model`` + ``set_weights``, best of ``rounds`` interleaved calls
    each. Where ``clone_model`` fails on the model (many keras-hub
    backbones), the baseline is what it does for a subclassed model by
    hand: ``from_config(get_config())`` + ``set_weights``."""
    import gc

    import keras

    def clone():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy

    def from_config():
        copy = type(model).from_config(model.get_config())
        copy.set_weights(model.get_weights())
        return copy

    baseline = "clone_model"
    try:
        clone()
    except Exception as error:  # noqa: BLE001 - the cell records it
        baseline = "from_config + set_weights (clone_model failed: " + _cause(error)[:100] + ")"
        clone = from_config
    gc.collect()
    best = {"convert": float("inf"), "clone": float("inf")}
    errors = {}
    for r in range(rounds):
        order = [("convert", lambda: forward(model, verify=verify)), ("clone", clone)]
        for key, fn in order if r % 2 == 0 else order[::-1]:
            if key in errors:
                continue
            start = time.perf_counter()
            try:
                fn()
            except Exception as error:  # noqa: BLE001 - the cell records it
                errors[key] = _cause(error)
                continue
            best[key] = min(best[key], time.perf_counter() - start)
            gc.collect()
    return best, errors, baseline


def row(name):
    """Compute one configuration's cells, printing each as it is done."""
    import tempfile

    import keras

    import keras_1x1  # noqa: F401  (registers what a converted model loads with)
    from keras_1x1 import ConversionError, converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.onnx import export as export_module

    try:
        model, test_inputs, sizes = build(name)
    except Exception as error:  # noqa: BLE001
        _emit("sizes", "build failed: " + _cause(error))
        return
    _emit("sizes", sizes)
    _emit("parameters", model.count_params())

    # The inputs: drawn where the model runs on them, else the test's.
    inputs, inputs_label = None, "drawn"
    try:
        drawn = signature.sample_inputs(model)
        signature.run(model, drawn)
    except Exception as error:  # noqa: BLE001
        inputs, inputs_label = test_inputs, "test input_data (drawn refused: " + _cause(error) + ")"

    dense, conv, unbuilt = candidates(model)
    cell = f"{dense + conv} ({dense} dense, {conv} conv)"
    if unbuilt:
        cell += f"; {unbuilt} Dense never built"
    _emit("candidates", cell)
    if dense or not conv:
        forward, back, direction = converters.dense_to_conv, converters.conv_to_dense, "dense_to_conv"
    else:
        forward, back, direction = converters.conv_to_dense, converters.dense_to_conv, "conv_to_dense"
    _emit("direction", direction)

    # The conversion, verified.
    converted = None
    try:
        converted = forward(model, verify=True if inputs is None else inputs)
    except ConversionError as error:
        _emit("max error", "FAILED: " + _cause(error))
    except Exception as error:  # noqa: BLE001
        if inputs is None:
            # The drawn inputs ran the model but not the verification: the test's.
            first = _cause(error)
            inputs, inputs_label = test_inputs, "test input_data (verify on drawn: " + first + ")"
            try:
                converted = forward(model, verify=inputs)
            except ConversionError as again:
                _emit("max error", "FAILED: " + _cause(again))
            except Exception as again:  # noqa: BLE001
                _emit("max error", "conversion failed: " + _cause(again))
        else:
            _emit("max error", "conversion failed: " + _cause(error))
    _emit("inputs", inputs_label)
    if converted is None:
        try:  # the other cells, on the unverified conversion
            converted = forward(model, verify=False)
        except Exception as error:  # noqa: BLE001
            _emit("converted", "conversion failed: " + _cause(error))
            return
    else:
        report = converted.conversion_report
        _emit("max error", report.max_error if report.verified else "not verified")
    report = converted.conversion_report
    skipped = {}
    for entry in report.skipped:
        reason = re.split(r"[(:;]", entry.detail or "no reason")[0].strip()[:48]
        skipped[reason] = skipped.get(reason, 0) + 1
    cell = f"{len(report.converted)} of {len(report.layers)} listed"
    if skipped:
        cell += "; skipped " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
    walked = dense if direction == "dense_to_conv" else conv
    if walked > len(report.layers):
        cell += f"; the walk finds {walked}, the report lists {len(report.layers)}"
    _emit("converted", cell)

    # Round trip. A model that traces only on concrete inputs the drawn
    # ones do not suit is traced (and verified) on the test's.
    needs = inputs if inputs is not None and not _traces_without_inputs(forward, model) else False
    try:
        again = back(converted, verify=needs)
        same, detail = _weights_identical(model, again)
        _emit("round trip exact", ("yes" if same else "NO") + (f" ({detail})" if detail else ""))
        del again
    except Exception as error:  # noqa: BLE001
        _emit("round trip exact", "failed: " + _cause(error))

    # ONNX: each form exported once; compare gets the same exports.
    exports = {}
    original_export = export_module.export_onnx

    # Checked in onnxruntime on the verification's inputs where the model
    # refuses drawn ones (the test's input_data).
    def export_once(m, path=None, *, opset=None, inputs=inputs):
        if path is None and opset is None and id(m) in exports:
            return exports[id(m)]
        proto = original_export(m, path, opset=opset, inputs=inputs)
        if path is None and opset is None:
            exports[id(m)] = proto
        return proto

    export_module.export_onnx = export_once
    try:
        prints = []
        for m in (model, converted):
            prints.append(converters.fingerprint(export_once(m)))
        if prints[0] == prints[1]:
            _emit("fingerprints equal", "yes")
        else:
            diff = converters.graph_diff(exports[id(model)], exports[id(converted)])
            _emit("fingerprints equal", "NO: " + " ".join(str(diff).split())[:200])
    except Exception as error:  # noqa: BLE001
        _emit("fingerprints equal", "failed: " + _cause(error))
    try:
        conv_form, dense_form = (converted, model) if direction == "dense_to_conv" else (model, converted)
        result = converters.compare(conv_form, dense_form, inputs=inputs)
        worst = max((s.max_abs for s in result.outputs), default=None)
        verdict = "ok" if result.ok else "FAILED"
        graph = {True: "same graph", False: "graphs differ", None: "graphs not compared"}[result.same_graph]
        if result.same_graph is None and result.notes:
            graph += " (" + " ".join(result.notes[0].split())[:160] + ")"
        _emit("compare", f"{verdict}, {graph}, max error {worst:.3g}" if worst is not None else f"{verdict}, {graph}")
    except Exception as error:  # noqa: BLE001
        _emit("compare", "failed: " + _cause(error))
    finally:
        export_module.export_onnx = original_export
        exports.clear()

    # .keras save and reload.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "converted.keras")
        try:
            converted.save(path)
        except Exception as error:  # noqa: BLE001
            _emit(".keras save + reload", "save refused: " + _cause(error))
        else:
            feed = inputs if inputs is not None else signature.sample_inputs(model)
            try:
                loaded = keras.saving.load_model(path)
                error = _outputs_equal(signature.run(converted, feed), signature.run(loaded, feed))
                if isinstance(error, str):
                    _emit(".keras save + reload", "reloaded; " + error + _as_original(model, feed, folder))
                elif error == 0:
                    _emit(".keras save + reload", "same outputs")
                else:
                    _emit(".keras save + reload", f"reloaded; outputs differ by {error:.3g}"
                          + _as_original(model, feed, folder))
            except Exception as error:  # noqa: BLE001
                _emit(".keras save + reload", "reload failed: " + _cause(error)
                      + _as_original(model, feed, folder))

    # Conversion time against clone_model + set_weights.
    best, errors, baseline = _time_conversion(model, forward, verify=needs)
    if errors:
        names = {"convert": "conversion", "clone": baseline.split(" (")[0]}
        _emit("convert / clone", "; ".join(f"{names[k]} failed: {v}" for k, v in errors.items()))
    else:
        cell = f"{best['convert'] / best['clone']:.2f} ({best['convert']:.2f} s / {best['clone']:.2f} s)"
        if baseline != "clone_model":
            cell += f" against {baseline}"
        if needs is not False:
            cell += "; verified on its test inputs, which it needs to be traced"
        _emit("convert / clone", cell)


def classes():
    """``{class name: [other names keras_hub.models exports it under]}`` of
    every Backbone subclass keras-hub ships."""
    import importlib
    import inspect

    import keras_hub

    backbone = keras_hub.models.Backbone
    exported = {}
    for name, value in vars(keras_hub.models).items():
        if inspect.isclass(value) and issubclass(value, backbone) and value is not backbone:
            exported.setdefault(value, []).append(name)
    for module in sorted(set(hub_configs.CLASSES.values())):
        importlib.import_module(module)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    found = {}
    for cls in set(subclasses(backbone)) | set(exported):
        if not cls.__module__.startswith("keras_hub."):
            continue
        names = exported.get(cls, [])
        found[cls.__name__] = sorted(n for n in names if n != cls.__name__)
    return dict(sorted(found.items()))


# -- in the parent ---------------------------------------------------------------------------


def _child(code, timeout):
    """Run ``code`` in a fresh interpreter: ``(stdout, stderr, why it
    stopped early or None)``."""
    here = os.path.dirname(os.path.abspath(__file__))
    argv = [sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r}); {code}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as expired:
        out, err = expired.stdout or "", expired.stderr or ""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        return out, err, f"time limit {timeout} s reached"
    why = None
    if done.returncode < 0:
        why = f"process killed by signal {-done.returncode} (out of memory?)"
    elif done.returncode != 0:
        lines = [
            line for line in done.stderr.splitlines()
            if line.strip() and "WARNING" not in line and not line.startswith(("I0000", "E0000", "W0000"))
        ]
        why = lines[-1] if lines else f"process exited with status {done.returncode}"
    return done.stdout, done.stderr, why


def child_row(name, timeout):
    """One configuration's cells, computed in a child process."""
    started = time.perf_counter()
    out, _, why = _child(f"import bench_hub; bench_hub.row({name!r})", timeout)
    cells = {}
    for line in out.splitlines():
        if line.startswith(MARK):
            key, value = json.loads(line[len(MARK):])
            cells[key] = value
    if why is not None:
        missing = [c for c in COMPUTED if c not in cells]
        if missing:
            cells[missing[0]] = "stopped: " + " ".join(why.split())[:240]
    return [name] + [cells.get(c, "") for c in CELLS] + [round(time.perf_counter() - started)]


def _selected(quick):
    if quick:
        return list(QUICK)
    which = os.environ.get("KERAS_1X1_HUB_SET", "all")
    kinds = ("test", "alt") if which == "all" else (which,)
    names = hub_configs.config_names(kinds)
    only = os.environ.get("KERAS_1X1_HUB")
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        names = [n for n in names if n in wanted or n.split("/")[0] in wanted]
    return names


def _coarse(cause):
    """A cause without what differs from model to model: names, numbers,
    the node where it happened, the rest of a long message."""
    cause = re.sub(r"\s*\(reached from the output.*", "", cause)
    cause = re.sub(r"(rejects tf2onnx's graph of model '[^']*') at (a )?node .*", r"\1", cause)
    cause = re.sub(r"(Exception encountered when calling \w+\.call\(\)).*", r"\1", cause)
    cause = re.sub(r"(cannot export model '[^']*': \w+).*", r"\1", cause)
    cause = re.sub(r"(ConversionError: the converted model's output) .*", r"\1 differs", cause)
    cause = re.sub(r"(deserializing class) '\w+'.*", r"\1 …", cause)
    cause = re.sub(r"(has no place in the rebuilt) .*", r"\1 …", cause)
    cause = re.sub(r"'[\w./:\-]*'", "'…'", cause)  # names
    cause = re.sub(r"(?<![\w.])\d+(\.\d+)?(e-?\d+)?(?![\w])", "N", cause)  # numbers
    return cause[:160]


def _failures(rows):
    """The failure causes, grouped: ``[(column, cause, count, configurations)]``."""
    groups = {}
    for cells in rows:
        for column, value in zip(COLUMNS, cells):
            text = str(value)
            match = re.match(
                r"(FAILED|NO|failed|conversion failed|save refused|reload failed|reloaded|"
                r"stopped|build failed|not configured)\b[:;,]?\s*(.*)", text)
            if column == "inputs" and text.startswith("test input_data"):
                match = re.match(r"test input_data \((.*)\)$", text)
                cause = match.group(1) if match else text
            elif match:
                cause = match.group(0)
            else:
                continue
            key = (column, _coarse(cause))
            groups.setdefault(key, []).append(cells[0])
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [[column, cause, len(names), ", ".join(names)] for (column, cause), names in ordered]


def run(quick=False):
    timeout = int(os.environ.get("KERAS_1X1_HUB_TIMEOUT", DEFAULT_TIMEOUT_S))
    names = _selected(quick)
    rows = []
    configured = hub_configs.families()
    if not quick and not os.environ.get("KERAS_1X1_HUB"):
        # Every class keras-hub ships: a row for each one the table lacks.
        out, _, why = _child("import bench_hub, json; print('HUB-CLASSES ' + json.dumps(bench_hub.classes()))", timeout)
        shipped = {}
        for line in out.splitlines():
            if line.startswith("HUB-CLASSES "):
                shipped = json.loads(line[len("HUB-CLASSES "):])
        if why is not None:
            print(f"  [hub] could not list keras-hub's classes: {why}", flush=True)
        for cls in shipped:
            if cls in hub_configs.ABSTRACT:
                rows.append([cls, hub_configs.ABSTRACT[cls]] + [""] * (len(COLUMNS) - 2))
            elif cls not in configured:
                rows.append([cls, "not configured: no entry in benchmarks/hub_configs.py"]
                            + [""] * (len(COLUMNS) - 2))
        aliases = {cls: names for cls, names in shipped.items() if names}
    else:
        aliases = {}
    for name in names:
        cells = child_row(name, timeout)
        rows.append(cells)
        shown = " | ".join(str(c) for c in cells)
        print(f"  [hub] {shown}", flush=True)

    notes = [
        "configurations: benchmarks/hub_configs.py; 'keras-hub test' is the init_kwargs of "
        "keras-hub's own backbone test, the other rows say what their sizes are. Random "
        "weights (BatchNorm statistics away from the identity); no preset, nothing downloaded.",
        "candidates: an independent walk of every layer at any depth: Dense and EinsumDense "
        "built on inputs of rank >= 3, and Conv1D/2D/3D with a kernel of ones.",
        "direction: dense_to_conv where the walk finds per-position Dense maps, else "
        "conv_to_dense; max error: its verification (drawn inputs, or the test's input_data "
        "where the model refuses the drawn ones, as 'inputs' says).",
        "round trip exact: the conversion back, every weight compared byte for byte with the "
        "model's ('kernels of another shape': a pointwise conv the model had is a Dense now, "
        "its bytes equal).",
        "fingerprints: converters.fingerprint of the tf2onnx exports of both forms; compare: "
        "converters.compare(conv form, dense form) on the same inputs.",
        ".keras: the converted model saved with model.save and loaded with "
        "keras.saving.load_model after import keras_1x1; outputs against the converted model's.",
        "convert / clone: the conversion (verify=False) against keras.models.clone_model + "
        "set_weights of the same model, best of 3 interleaved calls each; where clone_model "
        "fails on the model, against from_config(get_config()) + set_weights (the cell says so).",
        f"each row in a child process of its own, time limit {timeout} s (KERAS_1X1_HUB_TIMEOUT).",
    ]
    if aliases:
        notes.append("also exported as: " + "; ".join(
            f"{cls} as {', '.join(names)}" for cls, names in aliases.items()))
    sweep = harness.Table("keras-hub sweep: every Backbone class, both forms", COLUMNS, rows, notes=notes)
    failures = _failures(rows)
    grouped = harness.Table(
        "keras-hub sweep: failure causes, grouped",
        ["column", "cause (names as '…', numbers as N)", "rows", "configurations"],
        failures or [["", "none", 0, ""]],
        notes=["Each cell of the sweep that records a failure, a refusal or a difference, "
               "grouped by column and cause."],
    )
    return [sweep, grouped]
