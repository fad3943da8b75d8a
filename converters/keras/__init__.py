"""Rewriting trained Keras models between the 1x1-conv and per-pixel-Dense forms.

- `convert`: the public converters (`conv_to_dense`, `dense_to_conv`,
  `convolutionalize`).
- `rebuild`: the engine that rebuilds a model with some layers replaced
  (in its graphs, or inside the layers that hold them).
- `tree`: every layer of a model at any depth, with its path.
- `tracing`: one symbolic run of a model: the calls of its sublayers, and
  what its inputs feed (for drawing inputs it accepts).
- `saving`: what a `.keras` save of a converted model reloads, and refusing
  the saves that would reload something else.
- `pointwise`: which layers are pointwise maps and what replaces them.
- `heads`: classifier heads (Flatten / GlobalAveragePooling -> Dense).
- `graph`: reading a model's structure (layers, calls, consumers).
- `signature`: a model's input and output names, input specs, running it.
- `verify` and `report`: the verification and the conversion report.
- `internals`: every private Keras attribute read, in one place (copying
  layers without their configs, recording sublayer calls, ...).
"""
