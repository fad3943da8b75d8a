"""``Transpose(Unsqueeze(x, A), p)`` -> ``Unsqueeze(Transpose(x, q), A')``.

Unsqueezes sink below transposes (and, with the sibling rules, below
elementwise ops and MatMul), so that an ``Unsqueeze`` and the ``Squeeze``
that undoes it meet and cancel: tf2onnx wraps Conv1D in such a pair, the
Dense form has none.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class TransposeAfterUnsqueeze(pattern.RewriteRuleClassBase):
    def __init__(self):
        super().__init__("TransposeAfterUnsqueeze", remove_nodes=False)

    def pattern(self, op, x):
        u = op.Unsqueeze(x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["u"])
        return op.Transpose(u, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, u, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(y.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        axes = _common.axes_of(u.producer(), len(perm))
        if not axes:
            return result.fail("the unsqueezed axes are not constants")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, u, y, **_):
        perm = _common.transpose_perm(y.producer())
        axes = set(_common.axes_of(u.producer(), len(perm)))
        inserted = sorted(i for i in range(len(perm)) if perm[i] in axes)

        def x_axis(j):
            return j - sum(1 for a in axes if a < j)

        q = [x_axis(perm[i]) for i in range(len(perm)) if perm[i] not in axes]
        inner = x if q == list(range(len(q))) else op.Transpose(x, perm=q)
        return _common.axes_node(op, "Unsqueeze", inner, inserted, self._version)


rule = TransposeAfterUnsqueeze.rule()
