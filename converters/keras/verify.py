"""Verifying a conversion: both models on the same inputs, every output
compared (`keras_1x1.numeric` tolerances), a `ConversionError` on a mismatch."""

import dataclasses

import keras
import numpy as np

from keras_1x1.errors import ConversionError, UserInputError, one_line
from keras_1x1.numeric import NOISE_FACTOR, error_stats

from . import internals, signature


def compare_outputs(expected, actual, labels=None):
    """`OutputStats` per output of two ``{name: array}`` results (by order)."""
    labels = labels or list(expected)
    return [
        error_stats(label, a, e)
        for label, e, a in zip(labels, expected.values(), actual.values())
    ]


def verify(original, converted, report, *, inputs=None, specs=None, what="converted model",
           pairs=()):
    """Compare outputs on the same inputs; raise `ConversionError` on mismatch.

    Without ``inputs``, they are drawn from the original's input specs (or
    ``specs``, already read), and the report says what was drawn. A model
    that fails on the inputs is a one-line error: `UserInputError` when the
    original fails (the inputs do not suit it: pass your own with
    ``verify=``), `ConversionError` when only the converted model does.
    ``pairs`` (``(path, old layer, what replaces it)``) let a mismatch name
    the first converted layer that differs on the inputs it receives.
    """
    drawn = inputs is None
    if drawn:
        if specs is None:
            specs = signature.input_specs(original)
        try:
            specs, inputs, expected = signature.accepted(original, specs)
        except UserInputError:
            raise
        except Exception as error:  # noqa: BLE001 - the model's own failure, re-raised with context
            raise _refused(original, "the inputs drawn from its input specs", error) from error
        report.inputs = [spec.describe() for spec in specs]
    else:
        try:
            expected = signature.run(original, inputs)
        except UserInputError:
            raise
        except Exception as error:  # noqa: BLE001 - the model's own failure, re-raised with context
            raise _refused(original, "the inputs given", error) from error
    try:
        actual = signature.run(converted, inputs)
    except Exception as error:  # noqa: BLE001
        failure = ConversionError(
            f"the {what} fails on inputs the original model runs on: {_first_line(error)}"
        )
        failure.report = report
        raise failure from error
    stats = compare_outputs(expected, actual)
    if any(not s.ok and not s.message and not s.nonfinite for s in stats):
        stats = _with_noise(original, inputs, expected, stats, report)
    flat = _flat_outputs(expected, stats)
    if flat:
        report.notes.append(
            f"output {', '.join(repr(n) for n in flat)} hardly depends on the input "
            "(equal within tolerance for every sample), so this check sees little; "
            "verify with real inputs (verify=...)"
        )
    culprit = None
    if pairs and not all(s.ok for s in stats):
        culprit = _locate(original, inputs, pairs)
    record(report, stats, what, culprit)
    return stats


def _locate(original, inputs, pairs):
    """Which converted layer differs first, on the inputs it receives when
    the original runs (one line), or None; it says when the original layer
    itself does not compute its own map there."""
    first = {}

    def on_call(layer, args, kwargs):
        first.setdefault(id(layer), args[0] if args else None)

    try:
        with internals.recording_calls([old for _, old, _ in pairs], on_call):
            signature.run(original, inputs)
        for path, old, new in pairs:
            x = first.get(id(old))
            if x is None:
                continue
            before, after = np.asarray(old(x)), np.asarray(new(x))
            if error_stats(path, after, before).ok:
                continue
            reference = _own_map(old, np.asarray(x))
            if (reference is not None and error_stats(path, after, reference).ok
                    and not error_stats(path, before, reference).ok):
                off = float(np.abs(before.astype("float64") - reference).max())
                return (
                    f"the original layer '{path}' ({type(old).__name__}) does not compute "
                    f"its own map on the inputs it receives there (off by {off:.3g} from "
                    "numpy's product of its weights, which its converted form matches): a "
                    f"fault of that layer on Keras' {keras.backend.backend()} backend, not of "
                    "the conversion"
                )
            gap = float(np.abs(after.astype("float64") - before).max())
            return f"the first converted layer that differs on its inputs is '{path}' (by {gap:.3g})"
    except Exception:  # noqa: BLE001 - the diagnosis is a hint; the mismatch stands
        return None
    return None


def _own_map(layer, x):
    """What a Dense or EinsumDense computes by its definition (numpy, float64),
    or None for other layers."""
    if isinstance(layer, keras.layers.EinsumDense):
        y = np.einsum(layer.equation, x.astype("float64"), np.asarray(layer.kernel, "float64"))
    elif type(layer) is keras.layers.Dense:
        y = np.tensordot(x.astype("float64"), np.asarray(layer.kernel, "float64"), axes=[[-1], [0]])
    else:
        return None
    if layer.bias is not None:
        y = y + np.asarray(layer.bias, "float64")
    if layer.activation not in (None, keras.activations.linear):
        y = np.asarray(layer.activation(keras.ops.convert_to_tensor(y.astype("float32"))), "float64")
    return y


def _refused(original, source, error):
    return UserInputError(
        f"the original model '{original.name}' fails on {source}, so the "
        f"conversion cannot be verified: {_first_line(error)}; pass inputs it "
        "accepts as verify=..."
    )


# Draws of the ulp perturbation; the largest move counts.
_NOISE_DRAWS = 2


def rounding_noise(model, inputs, expected, draws=_NOISE_DRAWS):
    """Per output, how far `model`'s outputs move from ``expected`` when every
    float weight and input moves by one ulp (random signs): the rounding
    noise the model itself amplifies. Runs on a copy; `model` is untouched."""
    twin = internals.LayerCopier(model).copy(model)
    weights = [(v, np.array(v.numpy())) for v in twin.weights]
    noise = np.zeros(len(expected))
    for draw in range(draws):
        rng = np.random.default_rng(1000 + draw)
        for variable, value in weights:
            if np.issubdtype(value.dtype, np.floating):
                variable.assign(_nudged(value, rng))
        moved = keras.tree.map_structure(
            lambda a: _nudged(np.asarray(a), rng) if np.issubdtype(np.asarray(a).dtype, np.floating) else a,
            inputs,
        )
        got = signature.run(twin, moved)
        for i, (a, e) in enumerate(zip(got.values(), expected.values())):
            a, e = np.asarray(a, "float64"), np.asarray(e, "float64")
            finite = np.isfinite(a) & np.isfinite(e)
            if a.shape == e.shape and finite.any():
                noise[i] = max(noise[i], float(np.abs(a[finite] - e[finite]).max()))
    return noise


def _nudged(value, rng):
    signs = rng.choice(np.array([-1, 1], dtype=value.dtype), size=value.shape)
    return (value + signs * np.spacing(value)).astype(value.dtype)


def _with_noise(original, inputs, expected, stats, report):
    """The statistics judged against the original's rounding noise too."""
    try:
        noise = rounding_noise(original, inputs, expected)
    except Exception:  # noqa: BLE001 - no noise floor: the tolerance alone judges
        return stats
    judged = [dataclasses.replace(s, noise=float(n)) for s, n in zip(stats, noise)]
    decided = [s for s in judged if s.by_noise]
    if decided:
        names = ", ".join(repr(s.name) for s in decided)
        report.notes.append(
            f"verification: output {names} differs beyond the float tolerance but within "
            f"{NOISE_FACTOR:g} x the original model's own rounding noise (how far its "
            "outputs move when its weights and inputs move by one ulp): the noise floor "
            "decided"
        )
    return judged


def _first_line(error):
    text = one_line(error, None) or type(error).__name__
    return f"{type(error).__name__}: {text[:300]}"


def record(report, stats, what, culprit=None):
    """Put the statistics in the report; raise `ConversionError` if one fails."""
    report.verification = list(stats)
    report.verified = all(s.ok for s in stats)
    if not report.verified:
        raise_mismatch(stats, what, report, culprit)


def _flat_outputs(expected, stats):
    """Outputs that are the same for every sample in the batch (within tolerance)."""
    flat = []
    for array, stat in zip(expected.values(), stats):
        array = np.asarray(array, dtype="float64")
        if array.ndim == 0 or len(array) < 2 or not np.isfinite(array).all():
            continue
        spread = float(np.abs(array - array[:1]).max())
        if spread <= stat.atol + stat.rtol * stat.scale:
            flat.append(stat.name)
    return flat


def raise_mismatch(stats, what, report=None, culprit=None):
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
            f"rtol {worst.rtol:g} x output scale {worst.scale:.3g}"
        )
        if worst.noise:
            text += f"; {NOISE_FACTOR:g} x the original's own rounding noise {worst.noise:.3g}"
        text += ")"
        if culprit:
            text += f"; {culprit}"
    error = ConversionError(
        text,
        max_error=worst.max_abs,
        output=worst.name,
        tolerance=(worst.atol, worst.rtol),
    )
    error.report = report
    raise error
