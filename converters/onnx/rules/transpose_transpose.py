"""``Transpose(Transpose(x, p), q)`` -> ``Transpose(x, p o q)`` (or x itself)."""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class TransposeTranspose(pattern.RewriteRuleClassBase):
    def __init__(self):
        super().__init__("TransposeTranspose", remove_nodes=False)

    def pattern(self, op, x):
        t = op.Transpose(x, _allow_other_attributes=True, _outputs=["t"])
        return op.Transpose(t, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        if (
            _common.transpose_perm(t.producer()) is None
            or _common.transpose_perm(y.producer()) is None
        ):
            return result.fail("a Transpose perm is unknown")
        return result

    def rewrite(self, op, x, t, y, **_):
        perm = _common.compose(
            _common.transpose_perm(t.producer()), _common.transpose_perm(y.producer())
        )
        if perm == list(range(len(perm))):
            return op.Identity(x)
        return op.Transpose(x, perm=perm)


rule = TransposeTranspose.rule()
