"""``Identity(x)`` and inference ``Dropout(x)`` -> ``x``.

They compute nothing; whether an exporter leaves them in must not make two
graphs differ.
"""

from __future__ import annotations

from . import Rule


class IdentityOps(Rule):
    op_types = ("Identity", "Dropout")

    def check(self, node, context):
        if node.op_type == "Dropout":
            if len(node.outputs) > 1 and (node.outputs[1].uses() or node.outputs[1].is_graph_output()):
                return "the Dropout mask is used"
            if len(node.inputs) > 2 and node.inputs[2] is not None:
                return "training_mode is an input"
        if node.inputs[0] is None:
            return "no input"
        return ""

    def rewrite(self, node, context):
        return [node.inputs[0]] + list(node.outputs[1:])
