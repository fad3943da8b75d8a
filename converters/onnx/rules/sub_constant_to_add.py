"""``Sub(x, c)`` -> ``Add(x, -c)`` for a constant c (exact: negation is exact)."""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class SubConstantToAdd(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, c):
        return op.Sub(x, c)

    def check(self, context, x, c, **_) -> MatchResult:
        result = MatchResult()
        array = _common.const_array(c)
        if array is None:
            return result.fail("the subtrahend is not a constant")
        if _common.const_array(x) is not None:
            return result.fail("both operands are constants (left to constant folding)")
        if array.dtype.kind != "f":
            return result.fail("only floating point constants are negated")
        return result

    def rewrite(self, op, x, c, **_):
        return op.Add(x, _common.initializer(op, -_common.const_array(c)))


rule = SubConstantToAdd.rule()
