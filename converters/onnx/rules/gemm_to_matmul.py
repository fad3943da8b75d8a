"""``Gemm(x, W, C)`` with a constant W -> ``MatMul(x, W[Cin, Cout])`` + ``Add(C)``.

Dense layers on 2-D inputs may come out of tf2onnx as Gemm; the canonical
form of every pointwise op is MatMul on the last axis plus a bias Add.
alpha, beta and transB are folded into the constants.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common


class GemmToMatMul(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, w):
        return op.Gemm(x, w, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, w, y, **_) -> MatchResult:
        result = MatchResult()
        node = y.producer()
        weight = _common.const_array(w)
        if weight is None or weight.ndim != 2:
            return result.fail("the Gemm weight is not a 2-D constant")
        if node.attributes.get("transA") is not None and node.attributes["transA"].as_int():
            return result.fail("transA is set")
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            bias = _common.const_array(node.inputs[2])
            cout = weight.shape[0] if _common.int_attr(node, "transB", 0) else weight.shape[1]
            if bias is None or _common.broadcast_row(bias, 2, cout) is None:
                return result.fail("the Gemm bias is not a constant row")
        return result

    def rewrite(self, op, x, w, y, **_):
        node = y.producer()
        weight = _common.const_array(w)
        if _common.int_attr(node, "transB", 0):
            weight = weight.T
        alpha = node.attributes.get("alpha")
        if alpha is not None and alpha.as_float() != 1.0:
            weight = weight * np.asarray(alpha.as_float(), dtype=weight.dtype)
        h = op.MatMul(x, _common.initializer(op, np.ascontiguousarray(weight)))
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            bias = _common.broadcast_row(_common.const_array(node.inputs[2]), 2, weight.shape[1])
            beta = node.attributes.get("beta")
            if beta is not None and beta.as_float() != 1.0:
                bias = bias * np.asarray(beta.as_float(), dtype=bias.dtype)
            h = op.Add(h, _common.initializer(op, bias))
        return h


rule = GemmToMatMul.rule()
