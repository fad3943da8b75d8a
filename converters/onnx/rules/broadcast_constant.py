"""``Op(x, c[1, .., 1, d..])`` -> ``Op(x, c[d..])``: constants without leading ones.

Broadcasting prepends ones anyway, so a constant operand that has no more
axes than the other operand means the same with or without them; the
canonical constant carries none (a bias is ``(Cout,)``, a scalar is 0-D).
"""

from __future__ import annotations

from .. import edit
from . import Rule
from ..passes.layout import BROADCAST


class BroadcastConstant(Rule):
    op_types = tuple(sorted(BROADCAST))

    def check(self, node, context):
        ranks = [edit.rank(v) for v in node.inputs]
        if any(r is None for r in ranks):
            return "an operand's rank is unknown"
        for i, value in enumerate(node.inputs):
            array = edit.const_array(value)
            if array is None or array.ndim == 0 or array.shape[0] != 1:
                continue
            if any(r >= array.ndim for j, r in enumerate(ranks) if j != i):
                return ""
        return "no constant with leading ones that another operand's rank covers"

    def rewrite(self, node, context):
        ranks = [edit.rank(v) for v in node.inputs]
        for i, value in enumerate(list(node.inputs)):
            array = edit.const_array(value)
            if array is None or array.ndim == 0 or array.shape[0] != 1:
                continue
            if not any(r >= array.ndim for j, r in enumerate(ranks) if j != i):
                continue
            shape = list(array.shape)
            while shape and shape[0] == 1:
                shape.pop(0)
            node.replace_input_with(i, context.editor.constant(array.reshape(shape)))
        return list(node.outputs)
