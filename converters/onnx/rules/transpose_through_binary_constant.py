"""``Bin(Transpose(x, p), c)`` -> ``Transpose(Bin(x, c'), p)`` for a constant c.

Elementwise binary ops with a constant operand (a bias, a BatchNorm scale)
commute with a Transpose when the constant is permuted with the inverse
perm: ``c' = transpose(c broadcast to the rank of x, inverse(p))``, with
its leading ones stripped again. The constant may be either operand.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu")


def permute_constant(array, perm):
    """The constant that broadcasts against x as `array` did against T_p(x)."""
    n = len(perm)
    expanded = array.reshape((1,) * (n - array.ndim) + array.shape)
    moved = np.transpose(expanded, _common.inverse(perm))
    shape = list(moved.shape)
    while shape and shape[0] == 1:
        shape.pop(0)
    return np.asarray(moved.reshape(shape), order="C")


class TransposeThroughBinaryConstant(pattern.RewriteRuleClassBase):
    def __init__(self, op_type, constant_first=False):
        side = "Left" if constant_first else "Right"
        super().__init__(f"TransposeThrough{op_type}Constant{side}", remove_nodes=False)
        self.op_type = op_type
        self.constant_first = constant_first

    def pattern(self, op, x, c):
        t = op.Transpose(x, _allow_other_attributes=True, _outputs=["t"])
        args = (c, t) if self.constant_first else (t, c)
        return getattr(op, self.op_type)(*args, _outputs=["y"])

    def check(self, context, x, c, t, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(t.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        array = _common.const_array(c)
        if array is None:
            return result.fail("the other operand is not a constant")
        if array.ndim > len(perm):
            return result.fail("the constant has a higher rank than the tensor")
        return result

    def rewrite(self, op, x, c, t, y, **_):
        perm = _common.transpose_perm(t.producer())
        constant = _common.initializer(op, permute_constant(_common.const_array(c), perm))
        args = (constant, x) if self.constant_first else (x, constant)
        return op.Transpose(getattr(op, self.op_type)(*args), perm=perm)


rules = [
    TransposeThroughBinaryConstant.rule(op_type, first)
    for op_type in OP_TYPES
    for first in (False, True)
]
