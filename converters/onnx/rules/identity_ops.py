"""``Identity(x)``, inference ``Dropout(x)`` and an ``Expand(x, shape)``
to the shape `x` has -> ``x``.

They compute nothing; whether an exporter leaves them in (or computes the
Expand's shape at run time, from other inputs' shapes) must not make two
graphs differ.
"""

from __future__ import annotations

from .. import edit
from . import Rule


class IdentityOps(Rule):
    op_types = ("Identity", "Dropout", "Expand")

    def check(self, node, context):
        if node.op_type == "Expand":
            shape = edit.dims(node.inputs[0])
            if shape is None or "?" in shape or shape != edit.dims(node.outputs[0]):
                return "the Expand changes the shape (or it is not known)"
            if node.inputs[0].dtype != node.outputs[0].dtype:
                return "the types differ"
        if node.op_type == "Dropout":
            if len(node.outputs) > 1 and (node.outputs[1].uses() or node.outputs[1].is_graph_output()):
                return "the Dropout mask is used"
            if len(node.inputs) > 2 and node.inputs[2] is not None:
                return "training_mode is an input"
        if node.inputs[0] is None:
            return "no input"
        return ""

    def rewrite(self, node, context):
        if node.op_type == "Expand":
            return [node.inputs[0]]
        return [node.inputs[0]] + list(node.outputs[1:])
