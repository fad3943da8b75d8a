"""A pointwise ``Conv`` -> ``[Slice] -> Transpose -> MatMul -> [Add] -> Transpose``.

A convolution whose kernel is all ones in size and which does not pad is a
matrix multiply over the channel axis at every position, whatever its
strides, groups, dilations or spatial rank. Channels first (ONNX's Conv
layout), it is: subsample ``x[..., ::s]`` (a Slice with steps: a 1x1 window
at stride s reads exactly those positions), move channels last,
``MatMul(x, W[Cin, Cout])`` (block-diagonal for ``group > 1``, what a grouped
conv is as a Dense), add the bias, move channels back. The transposes are
for the layout pass to place. A Conv that pads is not pointwise (its border
is the bias alone) and stays.
"""

from __future__ import annotations

from keras_1x1.kernels import from_onnx_weight

from .. import edit
from ..reading import pointwise_reason
from . import Rule


class Conv1x1ToMatMul(Rule):
    op_types = ("Conv",)

    def check(self, node, context):
        return pointwise_reason(node)

    def rewrite(self, node, context):
        editor = context.editor
        x, out = node.inputs[0], node.outputs[0]
        weight = edit.const_array(node.inputs[1])
        r = weight.ndim
        group = edit.int_attr(node, "group", 1)
        strides = edit.ints_attr(node, "strides") or [1] * (r - 2)
        out_shape = edit.dims(out)
        h = x
        strided = [(a + 2, s) for a, s in enumerate(strides) if s != 1]
        if strided:
            shape = edit.dims(x)[:2] + out_shape[2:]
            h = editor.node(
                "Slice",
                [
                    h,
                    editor.int64([0] * len(strided)),
                    editor.int64([edit.INT64_MAX] * len(strided)),
                    editor.int64([a for a, _ in strided]),
                    editor.int64([s for _, s in strided]),
                ],
                before=node,
                shape=shape,
                dtype=x.dtype,
            )
        to_last = [0] + list(range(2, r)) + [1]
        h = editor.transpose(h, to_last, before=node)
        kernel = from_onnx_weight(weight, group)
        last = [out_shape[0]] + out_shape[2:] + [out_shape[1]]
        h = editor.node(
            "MatMul", [h, editor.constant(kernel)], before=node, shape=last, dtype=out.dtype
        )
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            bias = edit.const_array(node.inputs[2])
            h = editor.node(
                "Add", [h, editor.constant(bias)], before=node, shape=last, dtype=out.dtype
            )
        return [editor.transpose(h, [0, r - 1] + list(range(1, r - 1)), before=node)]
