"""Verifying a conversion: both models on the same inputs, every output
compared (`keras_1x1.numeric` tolerances), a `ConversionError` on a mismatch."""

import numpy as np

from keras_1x1.errors import ConversionError, UserInputError
from keras_1x1.numeric import error_stats

from . import signature


def compare_outputs(expected, actual, labels=None):
    """`OutputStats` per output of two ``{name: array}`` results (by order)."""
    labels = labels or list(expected)
    return [
        error_stats(label, a, e)
        for label, e, a in zip(labels, expected.values(), actual.values())
    ]


def verify(original, converted, report, *, inputs=None, specs=None, what="converted model"):
    """Compare outputs on the same inputs; raise `ConversionError` on mismatch.

    Without ``inputs``, they are drawn from the original's input specs (or
    ``specs``, already read), and the report says what was drawn. A model
    that fails on the inputs is a one-line error: `UserInputError` when the
    original fails (the inputs do not suit it: pass your own with
    ``verify=``), `ConversionError` when only the converted model does.
    """
    drawn = inputs is None
    if drawn:
        if specs is None:
            specs = signature.input_specs(original)
        inputs = signature.sample_inputs(original, specs=specs)
        report.inputs = [spec.describe() for spec in specs]
    try:
        expected = signature.run(original, inputs)
    except UserInputError:
        raise
    except Exception as error:  # noqa: BLE001 - the model's own failure, re-raised with context
        source = "the inputs drawn from its input specs" if drawn else "the inputs given"
        raise UserInputError(
            f"the original model '{original.name}' fails on {source}, so the "
            f"conversion cannot be verified: {_first_line(error)}; pass inputs it "
            "accepts as verify=..."
        ) from error
    try:
        actual = signature.run(converted, inputs)
    except Exception as error:  # noqa: BLE001
        failure = ConversionError(
            f"the {what} fails on inputs the original model runs on: {_first_line(error)}"
        )
        failure.report = report
        raise failure from error
    stats = compare_outputs(expected, actual)
    flat = _flat_outputs(expected, stats)
    if flat:
        report.notes.append(
            f"output {', '.join(repr(n) for n in flat)} hardly depends on the input "
            "(equal within tolerance for every sample), so this check sees little; "
            "verify with real inputs (verify=...)"
        )
    record(report, stats, what)
    return stats


def _first_line(error):
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text[:300]}"


def record(report, stats, what):
    """Put the statistics in the report; raise `ConversionError` if one fails."""
    report.verification = list(stats)
    report.verified = all(s.ok for s in stats)
    if not report.verified:
        raise_mismatch(stats, what, report)


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
