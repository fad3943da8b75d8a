"""``Gemm(x, W, C)`` with a constant W -> ``MatMul(x, W[Cin, Cout])`` + ``Add(C)``.

A Dense on a 2-D input may come out of an exporter as Gemm; the canonical
form of every pointwise map is MatMul on the last axis plus a bias Add.
transB is folded into the weight; beta 0 means no bias. Gemm with another
alpha or beta is left alone (folding them would round differently from the
op).
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule


def _beta(node):
    attr = node.attributes.get("beta")
    return 1.0 if attr is None else attr.as_float()


def _has_bias(node):
    return len(node.inputs) > 2 and node.inputs[2] is not None and _beta(node) != 0.0


class GemmToMatMul(Rule):
    op_types = ("Gemm",)

    def check(self, node, context):
        weight = edit.const_array(node.inputs[1])
        if weight is None or weight.ndim != 2:
            return "the Gemm weight is not a 2-D constant"
        if edit.int_attr(node, "transA", 0):
            return "transA is set"
        alpha = node.attributes.get("alpha")
        if alpha is not None and alpha.as_float() != 1.0:
            return "alpha is not 1"
        if _beta(node) not in (0.0, 1.0):
            return "beta is neither 0 nor 1"
        if edit.dims(node.inputs[0]) is None:
            return "the input shape is unknown"
        if _has_bias(node):
            bias = edit.const_array(node.inputs[2])
            cout = weight.shape[0] if edit.int_attr(node, "transB", 0) else weight.shape[1]
            if bias is None or bias.size != cout and bias.size != 1:
                return "the Gemm bias is not a constant row"
        return ""

    def rewrite(self, node, context):
        x, out = node.inputs[0], node.outputs[0]
        weight = edit.const_array(node.inputs[1])
        if edit.int_attr(node, "transB", 0):
            weight = np.ascontiguousarray(weight.T)
        shape = edit.dims(x)[:-1] + [weight.shape[1]]
        h = context.editor.node(
            "MatMul", [x, context.editor.constant(weight)], before=node, shape=shape, dtype=out.dtype
        )
        if _has_bias(node):
            bias = edit.const_array(node.inputs[2])
            row = np.ascontiguousarray(np.broadcast_to(bias.reshape(-1), (weight.shape[1],)))
            h = context.editor.node(
                "Add", [h, context.editor.constant(row)], before=node, shape=shape, dtype=out.dtype
            )
        return [h]
