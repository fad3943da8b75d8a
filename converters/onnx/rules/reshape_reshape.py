"""``Reshape(Reshape(x, s1), s2)`` -> ``Reshape(x, s2)`` when s2 copies no dims.

A reshape only looks at the row-major order of the numbers, so the inner
one is moot unless the outer target has 0 entries (which copy a dim of its
own input). The target may be a constant or a shape computed at run time.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class ReshapeReshape(pattern.RewriteRuleClassBase):
    def __init__(self):
        super().__init__("ReshapeReshape", remove_nodes=False)

    def pattern(self, op, x, s1, s2):
        inner = op.Reshape(x, s1, _allow_other_attributes=True, _outputs=["inner"])
        return op.Reshape(inner, s2, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, s1, s2, inner, y, **_) -> MatchResult:
        result = MatchResult()
        if _common.int_attr(y.producer(), "allowzero", 0):
            return result.fail("allowzero Reshape")
        target = _common.shape_vector(s2)
        if target is None or target[0] or (0, ()) in target[1]:
            return result.fail("the outer target may copy dims (0 entries) or is unknown")
        return result

    def rewrite(self, op, x, s1, s2, inner, y, **_):
        return op.Reshape(x, s2)


rule = ReshapeReshape.rule()
