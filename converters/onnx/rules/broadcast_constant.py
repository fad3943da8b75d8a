"""``Bin(x, c[1, .., 1, d..])`` -> ``Bin(x, c[d..])``: leading ones stripped.

Broadcasting prepends ones anyway, so a constant no longer than ``x`` means
the same with or without them; canonical constants carry none (a bias is
``(Cout,)``, a scalar is 0-D).
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")


class BroadcastConstant(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"{op_type}BroadcastConstant")
        self.op_type = op_type

    def pattern(self, op, x, c):
        return getattr(op, self.op_type)(x, c)

    def check(self, context, x, c, **_) -> MatchResult:
        result = MatchResult()
        array = _common.const_array(c)
        if array is None:
            return result.fail("the second operand is not a constant")
        if array.ndim == 0 or array.shape[0] != 1:
            return result.fail("the constant has no leading ones")
        r = _common.rank(x)
        if r is None or r < array.ndim:
            return result.fail("the constant may set the output rank")
        return result

    def rewrite(self, op, x, c, **_):
        array = _common.const_array(c)
        shape = list(array.shape)
        while shape and shape[0] == 1:
            shape.pop(0)
        return getattr(op, self.op_type)(x, _common.initializer(op, array.reshape(shape)))


rules = [BroadcastConstant.rule(op_type) for op_type in OP_TYPES]
