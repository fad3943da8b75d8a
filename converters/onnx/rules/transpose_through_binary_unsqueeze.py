"""``Bin(Transpose(x, p), Unsqueeze(s, A))`` -> ``Transpose(Bin(x, Unsqueeze(s, A')), p)``.

A tensor made by inserting size-1 axes (a squeeze-and-excitation gate
``(N, 1, 1, C)`` broadcast over a feature map) takes any layout for free
when its own axes keep their order: ``(N, C, 1, 1)`` is the same numbers,
inserted elsewhere. So, as for a constant operand
(`transpose_through_binary_constant`), the Transpose sinks below the binary
op and the Unsqueeze inserts its axes where the inverse perm puts them. The
conv form of a model multiplies the NCHW map by an NCHW gate, the dense form
an NHWC map by an NHWC gate; both end up as the first. When the inverse
perm would reorder the axes of ``s`` the rule does not apply (it would need
a real transpose of the gate).
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")


def moved_axes(perm, axes):
    """The axes A' of ``Transpose(Unsqueeze(s, A), inverse(perm))``, or None.

    None when that transpose also reorders the axes of ``s``.
    """
    inv = _common.inverse(perm)
    axes = set(axes)
    kept = [inv[i] for i in range(len(inv)) if inv[i] not in axes]
    if kept != sorted(kept):
        return None
    return [i for i in range(len(inv)) if inv[i] in axes]


class TransposeThroughBinaryUnsqueeze(pattern.RewriteRuleClassBase):
    def __init__(self, op_type, transposed_first=True):
        side = "Left" if transposed_first else "Right"
        super().__init__(f"TransposeThrough{op_type}Unsqueeze{side}", remove_nodes=False)
        self.op_type = op_type
        self.transposed_first = transposed_first

    def pattern(self, op, x, s):
        t = op.Transpose(x, _allow_other_attributes=True, _outputs=["t"])
        u = op.Unsqueeze(s, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["u"])
        args = (t, u) if self.transposed_first else (u, t)
        return getattr(op, self.op_type)(*args, _outputs=["y"])

    def check(self, context, x, s, t, u, y, **_) -> MatchResult:
        result = MatchResult()
        perm = _common.transpose_perm(t.producer())
        if perm is None:
            return result.fail("the Transpose perm is unknown")
        if _common.rank(u) != len(perm):
            return result.fail("the Unsqueeze output's rank is unknown or differs")
        axes = _common.axes_of(u.producer(), len(perm))
        if not axes:
            return result.fail("the unsqueezed axes are not constants")
        if moved_axes(perm, axes) is None:
            return result.fail("the inverse perm would reorder the Unsqueeze input's axes")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, s, t, u, y, **_):
        perm = _common.transpose_perm(t.producer())
        axes = moved_axes(perm, _common.axes_of(u.producer(), len(perm)))
        gate = _common.axes_node(op, "Unsqueeze", s, axes, self._version)
        args = (x, gate) if self.transposed_first else (gate, x)
        return op.Transpose(getattr(op, self.op_type)(*args), perm=perm)


rules = [
    TransposeThroughBinaryUnsqueeze.rule(op_type, first)
    for op_type in OP_TYPES
    for first in (True, False)
]
