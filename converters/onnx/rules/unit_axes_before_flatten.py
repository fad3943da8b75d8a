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

from . import _common
from .flattened_matmul import FlattenedMatMul

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


class UnitAxesBeforeFlatten(FlattenedMatMul):
    def __init__(self):
        # The reshape may feed several MatMuls; each gets the transposed
        # input and common subexpression elimination merges the copies.
        super().__init__("UnitAxesBeforeFlatten")

    def arranged(self, xdims, cin):
        perm = channel_last_perm(xdims, cin)
        if perm is None:
            return f"the input is not (..., Cin={cin}, 1, ...) with unit trailing axes"
        return [xdims[i] for i in perm]

    def rewrite(self, op, x, s, w, r, **_):
        cin = _common.const_array(w).shape[0]
        perm = channel_last_perm(_common.dims(x), cin)
        reshaped = op.Reshape(op.Transpose(x, perm=perm), s, **r.producer().attributes)
        return op.MatMul(reshaped, w)


rule = UnitAxesBeforeFlatten.rule()
