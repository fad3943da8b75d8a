"""``GlobalAveragePool(x)`` -> ``ReduceMean(x, spatial axes, keepdims=1)`` (Max alike).

An exporter writes a global pooling as GlobalAveragePool where the tensor
is channels first and as ReduceMean over the spatial axes where it is
channels last; the reduction is one spelling whose axes the layout pass can
renumber.
"""

from __future__ import annotations

from .. import edit
from . import Rule

REDUCTIONS = {"GlobalAveragePool": "ReduceMean", "GlobalMaxPool": "ReduceMax"}


class GlobalPoolToReduce(Rule):
    op_types = tuple(REDUCTIONS)

    def check(self, node, context):
        r = edit.rank(node.inputs[0])
        return "" if r is not None and r >= 3 else "the input rank is unknown"

    def rewrite(self, node, context):
        x = node.inputs[0]
        axes = list(range(2, edit.rank(x)))
        return [
            edit.reduce_node(
                context.editor, REDUCTIONS[node.op_type], x, axes, 1, context.version, before=node
            )
        ]
