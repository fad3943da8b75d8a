"""LiteRT (TensorFlow Lite): export, the interpreter, and each form's op census.

- `export_tflite(model, path=None)`: the Keras model through TensorFlow's
  LiteRT converter (builtin ops only, weights frozen, the inputs and
  outputs named as in Keras), checked in the LiteRT interpreter with its
  default XNNPACK delegate against Keras before it is returned or written.
- `run_tflite`, `census`: run a ``.tflite`` model on named inputs (free
  dims resized to them) and say which ops it holds and which of them
  XNNPACK took (`Census`).

The interpreter is the ``ai-edge-litert`` package's (``pip install
keras-1x1[litert]``): TensorFlow 2.21 deprecates ``tf.lite.Interpreter`` in
its favour, it is the same runtime a device without TensorFlow installs, and
it is what Keras' own LiteRT tests run.
"""

from .export import export_tflite
from .interpreter import Census, census, load_tflite, run_tflite

__all__ = ["Census", "census", "export_tflite", "load_tflite", "run_tflite"]
