"""``x + 0``, ``x - 0``, ``x * 1``, ``x / 1`` -> ``x`` when the shape is kept.

tf2onnx drops a zero bias in some places and keeps it in others; a no-op
constant must not make two graphs differ.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common

NEUTRAL = {"Add": 0, "Sub": 0, "Mul": 1, "Div": 1}


class NoOpElementwise(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"NoOp{op_type}")
        self.op_type = op_type

    def pattern(self, op, x, c):
        return getattr(op, self.op_type)(x, c)

    def check(self, context, x, c, **_) -> MatchResult:
        result = MatchResult()
        array = _common.const_array(c)
        if array is None or not np.all(array == NEUTRAL[self.op_type]):
            return result.fail("the constant is not neutral")
        xdims = _common.dims(x)
        if xdims is None or len(xdims) < array.ndim:
            return result.fail("the constant may change the output shape")
        for d, n in zip(xdims[len(xdims) - array.ndim :], array.shape):
            if n != 1 and d != (n, ()):
                return result.fail("the constant may change the output shape")
        if x.dtype is not None and c.dtype is not None and x.dtype != c.dtype:
            return result.fail("the dtypes differ")
        return result

    def rewrite(self, op, x, c, **_):
        return op.Identity(x)


rules = [NoOpElementwise.rule(op_type) for op_type in NEUTRAL]
