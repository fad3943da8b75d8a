"""Per-channel scales and offsets after a pointwise MatMul, folded into it.

- `MatMulScaleFusion`: ``Mul(MatMul(x, W), s)`` -> ``MatMul(x, W * s)`` and
  ``Mul(Add(MatMul(x, W), b), s)`` -> ``Add(MatMul(x, W * s), b * s)``;
- `MatMulBiasFusion`: ``Add(Add(MatMul(x, W), b1), b2)`` ->
  ``Add(MatMul(x, W), b1 + b2)``.

``s``, ``b1``, ``b2`` are constants that vary along the output channels
only (an inference BatchNorm's scale and offset). ``(x @ W) * s == x @ (W *
s)`` column by column, one float32 product per entry: what an exporter does
when it folds a BatchNorm into a Conv, so the folded form is the one both
forms of a model share.
"""

from __future__ import annotations


from .. import edit
from ..reading import channel_row
from . import Rule, scalar_factors


def _pointwise(value):
    """``(MatMul node, bias Add node or None)`` when `value` is
    ``[Add(]MatMul(x, W)[, b)]`` with a 2-D constant W, each read once."""
    node = value.producer()
    bias = None
    if node is not None and node.op_type == "Add":
        bias, node = node, node.inputs[0].producer()
        if len(bias.inputs[0].uses()) != 1:
            return None
    if node is None or node.op_type != "MatMul":
        return None
    weight = edit.const_array(node.inputs[1])
    if weight is None or weight.ndim != 2 or edit.rank(node.inputs[0]) is None:
        return None
    if bias is not None and _row(bias.inputs[1], node) is None:
        return None
    return node, bias


def _row(value, matmul):
    weight = edit.const_array(matmul.inputs[1])
    row = channel_row(edit.const_array(value), edit.rank(matmul.inputs[0]), weight.shape[1])
    return None if row is None or row.dtype != weight.dtype else row


class MatMulScaleFusion(Rule):
    op_types = ("Mul",)

    def check(self, node, context):
        source = node.inputs[0]
        if len(source.uses()) != 1 or source.is_graph_output():
            return "the MatMul's output is read elsewhere"
        found = _pointwise(source)
        if found is None:
            return "not after a pointwise MatMul"
        if _row(node.inputs[1], found[0]) is None:
            return "the scale is not a constant along the output channels"
        if scalar_factors.feeds_product(node):
            return "a scalar factor of a product of two tensors (it goes after the product)"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        matmul, bias = _pointwise(node.inputs[0])
        scale = _row(node.inputs[1], matmul)
        weight = edit.const_array(matmul.inputs[1]) * scale[None, :]
        out = node.outputs[0]
        h = editor.node(
            "MatMul", [matmul.inputs[0], editor.constant(weight)], before=node,
            shape=edit.dims(out), dtype=out.dtype,
        )
        if bias is not None:
            h = editor.node(
                "Add", [h, editor.constant(_row(bias.inputs[1], matmul) * scale)], before=node,
                shape=edit.dims(out), dtype=out.dtype,
            )
        return [h]


class MatMulBiasFusion(Rule):
    op_types = ("Add",)

    def check(self, node, context):
        source = node.inputs[0]
        first = source.producer()
        if first is None or first.op_type != "Add":
            return "not after a bias Add"
        if len(source.uses()) != 1 or source.is_graph_output():
            return "the first sum is read elsewhere"
        found = _pointwise(source)
        if found is None or found[1] is None:
            return "not after a pointwise MatMul and its bias"
        if _row(node.inputs[1], found[0]) is None:
            return "the offset is not a constant along the output channels"
        return ""

    def rewrite(self, node, context):
        matmul, bias = _pointwise(node.inputs[0])
        total = _row(bias.inputs[1], matmul) + _row(node.inputs[1], matmul)
        out = node.outputs[0]
        return [
            context.editor.node(
                "Add", [matmul.outputs[0], context.editor.constant(total)], before=node,
                shape=edit.dims(out), dtype=out.dtype,
            )
        ]
