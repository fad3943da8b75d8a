"""``Unary(Reshape(y, s))`` -> ``Reshape(Unary(y), s)`` for elementwise ops.

Reshapes sink toward the outputs like transposes do, so that a flattening
reshape and the reshape that undoes it meet around the elementwise ops
(activations) between them.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common


class ReshapeThroughUnary(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"ReshapeThrough{op_type}", remove_nodes=False)
        self.op_type = op_type

    def pattern(self, op, y, s):
        r = op.Reshape(y, s, _allow_other_attributes=True, _outputs=["r"])
        return getattr(op, self.op_type)(
            r, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["z"]
        )

    def check(self, context, y, s, r, z, **_) -> MatchResult:
        result = MatchResult()
        for extra in z.producer().inputs[1:]:
            array = _common.const_array(extra) if extra is not None else np.zeros(())
            if array is None or array.size != 1:
                return result.fail("an extra input is not a scalar constant")
        return result

    def rewrite(self, op, y, s, r, z, **_):
        node = z.producer()
        inner = op.op(self.op_type, y, *node.inputs[1:], **node.attributes)
        return op.Reshape(inner, s, **r.producer().attributes)


OP_TYPES = sorted(_common.UNARY_ELEMENTWISE - {"Identity"} | {"Cast", "Clip"})
rules = [ReshapeThroughUnary.rule(op_type) for op_type in OP_TYPES]
