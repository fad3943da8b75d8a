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
from . import Rule


def pointwise_reason(node):
    """Why a Conv node is not a pointwise map ("" when it is)."""
    inputs = node.inputs
    weight = edit.const_array(inputs[1]) if len(inputs) > 1 else None
    if weight is None:
        return "the weight is not a constant"
    if weight.ndim not in (3, 4, 5):
        return f"the weight has rank {weight.ndim}, expected 3 to 5"
    if any(d != 1 for d in weight.shape[2:]):
        return f"the kernel is {tuple(weight.shape[2:])}, not all ones"
    if edit.rank(inputs[0]) != weight.ndim or edit.dims(node.outputs[0]) is None:
        return "the input rank or the output shape is unknown"
    if any(edit.ints_attr(node, "pads", [])):
        return "the conv pads its input"
    auto_pad = edit.string_attr(node, "auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        return f"unknown auto_pad {auto_pad}"
    group = edit.int_attr(node, "group", 1)
    if group < 1 or weight.shape[0] % group:
        return "group does not divide the output channels"
    if len(inputs) > 2 and inputs[2] is not None:
        bias = edit.const_array(inputs[2])
        if bias is None or bias.shape != (weight.shape[0],):
            return "the bias is not a constant of shape (Cout,)"
    strides = edit.ints_attr(node, "strides")
    if strides is not None and len(strides) != weight.ndim - 2:
        return "strides do not match the spatial rank"
    return ""


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
