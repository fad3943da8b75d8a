"""Model converters and ONNX tools: ``from keras_1x1 import converters``.

Keras model rewriting:

- `conv_to_dense(model, *, target="keras", verify=True)`: every pointwise
  convolution becomes a per-pixel Dense.
- `dense_to_conv(model, *, target="keras", verify=True)`: every per-pixel
  Dense becomes a 1x1 convolution.
- `convolutionalize(model, *, verify=True)`: a Flatten -> Dense classifier
  head becomes convolutions that slide over larger images.

ONNX:

- `export_onnx(model, path=None, *, opset=None)`: a Keras model to ONNX.
- `canonicalize(onnx_model)`: every pointwise op in one canonical form.
- `fingerprint(onnx_model)`: a hash of the canonical graph.
- `compare(a, b, *, inputs=None, providers=None, atol=None, rtol=None)`:
  same canonical graph? same outputs?
- `to_form(onnx_model, "matmul" | "conv")`: the canonical graph with every
  pointwise op as MatMul (+Add) or as an NCHW Conv 1x1 (deployment forms).

Names are imported on first use, so ``import keras_1x1.converters`` stays
cheap until ONNX tools are needed.
"""

import importlib
import importlib.util

_EXPORTS = {
    "conv_to_dense": "keras_convert",
    "dense_to_conv": "keras_convert",
    "convolutionalize": "keras_convert",
    "ConversionReport": "report",
    "LayerReport": "report",
    "export_onnx": "onnx_export",
    "canonicalize": "canonical",
    "fingerprint": "canonical",
    "graph_diff": "canonical",
    "to_form": "canonical",
    "compare": "comparison",
    "CompareResult": "comparison",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        # A submodule (``converters.canonical``, ``converters.runtime``).
        try:
            spec = importlib.util.find_spec(f"{__name__}.{name}")
        except (ImportError, ValueError):
            spec = None
        if spec is None or name.startswith("_"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return importlib.import_module(f".{name}", __name__)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
