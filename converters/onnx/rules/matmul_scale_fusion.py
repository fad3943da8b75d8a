"""``Mul(MatMul(x, W), s)`` -> ``MatMul(x, W * s)`` (and through a bias Add).

A per-channel scale after a pointwise op (an inference BatchNorm, say) is
part of the pointwise op: ``(x @ W) * s == x @ (W * s)`` column by column,
and ``(x @ W + b) * s == x @ (W * s) + b * s``. tf2onnx folds such scales
into a Conv's weights but leaves them after a MatMul; folding them here
gives both forms the same weights, computed the same way (one float32
product per entry).
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class _Base(pattern.RewriteRuleClassBase):
    def _check(self, x, w, s, b=None) -> MatchResult:
        result = MatchResult()
        weight = _common.const_array(w)
        if weight is None or weight.ndim != 2:
            return result.fail("the MatMul weight is not a 2-D constant")
        r = _common.rank(x)
        if r is None:
            return result.fail("the input rank is unknown")
        cout = weight.shape[1]
        scale = _common.const_array(s)
        row = _common.broadcast_row(scale, r, cout)
        if row is None or row.dtype != weight.dtype:
            return result.fail("the scale is not a constant along the output channels")
        if b is not None:
            bias = _common.broadcast_row(_common.const_array(b), r, cout)
            if bias is None or bias.dtype != weight.dtype:
                return result.fail("the bias is not a constant row")
        return result

    @staticmethod
    def _scaled(w, s, x):
        weight = _common.const_array(w)
        row = _common.broadcast_row(_common.const_array(s), _common.rank(x), weight.shape[1])
        return weight * row[None, :], row


class MatMulScaleFusion(_Base):
    def pattern(self, op, x, w, s):
        return op.Mul(op.MatMul(x, w), s)

    def check(self, context, x, w, s, **_) -> MatchResult:
        return self._check(x, w, s)

    def rewrite(self, op, x, w, s, **_):
        weight, _ = self._scaled(w, s, x)
        return op.MatMul(x, _common.initializer(op, weight))


class MatMulBiasScaleFusion(_Base):
    def pattern(self, op, x, w, b, s):
        return op.Mul(op.Add(op.MatMul(x, w), b), s)

    def check(self, context, x, w, b, s, **_) -> MatchResult:
        return self._check(x, w, s, b)

    def rewrite(self, op, x, w, b, s, **_):
        weight, row = self._scaled(w, s, x)
        bias = _common.broadcast_row(_common.const_array(b), _common.rank(x), weight.shape[1])
        return op.Add(
            op.MatMul(x, _common.initializer(op, weight)),
            _common.initializer(op, bias * row),
        )


rule = MatMulScaleFusion.rule()
rule_with_bias = MatMulBiasScaleFusion.rule()
