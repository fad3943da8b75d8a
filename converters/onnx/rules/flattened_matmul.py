"""``MatMul(Reshape(x, [-1, Cin]), W)`` -> ``Reshape(MatMul(x, W), [-1, Cout])``.

The flattening reshape in front of a Dense (TensorFlow's tensordot, or
``keras_1x1.PixelDense``'s dense form) sinks below the MatMul: ONNX's MatMul
broadcasts over the leading axes, and both sides hold the same numbers in
the same row-major order. Sinking through row-wise ops and elementwise ops
(`reshape_through_row_op`, `reshape_through_unary`), the reshape then meets
the one that restores the leading axes, and the two cancel.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class FlattenedMatMul(pattern.RewriteRuleClassBase):
    """Shared by `unit_axes_before_flatten`, which reads x in another order."""

    def __init__(self, name="FlattenedMatMul"):
        # tf2onnx merges identical flattening reshapes (a residual block's
        # two branches), so the reshape may feed several MatMuls.
        super().__init__(name, remove_nodes=False)

    def pattern(self, op, x, s, w):
        r = op.Reshape(x, s, _allow_other_attributes=True, _outputs=["r"])
        return op.MatMul(r, w)

    def arranged(self, xdims, cin):
        """x's dims in the order the rewrite flattens them, or a failure reason."""
        if not _common.is_static(xdims[-1], cin):
            return f"the input's last axis is not Cin={cin}"
        return xdims

    def check(self, context, x, s, w, r, **_) -> MatchResult:
        result = MatchResult()
        weight = _common.const_array(w)
        if weight is None or weight.ndim != 2:
            return result.fail("the MatMul weight is not a 2-D constant")
        cin = weight.shape[0]
        xdims = _common.dims(x)
        if xdims is None or len(xdims) < 3:
            return result.fail("the input rank is unknown or below 3")
        dims = self.arranged(xdims, cin)
        if isinstance(dims, str):
            return result.fail(dims)
        if _common.int_attr(r.producer(), "allowzero", 0):
            return result.fail("allowzero Reshape")
        target = _common.shape_vector(s)
        if target is None or target[0] or len(target[1]) != 2:
            return result.fail("the reshape is not to 2-D")
        lead, last = target[1]
        if last != (cin, ()) or lead not in ((-1, ()), _common.product(dims[:-1])):
            return result.fail("the reshape is not a flattening of the leading axes")
        return result

    def rewrite(self, op, x, s, w, r, **_):
        cout = _common.const_array(w).shape[1]
        return op.Reshape(op.MatMul(x, w), _common.int64(op, [-1, cout]))


rule = FlattenedMatMul.rule()
