"""``MatMul(x, W[Cin, Cout])`` (+ ``Add(b)``) on a rank 3-5 tensor -> NCHW ``Conv`` 1x1.

The deployment "conv" form: neural accelerators want pointwise work as a 1x1
convolution, channels first. The canonical MatMul acts on a channels-last
tensor, so the Conv sits between the two transposes that move channels
first and back; the layout pass cancels them between neighbouring convs. A
block-diagonal W becomes ``group=g``; a bias Add right after becomes the
Conv's bias.
"""

from __future__ import annotations

from keras_1x1.kernels import detect_groups, onnx_weight

from .. import edit
from ..reading import channel_row
from . import Rule


def _kernel(matmul):
    kernel = edit.const_array(matmul.inputs[1])
    if kernel is None or kernel.ndim != 2 or edit.rank(matmul.inputs[0]) not in (3, 4, 5):
        return None
    return kernel


def _bias_of(matmul):
    """The bias Add that reads this MatMul alone, and its row, or (None, None)."""
    out = matmul.outputs[0]
    uses = list(out.uses())
    if len(uses) != 1 or out.is_graph_output():
        return None, None
    add = uses[0].node
    if add.op_type != "Add" or uses[0].idx != 0:
        return None, None
    kernel = edit.const_array(matmul.inputs[1])
    row = channel_row(edit.const_array(add.inputs[1]), edit.rank(matmul.inputs[0]), kernel.shape[1])
    return (add, row) if row is not None and row.dtype == kernel.dtype else (None, None)


class MatMulToConv(Rule):
    op_types = ("MatMul", "Add")

    def check(self, node, context):
        if node.op_type == "Add":
            matmul = node.inputs[0].producer()
            if matmul is None or matmul.op_type != "MatMul" or _kernel(matmul) is None:
                return "not a bias after a pointwise MatMul"
            return "" if _bias_of(matmul)[0] is node else "not the MatMul's bias"
        if _kernel(node) is None:
            return "not a MatMul with a 2-D constant on a rank 3-5 tensor"
        return "the bias Add takes it" if _bias_of(node)[0] is not None else ""

    def rewrite(self, node, context):
        editor = context.editor
        matmul = node.inputs[0].producer() if node.op_type == "Add" else node
        bias = _bias_of(matmul)[1] if node.op_type == "Add" else None
        x, out = matmul.inputs[0], node.outputs[0]
        kernel = _kernel(matmul)
        shape = edit.dims(x)
        r = len(shape)
        groups = detect_groups(kernel)
        h = editor.transpose(x, [0, r - 1] + list(range(1, r - 1)), before=node)
        inputs = [h, editor.constant(onnx_weight(kernel, groups, r - 2))]
        if bias is not None:
            inputs.append(editor.constant(bias))
        first = [shape[0], kernel.shape[1]] + shape[1:-1]
        h = editor.node(
            "Conv", inputs, {"group": groups} if groups > 1 else {}, before=node,
            shape=first, dtype=out.dtype,
        )
        return [editor.transpose(h, [0] + list(range(2, r)) + [1], before=node)]
