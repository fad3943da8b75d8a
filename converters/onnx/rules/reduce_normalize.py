"""Reductions in one spelling.

- `ReduceNormalize`: axes sorted and non-negative, keepdims written out,
  axes as an input or an attribute as the opset wants;
- `ReshapeAfterReduce`: ``Reshape(ReduceX(x, A, keepdims=1))`` that only
  drops the reduced axes -> ``ReduceX(x, A, keepdims=0)`` (Keras' global
  pooling comes out either way); other readers of the kept axes read them
  through a Reshape that adds them back (a mean read both ways: tf2onnx
  keeps the axes of a layer norm's mean, jax2onnx drops them);
- `KeptLikeDropped`: a reduction that keeps its axes, beside the same
  reduction that drops them, is that one reshaped.
"""

from __future__ import annotations

from .. import edit
from . import Rule


def _axes(node, context):
    r = edit.rank(node.inputs[0])
    if r is None:
        return None
    return edit.reduce_axes(node, r, context.version)


class ReduceNormalize(Rule):
    op_types = tuple(sorted(edit.REDUCE_OPS))

    def check(self, node, context):
        axes = _axes(node, context)
        if axes is None:
            return "the axes are unknown"
        if set(node.attributes) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return "other attributes"
        keepdims = edit.int_attr(node, "keepdims", 1)
        if edit.axes_as_input(node.op_type, context.version):
            given = edit.const_array(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] is not None else None
            written = None if given is None else given.tolist()
            spelled = "axes" not in node.attributes
        else:
            written = edit.ints_attr(node, "axes")
            spelled = len(node.inputs) == 1
        if (
            written == axes
            and spelled
            and "keepdims" in node.attributes
            and "noop_with_empty_axes" not in node.attributes
            and keepdims in (0, 1)
        ):
            return "already canonical"
        return ""

    def rewrite(self, node, context):
        return [
            edit.reduce_node(
                context.editor,
                node.op_type,
                node.inputs[0],
                _axes(node, context),
                edit.int_attr(node, "keepdims", 1),
                context.version,
                before=node,
            )
        ]


class ReshapeAfterReduce(Rule):
    op_types = ("Reshape",)

    def check(self, node, context):
        reduced = node.inputs[0]
        producer = reduced.producer()
        if producer is None or producer.op_type not in edit.REDUCE_OPS:
            return "not after a reduction"
        if reduced.is_graph_output():
            return "the reduction is a graph output"
        if not edit.int_attr(producer, "keepdims", 1):
            return "the reduction drops its axes already"
        axes = _axes(producer, context)
        shape = edit.dims(reduced)
        if axes is None or shape is None:
            return "the axes are unknown"
        if [d for i, d in enumerate(shape) if i not in axes] != edit.dims(node.outputs[0]):
            return "the Reshape does more than drop the reduced axes"
        return ""

    def rewrite(self, node, context):
        reduced = node.inputs[0]
        producer = reduced.producer()
        dropped = edit.reduce_node(
            context.editor,
            producer.op_type,
            producer.inputs[0],
            _axes(producer, context),
            0,
            context.version,
            before=producer,
        )
        if len(reduced.uses()) > 1:
            # Read elsewhere with the axes kept: those readers get them back
            # by a Reshape (one spelling however the exporter kept them).
            kept = context.editor.reshape(dropped, edit.dims(reduced), before=producer)
            context.editor.replace(reduced, kept)
        return [dropped]


class KeptLikeDropped(Rule):
    """``ReduceX(x, A, keepdims=1)`` where ``x`` is also reduced over ``A``
    with keepdims=0 -> ``Reshape(ReduceX(x, A, keepdims=0))``: one
    reduction, however each reader wanted the axes (the two then merge)."""

    op_types = tuple(sorted(edit.REDUCE_OPS))

    def _axes_and_shape(self, node, context):
        if not edit.int_attr(node, "keepdims", 1):
            return None
        axes = _axes(node, context)
        if axes is None or edit.dims(node.outputs[0]) is None:
            return None
        for use in node.inputs[0].uses():
            other = use.node
            if (
                other is not node
                and other.graph is not None
                and use.idx == 0
                and other.op_type == node.op_type
                and not edit.int_attr(other, "keepdims", 1)
                and _axes(other, context) == axes
                and set(other.attributes) <= {"axes", "keepdims"}
                and set(node.attributes) <= {"axes", "keepdims"}
            ):
                return axes
        return None

    def check(self, node, context):
        if self._axes_and_shape(node, context) is None:
            return "no reduction of the same input and axes drops them"
        return ""

    def rewrite(self, node, context):
        axes = self._axes_and_shape(node, context)
        dropped = edit.reduce_node(
            context.editor, node.op_type, node.inputs[0], axes, 0, context.version, before=node
        )
        return [context.editor.reshape(dropped, edit.dims(node.outputs[0]), before=node)]
