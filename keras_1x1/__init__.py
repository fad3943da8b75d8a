"""keras-1x1: the 1x1 convolution and the per-pixel Dense, as one map.

A 1x1 convolution and a Dense layer applied at every spatial position with
one shared kernel compute the same thing. This package provides:

- `Conv1x1` and `PixelDense`, layers that run either form over one kernel;
- `keras_1x1.converters`, which rewrites trained Keras models from one form
  to the other (and convolutionalizes classifier heads), exports them to
  ONNX and proves both forms give the same canonical graph and outputs.

Importing the package is cheap: Keras and TensorFlow are imported when a
layer or a Keras converter is first touched, so the ONNX tools work where
only onnx and onnxruntime are installed. When Keras is already imported,
the layers are registered for `keras.saving.load_model` at once.

>>> import keras_1x1
>>> keras_1x1.Conv1x1.__name__
'Conv1x1'
"""

import importlib
import sys

from keras_1x1.errors import ConversionError, Keras1x1Error, UserInputError

__version__ = "0.1.0"

_LAYERS = {
    "Conv1x1": "keras_1x1.layers.conv1x1",
    "PixelDense": "keras_1x1.layers.pixel_dense",
}

__all__ = [
    "Conv1x1",
    "ConversionError",
    "Keras1x1Error",
    "PixelDense",
    "UserInputError",
    "__version__",
]


def __getattr__(name):
    module = _LAYERS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:
    # Keras is loaded already: register the layers now, so a model file that
    # uses them loads with plain keras.saving.load_model, and so does a
    # converted model that records its replaced sublayers.
    import keras_1x1.converters.keras.saving  # noqa: F401
    import keras_1x1.layers  # noqa: F401
