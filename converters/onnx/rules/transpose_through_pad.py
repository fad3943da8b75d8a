"""``Pad(Transpose(x, p), pads)`` -> ``Transpose(Pad(x, pads'), p)``.

Padding is layout-agnostic once the per-axis amounts are renumbered:
``pads'[p[i]] = pads[i]`` for the begins and the ends (ZeroPadding2D in
front of a strided depthwise conv lands on either side of a Transpose
depending on the form).
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult

from . import _common


class TransposeThroughPad(_common.TransposeInto):
    op_type = "Pad"

    def check(self, context, x, t, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(t.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        node = y.producer()
        if len(node.inputs) > 3 and node.inputs[3] is not None:
            return result.fail("the Pad has an axes input")
        if node.attributes.get("pads") is not None or len(node.inputs) < 2:
            return result.fail("the Pad uses the old pads attribute")
        pads = _common.const_array(node.inputs[1])
        if pads is None or pads.size != 2 * len(perm):
            return result.fail("the pads are not a constant for every axis")
        return result

    def rewrite(self, op, x, t, y, **_):
        perm = _common.transpose_perm(t.producer())
        node = y.producer()
        pads = [int(v) for v in _common.const_array(node.inputs[1]).reshape(-1)]
        n = len(perm)
        moved = [0] * (2 * n)
        for i, a in enumerate(perm):
            moved[a] = pads[i]
            moved[n + a] = pads[n + i]
        rest = list(node.inputs[2:3])
        inner = op.Pad(x, _common.int64(op, moved), *rest, **node.attributes)
        return op.Transpose(inner, perm=perm)


rule = TransposeThroughPad.rule()
