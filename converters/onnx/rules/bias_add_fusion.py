"""``Add(Add(MatMul(x, W), b1), b2)`` -> ``Add(MatMul(x, W), b1 + b2)``.

Two constant row additions after a pointwise op (its bias, then a
BatchNorm offset) are one bias; tf2onnx already merges them into a Conv's
bias in the conv form, with the same single float32 addition.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class BiasAddFusion(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, w, b1, b2):
        return op.Add(op.Add(op.MatMul(x, w), b1), b2)

    def check(self, context, x, w, b1, b2, **_) -> MatchResult:
        result = MatchResult()
        weight = _common.const_array(w)
        r = _common.rank(x)
        if weight is None or weight.ndim != 2 or r is None:
            return result.fail("not a MatMul with a 2-D constant weight and known rank")
        for b in (b1, b2):
            row = _common.broadcast_row(_common.const_array(b), r, weight.shape[1])
            if row is None or row.dtype != weight.dtype:
                return result.fail("a bias is not a constant row over the output channels")
        return result

    def rewrite(self, op, x, w, b1, b2, **_):
        weight = _common.const_array(w)
        r = _common.rank(x)
        row1 = _common.broadcast_row(_common.const_array(b1), r, weight.shape[1])
        row2 = _common.broadcast_row(_common.const_array(b2), r, weight.shape[1])
        return op.Add(op.MatMul(x, w), _common.initializer(op, row1 + row2))


rule = BiasAddFusion.rule()
