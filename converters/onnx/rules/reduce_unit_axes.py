"""``ReduceX(x, A)`` over axes that are all of size 1 -> ``Reshape(x)``.

The mean, sum, max, min or product of one entry is that entry: the
reduction only drops (or keeps) unit axes, which is a Reshape. Where a
layout put the unit axis elsewhere (a mean over one token taken as
``(N, 1, C)`` in one form and ``(N, C, 1)`` in the other), both become the
same reshapes, which the reshape pass merges.
"""

from __future__ import annotations

from .. import edit
from . import Rule

_IDENTITY_ON_ONE = ("ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum")


class _Reduction(Rule):
    """A rule on a reduction whose input shape and axes are known."""

    op_types = _IDENTITY_ON_ONE

    def check(self, node, context):
        shape = edit.dims(node.inputs[0])
        if shape is None or edit.dims(node.outputs[0]) is None:
            return "the shapes are unknown"
        axes = edit.reduce_axes(node, len(shape), context.version)
        return "the axes are unknown" if axes is None else self.check_axes(node, context, shape, axes)


class ReduceUnitAxes(_Reduction):
    def check_axes(self, node, context, shape, axes):
        if not axes or any(shape[a] != 1 for a in axes):
            return "a reduced axis is not of size 1"
        if not context.editor.can_reshape(node.inputs[0], edit.dims(node.outputs[0])):
            return "no Reshape target for the output shape"
        return ""

    def rewrite(self, node, context):
        return [context.editor.reshape(node.inputs[0], edit.dims(node.outputs[0]), before=node)]


class ReduceSomeUnitAxes(_Reduction):
    """``ReduceX(x, A)`` over unit axes and others -> over the others only.

    Keeping its axes, the reduction is the same without the unit ones;
    dropping them, it is the reduction of ``x`` reshaped without them (a
    mean over channels ``(N, C, 1, S)`` and over ``(N, C, S)`` meet)."""

    def check_axes(self, node, context, shape, axes):
        if set(node.attributes) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return "the axes are unknown"
        units = [a for a in axes if shape[a] == 1]
        if not units or len(units) == len(axes):
            return "no unit axis beside the others"
        if not edit.int_attr(node, "keepdims", 1):
            kept = [d for i, d in enumerate(shape) if i not in units]
            if not context.editor.can_reshape(node.inputs[0], kept):
                return "no Reshape target without the unit axes"
        return ""

    def rewrite(self, node, context):
        shape = edit.dims(node.inputs[0])
        axes = edit.reduce_axes(node, len(shape), context.version)
        units = [a for a in axes if shape[a] == 1]
        keepdims = edit.int_attr(node, "keepdims", 1)
        x = node.inputs[0]
        others = [a for a in axes if a not in units]
        if not keepdims:
            x = context.editor.reshape(x, [d for i, d in enumerate(shape) if i not in units], before=node)
            others = [a - sum(1 for u in units if u < a) for a in others]
        return [edit.reduce_node(context.editor, node.op_type, x, others, keepdims, context.version, before=node)]
