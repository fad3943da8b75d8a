"""``GlobalAveragePool(x)`` -> ``ReduceMean(x, axes=spatial, keepdims=1)`` (Max alike).

tf2onnx writes Keras' global pooling as GlobalAveragePool in a channels-first
region and as ReduceMean over the spatial axes in a channels-last one; which
one it picks depends on where its transposes ended up, so the canonical form
is always the reduction, whose axes the layout rules can renumber.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

REDUCTIONS = {"GlobalAveragePool": "ReduceMean", "GlobalMaxPool": "ReduceMax"}


class GlobalPoolToReduce(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"{op_type}ToReduce")
        self.op_type = op_type

    def pattern(self, op, x):
        return getattr(op, self.op_type)(x)

    def check(self, context, x, **_) -> MatchResult:
        result = MatchResult()
        r = _common.rank(x)
        if r is None or r < 3:
            return result.fail("the input rank is unknown")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, **_):
        r = _common.rank(x)
        return _common.axes_node(
            op, REDUCTIONS[self.op_type], x, list(range(2, r)), self._version, keepdims=1
        )


rules = [GlobalPoolToReduce.rule(op_type) for op_type in REDUCTIONS]
