"""Keras -> LiteRT: TensorFlow's converter, checked in the interpreter.

The model's inference call (the one ONNX export converts, its outputs named
as in Keras) is written as a SavedModel signature and converted with
``tf.lite.TFLiteConverter.from_saved_model``, builtin ops only: a model
that would need TensorFlow's own kernels (Flex ops) is refused in one line,
not shipped half-convertible. Variables are frozen into constants, so each
pointwise map is one ``CONV_2D`` (conv form) or ``FULLY_CONNECTED`` with its
weights in the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from keras_1x1.errors import ConversionError, UserInputError, one_line

__all__ = ["export_tflite"]


def export_tflite(model, path=None, *, overwrite=False):
    """Convert a Keras model to LiteRT; returns the ``.tflite`` bytes.

    The result is run in the LiteRT interpreter (XNNPACK, its default CPU
    delegate) on inputs drawn from the model's input specs and compared
    with Keras (float32 tolerances) before it is returned or written; a
    model LiteRT computes differently raises `ConversionError`, one it
    cannot convert or run `UserInputError`. The file is written atomically.

    Args:
        model: a `keras.Model` (built, with inputs).
        path: where to write the ``.tflite`` file, or None.
        overwrite: replace an existing `path`.
    """
    if path is not None:
        from keras_1x1.io import output_path

        output_path(path, overwrite=overwrite, suffixes=(".tflite",))
    data, names = convert_keras(model)
    check(data, model, names)
    if path is not None:
        from keras_1x1.io import write_bytes

        write_bytes(data, path, overwrite=overwrite, suffixes=(".tflite",))
    return data


@contextlib.contextmanager
def _quiet():
    """TensorFlow's converter logs through absl and its C++ logger."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def convert_keras(model):
    """``(bytes, {Keras input name: signature input name})``."""
    import keras
    import tensorflow as tf

    from ..keras import internals
    from ..onnx.export import keras_function

    function, specs, in_names, _ = keras_function(model)
    with tempfile.TemporaryDirectory() as folder, _quiet():
        try:
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint("serving_default", function, input_signature=specs)
            with internals.convolutions_without_xla():
                archive.write_out(os.path.join(folder, "saved"), verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(os.path.join(folder, "saved"))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            data = converter.convert()
        except Exception as error:  # noqa: BLE001 - re-raised with context
            raise UserInputError(
                f"LiteRT's converter cannot convert model '{model.name}': "
                f"{type(error).__name__}: {one_line(error)}"
            ) from error
    return data, {name: spec.name for name, spec in zip(in_names, specs)}


def check(data, model, names, feeds=None):
    """Run `data` in LiteRT and Keras on the same inputs (``feeds``,
    ``{input name: array}``, or drawn); the `OutputStats` of each output, or
    `ConversionError` naming the first that differs."""
    from keras_1x1.numeric import draw_inputs, error_stats

    from ..keras import signature
    from .interpreter import run_tflite

    if feeds is None:
        try:
            specs = signature.accepted(model)[0]
        except Exception:  # noqa: BLE001 - the run below says why
            specs = signature.input_specs(model)
        feeds = draw_inputs(specs)
    expected = signature.run(model, feeds)
    actual = run_tflite(data, {names.get(k, k): v for k, v in feeds.items()})
    found = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None:
            raise UserInputError(
                f"LiteRT's model of '{model.name}' has no output '{name}' (it has "
                f"{', '.join(actual)})"
            )
        stats = error_stats(name, got, want)
        if not stats.ok:
            raise ConversionError(
                f"LiteRT computes model '{model.name}' differently from Keras: {stats.line()}",
                max_error=stats.max_abs, output=name, tolerance=(stats.atol, stats.rtol),
            )
        found.append(stats)
    return found
