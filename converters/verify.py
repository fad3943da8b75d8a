"""Running models on the same inputs and comparing their outputs."""

import keras
import numpy as np

from keras_1x1.errors import ConversionError
from keras_1x1.numeric import error_stats, sample_array

from .graph import unique_name

# None dims of an input spec (other than the batch) become this size.
FREE_DIM = 32


def output_names(model):
    """Names of the model's outputs, in the order `keras.tree.flatten` gives."""
    if not isinstance(model, keras.Sequential) and isinstance(model.output, dict):
        return sorted(model.output)
    if isinstance(model, keras.Sequential):
        return [model.layers[-1].name]
    names = list(getattr(model, "output_names", []) or [])
    count = len(model.outputs)
    if len(names) != count:
        names = [f"output_{i}" for i in range(count)]
    # A layer called twice names two outputs alike: `name`, `name_1`, ...
    taken = set()
    return [unique_name(str(name), taken) for name in names]


def sample_inputs(model, *, seed=0, batch=2, fill=FREE_DIM, shapes=None):
    """Random inputs with the structure, shapes and dtypes of `model.input`.

    ``shapes`` optionally overrides the batch shapes (one per input, in the
    order of ``model.inputs``).
    """
    rng = np.random.default_rng(seed)
    structure = model.inputs[0] if isinstance(model, keras.Sequential) else model.input
    tensors = keras.tree.flatten(structure)
    shapes = shapes or [tuple(t.shape) for t in tensors]
    arrays = [
        sample_array(shape, t.dtype, rng, fill=fill, batch=batch)
        for t, shape in zip(tensors, shapes)
    ]
    return keras.tree.pack_sequence_as(structure, arrays)


def call(model, inputs):
    """``model(inputs, training=False)``, falling back to XLA where needed.

    TensorFlow's CPU kernels cannot run channels_first (or grouped)
    convolutions; when the plain call fails, the model runs again compiled
    with XLA, which can.
    """
    import tensorflow as tf

    try:
        return model(inputs, training=False)
    except (tf.errors.OpError, ValueError, TypeError) as error:
        try:
            compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
            return compiled(inputs)
        except Exception:  # noqa: BLE001 - the first error is the useful one
            raise error from None


def run(model, inputs):
    """The model's outputs as a list of numpy arrays (flattened structure)."""
    outputs = call(model, inputs)
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(outputs)]


def compare_outputs(expected, actual, names):
    return [error_stats(name, a, e) for name, e, a in zip(names, expected, actual)]


def verify(original, converted, report, *, inputs=None, what="converted model"):
    """Compare outputs on the same inputs; raise `ConversionError` on mismatch."""
    if inputs is None:
        inputs = sample_inputs(original)
    expected = run(original, inputs)
    actual = run(converted, inputs)
    stats = compare_outputs(expected, actual, output_names(original))
    report.verification = stats
    report.verified = all(s.ok for s in stats)
    flat = _flat_outputs(expected, stats)
    if flat:
        report.notes.append(
            f"output {', '.join(repr(n) for n in flat)} hardly depends on the input "
            "(equal within tolerance for every random sample; untrained BatchNorm "
            "statistics do this), so this check sees little; verify with real inputs"
        )
    if not report.verified:
        raise_mismatch(stats, what, report)
    return stats


def _flat_outputs(expected, stats):
    """Outputs that are the same for every sample in the batch (within tolerance)."""
    flat = []
    for array, stat in zip(expected, stats):
        array = np.asarray(array, dtype="float64")
        if array.ndim == 0 or len(array) < 2 or not np.isfinite(array).all():
            continue
        spread = float(np.abs(array - array[:1]).max())
        if spread <= stat.atol + stat.rtol * stat.scale:
            flat.append(stat.name)
    return flat


def raise_mismatch(stats, what, report=None):
    bad = [s for s in stats if not s.ok]
    worst = max(bad, key=lambda s: (s.nonfinite, s.max_abs))
    if worst.message:
        text = f"the {what}'s output '{worst.name}' has {worst.message}"
    elif worst.nonfinite:
        text = (
            f"output '{worst.name}' has {worst.nonfinite} NaN/Inf values "
            "(NaN or Inf in the weights?), so the two models cannot be shown equal"
        )
    else:
        allowed = worst.atol + worst.rtol * worst.scale
        text = (
            f"the {what}'s output '{worst.name}' differs from the original by "
            f"{worst.max_abs:.3g} (allowed {allowed:.3g}: atol {worst.atol:g} + "
            f"rtol {worst.rtol:g} x output scale {worst.scale:.3g})"
        )
    error = ConversionError(
        text,
        max_error=worst.max_abs,
        output=worst.name,
        tolerance=(worst.atol, worst.rtol),
    )
    error.report = report
    raise error
