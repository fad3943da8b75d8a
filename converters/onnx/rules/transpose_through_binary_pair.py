"""``Bin(Transpose(x, p), Transpose(y, p))`` -> ``Transpose(Bin(x, y), p)``.

Two operands in the same foreign layout (a residual Add of two branches,
say) are combined in their own layout and transposed once.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")


class TransposeThroughBinaryPair(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"TransposeThrough{op_type}Pair", remove_nodes=False)
        self.op_type = op_type

    def pattern(self, op, x, y):
        a = op.Transpose(x, _allow_other_attributes=True, _outputs=["a"])
        b = op.Transpose(y, _allow_other_attributes=True, _outputs=["b"])
        return getattr(op, self.op_type)(a, b, _outputs=["z"])

    def check(self, context, x, y, a, b, **_) -> MatchResult:
        result = MatchResult()
        p = _common.transpose_perm(a.producer())
        q = _common.transpose_perm(b.producer())
        if p is None or p != q:
            return result.fail("the two Transposes have different perms")
        if _common.rank(x) != len(p) or _common.rank(y) != len(p):
            return result.fail("the operand ranks are unknown or differ")
        return result

    def rewrite(self, op, x, y, a, b, **_):
        perm = _common.transpose_perm(a.producer())
        return op.Transpose(getattr(op, self.op_type)(x, y), perm=perm)


rules = [TransposeThroughBinaryPair.rule(op_type) for op_type in OP_TYPES]
