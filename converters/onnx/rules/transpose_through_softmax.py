"""``Softmax(Transpose(x), axis=a)`` -> ``Transpose(Softmax(x, axis=perm[a]))``.

Softmax, LogSoftmax and Hardmax (opset 13 and later) act along one axis and
keep the shape, so a Transpose moves past them when the axis moves with it:
axis ``a`` of the transposed tensor is axis ``perm[a]`` of ``x``. A class
score map is the common case: the conv form applies Softmax on the NCHW
channel axis before tf2onnx's closing Transpose, the dense form on the
NHWC last axis after it.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult

from . import _common

OP_TYPES = ("Softmax", "LogSoftmax", "Hardmax")


class TransposeThroughSoftmax(_common.TransposeInto):
    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(t.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        opset = _common.opset(context)
        if opset is None or opset < 13:
            return result.fail(f"{self.op_type} before opset 13 flattens to 2-D")
        return result

    def rewrite(self, op, x, t, y, **_):
        perm = _common.transpose_perm(t.producer())
        attr = y.producer().attributes.get("axis")
        axis = attr.as_int() if attr is not None else -1
        inner = op.op(self.op_type, x, axis=int(perm[axis % len(perm)]))
        return op.Transpose(inner, perm=perm)


rules = [TransposeThroughSoftmax.rule(op_type) for op_type in OP_TYPES]
