"""``Bin(Reshape(y, s), c)`` -> ``Reshape(Bin(y, c), s)`` for a row constant c.

A bias added (or a scale multiplied) along the last axis commutes with a
reshape that keeps the last axis: the flattened Dense of a grouped pointwise
layer adds its bias between two reshapes; once the bias sits before them,
the reshapes meet and cancel.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Mul")


class ReshapeThroughRowOp(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"ReshapeThroughRow{op_type}", remove_nodes=False)
        self.op_type = op_type

    def pattern(self, op, y, s, c):
        r = op.Reshape(y, s, _allow_other_attributes=True, _outputs=["r"])
        return getattr(op, self.op_type)(r, c)

    def check(self, context, y, s, c, r, **_) -> MatchResult:
        result = MatchResult()
        if _common.int_attr(r.producer(), "allowzero", 0):
            return result.fail("allowzero Reshape")
        ydims = _common.dims(y)
        target = _common.shape_vector(s)
        if ydims is None or target is None or target[0] or not target[1]:
            return result.fail("the shapes are unknown")
        last = ydims[-1]
        if not _common.is_static(last) or target[1][-1] != last:
            return result.fail("the reshape changes the last axis")
        if (0, ()) in target[1]:
            return result.fail("the target copies dims (0 entries)")
        row = _common.broadcast_row(
            _common.const_array(c), min(len(ydims), len(target[1])), last[0]
        )
        if row is None:
            return result.fail("the constant is not a row over the last axis")
        return result

    def rewrite(self, op, y, s, c, r, **_):
        last = _common.dims(y)[-1][0]
        row = _common.broadcast_row(_common.const_array(c), len(_common.dims(y)), last)
        inner = getattr(op, self.op_type)(y, _common.initializer(op, row))
        return op.Reshape(inner, s)


rules = [ReshapeThroughRowOp.rule(op_type) for op_type in OP_TYPES]
