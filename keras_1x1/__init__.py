"""keras-1x1: the 1x1 convolution and the per-pixel Dense, as one map.

A 1x1 convolution and a Dense layer applied at every spatial position with
one shared kernel compute the same thing. This package provides:

- `Conv1x1` and `PixelDense`, layers that run either form over one kernel;
- `keras_1x1.converters`, which rewrites trained Keras models from one form
  to the other (and convolutionalizes classifier heads), exports them to
  ONNX and proves both forms give the same canonical graph and outputs.

>>> import keras_1x1
>>> from keras_1x1 import converters
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) hides
# the output that matters; a value the user set is kept.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "tensorflow" not in _sys.modules:
    from keras_1x1._quiet import native_stderr_silenced as _silenced

    with _silenced():
        import tensorflow as _tensorflow  # noqa: F401

from keras_1x1.conv1x1 import Conv1x1
from keras_1x1.errors import ConversionError, Keras1x1Error, UserInputError
from keras_1x1.pixel_dense import PixelDense

__all__ = [
    "Conv1x1",
    "ConversionError",
    "Keras1x1Error",
    "PixelDense",
    "UserInputError",
    "__version__",
]
