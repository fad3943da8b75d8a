"""``Sub(x, c)`` -> ``Add(x, -c)`` for a constant c.

The same number in IEEE arithmetic (negation is exact), one op for both
spellings of a bias or a BatchNorm offset.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule


class SubConstantToAdd(Rule):
    op_types = ("Sub",)

    def check(self, node, context):
        c = edit.const_array(node.inputs[1])
        if c is None or edit.const_array(node.inputs[0]) is not None:
            return "the second operand is not a constant (or both are)"
        if c.dtype.kind not in "fi" or (c.dtype.kind == "i" and np.any(c == np.iinfo(c.dtype).min)):
            return "the constant cannot be negated exactly"
        return ""

    def rewrite(self, node, context):
        c = edit.const_array(node.inputs[1])
        out = node.outputs[0]
        return [
            context.editor.node(
                "Add",
                [node.inputs[0], context.editor.constant(-c)],
                before=node,
                shape=edit.dims(out),
                dtype=out.dtype,
            )
        ]
