"""``Op(c, x)`` -> ``Op(x, c)`` for commutative ops and a constant c.

One operand order, so ``b + x`` and ``x + b`` are one graph.
"""

from __future__ import annotations

from .. import edit
from . import Rule

COMMUTATIVE = ("Add", "Mul", "Max", "Min", "And", "Or", "Xor", "Equal")


class ConstantSecond(Rule):
    op_types = COMMUTATIVE

    def check(self, node, context):
        if len(node.inputs) != 2:
            return "not two operands"
        if edit.const_array(node.inputs[0]) is None:
            return "the first operand is not a constant"
        if edit.const_array(node.inputs[1]) is not None:
            return "both operands are constants"
        return ""

    def rewrite(self, node, context):
        a, b = node.inputs
        node.replace_input_with(0, b)
        node.replace_input_with(1, a)
        return list(node.outputs)
