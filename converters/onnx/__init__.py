"""ONNX: export, canonical form, fingerprints, and checking in onnxruntime.

- `export`: Keras models to ONNX with tf2onnx.
- `canonical`: every pointwise op in one canonical form, and the
  deployment forms (`to_form`); `rules/` holds its rewrite rules.
- `fingerprint` and `diff`: a hash of the canonical graph, and where two
  graphs differ.
- `check`: the one pipeline that compares graphs and outputs (`compare`).
- `runtime`: onnxruntime sessions that run where they were asked to.
- `onnx_internals`, `onnxscript_internals`: every private attribute of
  those libraries read, in one place.

Nothing here imports Keras or TensorFlow until a Keras model is handed in.
"""
