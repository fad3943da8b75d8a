"""``Conv1x1(Slice(x, steps=s on spatial axes))`` -> ``Conv1x1(x, strides=s)``.

The reverse of `conv1x1_to_matmul` for a strided 1x1 conv: a subsampling
slice read only by pointwise convs becomes their strides (ResNet's strided
block and its strided shortcut read one slice: both take the strides, and
the slice is gone). A slice that any other op also reads stays. The slice
may sit before the transpose that brings its tensor to channels first.
"""

from __future__ import annotations

from .. import edit
from ..reading import pointwise_reason, subsampling_steps
from . import Rule


def _unstrided_pointwise(node):
    return (
        node.op_type == "Conv"
        and not pointwise_reason(node)
        and all(s == 1 for s in edit.ints_attr(node, "strides", []))
    )


def _read_by_convs_only(value, through_transpose=True):
    """Whether every reader of `value` is an unstrided pointwise Conv (its
    input 0), or a Transpose that only such Convs read."""
    if value.is_graph_output() or not value.uses():
        return False
    for use in value.uses():
        reader = use.node
        if through_transpose and reader.op_type == "Transpose" and use.idx == 0:
            if not _read_by_convs_only(reader.outputs[0], through_transpose=False):
                return False
        elif not (_unstrided_pointwise(reader) and use.idx == 0):
            return False
    return True


def _subsampling(node):
    """``(slice node, perm of the transpose between or None, {conv axis:
    step})`` or None."""
    x, perm = node.inputs[0], None
    producer = x.producer()
    if producer is not None and producer.op_type == "Transpose":
        perm = edit.ints_attr(producer, "perm")
        if perm is None:
            return None
        x = producer.inputs[0]
    slicer = x.producer()
    if slicer is None or slicer.op_type != "Slice" or not _read_by_convs_only(x):
        return None
    steps = subsampling_steps(slicer)
    if steps is None:
        return None
    # A slice axis of the transposed tensor is the conv axis it lands on.
    where = {a: (perm.index(a) if perm is not None else a) for a in steps}
    r = edit.rank(node.inputs[0])
    if any(not 2 <= w < r for w in where.values()):
        return None
    return slicer, perm, {where[a]: s for a, s in steps.items()}


class SliceIntoConv(Rule):
    op_types = ("Conv",)

    def check(self, node, context):
        reason = pointwise_reason(node)
        if reason:
            return reason
        if any(s != 1 for s in edit.ints_attr(node, "strides", [])):
            return "the conv is already strided"
        if _subsampling(node) is None:
            return "not after a subsampling slice"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        slicer, perm, steps = _subsampling(node)
        x = slicer.inputs[0]
        if perm is not None:
            x = editor.transpose(x, perm, before=node)
        r = edit.rank(node.inputs[0])
        strides = [steps.get(a, 1) for a in range(2, r)]
        return [editor.like(node, [x] + list(node.inputs[1:]), before=node, attributes={"strides": strides})]
