"""``Slice(Transpose(x, p), axes=A)`` -> ``Transpose(Slice(x, axes=p[A]), p)``.

Slicing is layout-agnostic once its axes are renumbered, so the Transpose
moves below it (the layout normal form pushes transposes toward outputs).
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult

from . import _common
from .slice_normalize import canonical_slice


class TransposeThroughSlice(_common.TransposeInto):
    op_type = "Slice"

    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        if _common.transpose_perm(t.producer()) is None:
            return result.fail("the Transpose perm is unknown")
        canonical = canonical_slice(y.producer())
        if isinstance(canonical, str):
            return result.fail(canonical)
        return result

    def rewrite(self, op, x, t, y, **_):
        perm = _common.transpose_perm(t.producer())
        starts, ends, axes, steps = canonical_slice(y.producer())
        if not axes:
            return op.Transpose(x, perm=perm)
        moved = [perm[a] for a in axes]
        order = sorted(range(len(axes)), key=lambda i: moved[i])
        inner = op.Slice(
            x,
            _common.int64(op, [starts[i] for i in order]),
            _common.int64(op, [ends[i] for i in order]),
            _common.int64(op, [moved[i] for i in order]),
            _common.int64(op, [steps[i] for i in order]),
        )
        return op.Transpose(inner, perm=perm)


rule = TransposeThroughSlice.rule()
