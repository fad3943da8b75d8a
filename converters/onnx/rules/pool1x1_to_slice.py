"""``MaxPool`` / ``AveragePool`` with a 1x1 window -> a ``Slice`` with steps.

A window of one element reads ``x[..., ::s]``: the subsampling a strided
1x1 conv does (``MaxPooling2D(1, strides=s)`` is how the dense form of one
is written in Keras). Without strides it is nothing at all.
"""

from __future__ import annotations

from .. import edit
from . import Rule


class Pool1x1ToSlice(Rule):
    op_types = ("MaxPool", "AveragePool")

    def check(self, node, context):
        if len(node.outputs) != 1:
            return "the pool also returns indices"
        kernel = edit.ints_attr(node, "kernel_shape")
        if not kernel or any(k != 1 for k in kernel):
            return "the window is not 1x1"
        if any(edit.ints_attr(node, "pads", [])):
            return "the pool pads its input"
        if edit.string_attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
            return "unknown auto_pad"
        if edit.int_attr(node, "ceil_mode", 0):
            return "ceil_mode is set"
        if edit.rank(node.inputs[0]) != len(kernel) + 2 or edit.dims(node.outputs[0]) is None:
            return "the input rank or output shape is unknown"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        x = node.inputs[0]
        kernel = edit.ints_attr(node, "kernel_shape")
        strides = edit.ints_attr(node, "strides") or [1] * len(kernel)
        axes = [i + 2 for i, s in enumerate(strides) if s != 1]
        if not axes:
            return [x]
        return [
            editor.node(
                "Slice",
                [
                    x,
                    editor.int64([0] * len(axes)),
                    editor.int64([edit.INT64_MAX] * len(axes)),
                    editor.int64(axes),
                    editor.int64([s for s in strides if s != 1]),
                ],
                before=node,
                shape=edit.dims(node.outputs[0]),
                dtype=x.dtype,
            )
        ]
