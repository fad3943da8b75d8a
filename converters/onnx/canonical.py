"""Canonical ONNX graphs: one spelling for every pointwise op.

The conv form and the dense form of one trained model export to different
ONNX graphs (tf2onnx writes ``Transpose -> Conv(1x1) -> Transpose`` for the
first and a ``Shape/Gather/Concat -> Reshape -> MatMul -> Reshape`` chain
for the second, and places its transposes differently around them).
`canonicalize` rewrites both to one graph:

- every pointwise op (1x1 Conv at any strides, groups and spatial rank,
  Gemm, tensordot chains, MatMul on the last axis) is ``MatMul(x, W[Cin,
  Cout])`` on a channels-last tensor plus ``Add(b[Cout])``; strides are a
  ``Slice`` with steps, groups a block-diagonal ``W``; per-channel scales
  and offsets that follow are folded into ``W`` and ``b``;
- transposes are in a normal form: pushed toward the outputs through
  elementwise ops and slices, merged, dropped when they cancel;
- shape plumbing is folded, constants have one spelling, no-ops and
  attributes equal to their defaults are removed, and names are replaced by
  deterministic ones (graph inputs and outputs keep theirs).

`keras_1x1.converters.onnx.fingerprint` hashes the canonical graph and
`keras_1x1.converters.onnx.diff` says where two graphs differ.
"""

from __future__ import annotations

import os

import numpy as np
import onnx

from keras_1x1.errors import UserInputError

from .attributes import attr_python, schema_default

__all__ = ["canonicalize", "canonical_ir", "to_form", "to_ir", "FORMS"]

FORMS = ("raw", "matmul", "conv", "accelerator")

# The rounds stop when one changes nothing; this only guards against passes
# that would cycle.
_MAX_ROUNDS = 8
# Constants a pass may have made twice (a bias in another layout, a Reshape
# target) are small; weights are never compared byte by byte here (the
# fingerprint hashes contents, so shared or not, equal weights hash alike).
_DEDUPLICATE = 1 << 16


# -- loading ---------------------------------------------------------------------------


def to_ir(model):
    """A fresh ``onnx_ir.Model`` from a ModelProto, ir.Model, bytes or path."""
    import onnx_ir as ir

    if isinstance(model, ir.Model):
        model = ir.serde.serialize_model(model)
    elif isinstance(model, (bytes, bytearray)):
        from .runtime import load_onnx_bytes

        model = load_onnx_bytes(bytes(model))
    elif isinstance(model, (str, os.PathLike)):
        from .runtime import load_onnx

        model = load_onnx(model)
    else:
        if not isinstance(model, onnx.ModelProto):
            raise UserInputError(
                f"expected an ONNX model (onnx.ModelProto or a path), got {type(model).__name__}"
            )
    model = ir.serde.deserialize_model(model)
    # The IR wraps the proto's tensors, and naming a value names its tensor:
    # each initializer gets a tensor of its own that views the same bytes,
    # so the caller's model is never written to (and nothing is copied).
    for value in model.graph.initializers.values():
        tensor = value.const_value
        if isinstance(tensor, ir.TensorProtoTensor):
            try:
                array = tensor.numpy()
            except Exception:  # noqa: BLE001 - a tensor numpy cannot hold
                continue
            value.const_value = ir.Tensor(array, dtype=tensor.dtype, name=tensor.name)
    return model


# -- the normal form ------------------------------------------------------------------


def _passes():
    import onnx_ir.passes.common as common

    return common


def _prepare(model):
    """Functions inlined, constants as initializers, every shape resolved."""
    import onnxscript.optimizer

    from .passes import shapes

    common = _passes()
    onnxscript.optimizer.inline(model)
    common.RemoveInitializersFromInputsPass()(model)
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    # Weights some exporters compute in the graph (jax2onnx transposes a
    # conv kernel, torch.onnx reshapes a bias): each node whose inputs are
    # all constants becomes the constant it computes.
    onnxscript.optimizer.fold_constants(
        model,
        input_size_limit=_FOLD_LIMIT,
        output_size_limit=_FOLD_LIMIT,
        should_fold=_all_constant,
    )
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    _contiguous(model)
    common.RemoveUnusedNodesPass()(model)
    shapes.resolve(model)
    common.RemoveUnusedNodesPass()(model)


_FOLD_LIMIT = 1 << 31


def _all_constant(node):
    """Fold a node when every input is a constant (and nothing else)."""
    return bool(node.inputs) and all(
        value is None or value.const_value is not None for value in node.inputs
    ) and (node.domain or "") == ""


def _contiguous(model):
    """Folded constants in C order (a folded Transpose is a strided view)."""
    import onnx_ir as ir

    for value in model.graph.initializers.values():
        tensor = value.const_value
        if not isinstance(tensor, ir.Tensor):
            continue
        array = tensor.numpy()
        if isinstance(array, np.ndarray) and not array.flags.c_contiguous:
            value.const_value = ir.Tensor(np.ascontiguousarray(array), name=tensor.name)


def _tidy(model):
    """Dead nodes gone, equal constants and equal nodes merged."""
    common = _passes()
    common.RemoveUnusedNodesPass()(model)
    common.DeduplicateHashedInitializersPass(size_limit=_DEDUPLICATE)(model)
    common.CommonSubexpressionEliminationPass(size_limit=0)(model)
    common.RemoveUnusedNodesPass()(model)


def _state(model):
    """A cheap summary of the graph that changes whenever a pass changes it."""
    from .fingerprint import structure_key

    return structure_key(model.graph)


def _normal_form(model, spelling, fusion):
    """Spelling rules, the layout pass, the reshape pass and the fusions,
    in rounds until a round changes nothing."""
    from . import rules
    from .passes import layout, reshapes

    for _ in range(_MAX_ROUNDS):
        before = _state(model)
        rules.apply(model, spelling)
        _tidy(model)
        layout.run(model)
        _tidy(model)
        reshapes.run(model)
        rules.apply(model, fusion + spelling)
        _tidy(model)
        if _state(model) == before:
            break
    return model


def _canonical_ir(model):
    from . import rules
    from .rules import pad_into_conv

    _prepare(model)
    return _normal_form(
        model, rules.spelling_rules(),
        rules.fusion_rules() + [pad_into_conv.PadIntoConv(), pad_into_conv.PadIntoMaxPool()],
    )


def _conv_form_ir(model):
    from . import rules
    from .passes import accelerator
    from .rules import conv1x1_to_matmul, pad_into_conv

    _canonical_ir(model)
    spelling = [
        rule
        for rule in rules.spelling_rules()
        if not isinstance(rule, conv1x1_to_matmul.Conv1x1ToMatMul)
    ]
    _normal_form(
        model, rules.conv_form_rules() + spelling,
        [pad_into_conv.PadIntoConv(), pad_into_conv.PadIntoMaxPool()],
    )
    # Last, once no pointwise conv can take them as strides: the subsampling
    # slices left as the 1x1 pools onnxruntime runs beside its convs.
    rules.apply(model, rules.conv_form_final_rules())
    # The pointwise maps of 1x1 maps: Conv on (N, C, 1, 1), not MatMul.
    accelerator.lift_unit_maps(model)
    _tidy(model)
    return model


def _accelerator_form_ir(model):
    from .passes import accelerator

    _conv_form_ir(model)
    for _ in range(_MAX_ROUNDS):
        before = _state(model)
        accelerator.run(model)
        _tidy(model)
        if _state(model) == before:
            break
    accelerator.lift(model)
    accelerator.merge_reshapes(model)
    accelerator.scale_operand(model)
    _tidy(model)
    return model


# -- finishing -------------------------------------------------------------------------

# Ops whose `axis` may be written negative, positive or left to its default:
# one spelling (non-negative, always written) when the input rank is known.
_AXIS_OPS = {"Softmax", "LogSoftmax", "Hardmax", "Concat", "Flatten", "Gather", "ArgMax", "ArgMin"}


def _normalize_axes(model):
    import onnx_ir as ir

    versions = dict(model.opset_imports)
    nodes = model.graph.all_nodes() if hasattr(model.graph, "all_nodes") else model.graph
    for node in nodes:
        if (node.domain or "") != "" or node.op_type not in _AXIS_OPS or not node.inputs:
            continue
        value = node.inputs[0]
        shape = value.shape if value is not None else None
        if shape is None:
            continue
        rank = len(shape)
        if node.op_type == "Concat":
            rank = len(node.outputs[0].shape) if node.outputs[0].shape is not None else rank
        attr = node.attributes.get("axis")
        if attr is None:
            axis = schema_default("", node.op_type, "axis", versions.get("", 1))
        else:
            axis = attr.as_int()
        if axis is None or rank == 0:
            continue
        node.attributes["axis"] = ir.AttrInt64("axis", int(axis) % rank)


def _strip_default_attributes(model):
    versions = dict(model.opset_imports)
    for node in model.graph.all_nodes() if hasattr(model.graph, "all_nodes") else model.graph:
        domain = node.domain or ""
        version = versions.get(domain, versions.get("ai.onnx", 1))
        for name in list(node.attributes):
            attr = node.attributes[name]
            default = schema_default(domain, node.op_type, name, version)
            if default is None:
                continue
            value = attr_python(attr)
            if isinstance(default, bytes):
                default = default.decode()
            if value is not None and (
                value == default
                or (
                    isinstance(value, float)
                    and isinstance(default, float)
                    and np.float32(value) == np.float32(default)
                )
            ):
                del node.attributes[name]


def _finish(model, producer="keras-1x1 canonical"):
    common = _passes()
    _repeated_outputs_in_order(model)
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    common.RemoveUnusedNodesPass()(model)
    common.DeduplicateHashedInitializersPass(size_limit=_DEDUPLICATE)(model)
    common.RemoveUnusedOpsetsPass()(model)
    _normalize_axes(model)
    _strip_default_attributes(model)
    common.TopologicalSortPass()(model)
    common.ClearMetadataAndDocStringPass()(model)
    _rename(model)
    model.producer_name = producer
    model.producer_version = ""
    model.graph.name = "canonical"
    return model


def _repeated_outputs_in_order(model):
    """Outputs that carry one tensor (a model returning a layer's states
    both as its last state and in the tuple of every layer's): the first of
    them, by position, is the tensor itself, each later one an Identity of
    it. An exporter writes the Identity on whichever output it met second,
    which differs between two forms of one model."""
    import onnx_ir as ir

    graph = model.graph
    outputs = list(graph.outputs)
    names = [value.name for value in outputs]

    def source(value):
        while (value.producer() is not None and value.producer().op_type == "Identity"
               and not value.producer().domain):
            value = value.producer().inputs[0]
        return value

    sources = [source(value) for value in outputs]
    claimed = set()
    for i, (value, src) in enumerate(zip(outputs, sources)):
        if src.is_graph_input() or src.is_initializer() or src.producer() is None:
            continue  # an input or a constant as an output stays as written
        if id(src) not in claimed:
            claimed.add(id(src))
            if value is not src:
                value.name = f"{names[i]}_identity"
                src.name = names[i]
                graph.outputs[i] = src
        elif value is src or value.producer().inputs[0] is not src:
            node = ir.node("Identity", [src])
            graph.append(node)
            node.outputs[0].name = names[i]
            node.outputs[0].shape, node.outputs[0].type = src.shape, src.type
            if value is not src:
                value.name = f"{names[i]}_identity"
            graph.outputs[i] = node.outputs[0]


def _rename(model):
    """Deterministic names: inputs and outputs keep theirs, the rest by position."""
    graph = model.graph
    reserved = {v.name for v in graph.inputs} | {v.name for v in graph.outputs}
    outputs = {id(v) for v in graph.outputs}
    inputs = {id(v) for v in graph.inputs}

    def pick(prefix, i):
        name = f"{prefix}{i}"
        while name in reserved:
            name = "_" + name
        return name

    initializers = list(graph.initializers.values())
    order = {}
    for node in graph:
        for value in node.inputs:
            if value is not None and value.is_initializer() and id(value) not in order:
                order[id(value)] = len(order)
    initializers.sort(key=lambda v: order.get(id(v), len(order)))
    graph.initializers.clear()
    for i, value in enumerate(initializers):
        value.name = pick("w", i)
        graph.initializers[value.name] = value
    n = 0
    dim_names = {}
    for i, node in enumerate(graph):
        node.name = f"n{i}_{node.op_type}"
        for value in node.outputs:
            if id(value) not in outputs and id(value) not in inputs:
                value.name = pick("t", n)
                n += 1
    done = set()
    for value in (
        list(graph.inputs) + list(graph.outputs) + [v for node in graph for v in node.outputs]
    ):
        if id(value) not in done:
            done.add(id(value))
            _rename_dims(value, dim_names)


def _rename_dims(value, dim_names):
    import onnx_ir as ir

    shape = value.shape
    if shape is None:
        return
    changed = False
    new = []
    for d in shape.dims:
        if isinstance(d, ir.SymbolicDim) and d.value is not None:
            if d.value not in dim_names:
                dim_names[d.value] = f"N{len(dim_names)}" if len(dim_names) else "N"
            new.append(dim_names[d.value])
            changed = True
        else:
            new.append(d)
    if changed:
        value.shape = ir.Shape(new)


# -- public ----------------------------------------------------------------------------


def canonicalize(onnx_model):
    """Rewrite an ONNX model to its canonical form; returns a new ModelProto.

    Every pointwise op becomes ``MatMul(x_channels_last, W[Cin, Cout])`` plus
    ``Add(b[Cout])``; transposes are normalized, shape plumbing folded and
    names replaced. The canonical graph computes the same outputs as the
    input (same input and output names), and canonicalizing it again
    changes nothing.

    Args:
        onnx_model: an ``onnx.ModelProto``, an ``onnx_ir.Model``, or a path
            to an ``.onnx`` file. It is not modified.

    >>> import numpy as np, onnx
    >>> from onnx import helper, numpy_helper
    >>> weight = np.arange(6, dtype="float32").reshape(3, 2, 1, 1)   # Conv 1x1, 2 -> 3
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1])], "conv",
    ...     [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2, 4, 4])],
    ...     [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3, 4, 4])],
    ...     [numpy_helper.from_array(weight, "W")])
    >>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    >>> [n.op_type for n in canonicalize(model).graph.node]
    ['Transpose', 'MatMul', 'Transpose']
    """
    import onnx_ir as ir

    model = _canonical_ir(to_ir(onnx_model))
    _finish(model)
    return ir.serde.serialize_model(model)


def to_form(onnx_model, form):
    """The model in a deployment form: "raw" (as is), "matmul" or "conv".

    "matmul" is the canonical graph (pointwise ops as MatMul + Add on the
    channel axis, what CPU/GPU compilers prefer). "conv" is the canonical
    graph with every pointwise MatMul on a rank 3-5 tensor as an NCHW
    ``Conv`` 1x1 (``group`` for block-diagonal kernels, strides from
    subsampling slices), what neural accelerators prefer; the transposes
    between neighbouring convs cancel. "accelerator" is the conv form with
    tokens kept channels first through attention (`passes.accelerator`):
    heads split and merged on the channel axis, scores stored keys by
    queries, so attention transposes K once (the layout Apple's ANE
    transformers and Qualcomm's HTP guidance write by hand).
    """
    import onnx_ir as ir

    if form not in FORMS:
        raise UserInputError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    if form == "raw":
        if isinstance(onnx_model, onnx.ModelProto):
            return onnx_model
        return ir.serde.serialize_model(to_ir(onnx_model))
    if form == "matmul":
        return canonicalize(onnx_model)
    if form == "accelerator":
        model = _accelerator_form_ir(to_ir(onnx_model))
    else:
        model = _conv_form_ir(to_ir(onnx_model))
    _finish(model, producer=f"keras-1x1 {form} form")
    return ir.serde.serialize_model(model)


def canonical_ir(onnx_model):
    """The canonical graph as an ``onnx_ir.Model`` (for repeated hashing/diffing)."""
    model = _canonical_ir(to_ir(onnx_model))
    _finish(model)
    return model
