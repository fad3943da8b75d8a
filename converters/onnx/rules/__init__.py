"""The local rewrites of the canonical form, one rule per module.

A rule is a `Rule`: the op types it looks at, ``check(node, context)``
returning the reason it does not apply ("" when it does), and
``rewrite(node, context)`` returning the values that replace the node's
outputs (new nodes are inserted before it, each with its shape). Nothing is
kept from `check` to `rewrite`. `apply` sweeps a graph with a list of
rules until none applies.

The layout of tensors (where transposes go) and the shape plumbing are not
rules: they are passes (`keras_1x1.converters.onnx.passes`), one sweep
each, driven by what each op does to axes. The rules give every op one
spelling, recognise pointwise maps by their mathematics, and fold constants
into them:

- `SPELLING`: Identity and Dropout removed, Gemm as MatMul + Add, 1x1
  convolutions and grouped einsums as MatMul on the channel axis, an
  einsum of two tensors that is a batched product as Transpose / MatMul, 1x1
  pooling as a Slice, global pooling as a reduction, Squeeze / Unsqueeze /
  Flatten as Reshape, one spelling of Slice, reductions (a reduction over
  unit axes as a Reshape), Conv attributes and constant operands (a
  uniform one as a scalar), no-op arithmetic removed, scalar factors of a
  product of two tensors (an attention scale) gathered after it;
  LayerNormalization and GELU written as Keras computes them, whichever
  op or decomposition the exporter wrote;
- `FUSION`: per-channel scales and offsets after a pointwise MatMul folded
  into its weights and bias;
- `CONV_FORM`: the deployment form with pointwise ops as NCHW Conv 1x1
  (subsampling slices as their strides), and last the slices no conv took
  as 1x1 max pools.
"""

from __future__ import annotations

import dataclasses

from .. import edit


@dataclasses.dataclass
class Context:
    """What a rule sees besides its node: the model, an editor, the opset."""

    model: object
    editor: edit.Editor

    @property
    def graph(self):
        return self.model.graph

    @property
    def version(self):
        return edit.opset(self.model)


class Rule:
    """One local rewrite (see the package docstring)."""

    op_types = ()

    def check(self, node, context):  # pragma: no cover - every rule has its own
        raise NotImplementedError

    def rewrite(self, node, context):  # pragma: no cover
        raise NotImplementedError

    def __repr__(self):
        return type(self).__name__


def apply(model, rules, *, sweeps=8):
    """Apply `rules` over the graph until none applies; the rewrite count."""
    context = Context(model, edit.Editor(model.graph))
    by_op = {}
    for rule in rules:
        for op_type in rule.op_types:
            by_op.setdefault(op_type, []).append(rule)
    total = 0
    for _ in range(sweeps):
        count = 0
        for node in list(model.graph):
            if node.graph is None or node.domain not in ("", "ai.onnx"):
                continue
            for rule in by_op.get(node.op_type, ()):
                if rule.check(node, context):
                    continue
                replacements = rule.rewrite(node, context)
                for old, new in zip(node.outputs, replacements):
                    if new is not old:
                        context.editor.replace(old, new)
                if all(not v.uses() and not v.is_graph_output() for v in node.outputs):
                    model.graph.remove(node, safe=True)
                count += 1
                break
        total += count
        if not count:
            break
    return total


def spelling_rules():
    from . import (
        broadcast_constant,
        cast_no_op,
        constant_second,
        conv1x1_to_matmul,
        conv_attributes,
        decompositions,
        einsum_product,
        einsum_to_matmul,
        gemm_to_matmul,
        global_pool_to_reduce,
        identity_ops,
        no_op_elementwise,
        pool1x1_to_slice,
        reduce_normalize,
        reduce_unit_axes,
        resize_scales,
        scalar_factors,
        slice_normalize,
        squeeze_to_reshape,
        sub_constant_to_add,
        uniform_constant,
    )

    return [
        identity_ops.IdentityOps(),
        cast_no_op.CastNoOp(),
        gemm_to_matmul.GemmToMatMul(),
        conv_attributes.ConvAttributes(),
        conv1x1_to_matmul.Conv1x1ToMatMul(),
        einsum_to_matmul.EinsumToMatMul(),
        einsum_product.EinsumProduct(),
        pool1x1_to_slice.Pool1x1ToSlice(),
        global_pool_to_reduce.GlobalPoolToReduce(),
        squeeze_to_reshape.SqueezeToReshape(),
        reduce_normalize.ReduceNormalize(),
        reduce_normalize.ReshapeAfterReduce(),
        reduce_normalize.KeptLikeDropped(),
        reduce_unit_axes.ReduceUnitAxes(),
        reduce_unit_axes.ReduceSomeUnitAxes(),
        slice_normalize.SliceNormalize(),
        resize_scales.ResizeScales(),
        sub_constant_to_add.SubConstantToAdd(),
        constant_second.ConstantSecond(),
        broadcast_constant.BroadcastConstant(),
        uniform_constant.UniformConstant(),
        no_op_elementwise.NoOpElementwise(),
        scalar_factors.ScalarOutOfProduct(),
        scalar_factors.ScalarProduct(),
        decompositions.LayerNormExpand(),
        decompositions.GeluExpand(),
        decompositions.SumToMean(),
        decompositions.SumSquareToSum(),
        decompositions.OneOver(),
        decompositions.ConstantWhere(),
        decompositions.NegOut(),
        decompositions.ErfOfNeg(),
        decompositions.OneMinusNeg(),
    ]


def fusion_rules():
    from . import matmul_fusion

    return [matmul_fusion.MatMulScaleFusion(), matmul_fusion.MatMulBiasFusion()]


def conv_form_rules():
    from . import matmul_to_conv, slice_into_conv

    return [matmul_to_conv.MatMulToConv(), slice_into_conv.SliceIntoConv()]


def conv_form_final_rules():
    from . import slice_to_pool

    return [slice_to_pool.SliceToPool()]
