"""Rewriting trained Keras models between the 1x1-conv and per-pixel-Dense forms.

- `convert`: the public converters (`conv_to_dense`, `dense_to_conv`,
  `convolutionalize`).
- `rebuild`: the engine that rebuilds a model with some layers replaced.
- `pointwise`: which layers are pointwise maps and what replaces them.
- `heads`: classifier heads (Flatten / GlobalAveragePooling -> Dense).
- `graph`: reading a model's structure (layers, calls, consumers).
- `signature`: a model's input and output names, input specs, running it.
- `verify` and `report`: the verification and the conversion report.
- `internals`: every private Keras attribute read, in one place.
"""
