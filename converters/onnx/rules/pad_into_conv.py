"""``Conv(Pad(x))`` with zero padding of the spatial axes -> ``Conv(x, pads)``,
and ``MaxPool(Pad(x))`` with edge padding -> ``MaxPool(x, pads)``.

Keras' ZeroPadding2D before a "valid" convolution is one convolution that
pads; an exporter fuses the two where they are adjacent and leaves them
apart where a transpose sits between them (which depends on the layout of
what comes before). The Pad may sit before the transpose that brings its
tensor to channels first.

Keras' "same" max pooling on torch pads with the edge values and pools
"valid"; tf2onnx and jax2onnx write a pool that pads itself (with -inf).
Where each pad is shorter than the window, every window that reads a
padded value also reads the edge value it repeats, so the maxima are the
same.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule


def _padding(node, mode="constant"):
    """``(pad node, perm of the transpose between or None, pads of the
    conv's spatial axes)`` or None."""
    x, perm = edit.through_transpose(node.inputs[0])
    pad = x.producer()
    if pad is None or pad.op_type != "Pad" or not edit.sole(x):
        return None
    if edit.string_attr(pad, "mode", "constant") != mode:
        return None
    inputs = list(pad.inputs) + [None] * (4 - len(pad.inputs))
    pads = edit.const_array(inputs[1])
    if pads is None or inputs[3] is not None:
        return None
    if inputs[2] is not None:
        value = edit.const_array(inputs[2])
        if value is None or np.any(value != 0):
            return None
    r = edit.rank(node.inputs[0])
    if r is None or pads.size != 2 * r or np.any(pads < 0):
        return None
    begin, end = pads[:r].tolist(), pads[r:].tolist()
    if perm is not None:  # the pad's axes, as the conv sees them
        begin, end = [begin[p] for p in perm], [end[p] for p in perm]
    if any(begin[:2]) or any(end[:2]):
        return None
    return pad, perm, begin[2:] + end[2:]


class PadIntoConv(Rule):
    op_types = ("Conv",)

    def check(self, node, context):
        if edit.string_attr(node, "auto_pad", "NOTSET") != "NOTSET":
            return "the conv pads automatically"
        if _padding(node) is None:
            return "not after a zero Pad of spatial axes"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        pad, perm, extra = _padding(node)
        x = pad.inputs[0]
        if perm is not None:
            x = editor.transpose(x, perm, before=node)
        spatial = edit.rank(node.inputs[0]) - 2
        pads = edit.ints_attr(node, "pads", [0] * (2 * spatial))
        total = [a + b for a, b in zip(pads, extra)]
        return [editor.like(node, [x] + list(node.inputs[1:]), before=node, attributes={"pads": total})]


class PadIntoMaxPool(Rule):
    op_types = ("MaxPool",)

    def check(self, node, context):
        if edit.string_attr(node, "auto_pad", "NOTSET") != "NOTSET" or len(node.outputs) != 1:
            return "the pool pads automatically or returns indices"
        if edit.int_attr(node, "ceil_mode", 0) or set(edit.ints_attr(node, "dilations", []) or [1]) != {1}:
            return "the pool rounds up or dilates"
        kernel = edit.ints_attr(node, "kernel_shape")
        if kernel is None or any(edit.ints_attr(node, "pads", []) or []):
            return "the pool pads already"
        found = _padding(node, "edge")
        if found is None:
            return "not after an edge Pad of spatial axes"
        extra = found[2]
        k = len(kernel)
        if any(p >= w for p, w in zip(extra[:k], kernel)) or any(p >= w for p, w in zip(extra[k:], kernel)):
            return "a pad as long as the window"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        pad, perm, extra = _padding(node, "edge")
        x = pad.inputs[0]
        if perm is not None:
            x = editor.transpose(x, perm, before=node)
        return [editor.like(node, [x], before=node, attributes={"pads": list(extra)})]
