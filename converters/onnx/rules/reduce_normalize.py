"""Reductions in one spelling, and transposes pushed through them.

- ``Squeeze(ReduceX(x, A, keepdims=1), A)`` -> ``ReduceX(x, A, keepdims=0)``;
- ``ReduceX(Transpose(x, p), A, keepdims=k)`` -> ``ReduceX(x, p[A], k)``
  followed by the transpose of the axes that remain (none when they keep
  their order), as the layout normal form wants;
- axes sorted and non-negative, keepdims explicit.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common
from .squeeze_after_transpose import remaining_perm

REDUCE_OPS = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL2")


def _keepdims(node):
    return _common.int_attr(node, "keepdims", 1)


def _reduce_axes(node, r):
    axes = _common.axes_of(node, r)
    if axes is None:
        return None
    if not axes:
        if _common.int_attr(node, "noop_with_empty_axes", 0):
            return None
        return list(range(r))
    return axes


class SqueezeAfterReduce(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"SqueezeAfter{op_type}")
        self.op_type = op_type

    def pattern(self, op, x):
        red = getattr(op, self.op_type)(
            x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["red"]
        )
        return op.Squeeze(red, _allow_other_inputs=True, _outputs=["y"])

    def check(self, context, x, red, y, **_) -> MatchResult:
        result = MatchResult()
        r = _common.rank(x)
        node = red.producer()
        if r is None or not _keepdims(node):
            return result.fail("the reduction does not keep dims or the rank is unknown")
        axes = _reduce_axes(node, r)
        if axes is None or _common.axes_of(y.producer(), r) != axes:
            return result.fail("the Squeeze does not remove exactly the reduced axes")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, red, y, **_):
        axes = _reduce_axes(red.producer(), _common.rank(x))
        return _common.axes_node(op, self.op_type, x, axes, self._version, keepdims=0)


class TransposeThroughReduce(_common.TransposeInto):
    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(t.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        node = y.producer()
        if set(node.attributes) - {"keepdims", "axes"}:
            return result.fail("the reduction has other attributes")
        if _reduce_axes(node, len(perm)) is None:
            return result.fail("the reduced axes are not constants")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, t, y, **_):
        perm = _common.transpose_perm(t.producer())
        node = y.producer()
        axes = _reduce_axes(node, len(perm))
        keep = _keepdims(node)
        moved = sorted(perm[a] for a in axes)
        inner = _common.axes_node(op, self.op_type, x, moved, self._version, keepdims=keep)
        q = perm if keep else remaining_perm(perm, set(moved))
        if q == list(range(len(q))):
            return op.Identity(inner)
        return op.Transpose(inner, perm=q)


rules = [SqueezeAfterReduce.rule(t) for t in REDUCE_OPS] + [
    TransposeThroughReduce.rule(t) for t in REDUCE_OPS
]
