"""``Bin(c, x)`` -> ``Bin(x, c)`` for commutative ops and a constant c.

One operand order for every commutative op with one constant operand, so
``b + x`` and ``x + b`` hash the same.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Mul", "Max", "Min")


class ConstantSecond(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"{op_type}ConstantSecond")
        self.op_type = op_type

    def pattern(self, op, c, x):
        return getattr(op, self.op_type)(c, x)

    def check(self, context, c, x, **_) -> MatchResult:
        result = MatchResult()
        if _common.const_array(c) is None:
            return result.fail("the first operand is not a constant")
        if _common.const_array(x) is not None:
            return result.fail("both operands are constants")
        return result

    def rewrite(self, op, c, x, **_):
        return getattr(op, self.op_type)(x, c)


rules = [ConstantSecond.rule(op_type) for op_type in OP_TYPES]
