"""``x + 0``, ``x - 0``, ``x * 1``, ``x / 1`` -> ``x`` when nothing else changes.

An exporter drops a zero bias in one place and keeps it in another; a no-op
constant must not make two graphs differ. Kept when the constant would
broadcast ``x`` to a larger shape or another type.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule

NEUTRAL = {"Add": 0, "Sub": 0, "Mul": 1, "Div": 1}


class NoOpElementwise(Rule):
    op_types = tuple(NEUTRAL)

    def check(self, node, context):
        if len(node.inputs) != 2:
            return "not two operands"
        x, c = node.inputs
        array = edit.const_array(c)
        if array is None or not np.all(array == NEUTRAL[node.op_type]):
            return "the constant is not neutral"
        if edit.dims(x) is None or edit.dims(x) != edit.dims(node.outputs[0]):
            return "the constant changes the shape"
        if x.dtype is not None and c.dtype is not None and x.dtype != c.dtype:
            return "the dtypes differ"
        return ""

    def rewrite(self, node, context):
        return [node.inputs[0]]
