"""``Squeeze``, ``Unsqueeze`` and ``Flatten`` -> ``Reshape`` to the same shape.

With every shape known, the three are Reshapes that add, drop or merge
axes; one op for all of them lets the reshape pass merge and cancel them.
"""

from __future__ import annotations

from .. import edit
from . import Rule


class SqueezeToReshape(Rule):
    op_types = ("Squeeze", "Unsqueeze", "Flatten")

    def check(self, node, context):
        target = edit.reshape_target(edit.dims(node.inputs[0]), edit.dims(node.outputs[0]))
        return "" if target is not None else "the shapes are not known well enough"

    def rewrite(self, node, context):
        return [context.editor.reshape(node.inputs[0], edit.dims(node.outputs[0]), before=node)]
