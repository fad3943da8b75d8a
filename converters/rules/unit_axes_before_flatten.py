"""``MatMul(Reshape(x, [-1, C]), W)`` with ``x = (..., C, 1, 1)``: C moved last first.

A Dense applied to a map whose spatial dims are 1 (the squeeze-and-excitation
branch after a global pooling with keepdims) flattens ``(N, 1, 1, C)`` to
``(N, C)``. tf2onnx's transpose optimizer knows the spatial dims are 1 and
flattens the NCHW tensor ``(N, C, 1, 1)`` directly, dropping the Transpose
that the conv form keeps. Both hold the same numbers in the same order, so
the flattening reshape may read ``Transpose(x, p)`` instead, where p moves
C (the last axis that is not 1) behind the unit axes that follow it; the
tensordot rule then sees a MatMul over the last axis, as in the other form.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

ONE = (1, ())


def channel_last_perm(xdims, cin):
    """The perm moving the last non-unit axis (of size cin) to the end, or None."""
    if not xdims or xdims[-1] != ONE:
        return None
    j = len(xdims) - 1
    while j >= 0 and xdims[j] == ONE:
        j -= 1
    if j < 0 or xdims[j] != (cin, ()):
        return None
    return [i for i in range(len(xdims)) if i != j] + [j]


class UnitAxesBeforeFlatten(pattern.RewriteRuleClassBase):
    def __init__(self):
        # The reshape may feed several MatMuls; each gets the transposed
        # input and common subexpression elimination merges the copies.
        super().__init__("UnitAxesBeforeFlatten", remove_nodes=False)

    def pattern(self, op, x, s, w):
        r = op.Reshape(x, s, _allow_other_attributes=True, _outputs=["r"])
        return op.MatMul(r, w)

    def check(self, context, x, s, w, r, **_) -> MatchResult:
        result = MatchResult()
        weight = _common.const_array(w)
        if weight is None or weight.ndim != 2:
            return result.fail("the MatMul weight is not a 2-D constant")
        cin = weight.shape[0]
        xdims = _common.dims(x)
        if xdims is None or len(xdims) < 3:
            return result.fail("the input rank is unknown or below 3")
        if channel_last_perm(xdims, cin) is None:
            return result.fail(f"the input is not (..., Cin={cin}, 1, ...) with unit trailing axes")
        if _common.int_attr(r.producer(), "allowzero", 0):
            return result.fail("allowzero Reshape")
        target = _common.shape_vector(s)
        if target is None or target[0] or len(target[1]) != 2:
            return result.fail("the reshape is not to 2-D")
        lead, last = target[1]
        perm = channel_last_perm(xdims, cin)
        moved = [xdims[i] for i in perm]
        if last != (cin, ()) or lead not in ((-1, ()), _common.product(moved[:-1])):
            return result.fail("the reshape is not a flattening of the leading axes")
        return result

    def rewrite(self, op, x, s, w, r, **_):
        cin = _common.const_array(w).shape[0]
        perm = channel_last_perm(_common.dims(x), cin)
        reshaped = op.Reshape(op.Transpose(x, perm=perm), s, **r.producer().attributes)
        return op.MatMul(reshaped, w)


rule = UnitAxesBeforeFlatten.rule()
