"""``Squeeze(Transpose(x, p), A)`` -> ``Transpose(Squeeze(x, p[A]), q)``.

Part of the layout normal form (transposes move toward the outputs). tf2onnx
runs Conv1D as ``Unsqueeze -> Conv2D -> Squeeze``; once its pointwise convs
are MatMuls the transposes must get past the Squeeze to meet their inverses.
`q` is what remains of `p` on the axes that stay.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult

from . import _common


def remaining_perm(perm, removed):
    """The perm of the axes of T_p(x) that stay, numbered among x's remaining axes."""
    kept_x = [a for a in range(len(perm)) if a not in removed]
    index = {a: i for i, a in enumerate(kept_x)}
    return [index[perm[i]] for i in range(len(perm)) if perm[i] not in removed]


class SqueezeAfterTranspose(_common.TransposeInto):
    op_type = "Squeeze"
    name_format = "{}AfterTranspose"

    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(t.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        axes = _common.axes_of(y.producer(), len(perm))
        if not axes:
            return result.fail("the squeezed axes are not given as constants")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, t, y, **_):
        perm = _common.transpose_perm(t.producer())
        axes = _common.axes_of(y.producer(), len(perm))
        moved = sorted(perm[a] for a in axes)
        inner = _common.axes_node(op, "Squeeze", x, moved, self._version)
        q = remaining_perm(perm, set(moved))
        if q == list(range(len(q))):
            return op.Identity(inner)
        return op.Transpose(inner, perm=q)


rule = SqueezeAfterTranspose.rule()
