"""``Unary(Transpose(x))`` -> ``Transpose(Unary(x))`` for elementwise ops.

The layout normal form pushes every Transpose down, toward the outputs, as
far as it goes, so that the transposes tf2onnx places differently in the
conv form and the dense form of one model end up in the same places.
Elementwise ops (Relu, Sigmoid, Cast, Clip with scalar bounds, ...) do not
care about the layout. A Transpose with several consumers is left for the
others (``remove_nodes=False``): each branch gets its own copy, and common
subexpression elimination merges copies that stay identical.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult

from . import _common


class TransposeThroughUnary(_common.TransposeInto):
    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        if _common.transpose_perm(t.producer()) is None:
            return result.fail("the Transpose perm is unknown")
        node = y.producer()
        for extra in node.inputs[1:]:
            if extra is None:
                continue
            array = _common.const_array(extra)
            if array is None or array.size != 1:
                return result.fail(f"{self.op_type} has a non-scalar extra input")
        return result

    def rewrite(self, op, x, t, y, **_):
        node = y.producer()
        perm = _common.transpose_perm(t.producer())
        inner = op.op(self.op_type, x, *node.inputs[1:], **node.attributes)
        return op.Transpose(inner, perm=perm)


OP_TYPES = sorted(_common.UNARY_ELEMENTWISE - {"Identity"} | {"Cast", "Clip", "CastLike"})
rules = [TransposeThroughUnary.rule(op_type) for op_type in OP_TYPES]
