"""Model converters and ONNX tools: ``from keras_1x1 import converters``.

Three rooms, each its own package:

- `keras_1x1.converters.keras`: rewriting trained Keras models.
  `conv_to_dense(model, *, target="keras", verify=True)` (every pointwise
  convolution becomes a per-pixel Dense), `dense_to_conv(model, ...)`
  (every per-pixel Dense becomes a 1x1 convolution) and
  `convolutionalize(model, *, verify=True)` (a Flatten -> Dense classifier
  head becomes convolutions that slide over larger images).
- `keras_1x1.converters.litert`: LiteRT. `export_tflite(model, path=None)`
  (checked in the LiteRT interpreter against Keras); `compare` accepts
  ``.tflite`` files.
- `keras_1x1.converters.onnx`: ONNX. `export_onnx(model, path=None, *,
  opset=None)`; `canonicalize(onnx_model)` (every pointwise op in one
  canonical form); `fingerprint(onnx_model)` (a hash of the canonical
  graph); `graph_diff(a, b)`; `compare(a, b, *, inputs=None,
  providers=None, atol=None, rtol=None)` (same canonical graph? same
  outputs?); `to_form(onnx_model, "matmul" | "conv" | "accelerator")` (deployment
  forms).

Names are imported on first use: the ONNX half never imports Keras or
TensorFlow unless a Keras model is handed to it.

>>> from keras_1x1 import converters
>>> sorted(converters.__all__)[:3]
['CompareResult', 'ConversionReport', 'LayerReport']
"""

import importlib

_EXPORTS = {
    "conv_to_dense": "keras.convert",
    "dense_to_conv": "keras.convert",
    "convolutionalize": "keras.convert",
    "ConversionReport": "keras.report",
    "LayerReport": "keras.report",
    "export_onnx": "onnx.export",
    "export_tflite": "litert.export",
    "canonicalize": "onnx.canonical",
    "to_form": "onnx.canonical",
    "fingerprint": "onnx.fingerprint",
    "graph_diff": "onnx.diff",
    "check": "onnx.check",
    "compare": "onnx.check",
    "CompareResult": "onnx.check",
}

# Where the modules of the first release live now, so code that imported
# them by their old names keeps working.
_MOVED = {
    "keras_convert": "keras.convert",
    "rebuild": "keras.rebuild",
    "pointwise": "keras.pointwise",
    "heads": "keras.heads",
    "verify": "keras.verify",
    "report": "keras.report",
    "graph": "keras.graph",
    "onnx_export": "onnx.export",
    "canonical": "onnx.canonical",
    "comparison": "onnx.check",
    "runtime": "onnx.runtime",
    "rules": "onnx.rules",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _MOVED:
        return importlib.import_module(f".{_MOVED[name]}", __name__)
    if name in ("keras", "onnx", "litert"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
