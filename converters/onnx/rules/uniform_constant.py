"""``Op(x, c)`` with every entry of ``c`` equal -> ``Op(x, scalar)``.

A constant operand whose entries are all one value, and whose shape the
other operand's covers (each of its dims is 1 or the other's), broadcasts
to the same output as that value alone: the output takes the other
operand's shape either way. The canonical constant is then the 0-D scalar
(exporters write a uniform bias either as the layer's ``(Cout,)`` row or
folded to one number).
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule

# Binary ops that broadcast both operands (Where and the variadic ones are
# left alone).
_BINARY = (
    "Add", "And", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    "Mod", "Mul", "Or", "Pow", "Sub", "Xor",
)


def _uniform_operand(node):
    """The index of a uniform constant operand the other operand covers, or None."""
    if len(node.inputs) != 2 or any(v is None for v in node.inputs):
        return None
    for i, value in enumerate(node.inputs):
        array = edit.const_array(value)
        if array is None or array.ndim == 0 or array.size < 1:
            continue
        first = array.reshape(-1)[0]
        if not np.array_equal(array, np.full_like(array, first), equal_nan=array.dtype.kind == "f"):
            continue
        other = edit.dims(node.inputs[1 - i])
        if other is None or len(other) < array.ndim:
            continue
        aligned = other[len(other) - array.ndim:]
        if all(d == 1 or (isinstance(o, int) and o == d) for d, o in zip(array.shape, aligned)):
            return i
    return None


class UniformConstant(Rule):
    op_types = _BINARY

    def check(self, node, context):
        if _uniform_operand(node) is None:
            return "no uniform constant operand that the other operand's shape covers"
        return ""

    def rewrite(self, node, context):
        i = _uniform_operand(node)
        array = edit.const_array(node.inputs[i])
        scalar = np.asarray(array.reshape(-1)[0], dtype=array.dtype)
        node.replace_input_with(i, context.editor.constant(scalar))
        return list(node.outputs)
