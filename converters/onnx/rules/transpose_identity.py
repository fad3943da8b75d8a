"""``Transpose(x, perm=[0, 1, .., n-1])`` -> ``x``."""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class TransposeIdentity(pattern.RewriteRuleClassBase):
    def pattern(self, op, x):
        return op.Transpose(x, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(y.producer())
        if perm is None or perm != list(range(len(perm))):
            return result.fail("the perm is not the identity")
        return result

    def rewrite(self, op, x, y, **_):
        return op.Identity(x)


rule = TransposeIdentity.rule()
