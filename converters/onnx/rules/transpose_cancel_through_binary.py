"""``Transpose(Bin(x, Transpose(y, p)), q)`` -> ``Bin(Transpose(x, q), y)`` when q undoes p.

A binary op between two tensors of which only one arrives transposed (a
squeeze-and-excitation gate multiplying a feature map, say) can be computed
in either layout: the conv form of a model computes it in NCHW and
transposes the result back, the dense form transposes the feature map and
computes it in NHWC. Where the result is transposed again by the inverse of
the operand's transpose, moving that transpose onto the other operand
leaves one Transpose where there were two; the normal form is the one with
fewer transposes. Every rewrite removes a transpose, so the rule cannot
cycle with the rules that sink transposes. The transposed operand may be
either one; the other must have the full rank (it is not broadcast along
leading axes).
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")


class TransposeCancelThroughBinary(pattern.RewriteRuleClassBase):
    def __init__(self, op_type, transposed_first=False):
        side = "Left" if transposed_first else "Right"
        # Default remove_nodes: the matcher only accepts the match when the
        # inner Transpose and the binary op have no other consumers, so a
        # rewrite always removes the two transposes it replaces by one.
        super().__init__(f"TransposeCancelThrough{op_type}{side}")
        self.op_type = op_type
        self.transposed_first = transposed_first

    def pattern(self, op, x, y):
        t = op.Transpose(y, _allow_other_attributes=True, _outputs=["t"])
        args = (t, x) if self.transposed_first else (x, t)
        z = getattr(op, self.op_type)(*args, _outputs=["z"])
        return op.Transpose(z, _allow_other_attributes=True, _outputs=["out"])

    def check(self, context, x, y, t, z, out, **_) -> MatchResult:
        result = MatchResult()
        p = _common.transpose_perm(t.producer())
        q = _common.transpose_perm(out.producer())
        if p is None or q is None or len(p) != len(q):
            return result.fail("a Transpose perm is unknown")
        if _common.compose(p, q) != list(range(len(p))):
            return result.fail("the outer Transpose does not undo the inner one")
        if _common.const_array(x) is not None:
            return result.fail("the other operand is a constant (transpose_through_binary_constant)")
        if _common.rank(x) != len(p):
            return result.fail("the other operand's rank is unknown or lower")
        return result

    def rewrite(self, op, x, y, t, z, out, **_):
        q = _common.transpose_perm(out.producer())
        moved = op.Transpose(x, perm=q)
        args = (y, moved) if self.transposed_first else (moved, y)
        return getattr(op, self.op_type)(*args)


rules = [
    TransposeCancelThroughBinary.rule(op_type, first)
    for op_type in OP_TYPES
    for first in (False, True)
]
