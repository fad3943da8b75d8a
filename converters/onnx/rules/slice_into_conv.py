"""``Conv1x1(Slice(x, steps=s on spatial axes))`` -> ``Conv1x1(x, strides=s)``.

The reverse of `conv1x1_to_matmul` for a strided 1x1 conv: a subsampling
slice read only by a pointwise conv becomes its strides. The slice may sit
before the transpose that brings its tensor to channels first.
"""

from __future__ import annotations

from .. import edit
from . import Rule
from .conv1x1_to_matmul import pointwise_reason
from .slice_normalize import canonical_slice


def _sole(value):
    return len(value.uses()) == 1 and not value.is_graph_output()


def _subsampling(node):
    """``(slice node, transpose node or None, {conv axis: step})`` or None."""
    x = node.inputs[0]
    transpose = x.producer()
    perm = None
    if transpose is not None and transpose.op_type == "Transpose" and _sole(x):
        perm = edit.ints_attr(transpose, "perm")
        x = transpose.inputs[0]
    else:
        transpose = None
    slicer = x.producer()
    if slicer is None or slicer.op_type != "Slice" or not _sole(x):
        return None
    canonical = canonical_slice(slicer)
    if isinstance(canonical, str):
        return None
    starts, ends, axes, steps = canonical
    if not axes or any(v != 0 for v in starts) or any(v != edit.INT64_MAX for v in ends):
        return None
    if any(v < 1 for v in steps):
        return None
    # A slice axis of the transposed tensor is the conv axis it lands on.
    where = {a: (perm.index(a) if perm is not None else a) for a in axes}
    r = edit.rank(node.inputs[0])
    if any(not 2 <= w < r for w in where.values()):
        return None
    return slicer, transpose, {where[a]: s for a, s in zip(axes, steps)}


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
        slicer, transpose, steps = _subsampling(node)
        x = slicer.inputs[0]
        if transpose is not None:
            x = editor.transpose(x, edit.ints_attr(transpose, "perm"), before=node)
        r = edit.rank(node.inputs[0])
        strides = [steps.get(a, 1) for a in range(2, r)]
        attributes = {k: v for k, v in node.attributes.items() if k != "strides"}
        out = node.outputs[0]
        new = editor.node("Conv", list(node.inputs), before=node, shape=edit.dims(out), dtype=out.dtype)
        conv = new.producer()
        for key, attr in attributes.items():
            conv.attributes[key] = attr
        conv.attributes["strides"] = edit._attr("strides", strides)
        conv.replace_input_with(0, x)
        return [new]
